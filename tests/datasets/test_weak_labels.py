"""Weak labels agree with the classical assessment and make a readable training set."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from skinscan.datasets._files import read_mask, read_rgb
from skinscan.datasets.manifest import read_manifest
from skinscan.datasets.torch_data import ManifestDataset
from skinscan.datasets.weak_labels import (
    RejectedPhotoError,
    WeakLabel,
    weak_label,
    write_weak_label_set,
)
from skinscan.models.contract import CONCERNS, tone_group


@pytest.fixture(scope="module")
def face_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skinscan.validation import sample_faces

    path = tmp_path_factory.mktemp("faces") / "astronaut.png"
    rgb = sample_faces()["astronaut"]
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def label(face_png: Path) -> WeakLabel:
    return weak_label(face_png)


def test_weak_label_matches_a_direct_assessment(face_png: Path, label: WeakLabel) -> None:
    from skinscan import assess

    record = assess(face_png, learned=False).to_dict()
    assert label.severity == {c: record["concerns"][c]["severity"] for c in CONCERNS}
    assert label.grade == {c: record["concerns"][c]["grade"] for c in CONCERNS}
    assert label.sha256 == record["photo"]["sha256"]
    ita = record["concerns"]["pigment"]["measures"]["ita_deg"]
    assert label.ita_deg == pytest.approx(ita, abs=1e-3)
    assert label.skin_tone == tone_group(ita)


def test_weak_label_masks_share_the_image_coordinates(label: WeakLabel) -> None:
    shape = label.rgb_u8.shape[:2]
    assert label.rgb_u8.dtype == np.uint8
    assert set(label.masks) == {"wrinkles", "spots"}
    for mask in label.masks.values():
        assert mask.shape == shape
        assert mask.dtype == bool
        # Detections lie on the assessed skin only.
        assert not (mask & ~label.skin).any()
    assert label.masks["wrinkles"].any()
    cut = label.cropped()
    x0, y0, x1, y1 = cut.box
    assert cut.rgb_u8.shape[:2] == (y1 - y0, x1 - x0)
    assert np.array_equal(cut.rgb_u8, label.rgb_u8[y0:y1, x0:x1])
    assert cut.masks["wrinkles"].sum() == label.masks["wrinkles"].sum()


def test_rejected_photo_raises_a_clear_error() -> None:
    with pytest.raises(RejectedPhotoError, match="skin_area") as caught:
        weak_label(np.full((300, 300, 3), 128, np.uint8))
    assert caught.value.issues[0]["code"] == "skin_area"


def test_weak_label_set_writes_a_training_set(face_png: Path, tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((300, 300, 3), 128, np.uint8))
    manifest = write_weak_label_set([face_png, grey], tmp_path / "weak", progress=False)
    (sample,) = read_manifest(manifest)
    assert sample.id.startswith("astronaut-")
    assert sample.labels["kind"] == "weak-label"
    assert sample.skin_tone in ("very_light", "light")
    image = read_rgb(sample.image)
    for name in ("wrinkles", "spots"):
        assert read_mask(sample.masks[name]).shape == image.shape[:2]
    assert set(sample.severity) == set(CONCERNS)
    rejected = [json.loads(line) for line in (tmp_path / "weak" / "rejected.jsonl").open()]
    assert [r["source"] for r in rejected] == [str(grey)]
    assert "skin_area" in rejected[0]["reason"]
    item = ManifestDataset(manifest, size=128)[0]
    assert item["mask_valid"].all()
    assert item["severity_valid"].all()
