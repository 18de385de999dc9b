"""`skinscan.assess` from Python: arrays, files, EXIF orientation, body-site photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import skinscan
from skinscan.errors import PhotoInputError
from skinscan.standardise.face import REGION_NAMES


def test_assess_array_and_file_agree(astronaut: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(astronaut).save(path)
    from_file = skinscan.assess(path).to_dict()
    from_array = skinscan.assess(astronaut).to_dict()
    assert from_file["photo"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert from_file["photo"]["format"] == "PNG"
    for record in (from_file, from_array):
        record.pop("timings_ms")
        record.pop("photo")
    assert from_file == from_array


def test_face_regions_are_the_thirteen_names(astronaut: np.ndarray) -> None:
    result = skinscan.assess(astronaut)
    assert result.standard is not None
    assert set(result.standard.regions) == set(REGION_NAMES)
    assert result.concerns is not None


def test_exif_rotated_photo_is_assessed_upright(astronaut: np.ndarray, tmp_path: Path) -> None:
    # Store the pixels turned 90° counter-clockwise with EXIF orientation 6 ("rotate 90° clockwise
    # to view"): a viewer, and skinscan, must see the upright face.
    stored = np.ascontiguousarray(np.rot90(astronaut, k=1))
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    upright = skinscan.assess(astronaut).to_dict()
    result = skinscan.assess(path)
    assert result.standard is not None
    pixels = result.standard.photo.pixels
    assert pixels.shape == astronaut.shape
    assert np.abs(pixels.astype(np.int16) - astronaut).mean() < 4  # JPEG noise only
    rotated = result.to_dict()
    assert rotated["face"]["found"]
    assert abs(rotated["face"]["pose_deg"]["roll"] - upright["face"]["pose_deg"]["roll"]) < 3


def test_skin_close_up_is_a_body_site_with_one_region() -> None:
    rng = np.random.default_rng(3)
    skin = np.empty((600, 800, 3), np.float32)
    skin[:] = (190, 140, 118)
    skin += rng.normal(0, 5, skin.shape)
    result = skinscan.assess(np.clip(skin, 0, 255).astype(np.uint8))
    record = result.to_dict()
    assert record["face"] == {"found": False, "pose_deg": None, "mm_per_px": None}
    assert record["concerns"] is not None
    for concern in record["concerns"].values():
        assert list(concern["regions"]) == ["site"]


def test_site_mask_must_match_the_photo(astronaut: np.ndarray) -> None:
    with pytest.raises(PhotoInputError) as info:
        skinscan.assess(astronaut, protocol="body-site", site=np.ones((10, 10), bool))
    assert info.value.code == "bad_mask"


def test_site_mask_limits_the_region(astronaut: np.ndarray) -> None:
    site = np.zeros(astronaut.shape[:2], bool)
    site[200:300, 200:300] = True
    result = skinscan.assess(astronaut, protocol="body-site", site=site)
    assert result.standard is not None
    region = result.standard.regions["site"]
    assert region.any()
    assert not region[:200].any()
    assert not region[300:].any()
