"""The quality gate on real face photos with known defects added."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from skinscan.io import photo_from_array
from skinscan.standardise.protocol import load_protocol
from skinscan.standardise.quality import check_quality, laplacian_variance
from skinscan.standardise.standard import standardise


def _codes(rgb: NDArray[np.uint8], protocol: str | None = None) -> dict[str, str]:
    standard = standardise(photo_from_array(rgb), protocol=protocol)
    return {issue.code: issue.level for issue in standard.quality.issues}


def test_laplacian_variance_falls_as_blur_grows() -> None:
    rng = np.random.default_rng(1)
    texture = rng.normal(128, 20, (256, 256)).astype(np.float32)
    mask = np.ones(texture.shape, bool)
    values = [
        laplacian_variance(cv2.GaussianBlur(texture, (0, 0), s) if s else texture, mask)
        for s in (0, 0.7, 1.4, 2.8)
    ]
    assert all(a > b for a, b in itertools.pairwise(values))


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_sharp_frontal_photos_pass(photo: str, request: pytest.FixtureRequest) -> None:
    rgb = request.getfixturevalue(photo)
    codes = _codes(rgb)
    assert "blur" not in codes
    assert "no_face" not in codes
    assert not {code for code, level in codes.items() if level == "reject"}


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_blurred_copy_raises_blur(photo: str, request: pytest.FixtureRequest) -> None:
    rgb = request.getfixturevalue(photo)
    blurred = cv2.GaussianBlur(rgb, (0, 0), 3.0)
    assert "blur" in _codes(blurred)


def test_dark_photo_is_underexposed_and_bright_photo_overexposed(
    astronaut: NDArray[np.uint8],
) -> None:
    dark = (astronaut.astype(np.float32) * 0.12).astype(np.uint8)
    assert _codes(dark, "face-frontal").get("underexposed") == "reject"
    bright = np.clip(astronaut.astype(np.float32) * 2.6, 0, 255).astype(np.uint8)
    codes = _codes(bright, "face-frontal")
    assert "overexposed" in codes or "clipping" in codes
    assert "clipping" in codes


def test_in_plane_rotation_raises_roll(astronaut: NDArray[np.uint8]) -> None:
    h, w = astronaut.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 35, 0.8)
    rotated = cv2.warpAffine(astronaut, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    standard = standardise(photo_from_array(rotated))
    assert standard.face is not None
    codes = {issue.code: issue for issue in standard.quality.issues}
    assert "pose_roll" in codes
    assert codes["pose_roll"].value == pytest.approx(35, abs=5)


def test_specular_spots_raise_glare(astronaut: NDArray[np.uint8]) -> None:
    standard = standardise(photo_from_array(astronaut))
    assert standard.face is not None
    glossy = astronaut.copy()
    ys, xs = np.nonzero(
        standard.regions["forehead"] | standard.regions["cheek_left"] | standard.regions["nose"]
    )
    glossy[ys, xs] = 250  # white, colourless highlight over three regions
    codes = _codes(glossy, "face-frontal")
    assert "glare" in codes


def test_no_face_is_rejected_in_face_protocol_and_becomes_body_site_otherwise() -> None:
    rng = np.random.default_rng(2)
    skin = np.empty((400, 500, 3), np.uint8)
    skin[:] = (196, 150, 128)
    skin = np.clip(skin + rng.normal(0, 6, skin.shape), 0, 255).astype(np.uint8)
    assert _codes(skin, "face-frontal").get("no_face") == "reject"
    standard = standardise(photo_from_array(skin))
    assert standard.protocol.name == "body-site"
    assert standard.face is None
    assert list(standard.regions) == ["site"]
    assert standard.quality.ok


@pytest.mark.parametrize(("ipd", "level"), [(300.0, None), (70.0, "warn"), (20.0, "reject")])
def test_face_size_limits_come_from_the_protocol(ipd: float, level: str | None) -> None:
    # Sharp, mid-grey texture: only the face size can fail.
    rgb = np.random.default_rng(0).integers(100, 200, (64, 64, 3), dtype=np.uint8)
    mask = np.ones((64, 64), bool)
    report = check_quality(
        rgb,
        protocol=load_protocol("face-frontal"),
        skin=mask,
        area=mask,
        face_found=True,
        n_faces=1,
        interpupil_px_original=ipd,
        pose_deg=(0.0, 0.0, 0.0),
    )
    found = {issue.code: issue for issue in report.issues}
    if level is None:
        assert "face_too_small" not in found
    else:
        assert found["face_too_small"].level == level
        assert found["face_too_small"].value == ipd
        assert found["face_too_small"].limit is not None
        assert report.ok == (level != "reject")
