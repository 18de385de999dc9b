"""Registration of two visits, on real face photos with the real landmarker and identity model.

Photos: scikit-image's astronaut (Eileen Collins, NASA, public domain) enlarged to a clinical face
size (:func:`skinscan.validation.sample_faces`) and matplotlib's Grace Hopper (US Navy, public
domain). The "after" visits are made from the "before" photo by known transforms: a similarity
warp (the truth to recover), a crop of the cheek (a body site), or a head turned by a known yaw
(a cylinder-and-nose depth model rotated about the vertical axis, see :func:`_turn_head`).
"""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from skinscan.io import photo_from_array
from skinscan.longitudinal.identity import (
    SAME_PERSON_MAX_DISTANCE,
    DlibFaceIdentifier,
    FaceIdentifier,
    default_identifier,
    descriptor_distance,
    face_distance,
)
from skinscan.longitudinal.registration import (
    REFUSAL_CODES,
    Registration,
    pose_tolerance,
    register,
    register_records,
)
from skinscan.pipeline import Assessment, assess
from skinscan.standardise._warp import apply_transform
from skinscan.standardise.protocol import load_protocol
from skinscan.standardise.standard import StandardPhoto, standardise
from skinscan.validation import sample_faces

# (rotation in degrees, scale, shift x, shift y): before → after, about the photo's centre.
SIMILARITIES = [(3.0, 1.05, 25.0, -15.0), (-5.0, 0.95, -40.0, 30.0), (8.0, 1.1, 10.0, 40.0)]


def _similarity(
    angle_deg: float, scale: float, dx: float, dy: float, centre: tuple[float, float]
) -> NDArray[np.float64]:
    angle = np.deg2rad(angle_deg)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = np.asarray(centre) - rotation @ np.asarray(centre) + [dx, dy]
    return np.hstack([rotation, shift[:, None]])


def _warp(rgb: NDArray[np.uint8], transform: NDArray[np.float64]) -> NDArray[np.uint8]:
    height, width = rgb.shape[:2]
    return np.asarray(
        cv2.warpAffine(rgb, transform, (width, height), borderMode=cv2.BORDER_REFLECT_101)
    )


def _turn_head(
    rgb: NDArray[np.uint8], landmarks: NDArray[np.float64], yaw_deg: float
) -> NDArray[np.uint8]:
    """The photo as if the head had turned by ``yaw_deg`` (positive: towards the patient's left).

    Depth model: a vertical cylinder through the jaw contour (radius 1.1 × half the jaw width)
    plus a nose ridge rising from 0.1 inter-eye distances at the nasal root (27) to 0.45 at the
    tip (30); the background lies on the cylinder's axial plane. Each row is rotated about the
    vertical axis and projected orthographically, ``x' = c + (x - c) cos θ + z sin θ``; a point
    is hidden when a point to its left lands further right (the far cheek behind the nose).
    """
    if yaw_deg < 0:
        mirrored = landmarks.copy()
        mirrored[:, 0] = rgb.shape[1] - 1 - landmarks[:, 0]
        turned = _turn_head(np.ascontiguousarray(rgb[:, ::-1]), mirrored, -yaw_deg)
        return np.ascontiguousarray(turned[:, ::-1])
    height, width = rgb.shape[:2]
    eye_distance = float(np.linalg.norm(landmarks[42:48].mean(0) - landmarks[36:42].mean(0)))
    centre = (landmarks[0, 0] + landmarks[16, 0]) / 2.0
    radius = abs(landmarks[16, 0] - landmarks[0, 0]) / 2.0 * 1.1
    x = np.arange(width, dtype=np.float64)[None, :]
    y = np.arange(height, dtype=np.float64)[:, None]
    depth = np.sqrt(np.clip(radius**2 - (x - centre) ** 2, 0.0, None)) * np.ones((height, 1))
    levels = [landmarks[27, 1] - 0.15 * eye_distance, landmarks[27, 1], landmarks[30, 1]]
    levels += [landmarks[33, 1], landmarks[33, 1] + 0.15 * eye_distance]
    ridge = np.interp(y, levels, np.array([0.0, 0.1, 0.45, 0.25, 0.0]) * eye_distance)
    ridge_x = np.interp(y, [landmarks[27, 1], landmarks[30, 1]], landmarks[[27, 30], 0])
    depth += ridge * np.exp(-0.5 * ((x - ridge_x) / (0.15 * eye_distance)) ** 2)
    angle = np.deg2rad(yaw_deg)
    projected = centre + (x - centre) * np.cos(angle) + depth * np.sin(angle)
    visible = projected >= np.maximum.accumulate(projected, axis=1)
    map_x = np.empty((height, width), np.float32)
    for row in range(height):
        keep = visible[row]
        map_x[row] = np.interp(x[0], projected[row, keep], x[0, keep])
    map_y = np.repeat(y.astype(np.float32), width, axis=1)
    return np.asarray(
        cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    )


