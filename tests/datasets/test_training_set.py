"""A tiny phantom training set: written, read back through the manifest, and checked by the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from skinscan.datasets._files import read_mask, read_rgb
from skinscan.datasets._phantom_samples import patch_sample
from skinscan.datasets.cli import app
from skinscan.datasets.manifest import read_manifest
from skinscan.datasets.torch_data import ManifestDataset
from skinscan.datasets.training_set import write_phantom_training_set
from skinscan.models.contract import CONCERNS


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom-set")
    return write_phantom_training_set(
        out, n=12, size=64, seed=5, val_fraction=0.25, face_fraction=0.34, workers=1, progress=False
    )


def test_the_set_reads_back_through_the_manifest(tiny_set: Path) -> None:
    samples = read_manifest(tiny_set)
    assert [s.id for s in samples] == [f"phantom-s5-{i:06d}" for i in range(12)]
    kinds = [s.labels["kind"] for s in samples]
    assert "phantom-face" in kinds
    assert "phantom-patch" in kinds
    assert {s.split for s in samples} <= {"train", "val"}
    summary = json.loads((tiny_set.parent / "generator.json").read_text())
    assert summary["counts"]["phantom-face"] == kinds.count("phantom-face")
    assert summary["samples_per_s"] > 0
    for sample in samples:
        assert set(sample.masks) == {"wrinkles", "spots"}
        assert read_rgb(sample.image).shape == (64, 64, 3)
        if sample.labels["kind"] == "phantom-patch":
            # Synthetic targets: 25 × level, grade = level, for every concern.
            assert set(sample.grade) == set(CONCERNS)
            assert all(sample.severity[c] == 25.0 * sample.grade[c] for c in CONCERNS)
            assert sample.grade == sample.labels["levels"]
            level = sample.grade["wrinkles"]
            assert read_mask(sample.masks["wrinkles"]).any() == (level > 0)
        else:
            # A painted face: masks of what was painted, no severity (the person has their own).
            assert sample.severity == {}
            assert sample.labels["face"] == "astronaut"
            if sample.labels["painted_levels"]["pigment"] == 0:
                assert not read_mask(sample.masks["spots"]).any()


def test_files_match_a_direct_render(tiny_set: Path) -> None:
    samples = read_manifest(tiny_set)
    patch = next(s for s in samples if s.labels["kind"] == "phantom-patch")
    index = patch.labels["index"]
    direct = patch_sample(index, size=64, seed=5)
    assert np.array_equal(read_rgb(patch.image), direct.rgb_u8)
    assert np.array_equal(read_mask(patch.masks["spots"]), direct.masks["spots"])
    assert patch.skin_tone == direct.skin_tone


def test_manifest_dataset_serves_the_set(tiny_set: Path) -> None:
    dataset = ManifestDataset(tiny_set, size=64)
    batch = [dataset[i] for i in range(len(dataset))]
    assert all(s["image"].shape == (3, 64, 64) for s in batch)
    assert all(bool(s["mask_valid"].all()) for s in batch)
    labelled = [s for s in batch if s["severity_valid"].all()]
    assert labelled
    assert all(torch.equal(s["severity"], 25.0 * s["grade"].float()) for s in labelled)
    unlabelled = [s for s in batch if not s["severity_valid"].any()]
    assert all((s["grade"] == -1).all() for s in unlabelled)


def test_cli_check_counts_and_refuses_bad_manifests(tiny_set: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(tiny_set)])
    assert result.exit_code == 0, result.output
    assert "12 samples" in result.output
    assert "mask wrinkles" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("image,split\nmissing.png,train\n")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1
    assert "line 2: image file not found" in result.output


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n must be at least 1"):
        write_phantom_training_set(tmp_path, n=0)
    with pytest.raises(ValueError, match="face_fraction"):
        write_phantom_training_set(tmp_path, n=2, face_fraction=2.0)
