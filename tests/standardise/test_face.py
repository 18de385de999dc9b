"""Face geometry and regions, on real photos with the real dlib landmarker (no mocks).

Photos: ``skimage.data.astronaut()`` (Eileen Collins, NASA, public domain) and matplotlib's
``grace_hopper.jpg`` (US Navy, public domain); both near-frontal, both shipped with the packages.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image
from skimage import data

from skinscan.colour_space import lab_to_linear_srgb, linear_to_srgb
from skinscan.standardise import _pose
from skinscan.standardise._landmarks import shape_predictor_path
from skinscan.standardise._warp import apply_transform
from skinscan.standardise.face import (
    CANONICAL_SIZE,
    REGION_NAMES,
    DlibLandmarker,
    FaceGeometry,
    Landmarker,
    Pose,
    analyse_face,
    canonical_transform,
    default_landmarker,
    draw_regions,
    estimate_pose,
    face_hull_mask,
    face_not_found,
    region_masks,
    site_mask,
    skin_mask,
    warp_to_canonical,
)

PHOTOS = ("astronaut", "grace_hopper")


def _load(name: str) -> NDArray[np.uint8]:
    if name == "astronaut":
        return np.ascontiguousarray(data.astronaut())
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as photo:
        return np.asarray(photo.convert("RGB"))


@pytest.fixture(scope="module")
def photos() -> dict[str, NDArray[np.uint8]]:
    return {name: _load(name) for name in PHOTOS}


@pytest.fixture(scope="module")
def geometries(photos: dict[str, NDArray[np.uint8]]) -> dict[str, FaceGeometry]:
    found = {name: analyse_face(image) for name, image in photos.items()}
    assert all(g is not None for g in found.values())
    return {name: g for name, g in found.items() if g is not None}


@pytest.fixture(scope="module")
def regions(
    photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> dict[str, dict[str, NDArray[np.bool_]]]:
    return {
        name: region_masks(photos[name], geometries[name].detection.landmarks) for name in PHOTOS
    }


def _polygon_mask(shape: tuple[int, ...], points: NDArray[Any]) -> NDArray[np.bool_]:
    canvas = np.zeros(shape[:2], dtype=np.uint8)
    cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 1)
    return canvas.astype(bool)


def _similarity(
    image: NDArray[np.uint8], *, scale: float, clockwise_deg: float, shift: tuple[float, float]
) -> NDArray[np.uint8]:
    """The photo scaled, turned clockwise (as displayed) and shifted, on a larger black canvas."""
    height, width = image.shape[:2]
    out_w, out_h = int(width * scale * 1.4), int(height * scale * 1.4)
    # OpenCV's positive angle turns counter-clockwise on a y-down display.
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), -clockwise_deg, scale)
    matrix[:, 2] += ((out_w - width) / 2 + shift[0], (out_h - height) / 2 + shift[1])
    return np.asarray(cv2.warpAffine(image, matrix, (out_w, out_h)), dtype=np.uint8)


# --- landmarker -----------------------------------------------------------------------------------


def test_default_landmarker_is_cached_and_satisfies_the_protocol() -> None:
    landmarker = default_landmarker()
    assert landmarker is default_landmarker()
    assert isinstance(landmarker, Landmarker)
    assert isinstance(landmarker, DlibLandmarker)
    assert landmarker.name == "dlib-68-landmarks"
    assert "dlib" in landmarker.version
    assert shape_predictor_path().is_file()


@pytest.mark.parametrize("kwargs", [{"max_side": 10}, {"upsample": -1}])
def test_dlib_landmarker_rejects_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        DlibLandmarker(**kwargs)


@pytest.mark.parametrize(
    "bad", [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32), np.zeros((8, 8, 4))]
)
def test_detect_rejects_non_rgb_u8(bad: NDArray[np.generic]) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        default_landmarker().detect(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", PHOTOS)
def test_face_found_with_68_landmarks_in_its_box(
    name: str, geometries: dict[str, FaceGeometry]
) -> None:
    geometry = geometries[name]
    assert geometry.n_faces == 1
    detection = geometry.detection
    assert detection.landmarks.shape == (68, 2)
    assert detection.landmarks.dtype == np.float64
    assert detection.score > 0
    x0, y0, x1, y1 = detection.box
    # dlib's HOG box is tight around eyes, nose and mouth; the jaw line may poke out a little.
    pad_x, pad_y = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
    x, y = detection.landmarks.T
    assert np.all((x >= x0 - pad_x) & (x <= x1 + pad_x) & (y >= y0 - pad_y) & (y <= y1 + pad_y))
    inner = detection.landmarks[17:]  # brows, nose, eyes, mouth
    assert np.all((inner[:, 0] >= x0) & (inner[:, 0] <= x1))
    assert np.all((inner[:, 1] >= y0) & (inner[:, 1] <= y1))


def test_largest_of_several_faces_is_analysed(photos: dict[str, NDArray[np.uint8]]) -> None:
    big = photos["grace_hopper"]
    small = cv2.resize(big, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    canvas = np.full((big.shape[0], big.shape[1] + small.shape[1], 3), 128, np.uint8)
    canvas[:, : big.shape[1]] = big
    canvas[: small.shape[0], big.shape[1] :] = small
    geometry = analyse_face(canvas)
    assert geometry is not None
    assert geometry.n_faces == 2
    assert geometry.detection.box[2] <= big.shape[1]  # the big face, on the left


def test_detection_is_thread_safe(photos: dict[str, NDArray[np.uint8]]) -> None:
    image = photos["astronaut"]
    expected = default_landmarker().detect(image)[0].landmarks
    results: list[NDArray[np.float64]] = []

    def work() -> None:
        for _ in range(2):
            results.append(default_landmarker().detect(image)[0].landmarks)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for landmarks in results:
        np.testing.assert_array_equal(landmarks, expected)


@pytest.mark.parametrize(
    "image",
    [
        np.full((480, 640, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        # A 4 × 6 chart of saturated and neutral patches.
        np.kron(
            np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8),
            np.ones((80, 80, 1), np.uint8),
        ),
    ],
    ids=["gray", "noise", "colour_chart"],
)
def test_no_face_gives_none(image: NDArray[np.uint8]) -> None:
    assert analyse_face(image) is None
    assert face_not_found() == {"found": False, "pose_deg": None, "mm_per_px": None}


# --- pose -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_pose_of_near_frontal_photos_is_small(
    name: str, geometries: dict[str, FaceGeometry]
) -> None:
    pose = geometries[name].pose
    assert max(abs(pose.yaw), abs(pose.pitch), abs(pose.roll)) < 15.0


def _project_model(
    *, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, at: tuple[float, ...] = (0, 0, 60)
) -> NDArray[np.float64]:
    """Landmarks of the generic 3D face turned as the conventions describe, seen by a camera.

    Camera frame: x right, y down (as displayed), z away from the camera; the model faces the
    camera (its nose is at smaller z). The rotations are written from the documented meaning,
    not from the implementation: yaw > 0 swings the front of the face towards +x (the image's
    right = the patient's left), pitch > 0 swings it up (chin up), roll > 0 turns the face
    clockwise on the display.
    """
    points = _pose._MODEL_POINTS_CM - _pose._MODEL_POINTS_CM.mean(axis=0)  # centred at ``at``
    y_, p_, r_ = np.radians([yaw, pitch, roll])
    yaw_m = np.array([[np.cos(y_), 0, -np.sin(y_)], [0, 1, 0], [np.sin(y_), 0, np.cos(y_)]])
    pitch_m = np.array([[1, 0, 0], [0, np.cos(p_), np.sin(p_)], [0, -np.sin(p_), np.cos(p_)]])
    roll_m = np.array([[np.cos(r_), -np.sin(r_), 0], [np.sin(r_), np.cos(r_), 0], [0, 0, 1]])
    camera_points = points @ (roll_m @ yaw_m @ pitch_m).T + np.asarray(at, dtype=np.float64)
    focal, centre = 1000.0, 499.5
    landmarks = np.zeros((68, 2))
    landmarks[_pose._MODEL_INDICES] = focal * camera_points[:, :2] / camera_points[:, 2:] + centre
    return landmarks


def test_projected_model_turned_right_moves_nose_right() -> None:
    # The test's own rotation really is "turned towards the patient's left".
    frontal, turned = _project_model(), _project_model(yaw=20)
    nose, outer_eye = 31, 36
    assert (turned[nose, 0] - turned[outer_eye, 0]) > (frontal[nose, 0] - frontal[outer_eye, 0])


@pytest.mark.parametrize(
    ("yaw", "pitch", "roll"),
    [(0, 0, 0), (20, 0, 0), (-25, 0, 0), (0, 15, 0), (0, -20, 0), (0, 0, 10), (0, 0, -30)],
)
def test_pose_sign_conventions(yaw: float, pitch: float, roll: float) -> None:
    pose = estimate_pose(_project_model(yaw=yaw, pitch=pitch, roll=roll), (1000, 1000))
    assert pose.yaw == pytest.approx(yaw, abs=1.0)
    assert pose.pitch == pytest.approx(pitch, abs=1.0)
    assert pose.roll == pytest.approx(roll, abs=1.0)


def test_pose_is_relative_to_the_line_of_sight() -> None:
    # A face high in a wide frame, looking into the lens (its chin dipped by the viewing angle).
    height_cm, distance_cm = -25.0, 60.0
    viewing = float(np.degrees(np.arctan2(-height_cm, distance_cm)))
    landmarks = _project_model(pitch=-viewing, at=(0, height_cm, distance_cm))
    pose = estimate_pose(landmarks, (1000, 1000))
    assert abs(pose.pitch) < 1.0
    assert abs(pose.yaw) < 1.0


@pytest.mark.parametrize("clockwise", [10.0, -10.0])
def test_roll_follows_in_plane_rotation(
    clockwise: float, photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    image = photos["grace_hopper"]
    turned = analyse_face(_similarity(image, scale=1.0, clockwise_deg=clockwise, shift=(0, 0)))
    assert turned is not None
    roll_change = turned.pose.roll - geometries["grace_hopper"].pose.roll
    assert roll_change == pytest.approx(clockwise, abs=2.0)


@pytest.mark.parametrize("name", PHOTOS)
def test_mirrored_photo_flips_yaw_and_roll(
    name: str, photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    mirrored = analyse_face(np.ascontiguousarray(photos[name][:, ::-1]))
    assert mirrored is not None
    pose = geometries[name].pose
    assert mirrored.pose.yaw == pytest.approx(-pose.yaw, abs=3.0)
    assert mirrored.pose.roll == pytest.approx(-pose.roll, abs=2.0)
    assert mirrored.pose.pitch == pytest.approx(pose.pitch, abs=3.0)


def test_estimate_pose_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        estimate_pose(np.zeros((5, 2)), (100, 100))
    with pytest.raises(ValueError, match="positive"):
        estimate_pose(_project_model(), (0, 100))


# --- scale and serialisation ---------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_mm_per_px_gives_a_plausible_face_width(
    name: str, geometries: dict[str, FaceGeometry]
) -> None:
    geometry = geometries[name]
    landmarks = geometry.detection.landmarks
    width_mm = float(np.hypot(*(landmarks[16] - landmarks[0]))) * geometry.mm_per_px
    assert 120.0 <= width_mm <= 170.0
    assert geometry.scale_method == "interpupil"
    assert geometry.mm_per_px == pytest.approx(63.0 / geometry.interpupil_px, rel=0.05)


def test_mm_per_px_follows_image_scale(
    photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    image = photos["astronaut"]
    doubled = analyse_face(
        np.asarray(cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), np.uint8)
    )
    assert doubled is not None
    assert doubled.mm_per_px * 2 == pytest.approx(geometries["astronaut"].mm_per_px, rel=0.03)


def test_to_dict_is_the_assessment_face_object(geometries: dict[str, FaceGeometry]) -> None:
    face = geometries["astronaut"].to_dict()
    assert set(face) == {"found", "pose_deg", "mm_per_px"}
    assert face["found"] is True
    assert set(face["pose_deg"]) == {"yaw", "pitch", "roll"}
    assert all(isinstance(v, float) for v in face["pose_deg"].values())
    assert isinstance(face["mm_per_px"], float)
    assert face["mm_per_px"] > 0
    assert json.loads(json.dumps(face)) == face
    assert isinstance(geometries["astronaut"].pose, Pose)


# --- canonical frame ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_canonical_transform_is_a_similarity(
    name: str, geometries: dict[str, FaceGeometry]
) -> None:
    matrix = canonical_transform(geometries[name].detection.landmarks)
    assert matrix.shape == (2, 3)
    linear = matrix[:, :2]
    scale = np.sqrt(np.linalg.det(linear))
    np.testing.assert_allclose(linear @ linear.T / scale**2, np.eye(2), atol=1e-9)
    np.testing.assert_allclose(matrix, geometries[name].to_canonical)


@pytest.mark.parametrize("name", PHOTOS)
def test_canonical_eyes_sit_at_ffhq_positions(
    name: str, geometries: dict[str, FaceGeometry]
) -> None:
    landmarks = geometries[name].detection.landmarks
    eyes = np.stack([landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)])
    (ul, vl), (ur, vr) = apply_transform(geometries[name].to_canonical, eyes)
    # FFHQ's recipe: eyes level, symmetric about the centre, at most 256 px apart (exactly 256
    # when the eye distance sets the crop), the eye line between v = 483 and 511.5.
    assert abs(vl - vr) <= 3.0
    assert (ul + ur) / 2 == pytest.approx(511.5, abs=3.0)
    assert 200.0 <= ur - ul <= 256.0 + 1e-6
    assert 480.0 <= (vl + vr) / 2 <= 512.0


def _ffhq_quad(landmarks: NDArray[np.float64]) -> NDArray[np.float64]:
    # Literal port of recreate_aligned_images() in NVlabs/ffhq-dataset download_ffhq.py.
    lm = landmarks
    eye_left = np.mean(lm[36:42], axis=0)
    eye_right = np.mean(lm[42:48], axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


@pytest.mark.parametrize("name", PHOTOS)
def test_warp_matches_the_ffhq_script(
    name: str, photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    image = photos[name]
    quad = _ffhq_quad(geometries[name].detection.landmarks)
    expected = np.asarray(
        Image.fromarray(image).transform(
            (CANONICAL_SIZE, CANONICAL_SIZE),
            Image.Transform.QUAD,
            tuple((quad + 0.5).flatten()),
            Image.Resampling.BILINEAR,
        ),
        dtype=np.float64,
    )
    ours = warp_to_canonical(image, geometries[name].to_canonical).astype(np.float64)
    assert ours.shape == (CANONICAL_SIZE, CANONICAL_SIZE, 3)
    both = (expected.sum(axis=-1) > 0) & (ours.sum(axis=-1) > 0)
    assert both.mean() > 0.9
    assert np.abs(expected - ours)[both].mean() < 1.0


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize(
    ("scale", "clockwise", "shift"),
    [(1.5, 12.0, (30.0, -20.0)), (0.8, -7.0, (10.0, 5.0)), (1.2, 25.0, (-15.0, 0.0))],
)
def test_canonical_frame_is_invariant_to_a_similarity_of_the_photo(
    name: str,
    scale: float,
    clockwise: float,
    shift: tuple[float, float],
    photos: dict[str, NDArray[np.uint8]],
    geometries: dict[str, FaceGeometry],
) -> None:
    original = geometries[name]
    moved_image = _similarity(photos[name], scale=scale, clockwise_deg=clockwise, shift=shift)
    moved = analyse_face(moved_image)
    assert moved is not None
    before = apply_transform(original.to_canonical, original.detection.landmarks)
    after = apply_transform(moved.to_canonical, moved.detection.landmarks)
    drift = np.hypot(*(after - before).T)
    # Grace Hopper wears glasses in a small JPEG: her landmarks are less certain.
    tolerance = {"astronaut": 2.0, "grace_hopper": 4.0}[name]
    assert drift[17:].mean() <= tolerance  # brows, nose, eyes, mouth
    assert np.median(drift) <= tolerance
    # ... and the canonical images line up (to within 1.5 px for the astronaut).
    first = cv2.cvtColor(warp_to_canonical(photos[name], original.to_canonical), cv2.COLOR_RGB2GRAY)
    second = cv2.cvtColor(warp_to_canonical(moved_image, moved.to_canonical), cv2.COLOR_RGB2GRAY)
    window = slice(256, 768)
    (dx, dy), _ = cv2.phaseCorrelate(
        first[window, window].astype(np.float64), second[window, window].astype(np.float64)
    )
    assert np.hypot(dx, dy) <= 0.75 * tolerance
    assert moved.mm_per_px * scale == pytest.approx(original.mm_per_px, rel=0.03)


def test_warp_to_canonical_masks_and_sizes(
    photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    image, transform = photos["astronaut"], geometries["astronaut"].to_canonical
    midline = int(geometries["astronaut"].detection.landmarks[27:31, 0].mean())
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[:, :midline] = True  # the image-left half of the face
    warped = warp_to_canonical(mask, transform)
    assert warped.dtype == np.bool_
    assert warped.shape == (CANONICAL_SIZE, CANONICAL_SIZE)
    assert 0.4 < warped[:, 256:768].mean() < 0.6
    assert warped[:, :400].all()
    assert not warped[:, 624:].any()
    full = warp_to_canonical(image, transform).astype(np.float64)
    quarter = warp_to_canonical(image, transform, size=256).astype(np.float64)
    reduced = cv2.resize(full, (256, 256), interpolation=cv2.INTER_AREA)
    assert np.abs(quarter - reduced)[32:224, 32:224].mean() < 4.0
    with pytest.raises(ValueError, match="positive"):
        warp_to_canonical(image, transform, size=0)


# --- regions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PHOTOS)
def test_every_region_is_present_and_non_empty(
    name: str, regions: dict[str, dict[str, NDArray[np.bool_]]]
) -> None:
    masks = regions[name]
    assert tuple(masks) == REGION_NAMES
    for region, mask in masks.items():
        assert mask.dtype == np.bool_
        assert mask.sum() >= 50, region


@pytest.mark.parametrize("name", PHOTOS)
def test_regions_are_disjoint(name: str, regions: dict[str, dict[str, NDArray[np.bool_]]]) -> None:
    stack = np.stack(list(regions[name].values())).astype(np.int32)
    assert stack.sum(axis=0).max() == 1


@pytest.mark.parametrize("name", PHOTOS)
def test_regions_lie_inside_the_face_hull(
    name: str,
    photos: dict[str, NDArray[np.uint8]],
    geometries: dict[str, FaceGeometry],
    regions: dict[str, dict[str, NDArray[np.bool_]]],
) -> None:
    landmarks = geometries[name].detection.landmarks
    eye_mid = (landmarks[36:42].mean(axis=0) + landmarks[42:48].mean(axis=0)) / 2
    eye_to_mouth = float(np.hypot(*((landmarks[48] + landmarks[54]) / 2 - eye_mid)))
    # Jaw line plus the brows raised by a little more than one eye-to-mouth distance.
    raised = landmarks[17:27] - np.array([0.0, 1.05 * eye_to_mouth])
    hull = cv2.convexHull(np.vstack([landmarks[:17], raised]).astype(np.float32))
    inside = _polygon_mask(photos[name].shape, hull.reshape(-1, 2))
    inside = cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    jaw = cv2.dilate(
        _polygon_mask(
            photos[name].shape, cv2.convexHull(landmarks[:17].astype(np.float32))[:, 0]
        ).astype(np.uint8),
        np.ones((5, 5), np.uint8),
    ).astype(bool)
    # Below the top of the jaw line (points 0 and 16, near the ears) everything is within it.
    jaw_top = max(landmarks[0, 1], landmarks[16, 1])
    lower_face = np.arange(photos[name].shape[0])[:, None] > jaw_top
    for region, mask in regions[name].items():
        assert not (mask & ~inside).any(), region
        assert not (mask & lower_face & ~jaw).any(), region


@pytest.mark.parametrize("name", PHOTOS)
def test_regions_exclude_eyes_and_lips(
    name: str,
    photos: dict[str, NDArray[np.uint8]],
    geometries: dict[str, FaceGeometry],
    regions: dict[str, dict[str, NDArray[np.bool_]]],
) -> None:
    landmarks = geometries[name].detection.landmarks
    shape = photos[name].shape
    forbidden = (
        _polygon_mask(shape, landmarks[36:42])
        | _polygon_mask(shape, landmarks[42:48])
        | _polygon_mask(shape, landmarks[48:60])
    )
    assert forbidden.sum() > 100
    union = np.any(np.stack(list(regions[name].values())), axis=0)
    assert not (union & forbidden).any()


@pytest.mark.parametrize("name", PHOTOS)
def test_left_and_right_are_the_patients(
    name: str, geometries: dict[str, FaceGeometry], regions: dict[str, dict[str, NDArray[np.bool_]]]
) -> None:
    # Unmirrored photo: the patient's right side is on the image's left.
    midline = geometries[name].detection.landmarks[27:31, 0].mean()
    for stem in ("periorbital", "undereye", "cheek", "nasolabial"):
        right_x = np.nonzero(regions[name][f"{stem}_right"])[1].mean()
        left_x = np.nonzero(regions[name][f"{stem}_left"])[1].mean()
        assert right_x < midline < left_x, stem


@pytest.mark.parametrize("lightness", [25.0, 40.0, 55.0, 70.0, 85.0])
def test_regions_on_uniform_skin_of_any_tone(
    lightness: float, photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    # The face painted with one skin colour (hue 55°, chroma 18) plus sensor-like noise.
    image = photos["grace_hopper"].copy()
    landmarks = geometries["grace_hopper"].detection.landmarks
    lab = np.array([lightness, 18 * np.cos(np.radians(55)), 18 * np.sin(np.radians(55))])
    colour = linear_to_srgb(lab_to_linear_srgb(lab.astype(np.float32))) * 255
    hull = cv2.convexHull(
        np.vstack([landmarks[:17], landmarks[17:27] - [0, 80]]).astype(np.float32)
    )[:, 0]
    face = _polygon_mask(image.shape, hull)
    noise = np.random.default_rng(2).normal(0, 2.0, (*image.shape[:2], 1))
    painted = np.clip(colour + noise, 0, 255).astype(np.uint8)
    image[face] = painted[face]
    masks = region_masks(image, landmarks)
    for region, mask in masks.items():
        assert mask.sum() >= 100, region
    assert skin_mask(image, landmarks=landmarks)[face].mean() > 0.98


@pytest.mark.parametrize("kind", ["greyscale", "underexposed"])
def test_regions_survive_colourless_photos(
    kind: str, photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    # Without usable hue the face's colour model falls back to lightness and chroma only.
    image = photos["grace_hopper"]
    if kind == "greyscale":
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    else:
        image = (image.astype(np.float32) * 0.12).astype(np.uint8)
    landmarks = geometries["grace_hopper"].detection.landmarks
    masks = region_masks(image, landmarks)
    for region, mask in masks.items():
        assert mask.sum() >= 50, region
    hull = face_hull_mask(image.shape, landmarks)
    assert skin_mask(image, landmarks=landmarks)[hull].mean() > 0.5


def test_face_hull_mask_contains_every_region(
    photos: dict[str, NDArray[np.uint8]],
    geometries: dict[str, FaceGeometry],
    regions: dict[str, dict[str, NDArray[np.bool_]]],
) -> None:
    image = photos["astronaut"]
    hull = face_hull_mask(image.shape, geometries["astronaut"].detection.landmarks)
    assert hull.shape == image.shape[:2]
    for mask in regions["astronaut"].values():
        assert not (mask & ~hull).any()


def test_precomputed_skin_gives_the_same_regions(
    photos: dict[str, NDArray[np.uint8]],
    geometries: dict[str, FaceGeometry],
    regions: dict[str, dict[str, NDArray[np.bool_]]],
) -> None:
    image, landmarks = photos["grace_hopper"], geometries["grace_hopper"].detection.landmarks
    again = region_masks(image, landmarks, skin=skin_mask(image, landmarks=landmarks))
    for name, mask in again.items():
        np.testing.assert_array_equal(mask, regions["grace_hopper"][name])


def test_region_masks_rejects_bad_input(photos: dict[str, NDArray[np.uint8]]) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        region_masks(photos["astronaut"][..., 0], np.zeros((68, 2)))
    with pytest.raises(ValueError, match="shape"):
        region_masks(photos["astronaut"], np.zeros((5, 2)))


# --- skin colour ----------------------------------------------------------------------------------


def _patch(lab: tuple[float, float, float]) -> NDArray[np.uint8]:
    linear = lab_to_linear_srgb(np.array(lab, dtype=np.float32))
    assert np.all((linear >= -1e-3) & (linear <= 1.0 + 1e-3)), f"{lab} is outside sRGB"
    rgb = np.round(linear_to_srgb(linear) * 255).astype(np.uint8)
    return np.broadcast_to(rgb, (16, 16, 3)).copy()


@pytest.mark.parametrize("lightness", [25.0, 35.0, 45.0, 55.0, 65.0, 75.0, 85.0])
@pytest.mark.parametrize("hue_deg", [40.0, 55.0, 70.0])
def test_generic_skin_rule_accepts_light_to_dark_skin(lightness: float, hue_deg: float) -> None:
    chroma = 18.0
    patch = _patch(
        (lightness, chroma * np.cos(np.radians(hue_deg)), chroma * np.sin(np.radians(hue_deg)))
    )
    assert skin_mask(patch).all()


@pytest.mark.parametrize(
    "lab",
    [
        (50.0, 0.0, 0.0),
        (80.0, 0.0, 0.0),
        (25.0, 0.0, 0.0),
        (95.0, 1.0, 3.0),  # paper white
        (40.0, 20.0, -60.0),  # saturated blue
        (60.0, -50.0, 40.0),  # saturated green
        (50.0, -20.0, -20.0),  # teal
        (45.0, 50.0, -40.0),  # purple
        (5.0, 2.0, 3.0),  # black
    ],
)
def test_generic_skin_rule_rejects_other_colours(lab: tuple[float, float, float]) -> None:
    assert not skin_mask(_patch(lab)).any()


def test_specular_highlights_are_not_skin() -> None:
    patch = np.full((8, 8, 3), 253, np.uint8)
    patch[..., 2] = 251
    assert not skin_mask(patch).any()


def test_face_skin_model_separates_face_from_surroundings(
    photos: dict[str, NDArray[np.uint8]], geometries: dict[str, FaceGeometry]
) -> None:
    image = photos["grace_hopper"]
    landmarks = geometries["grace_hopper"].detection.landmarks
    mask = skin_mask(image, landmarks=landmarks)
    assert mask.shape == image.shape[:2]
    assert mask.dtype == np.bool_
    # Mid-cheeks are skin; the blue backdrop, the dark cap and the navy uniform are not.
    for ala, side in ((31, -1), (35, 1)):
        x, y = np.round(landmarks[ala] + [side * 25, -8]).astype(int)
        assert mask[y - 5 : y + 5, x - 5 : x + 5].mean() > 0.9
    assert mask[150:300, 480:].mean() < 0.01  # backdrop
    assert mask[40:110, 200:330].mean() < 0.05  # cap
    assert mask[480:, 40:150].mean() < 0.05  # uniform


# --- body-site photos and overlays ----------------------------------------------------------------


def test_site_mask_is_the_whole_frame_by_default() -> None:
    mask = site_mask((30, 40))
    assert mask.shape == (30, 40)
    assert mask.dtype == np.bool_
    assert mask.all()


def test_site_mask_is_the_user_mask_minus_the_excluded() -> None:
    user = np.zeros((30, 40), bool)
    user[5:25, 5:35] = True
    chart = np.zeros((30, 40), bool)
    chart[20:30, 30:40] = True
    mask = site_mask((30, 40, 3), user_mask=user, exclude=chart)
    assert mask.sum() == user.sum() - (user & chart).sum()
    assert not (mask & chart).any()
    assert user.sum() == 600  # the input is not modified


def test_site_mask_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="user_mask"):
        site_mask((30, 40), user_mask=np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="exclude"):
        site_mask((30, 40), exclude=np.ones((10, 10), bool))


def test_draw_regions_overlays_fills_names_and_dots(
    photos: dict[str, NDArray[np.uint8]],
    geometries: dict[str, FaceGeometry],
    regions: dict[str, dict[str, NDArray[np.bool_]]],
) -> None:
    image = photos["grace_hopper"]
    before = image.copy()
    overlay = draw_regions(
        image, regions["grace_hopper"], landmarks=geometries["grace_hopper"].detection.landmarks
    )
    assert overlay.shape == image.shape
    assert overlay.dtype == np.uint8
    np.testing.assert_array_equal(image, before)
    changed = np.any(overlay != image, axis=-1)
    assert changed[regions["grace_hopper"]["cheek_left"]].mean() > 0.9
    assert not changed[500:, :100].any()  # far from the face
    site = draw_regions(image, {"site": site_mask(image.shape)})
    assert np.any(site != image)