def _face_grid(standard: StandardPhoto, n: int = 9) -> NDArray[np.float64]:
    """An n × n grid over the bounding box of the photo's skin regions (before pixels)."""
    union = np.zeros(standard.rgb_u8.shape[:2], bool)
    for mask in standard.regions.values():
        union |= mask
    ys, xs = np.nonzero(union)
    gx, gy = np.meshgrid(np.linspace(xs.min(), xs.max(), n), np.linspace(ys.min(), ys.max(), n))
    return np.stack([gx, gy], axis=-1).reshape(-1, 2)


def _recovery_error_px(
    result: Registration, truth_before_to_after: NDArray[np.float64], grid: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Distance between where the result and the truth put each grid point (before pixels)."""
    assert result.matrix is not None
    after_points = apply_transform(truth_before_to_after, grid)
    return np.linalg.norm(apply_transform(result.matrix, after_points) - grid, axis=1)


def _assert_refused(result: Registration, reason: str) -> None:
    assert not result.ok
    assert result.reason == reason
    assert reason in REFUSAL_CODES
    assert result.message
    assert result.message.endswith(".")
    assert result.matrix is None
    assert result.error_px is None
    assert result.error_mm is None
    record = result.to_dict()
    assert record["ok"] is False
    assert record["error_px"] is None
    assert record["matrix"] is None
    json.dumps(record)


@pytest.fixture(scope="module")
def face_rgb() -> NDArray[np.uint8]:
    return sample_faces()["astronaut"]


@pytest.fixture(scope="module")
def front(face_rgb: NDArray[np.uint8]) -> Assessment:
    return assess(face_rgb)


@pytest.fixture(scope="module")
def before(front: Assessment) -> StandardPhoto:
    assert front.standard is not None
    assert front.standard.face is not None
    return front.standard


@pytest.fixture(scope="module")
def warped(face_rgb: NDArray[np.uint8]) -> dict[int, tuple[NDArray[np.float64], StandardPhoto]]:
    """Each of SIMILARITIES applied to the photo: (truth before → after, standardised after)."""
    height, width = face_rgb.shape[:2]
    out = {}
    for index, params in enumerate(SIMILARITIES):
        truth = _similarity(*params, centre=(width / 2.0, height / 2.0))
        out[index] = (truth, standardise(photo_from_array(_warp(face_rgb, truth))))
    return out


@pytest.fixture(scope="module")
def turned(face_rgb: NDArray[np.uint8], before: StandardPhoto) -> dict[float, StandardPhoto]:
    """The head turned by synthetic yaws (degrees)."""
    assert before.face is not None
    landmarks = before.face.detection.landmarks
    return {
        yaw: standardise(photo_from_array(_turn_head(face_rgb, landmarks, yaw)))
        for yaw in (-45.0, 5.0, 10.0, 30.0, 45.0)
    }


@pytest.fixture(scope="module")
def hopper(grace_hopper: NDArray[np.uint8]) -> StandardPhoto:
    """Grace Hopper enlarged 2.5× (inter-pupil distance ≈ 215 px, like the astronaut sample)."""
    big = cv2.resize(grace_hopper, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC)
    return standardise(photo_from_array(np.asarray(big)))


@pytest.fixture(scope="module")
def cheek(face_rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A 500 px crop of the left cheek and nose: no face in it, a body-site photo."""
    return np.ascontiguousarray(face_rgb[560:1060, 380:880])


# --- recovering a known similarity -------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(SIMILARITIES)), ids=[str(p) for p in SIMILARITIES])
def test_recovers_known_similarity_within_one_pixel(
    before: StandardPhoto, warped: dict[int, tuple[NDArray[np.float64], StandardPhoto]], index: int
) -> None:
    truth, after = warped[index]
    result = register(before, after)
    assert result.ok, result.message
    assert result.method == "landmarks+ecc"
    error = _recovery_error_px(result, truth, _face_grid(before))
    assert error.max() <= 1.0
    # The reported figure is a real residual: small here, and in line with the true error.
    assert result.error_px is not None
    assert result.error_px < 0.25
    assert result.error_mm == pytest.approx(result.error_px * before.mm_per_px)
    assert result.identity_distance is not None
    assert result.identity_distance < SAME_PERSON_MAX_DISTANCE
    assert result.pose_difference_deg is not None
    assert result.pose_difference_deg["roll"] == pytest.approx(SIMILARITIES[index][0], abs=1.0)


@pytest.mark.parametrize("index", range(len(SIMILARITIES)), ids=[str(p) for p in SIMILARITIES])
def test_ecc_refinement_beats_the_landmark_fit_and_the_error_figure_shows_it(
    before: StandardPhoto, warped: dict[int, tuple[NDArray[np.float64], StandardPhoto]], index: int
) -> None:
    truth, after = warped[index]
    refined = register(before, after)
    landmarks_only = register(before, after, refine=False)
    assert landmarks_only.ok
    assert landmarks_only.method == "landmarks"
    grid = _face_grid(before)
    true_refined = _recovery_error_px(refined, truth, grid)
    true_landmarks = _recovery_error_px(landmarks_only, truth, grid)
    assert np.sqrt(np.mean(true_refined**2)) < 0.5 * np.sqrt(np.mean(true_landmarks**2))
    assert refined.error_px is not None
    assert landmarks_only.error_px is not None
    assert refined.error_px < landmarks_only.error_px


def test_error_figure_grows_with_a_head_turn_the_similarity_cannot_undo(
    before: StandardPhoto, turned: dict[float, StandardPhoto]
) -> None:
    small, larger = register(before, turned[5.0]), register(before, turned[10.0])
    assert small.ok, small.message
    assert larger.ok, larger.message
    assert small.error_px is not None
    assert larger.error_px is not None
    assert 0.2 < small.error_px < larger.error_px


def test_same_photo_registers_onto_itself_exactly(before: StandardPhoto) -> None:
    result = register(before, before)
    assert result.ok
    assert result.matrix is not None
    np.testing.assert_allclose(result.matrix, np.eye(2, 3), atol=1e-4)
    assert result.error_px == pytest.approx(0.0, abs=1e-3)
    assert result.error_mm == pytest.approx(0.0, abs=1e-3)
    assert result.identity_distance == pytest.approx(0.0, abs=1e-4)
    assert result.pose_difference_deg == {"yaw": 0.0, "pitch": 0.0, "roll": 0.0}


# --- refusals -----------------------------------------------------------------------------------


def test_two_different_people_are_refused(before: StandardPhoto, hopper: StandardPhoto) -> None:
    assert hopper.face is not None
    result = register(before, hopper)
    _assert_refused(result, "different_person")
    assert result.identity_distance is not None
    assert result.identity_distance > SAME_PERSON_MAX_DISTANCE
    assert "same person" in result.message


@pytest.mark.parametrize("yaw", [45.0, -45.0, 30.0])
def test_turned_head_against_frontal_is_refused_for_pose(
    before: StandardPhoto, turned: dict[float, StandardPhoto], yaw: float
) -> None:
    after = turned[yaw]
    # The landmarker still finds the turned face, so the pose check itself is exercised.
    assert after.face is not None
    assert before.face is not None
    measured = after.face.pose.yaw - before.face.pose.yaw
    assert np.sign(measured) == np.sign(yaw)
    assert abs(measured) > 20.0
    result = register(before, after)
    _assert_refused(result, "pose_mismatch")
    assert result.pose_difference_deg is not None
    assert result.pose_difference_deg["yaw"] == pytest.approx(measured)
    side = "left" if yaw > 0 else "right"
    assert f"towards the patient's {side}" in result.message
    # The other way round: the same refusal, the sign flipped.
    reverse = register(after, before)
    _assert_refused(reverse, "pose_mismatch")


def test_pose_tolerance_comes_from_the_protocol_and_can_be_tightened(
    before: StandardPhoto, turned: dict[float, StandardPhoto]
) -> None:
    assert pose_tolerance(load_protocol("face-frontal")) == {"yaw": 12.0, "pitch": 15.0}
    assert pose_tolerance(load_protocol("face-frontal"), 4.0) == {"yaw": 4.0, "pitch": 4.0}
    with pytest.raises(ValueError, match="positive"):
        pose_tolerance(load_protocol("face-frontal"), 0.0)
    assert register(before, turned[10.0]).ok
    _assert_refused(register(before, turned[10.0], max_pose_difference_deg=3.0), "pose_mismatch")


def test_face_against_body_site_is_a_different_protocol(
    before: StandardPhoto, cheek: NDArray[np.uint8]
) -> None:
    site = standardise(photo_from_array(cheek))
    assert site.protocol.name == "body-site"
    result = register(before, site)
    _assert_refused(result, "different_protocol")
    assert result.method == "none"


def test_face_protocol_without_a_face_is_refused(
    before: StandardPhoto, cheek: NDArray[np.uint8]
) -> None:
    faceless = standardise(photo_from_array(cheek), protocol="face-frontal")
    assert faceless.face is None
    _assert_refused(register(before, faceless), "no_face")
    _assert_refused(register(faceless, before), "no_face")


# --- body sites ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [(2.0, 1.0, 12.0, -8.0), (-8.0, 1.08, -30.0, 10.0)], ids=["2deg", "-8deg-x1.08"]
)
def test_body_site_registers_a_reframed_photo(
    cheek: NDArray[np.uint8], params: tuple[float, float, float, float]
) -> None:
    height, width = cheek.shape[:2]
    truth = _similarity(*params, centre=(width / 2.0, height / 2.0))
    before_site = standardise(photo_from_array(cheek))
    after_site = standardise(photo_from_array(_warp(cheek, truth)))
    result = register(before_site, after_site)
    assert result.ok, result.message
    assert result.method == "ecc"
    assert result.error_mm is None
    assert result.identity_distance is None
    assert result.error_px is not None
    assert result.error_px < 0.5
    gx, gy = np.meshgrid(np.linspace(100, 400, 7), np.linspace(100, 400, 7))
    grid = np.stack([gx, gy], axis=-1).reshape(-1, 2)
    assert _recovery_error_px(result, truth, grid).max() <= 1.0


