"""Face detection and 68-point landmarks behind a small interface.

:class:`Landmarker` is the contract the rest of skinscan codes against; :class:`DlibLandmarker` is
the implementation shipped today (dlib's HOG face detector + the 68-point ensemble-of-regression-
trees shape predictor). The shape predictor was trained on iBUG 300-W, whose licence excludes
commercial use (see ``models/dlib-68-landmarks/MODEL_CARD.md``); a commercial deployment replaces
it with another :class:`Landmarker` that returns the same iBUG 68-point order.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.standardise._geometry import FaceFrame
from skinscan.standardise._warp import apply_transform, invert_transform

__all__ = [
    "DlibLandmarker",
    "FaceDetection",
    "Landmarker",
    "default_landmarker",
    "shape_predictor_path",
]

N_LANDMARKS = 68
_MODEL_FILE = "shape_predictor_68_face_landmarks.dat"


@dataclass(frozen=True)
class FaceDetection:
    """One detected face.

    Attributes
    ----------
    box : tuple of 4 float
        ``(x0, y0, x1, y1)`` in pixel coordinates of the image passed to the detector.
    landmarks : ndarray of shape (68, 2), float64
        ``(x, y)`` per point in the same coordinates, iBUG 300-W 68-point order. Points 36-41 are
        the eye on the image's left, which in an unmirrored photo is the patient's *right* eye.
    score : float
        Detector confidence; larger is more certain. Only comparable within one detector.
    """

    box: tuple[float, float, float, float]
    landmarks: NDArray[np.float64]
    score: float

    @property
    def area(self) -> float:
        """Area of :attr:`box` in square pixels."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, 0.0) * max(y1 - y0, 0.0)


@runtime_checkable
class Landmarker(Protocol):
    """Anything that finds faces and their iBUG 68 landmarks in an RGB image.

    ``detect`` takes an ``ndarray of shape (H, W, 3), uint8, sRGB`` and returns every face found
    (possibly none), each with landmarks in the input's pixel coordinates.
    """

    name: str
    version: str

    def detect(self, rgb_u8: NDArray[np.uint8]) -> list[FaceDetection]: ...


def face_recognition_models_file(name: str, what: str) -> Path:
    """Location of the model file ``name`` inside the installed ``face_recognition_models``.

    The package is located without importing it: its ``__init__`` needs ``pkg_resources``, which
    recent setuptools no longer ships. ``what`` names the model in error messages.

    Raises
    ------
    FileNotFoundError
        When the package or the model file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise FileNotFoundError(f"face-recognition-models is not installed; it provides the {what}")
    path = Path(locations[0]) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{what} missing: {path}")
    return path


def shape_predictor_path() -> Path:
    """Location of dlib's 68-point model inside the installed ``face_recognition_models``.

    Raises
    ------
    FileNotFoundError
        When the package or the model file is missing.
    """
    return face_recognition_models_file(_MODEL_FILE, "68-point landmark model")


# One shape predictor per process (about 100 MB); loading it takes ~0.6 s. dlib documents its
# object detector as unsafe for concurrent use, so each thread builds its own HOG detector on
# first use (~0.25 s, from data compiled into dlib); predictor calls are serialised by a lock
# (they take ~1 ms).
_LOAD_LOCK = threading.Lock()
_PREDICT_LOCK = threading.Lock()
_predictor: Any = None
_thread_state = threading.local()


def _shape_predictor() -> Any:
    global _predictor
    if _predictor is None:
        with _LOAD_LOCK:
            if _predictor is None:
                import dlib

                _predictor = dlib.shape_predictor(str(shape_predictor_path()))
    return _predictor


def _face_detector() -> Any:
    detector = getattr(_thread_state, "detector", None)
    if detector is None:
        import dlib

        detector = dlib.get_frontal_face_detector()
        _thread_state.detector = detector
    return detector


def _model_version() -> str:
    import dlib

    try:
        models = importlib.metadata.version("face_recognition_models")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - located by path instead
        models = "unknown"
    return f"dlib-{dlib.__version__}+face-recognition-models-{models}"


# The shape predictor reads pixel-intensity differences at fixed positions relative to the current
# shape estimate. On the raw photo its output therefore depends on the photo's resolution (fine
# texture such as wrinkles is or is not resolved) and on the in-plane angle (the trees were trained
# on upright faces). Each face is instead resampled into a crop where its box is _BOX_PX wide and,
# after the first pass, its eyes are level; the landmarks found there are mapped back. The box is
# then re-derived from the landmarks (centre and size from the eyes and mouth, matching the HOG
# detector's boxes on frontal faces) and the prediction repeated, so the result no longer depends
# on how the photo was scaled, rotated or shifted.
_BOX_PX = 256
_CANVAS_PX = 3 * _BOX_PX // 2  # room around the box for points outside it (chin, brows)
_BOX_CENTRE_BELOW_EYES = 0.6  # in eye-to-mouth distances
_BOX_SIDE = 1.2  # x (inter-eye + eye-to-mouth distance)
# The cascade's response to a small change of its box is irregular (a few % of the inter-eye
# distance on hard faces: glasses, deep wrinkles); the final landmarks are the per-coordinate
# median over the box and 8 boxes shifted by ±4 % and scaled by ±4 %, which halves that jitter.
_RELATIVE_SCORE = 0.5
_REALIGN_PASSES = 1  # re-align on the landmarks once before the jittered predictions
_JITTER = tuple(
    (dx, dy, 1.0 + ds) for dx in (-0.04, 0.04) for dy in (-0.04, 0.04) for ds in (-0.04, 0.04)
)


def _normalising_transform(
    centre: NDArray[np.float64], side: float, u_axis: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Similarity: image → crop with the box centred, ``_BOX_PX`` wide, ``u_axis`` along +x."""
    scale = _BOX_PX / max(side, 1e-6)
    rotation = np.array([[u_axis[0], u_axis[1]], [-u_axis[1], u_axis[0]]]) * scale
    shift = (_CANVAS_PX - 1) / 2.0 - rotation @ centre
    return np.hstack([rotation, shift[:, None]])


