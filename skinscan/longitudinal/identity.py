"""Is it the same person? A face descriptor behind a small interface, and the distance between two.

:class:`FaceIdentifier` is the contract registration codes against; :class:`DlibFaceIdentifier` is
the implementation shipped today: dlib's face recognition ResNet (the file
``dlib_face_recognition_resnet_model_v1.dat`` of the ``face-recognition-models`` package), which
maps an aligned 150 × 150 face chip to a 128-D descriptor. Two descriptors of the same person lie
closer than :data:`SAME_PERSON_MAX_DISTANCE` (0.6, Euclidean), the radius the network was trained
for.

The descriptor is biometric data: it is computed in memory for the comparison and never returned
by registration or stored; only the distance is. Model card, with the licence, the training data
and the known limits: ``models/dlib-face-recognition/MODEL_CARD.md``.

Examples
--------
>>> from skinscan.longitudinal.identity import face_distance
>>> d = face_distance(rgb_a, landmarks_a, rgb_b, landmarks_b)  # doctest: +SKIP
>>> d < 0.6  # doctest: +SKIP
True
"""

from __future__ import annotations

import importlib.metadata
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from skinscan.standardise._landmarks import face_recognition_models_file

__all__ = [
    "SAME_PERSON_MAX_DISTANCE",
    "DlibFaceIdentifier",
    "FaceIdentifier",
    "default_identifier",
    "descriptor_distance",
    "face_distance",
    "face_recognition_model_path",
]

#: Largest Euclidean distance between two descriptors of the same person. dlib's model was trained
#: with a pair-wise hinge loss that places each identity in a ball of radius 0.6; it scores
#: 99.38 % on the LFW benchmark (dlib-models README).
SAME_PERSON_MAX_DISTANCE = 0.6

_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# The model's own alignment: a 150 px chip with 25 % padding around the landmark-aligned face.
_CHIP_SIZE = 150
_CHIP_PADDING = 0.25


@runtime_checkable
class FaceIdentifier(Protocol):
    """Anything that turns a located face into a descriptor comparable by Euclidean distance.

    ``descriptor`` takes an ``ndarray of shape (H, W, 3), uint8, sRGB`` and the face's iBUG
    68 landmarks ``(68, 2)`` in that image's pixels, and returns a 1-D float32 vector. Distances
    between descriptors of one identifier are only comparable with that identifier's threshold.
    """

    name: str
    version: str
    threshold: float

    def descriptor(
        self, rgb_u8: NDArray[np.uint8], landmarks: NDArray[np.floating]
    ) -> NDArray[np.float32]: ...


def face_recognition_model_path() -> Path:
    """Location of dlib's face recognition ResNet inside the installed ``face_recognition_models``.

    Raises
    ------
    FileNotFoundError
        When the package or the model file is missing.
    """
    return face_recognition_models_file(_MODEL_FILE, "face recognition model")


# One network per process (~22 MB, ~0.1 s to load). A dlib network keeps its activations in the
# object, so calls are serialised by a lock; one call takes ~0.1 s on one CPU core.
_LOAD_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()
_network: Any = None


def _recognition_network() -> Any:
    global _network
    if _network is None:
        with _LOAD_LOCK:
            if _network is None:
                import dlib

                _network = dlib.face_recognition_model_v1(str(face_recognition_model_path()))
    return _network


def _model_version() -> str:
    import dlib

    try:
        models = importlib.metadata.version("face_recognition_models")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - located by path instead
        models = "unknown"
    return f"dlib-{dlib.__version__}+face-recognition-models-{models}"


class DlibFaceIdentifier:
    """dlib's face recognition ResNet (King 2017): 128-D descriptors, same person below 0.6.

    Notes
    -----
    A ResNet-34 with some layers removed and half the filters (29 convolutional layers), trained
    from scratch by D. King on about 3 million faces of 7485 identities (FaceScrub, VGG Face and
    photos collected from the web) with a pair-wise hinge loss that projects every identity into a
    ball of radius 0.6; 99.38 % ± 0.27 % accuracy on LFW. The face is cut into a 150 × 150 chip
    aligned on the landmarks with 25 % padding (``dlib.get_face_chip``), as in training.

    Landmarks are rounded to whole pixels (dlib's shapes hold integer points); on a face a few
    hundred pixels wide this moves the chip by well under one chip pixel.
    """

    name = "dlib-face-recognition-resnet-v1"
    threshold = SAME_PERSON_MAX_DISTANCE

    def __init__(self) -> None:
        self.version = _model_version()

    def __repr__(self) -> str:
        return "DlibFaceIdentifier()"

    def descriptor(
        self, rgb_u8: NDArray[np.uint8], landmarks: NDArray[np.floating]
    ) -> NDArray[np.float32]:
        """The 128-D descriptor of the face at ``landmarks``.

        Parameters
        ----------
        rgb_u8 : ndarray of shape (H, W, 3), uint8, sRGB
        landmarks : ndarray of shape (68, 2)
            iBUG 68-point ``(x, y)`` in ``rgb_u8``'s pixels.

        Returns
        -------
        ndarray of shape (128,), float32
        """
        import dlib

        image = np.ascontiguousarray(rgb_u8)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}"
            )
        points = np.rint(np.asarray(landmarks, dtype=np.float64))
        if points.shape != (68, 2):
            raise ValueError(f"landmarks must have shape (68, 2), not {points.shape}")
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        shape = dlib.full_object_detection(
            dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
            dlib.points([dlib.point(int(x), int(y)) for x, y in points]),
        )
        chip = dlib.get_face_chip(image, shape, size=_CHIP_SIZE, padding=_CHIP_PADDING)
        network = _recognition_network()
        with _RUN_LOCK:
            values = network.compute_face_descriptor(chip)
        return np.asarray(values, dtype=np.float32)


@lru_cache(maxsize=1)
def default_identifier() -> FaceIdentifier:
    """The process-wide default :class:`FaceIdentifier` (a :class:`DlibFaceIdentifier`)."""
    return DlibFaceIdentifier()


def descriptor_distance(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """Euclidean distance between two descriptors of the same identifier."""
    va = np.asarray(a, dtype=np.float32).ravel()
    vb = np.asarray(b, dtype=np.float32).ravel()
    if va.shape != vb.shape:
        raise ValueError(f"descriptors differ in length: {va.size} and {vb.size}")
    return float(np.linalg.norm(va - vb))


def face_distance(
    rgb_a: NDArray[np.uint8],
    landmarks_a: NDArray[np.floating],
    rgb_b: NDArray[np.uint8],
    landmarks_b: NDArray[np.floating],
    *,
    identifier: FaceIdentifier | None = None,
) -> float:
    """Descriptor distance between two located faces (same person below the threshold).

    Parameters
    ----------
    rgb_a, rgb_b : ndarray of shape (H, W, 3), uint8, sRGB
    landmarks_a, landmarks_b : ndarray of shape (68, 2)
        The faces' iBUG 68 landmarks in their own image's pixels.
    identifier : FaceIdentifier, optional
        Default :func:`default_identifier` (loaded once per process).

    Returns
    -------
    float
        Euclidean distance; for the default identifier, > 0.6 means different people.
    """
    chosen = default_identifier() if identifier is None else identifier
    return descriptor_distance(
        chosen.descriptor(rgb_a, landmarks_a), chosen.descriptor(rgb_b, landmarks_b)
    )