def test_body_site_crops_register_or_are_refused_for_overlap(face_rgb: NDArray[np.uint8]) -> None:
    """Two crops of one skin area, 100 and 230 px apart: the first aligns, the second shares
    only 45 % of the site."""
    before_site = standardise(photo_from_array(np.ascontiguousarray(face_rgb[560:1060, 380:880])))
    near = standardise(photo_from_array(np.ascontiguousarray(face_rgb[560:1060, 480:980])))
    result = register(before_site, near)
    assert result.ok, result.message
    truth = np.array([[1.0, 0.0, -100.0], [0.0, 1.0, 0.0]])  # before → after pixels
    gx, gy = np.meshgrid(np.linspace(100, 499, 7), np.linspace(0, 499, 7))
    grid = np.stack([gx, gy], axis=-1).reshape(-1, 2)
    assert _recovery_error_px(result, truth, grid).max() <= 0.25
    far = standardise(photo_from_array(np.ascontiguousarray(face_rgb[560:1060, 610:1110])))
    _assert_refused(register(before_site, far), "no_overlap")


# --- saved assessments (no pixels) --------------------------------------------------------------


def test_register_records_checks_face_and_pose(
    front: Assessment, face_rgb: NDArray[np.uint8], before: StandardPhoto, cheek: NDArray[np.uint8]
) -> None:
    assert before.face is not None
    record = json.loads(json.dumps(front.to_dict()))
    turned_record = assess(_turn_head(face_rgb, before.face.detection.landmarks, 45.0)).to_dict()
    assert turned_record["face"]["found"]

    same = register_records(record, record)
    assert same.ok
    assert same.method == "pose-only"
    assert same.matrix is None
    assert same.error_px is None
    assert same.pose_difference_deg == {"yaw": 0.0, "pitch": 0.0, "roll": 0.0}
    assert same.to_dict()["ok"] is True

    nudged: dict[str, Any] = json.loads(json.dumps(record))
    nudged["face"]["pose_deg"]["yaw"] += 5.0
    assert register_records(record, nudged).ok

    _assert_refused(register_records(record, turned_record), "pose_mismatch")
    assert register_records(record, turned_record, max_pose_difference_deg=90.0).ok

    site_record = assess(cheek).to_dict()
    _assert_refused(register_records(record, site_record), "different_protocol")
    assert register_records(site_record, site_record).ok
    with pytest.raises(ValueError, match="assessment/1"):
        register_records({"schema": "other"}, record)