def _box_from_landmarks(
    landmarks: NDArray[np.float64],
) -> tuple[NDArray[np.float64], float, NDArray[np.float64]]:
    frame = FaceFrame.from_landmarks(landmarks)
    eye_to_mouth = frame.v_of((landmarks[48] + landmarks[54]) / 2.0)
    centre = frame.origin + frame.vec(0.0, _BOX_CENTRE_BELOW_EYES * eye_to_mouth)
    side = _BOX_SIDE * frame.unit * (1.0 + eye_to_mouth)
    return centre, side, frame.u_axis


class _Pyramid:
    """A greyscale image and its area-averaged reductions by integer factors, made on demand."""

    def __init__(self, gray: NDArray[np.uint8]) -> None:
        self._levels: dict[int, tuple[NDArray[np.uint8], NDArray[np.float64]]] = {
            1: (gray, np.ones(2))
        }

    def warp(self, transform: NDArray[np.float64], size: int) -> NDArray[np.uint8]:
        """Resample through ``transform`` (full-resolution pixels → output pixels)."""
        scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
        # Shrink first by the largest integer factor that leaves the warp shrinking < 2x.
        factor = max(1, int(np.floor(1.0 / scale)))
        if factor not in self._levels:
            gray = self._levels[1][0]
            height, width = gray.shape
            small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
            small = np.asarray(
                cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA), dtype=np.uint8
            )
            self._levels[factor] = (
                small,
                np.array([width / small_size[0], height / small_size[1]]),
            )
        image, factors = self._levels[factor]
        # Reduced pixel i has its centre at full-resolution (i + 0.5)·f - 0.5.
        offset = transform[:, :2] @ ((factors - 1.0) / 2.0) + transform[:, 2]
        matrix = np.hstack([transform[:, :2] * factors, offset[:, None]])
        warped = cv2.warpAffine(
            image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return np.asarray(warped, dtype=np.uint8)


def _predict_normalised(
    pyramid: _Pyramid, predictor: Any, transform: NDArray[np.float64]
) -> NDArray[np.float64]:
    import dlib

    crop = pyramid.warp(transform, _CANVAS_PX)
    low = (_CANVAS_PX - _BOX_PX) // 2
    rect = dlib.rectangle(low, low, low + _BOX_PX - 1, low + _BOX_PX - 1)
    with _PREDICT_LOCK:
        shape = predictor(crop, rect)
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return apply_transform(invert_transform(transform), points)


def _refined(
    pyramid: _Pyramid, predictor: Any, landmarks: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Re-predict in a crop aligned on ``landmarks``, then take the median over jittered boxes."""
    points = landmarks
    for _ in range(_REALIGN_PASSES):
        transform = _normalising_transform(*_box_from_landmarks(points))
        points = _predict_normalised(pyramid, predictor, transform)
    centre, side, u_axis = _box_from_landmarks(points)
    v_axis = np.array([-u_axis[1], u_axis[0]])
    estimates = [
        _predict_normalised(pyramid, predictor, _normalising_transform(centre, side, u_axis))
    ]
    for dx, dy, zoom in _JITTER:
        moved = centre + side * (dx * u_axis + dy * v_axis)
        transform = _normalising_transform(moved, side * zoom, u_axis)
        estimates.append(_predict_normalised(pyramid, predictor, transform))
    return np.median(np.stack(estimates), axis=0)


class DlibLandmarker:
    """dlib HOG face detector + 68-point shape predictor (Kazemi & Sullivan 2014).

    Parameters
    ----------
    max_side : int, default 800
        Detection runs on a greyscale copy downscaled so its long side is at most this many
        pixels (the HOG detector's cost grows with the pixel count; faces in clinical photos fill
        the frame). The smallest face found is about 80 px at the detection scale, i.e. 10 % of
        the long side with the default.
    upsample : int, default 0
        Times the detection image is doubled before scanning, to find smaller faces (each one
        costs ~4x the time).
    refine : bool, default True
        Repeat the landmark prediction in a crop re-aligned on the first landmarks (eyes level,
        fixed face size) and return the median over 9 slightly jittered boxes, so the landmarks
        follow a rotated, scaled or shifted photo (see Notes); 10-25 ms per face. Detections
        scoring under half the best score (almost always false alarms) are not refined. Without
        it, one prediction in the detector's upright box.

    Notes
    -----
    Detector: Dalal & Triggs (2005) HOG features + linear SVM, sliding window over an image
    pyramid (dlib's ``get_frontal_face_detector``); it misses small, profile and poorly lit
    faces. Landmarks: Kazemi & Sullivan (2014), "One millisecond face alignment with an ensemble
    of regression trees", CVPR, trained on iBUG 300-W (Sagonas et al. 2016): NON-COMMERCIAL.

    The predictor always runs on a crop resampled so the face box is 256 px wide (area-averaged
    when shrinking), not on the photo itself: its output on raw pixels changes with resolution
    and in-plane angle by several percent of the inter-eye distance, which would leak into scale,
    pose and the canonical frame. Landmarks are returned in the input's full-resolution
    coordinates.
    """

    name = "dlib-68-landmarks"

    def __init__(self, *, max_side: int = 800, upsample: int = 0, refine: bool = True) -> None:
        if max_side < 64:
            raise ValueError(f"max_side must be at least 64, not {max_side}")
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, not {upsample}")
        self.max_side = int(max_side)
        self.upsample = int(upsample)
        self.refine = bool(refine)
        self.version = _model_version()

    def __repr__(self) -> str:
        return (
            f"DlibLandmarker(max_side={self.max_side}, upsample={self.upsample}, "
            f"refine={self.refine})"
        )

    def detect(self, rgb_u8: NDArray[np.uint8]) -> list[FaceDetection]:
        """Find faces and their landmarks.

        Parameters
        ----------
        rgb_u8 : ndarray of shape (H, W, 3), uint8, sRGB

        Returns
        -------
        list of FaceDetection
            Sorted by decreasing box area; empty when no face is found.
        """
        image = _check_rgb_u8(rgb_u8)
        gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        height, width = gray.shape
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(gray, small_size, interpolation=cv2.INTER_AREA)
            # Use the exact ratios of the rounded size so boxes map back without drift.
            sx, sy = width / small_size[0], height / small_size[1]
        else:
            small, sx, sy = gray, 1.0, 1.0
        rects, scores, _ = _face_detector().run(small, self.upsample, 0.0)

        predictor = _shape_predictor()
        pyramid = _Pyramid(gray)
        detections = []
        for rect, score in zip(rects, scores, strict=True):
            # dlib rectangles are inclusive: +1 gives the pixel-edge extent.
            box = (
                rect.left() * sx,
                rect.top() * sy,
                (rect.right() + 1) * sx,
                (rect.bottom() + 1) * sy,
            )
            centre = np.array([box[0] + box[2], box[1] + box[3]]) / 2.0 - 0.5
            side = ((box[2] - box[0]) + (box[3] - box[1])) / 2.0
            upright = np.array([1.0, 0.0])
            points = _predict_normalised(
                pyramid, predictor, _normalising_transform(centre, side, upright)
            )
            # Weak hits (under half the best score) are nearly always false alarms, and
            # analyse_face ignores them: they keep the single-pass landmarks.
            if self.refine and score >= _RELATIVE_SCORE * max(scores):
                points = _refined(pyramid, predictor, points)
            detections.append(FaceDetection(box=box, landmarks=points, score=float(score)))
        detections.sort(key=lambda d: d.area, reverse=True)
        return detections


@lru_cache(maxsize=1)
def default_landmarker() -> Landmarker:
    """The process-wide default :class:`Landmarker` (a :class:`DlibLandmarker`)."""
    return DlibLandmarker()


def _check_rgb_u8(rgb_u8: Any) -> NDArray[np.uint8]:
    image = np.asarray(rgb_u8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}"
        )
    return image
