"""Fusion: the assessment reports the learned maps and scores beside the classical ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skinscan.fusion import LearnedModels, dice
from skinscan.measures import CONCERNS
from skinscan.pipeline import assess
from skinscan.validation import sample_faces

TINY_DECODER = (8, 8, 8, 8, 4)


def _bundle(folder: Path, task: str, seed: int) -> Path:
    import torch

    from skinscan.models import build_model, save_bundle

    torch.manual_seed(seed)
    if task == "segmentation":
        model = build_model("unet", in_channels=4, decoder_channels=TINY_DECODER)
        size, texture = (64, 64), True
    else:
        model = build_model("severity", in_channels=3)
        size, texture = (64, 64), False
    return save_bundle(
        model,
        folder,
        name=f"tiny-{task}",
        version="0.0.1",
        task=task,
        input_size=size,
        texture=texture,
        training={"data": "random weights, for tests"},
    )


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fusion-bundles")
    return {
        "segmentation": _bundle(root / "seg", "segmentation", 0),
        "severity": _bundle(root / "sev", "severity", 1),
    }


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return sample_faces()["astronaut"]


def _models(bundles: dict[str, Path], *, severity: bool = True) -> LearnedModels:
    from skinscan.models import load_runtime

    return LearnedModels(
        segmenter=load_runtime(bundles["segmentation"]),
        severity=load_runtime(bundles["severity"]) if severity else None,
    )


def test_dice_of_known_masks() -> None:
    a = np.zeros((10, 10), bool)
    a[:4] = True
    b = np.zeros((10, 10), bool)
    b[2:6] = True
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    assert dice(a, b) == pytest.approx(2 * 20 / 80)
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0


def test_learned_block_beside_the_classical_score(
    bundles: dict[str, Path], face: np.ndarray
) -> None:
    models = _models(bundles)
    with_models = assess(face, models=models).to_dict()
    classical = assess(face, learned=False).to_dict()
    names = [m["name"] for m in with_models["models"]]
    assert "tiny-segmentation" in names
    assert "tiny-severity" in names
    assert "tiny-segmentation" not in [m["name"] for m in classical["models"]]
    for concern in CONCERNS:
        fused, plain = with_models["concerns"][concern], classical["concerns"][concern]
        # Nothing says these random weights beat the classical filters: the score stays classical.
        assert fused["source"] == "classical"
        assert fused["severity"] == plain["severity"]
        assert fused["classical"]["severity"] == plain["severity"]
        learned = fused["learned"]
        assert 0.0 <= learned["severity"] <= 100.0
        assert learned["agreement"]["severity_delta"] == pytest.approx(
            learned["severity"] - plain["severity"], abs=0.06
        )
        assert "learned" not in plain
    for concern in ("wrinkles", "pigment"):
        learned = with_models["concerns"][concern]["learned"]
        assert 0.0 <= learned["measures"]["detected_area_pct"] <= 100.0
        assert 0.0 <= learned["agreement"]["dice"] <= 1.0
    for concern in ("redness", "texture"):
        assert "dice" not in with_models["concerns"][concern]["learned"]["agreement"]
    json.dumps(with_models, allow_nan=False)


def test_severity_is_learned_only_where_the_bundle_evaluation_says_better(
    bundles: dict[str, Path], face: np.ndarray, tmp_path: Path
) -> None:
    import shutil

    from skinscan.models import load_runtime, update_bundle_metadata

    folder = Path(shutil.copytree(bundles["severity"], tmp_path / "sev-better"))
    update_bundle_metadata(folder, evaluation={"better_than_classical": {"wrinkles": True}})
    models = LearnedModels(severity=load_runtime(folder))
    record = assess(face, models=models).to_dict()
    wrinkles = record["concerns"]["wrinkles"]
    assert wrinkles["source"] == "learned"
    assert wrinkles["severity"] == wrinkles["learned"]["severity"]
    assert wrinkles["grade"] == wrinkles["learned"]["grade"]
    # The classical score is still in the record, and the delta is measured against it.
    plain = assess(face, learned=False).to_dict()["concerns"]["wrinkles"]
    assert wrinkles["classical"]["severity"] == plain["severity"]
    assert wrinkles["learned"]["agreement"]["severity_delta"] == pytest.approx(
        wrinkles["learned"]["severity"] - plain["severity"], abs=0.06
    )
    for concern in ("redness", "pigment", "texture"):
        assert record["concerns"][concern]["source"] == "classical"


def test_a_segmenter_alone_reports_maps_without_a_learned_severity(
    bundles: dict[str, Path], face: np.ndarray
) -> None:
    record = assess(face, models=_models(bundles, severity=False)).to_dict()
    assert set(c for c, v in record["concerns"].items() if "learned" in v) == {
        "wrinkles",
        "pigment",
    }
    learned = record["concerns"]["wrinkles"]["learned"]
    assert learned["severity"] is None
    assert record["concerns"]["wrinkles"]["source"] == "classical"


def test_segment_runs_the_whole_photo_at_the_segmenters_scale(bundles: dict[str, Path]) -> None:
    from skinscan.fusion import segment
    from skinscan.models import load_runtime

    runtime = load_runtime(bundles["segmentation"])
    height, width = runtime.input_size
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    # At the bundle's own input size and no scale, exactly what the runtime predicts.
    np.testing.assert_allclose(
        segment(runtime, photo, mm_per_px=None), runtime.predict(photo), atol=1e-5
    )
    # Any size in, the same size out, probabilities; a finer photo is resampled first.
    odd = rng.integers(0, 256, (height + 7, 3 * width - 5, 3), dtype=np.uint8)
    out = segment(runtime, odd, mm_per_px=0.1)
    assert out.shape == (2, height + 7, 3 * width - 5)
    assert out.min() >= 0.0
    assert out.max() <= 1.0


def test_a_segmenters_evaluation_does_not_choose_the_regressors_severity(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    from skinscan.models import load_runtime, update_bundle_metadata

    segmenter = Path(shutil.copytree(bundles["segmentation"], tmp_path / "seg-better"))
    update_bundle_metadata(segmenter, evaluation={"better_than_classical": {"wrinkles": True}})
    models = LearnedModels(
        segmenter=load_runtime(segmenter), severity=load_runtime(bundles["severity"])
    )
    assert not models.better_than_classical("wrinkles")
    regressor = Path(shutil.copytree(bundles["severity"], tmp_path / "sev-better"))
    update_bundle_metadata(regressor, evaluation={"better_than_classical": {"wrinkles": True}})
    assert LearnedModels(severity=load_runtime(regressor)).better_than_classical("wrinkles")
    assert not LearnedModels(severity=load_runtime(regressor)).better_than_classical("redness")