# --- identity model -----------------------------------------------------------------------------


def test_identity_model_behind_its_interface(
    before: StandardPhoto, hopper: StandardPhoto, face_rgb: NDArray[np.uint8]
) -> None:
    identifier = default_identifier()
    assert identifier is default_identifier()
    assert isinstance(identifier, FaceIdentifier)
    assert isinstance(identifier, DlibFaceIdentifier)
    assert identifier.threshold == SAME_PERSON_MAX_DISTANCE
    assert identifier.version.startswith("dlib-")
    assert before.face is not None
    assert hopper.face is not None
    mine = identifier.descriptor(before.rgb_u8, before.face.detection.landmarks)
    assert mine.shape == (128,)
    assert mine.dtype == np.float32
    assert descriptor_distance(mine, mine) == 0.0
    other = face_distance(
        before.rgb_u8,
        before.face.detection.landmarks,
        hopper.rgb_u8,
        hopper.face.detection.landmarks,
    )
    assert other > SAME_PERSON_MAX_DISTANCE
    with pytest.raises(ValueError, match="RGB uint8"):
        identifier.descriptor(before.rgb_u8[..., 0], before.face.detection.landmarks)
    with pytest.raises(ValueError, match="68"):
        identifier.descriptor(before.rgb_u8, before.face.detection.landmarks[:5])
    with pytest.raises(ValueError, match="differ in length"):
        descriptor_distance(mine, mine[:64])


def test_to_dict_is_the_comparison_contract(
    before: StandardPhoto, warped: dict[int, tuple[NDArray[np.float64], StandardPhoto]]
) -> None:
    record = register(before, warped[0][1]).to_dict()
    assert set(record) == {
        "ok",
        "error_px",
        "error_mm",
        "method",
        "reason",
        "message",
        "pose_difference_deg",
        "identity_distance",
        "matrix",
    }
    assert record["ok"] is True
    assert record["reason"] is None
    assert record["message"] == ""
    assert isinstance(record["error_px"], float)
    assert np.asarray(record["matrix"]).shape == (2, 3)
    assert json.loads(json.dumps(record)) == record
    refused = Registration.refused("before_rejected", "The before photo was rejected.")
    assert refused.to_dict()["ok"] is False
    assert refused.method == "none"
