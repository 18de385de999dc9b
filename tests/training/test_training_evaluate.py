"""``evaluate`` and ``compare_with_classical`` on tiny bundles whose outputs are known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from training_support import SIZE, TINY_DECODER
from typer.testing import CliRunner

from skinscan.datasets import read_manifest
from skinscan.models import build_model, load_runtime, save_bundle
from skinscan.models.contract import CONCERNS
from skinscan.training.cli import app
from skinscan.training.evaluate import compare_with_classical, evaluate, record_evaluation


def _constant(
    model: torch.nn.Module, layer: type[torch.nn.Module], outputs: int, bias: float
) -> None:
    """Zero every weight; the layers that produce the output (``outputs`` channels) add ``bias``.

    With all weights zero every feature is exactly 0, so the output is the sum of those biases
    along the output path, whatever the input.
    """
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for module in model.modules():
            width = getattr(module, "out_channels", getattr(module, "out_features", None))
            if isinstance(module, layer) and width == outputs and module.bias is not None:
                module.bias.fill_(bias)


@pytest.fixture(scope="module")
def constant_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A segmenter that calls every pixel foreground and a regressor that scores every photo 0."""
    folder = tmp_path_factory.mktemp("bundles")
    segmenter = build_model("unet", in_channels=3, decoder_channels=TINY_DECODER)
    _constant(segmenter, torch.nn.Conv2d, 2, 15.0)  # logits ≥ 15: probability 1
    regressor = build_model("severity", in_channels=3)
    _constant(regressor, torch.nn.Linear, 1, -30.0)  # 100 · sigmoid(−30) ≈ 1e-11
    photo = torch.zeros(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert float(torch.sigmoid(segmenter.eval()(photo)).min()) > 0.999
        assert float(regressor.eval()(photo).max()) < 1e-6
    common = {"version": "0.0.1", "input_size": (SIZE, SIZE), "texture": False}
    return {
        "segmentation": save_bundle(
            segmenter, folder / "seg", name="all-on", task="segmentation", **common
        ),
        "severity": save_bundle(
            regressor, folder / "sev", name="all-zero", task="severity", **common
        ),
    }


def _val_samples(manifest: Path) -> list:
    return [s for s in read_manifest(manifest) if s.split == "val"]


def test_an_all_foreground_segmenter_scores_the_truths_share(
    constant_bundles: dict[str, Path], phantom_manifest: Path
) -> None:
    table = evaluate(constant_bundles["segmentation"], phantom_manifest, split="val")
    samples = _val_samples(phantom_manifest)
    assert table.counts["all"] == len(samples) == 4
    for name in ("wrinkles", "spots"):
        truth = [cv2.imread(str(s.masks[name]), cv2.IMREAD_GRAYSCALE) >= 128 for s in samples]
        positives = sum(int(t.sum()) for t in truth)
        pixels = sum(t.size for t in truth)
        # Everything predicted: recall 1, precision = share of truth, Dice = 2P / (P + all).
        assert table.overall[f"{name}/recall"] == pytest.approx(1.0)
        assert table.overall[f"{name}/precision"] == pytest.approx(positives / pixels)
        assert table.overall[f"{name}/dice"] == pytest.approx(2 * positives / (positives + pixels))
        assert table.overall[f"{name}/iou"] == pytest.approx(positives / pixels)
    for group, n in table.counts.items():
        if group != "all":
            members = [s for s in samples if s.skin_tone == group]
            assert len(members) == n


def test_a_zero_regressor_scores_the_mean_target(
    constant_bundles: dict[str, Path], phantom_manifest: Path
) -> None:
    table = evaluate(constant_bundles["severity"], phantom_manifest, split="val")
    samples = _val_samples(phantom_manifest)
    for concern in CONCERNS:
        targets = [s.severity[concern] for s in samples]
        assert table.overall[f"{concern}/mae"] == pytest.approx(np.mean(targets), abs=1e-6)
        grades = {s.grade[concern] for s in samples}
        if len(grades) > 1:  # a constant grader agrees only by chance: kappa 0
            assert table.overall[f"{concern}/qwk"] == pytest.approx(0.0, abs=1e-9)
    for group in table.counts:
        if group != "all":
            targets = [s.severity["redness"] for s in samples if s.skin_tone == group]
            assert table.metrics[group]["redness/mae"] == pytest.approx(np.mean(targets), abs=1e-6)


def test_evaluate_phantom_specs_and_splits(
    constant_bundles: dict[str, Path], phantom_manifest: Path
) -> None:
    table = evaluate(
        constant_bundles["segmentation"], {"phantom": {"n": 3, "size": SIZE, "seed": 9}}
    )
    assert table.counts["all"] == 3
    assert evaluate(constant_bundles["segmentation"], phantom_manifest).counts["all"] == 4  # val
    from skinscan.training.recipe import RecipeError

    with pytest.raises(RecipeError, match="no samples of split 'test'"):
        evaluate(constant_bundles["segmentation"], phantom_manifest, split="test")


def test_comparison_with_the_classical_measures_is_recorded(
    constant_bundles: dict[str, Path], phantom_manifest: Path, tmp_path: Path
) -> None:
    import shutil

    bundle = shutil.copytree(constant_bundles["segmentation"], tmp_path / "seg")
    comparison = compare_with_classical(phantom_manifest, bundle=bundle, split="val")
    assert comparison.task == "segmentation"
    assert comparison.learned is not None
    assert comparison.classical.counts == comparison.learned.counts
    verdict = comparison.better_than_classical
    assert set(verdict) == {"wrinkles", "pigment"}
    for plane, concern in (("wrinkles", "wrinkles"), ("spots", "pigment")):
        learned = comparison.learned.overall[f"{plane}/dice"]
        classical = comparison.classical.overall[f"{plane}/dice"]
        assert verdict[concern] == (learned > classical)
    metadata = record_evaluation(bundle, comparison)
    assert metadata["evaluation"]["better_than_classical"] == verdict
    # What the assessment's fusion reads from the bundle it loads.
    from skinscan.fusion import LearnedModels

    models = LearnedModels(segmenter=load_runtime(bundle))
    assert models.better_than_classical("wrinkles") == verdict["wrinkles"]


def test_classical_severities_without_a_bundle(phantom_manifest: Path) -> None:
    comparison = compare_with_classical(phantom_manifest, task="severity", split="val")
    assert comparison.learned is None
    assert comparison.better_than_classical == {}
    assert all(np.isfinite(comparison.classical.overall[f"{c}/mae"]) for c in CONCERNS)
    assert comparison.to_dict()["classical"]["n"] == 4


def test_evaluate_command(constant_bundles: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["evaluate", str(constant_bundles["severity"]), f"phantom:2:{SIZE}:5", "--json"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["task"] == "severity"
    assert record["n"] == 2
    table = runner.invoke(app, ["evaluate", str(constant_bundles["severity"]), f"phantom:2:{SIZE}"])
    assert table.exit_code == 0
    assert "redness/mae" in table.stdout
    missing = runner.invoke(app, ["evaluate", str(tmp_path / "nothing"), f"phantom:2:{SIZE}"])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("skinscan: error:")
    assert len(missing.stderr.splitlines()) == 1
    bad = runner.invoke(app, ["evaluate", str(constant_bundles["severity"]), "phantom:x"])
    assert bad.exit_code == 2
    assert "phantom:N" in bad.stderr
