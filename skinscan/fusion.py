"""Fusion of the classical measures with the trained models.

Every assessment reports, per concern, the classical severity and — where a trained bundle is
loaded — the learned one, their agreement, and which of the two the concern's ``severity`` is
(``source``). The choice is not made here by taste: a bundle's ``metadata.json`` carries the
evaluation it shipped with, and ``evaluation.better_than_classical[concern]`` is true only where
that evaluation found the learned output closer to the truth than the classical filters on the
same held-out samples (see ``skinscan evaluate`` and the bundle's card). Everywhere else the
classical severity stays the score and the learned one is reported beside it.

Learned maps are the segmenter's probabilities on the regions' bounding box of the analysis copy;
a pixel is a detection where the probability is at least :data:`MASK_THRESHOLD`. Their agreement
with the classical detections is the Dice coefficient over the skin, ``2|A∩B| / (|A| + |B|)``
(1 when both are empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.measures import CONCERNS, ConcernResult
from skinscan.scoring import Severity, grade_of

__all__ = [
    "MASK_THRESHOLD",
    "SEGMENTER_MM_PER_PX",
    "LearnedConcern",
    "LearnedModels",
    "default_models",
    "dice",
    "learned_concerns",
    "segment",
]

#: Probability at which a segmenter's pixel counts as a detection.
MASK_THRESHOLD = 0.5
#: Pixel size the segmenter sees a face at (mm): the top of its training patches' range
#: (0.08-0.35 mm/px) and just below its painted face crops' (0.4-1 mm/px); a face is then about
#: 450 × 550 px, one inference of less than a 512² image.
SEGMENTER_MM_PER_PX = 0.35
#: Which segmentation plane stands for which concern, and the classical mask it is compared with.
_PLANE_OF_CONCERN = {"wrinkles": "wrinkles", "pigment": "spots"}


def dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    """Dice coefficient of two masks, 1.0 when both are empty.

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> dice(a, b)
    0.5
    """
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(a, b).sum()) / total


@dataclass(frozen=True)
class LearnedConcern:
    """What the trained models say about one concern.

    Attributes
    ----------
    severity : Severity or None
        The severity regressor's output (None without a regressor).
    measures : dict of str to float
        Measures of the learned map: ``detected_area_pct`` of the skin and ``detected_count``
        (connected components), for concerns with a segmentation plane.
    agreement : dict of str to float
        ``dice`` of the learned and the classical detections, ``severity_delta`` learned −
        classical.
    chosen : bool
        True when the concern's reported severity is the learned one.
    probability : ndarray of shape (H, W), float32, optional
        The learned map in analysis-copy coordinates (0 outside the regions' box).
    """

    severity: Severity | None
    measures: dict[str, float]
    agreement: dict[str, float]
    chosen: bool
    probability: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)

    def to_dict(self, models: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "models": models,
            "severity": None if self.severity is None else self.severity.severity,
            "grade": None if self.severity is None else self.severity.grade,
            "measures": {k: round(v, 4) for k, v in self.measures.items()},
            "agreement": {k: round(v, 4) for k, v in self.agreement.items()},
        }


@dataclass(frozen=True)
class LearnedModels:
    """The loaded runtimes of a segmenter and a severity regressor (either may be absent)."""

    segmenter: Any | None = None
    severity: Any | None = None

    @property
    def entries(self) -> list[dict[str, str]]:
        """``{"name", "version"}`` of each loaded model, for the assessment's ``models``."""
        return [
            {"name": str(r.name), "version": str(r.version)}
            for r in (self.segmenter, self.severity)
            if r is not None
        ]

    def better_than_classical(self, concern: str) -> bool:
        """Whether the severity regressor's shipped evaluation says it beats the classical score.

        Only the bundle that produces the severity decides: a segmenter's better masks say
        nothing about a regressor's scores.
        """
        if self.severity is None:
            return False
        evaluation = self.severity.metadata.get("evaluation") or {}
        return bool((evaluation.get("better_than_classical") or {}).get(concern, False))


_DEFAULT: LearnedModels | None = None


def default_models() -> LearnedModels:
    """The bundles shipped as package data, loaded once per process (onnxruntime on CPU)."""
    global _DEFAULT
    if _DEFAULT is None:
        from skinscan.models import default_bundle_path, load_runtime

        loaded = {}
        for task in ("segmentation", "severity"):
            path = default_bundle_path(task)
            loaded[task] = None if path is None else load_runtime(path)
        _DEFAULT = LearnedModels(loaded["segmentation"], loaded["severity"])
    return _DEFAULT


def _box(
    regions: Mapping[str, NDArray[np.bool_]],
) -> tuple[NDArray[np.bool_], tuple[int, int, int, int]]:
    first = next(iter(regions.values()))
    height, width = int(first.shape[0]), int(first.shape[1])
    union = np.zeros((height, width), bool)
    for mask in regions.values():
        union |= mask
    if not union.any():
        return union, (0, 0, width, height)
    ys, xs = np.nonzero(union)
    return union, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def segment(
    runtime: Any, rgb_u8: NDArray[np.uint8], *, mm_per_px: float | None
) -> NDArray[np.float32]:
    """A segmenter's probabilities for a photo of any size, at its training scale.

    The photo is resampled to :data:`SEGMENTER_MM_PER_PX` (kept as it is without a scale),
    reflect-padded to a multiple of 32 and run whole — the network is fully convolutional, so it
    sees skin at the pixel size it was trained on (never a squashed face) — and the planes are
    resampled back.

    Returns
    -------
    ndarray of shape (K, H, W), float32
        Probabilities in [0, 1] at the photo's size.
    """
    from skinscan.models.preprocess import to_input
    from skinscan.models.runtime import sigmoid

    height, width = rgb_u8.shape[:2]
    factor = 1.0 if not mm_per_px else float(mm_per_px) / SEGMENTER_MM_PER_PX
    scaled_w, scaled_h = max(32, round(width * factor)), max(32, round(height * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(rgb_u8, (scaled_w, scaled_h), interpolation=interpolation)
    canvas = np.asarray(
        cv2.copyMakeBorder(scaled, 0, -scaled_h % 32, 0, -scaled_w % 32, cv2.BORDER_REFLECT_101),
        dtype=np.uint8,
    )
    logits = runtime.runner(to_input(canvas, texture=runtime.texture)[None])[0]
    planes = sigmoid(logits)[:, :scaled_h, :scaled_w]
    return np.stack(
        [cv2.resize(p, (width, height), interpolation=cv2.INTER_LINEAR) for p in planes]
    ).astype(np.float32)


def learned_concerns(
    rgb_u8: NDArray[np.uint8],
    regions: Mapping[str, NDArray[np.bool_]],
    classical: Mapping[str, tuple[Severity, ConcernResult]],
    models: LearnedModels,
    *,
    mm_per_px: float | None = None,
) -> dict[str, LearnedConcern]:
    """Run the loaded models on a standardised photo and compare them with the classical result.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
        The analysis copy (colour-calibrated sRGB).
    regions : mapping of str to ndarray of shape (H, W), bool
        The skin regions in the same coordinates.
    classical : mapping of concern to (Severity, ConcernResult)
        The classical severity and result (with ``masks`` in the same coordinates).
    models : LearnedModels
    mm_per_px : float, optional
        Pixel size of ``rgb_u8``; the segmenter runs at :data:`SEGMENTER_MM_PER_PX` (see
        :func:`segment`).

    Returns
    -------
    dict of str to LearnedConcern
        One entry per concern the loaded models cover; empty when none is loaded.
    """
    if models.segmenter is None and models.severity is None:
        return {}
    union, (x0, y0, x1, y1) = _box(regions)
    crop = np.ascontiguousarray(rgb_u8[y0:y1, x0:x1])
    learned_severity: dict[str, float] = {}
    if models.severity is not None:
        heads = list(models.severity.metadata["output"]["names"])
        values = np.asarray(models.severity.predict(crop), dtype=np.float64)
        learned_severity = {h: float(v) for h, v in zip(heads, values, strict=True)}
    planes: dict[str, NDArray[np.float32]] = {}
    if models.segmenter is not None:
        names = list(models.segmenter.metadata["output"]["names"])
        probability = segment(models.segmenter, crop, mm_per_px=mm_per_px)
        for name, plane in zip(names, probability, strict=True):
            full = np.zeros(union.shape, np.float32)
            full[y0:y1, x0:x1] = plane
            full[~union] = 0.0
            planes[name] = full

    out: dict[str, LearnedConcern] = {}
    for concern in CONCERNS:
        plane_name = _PLANE_OF_CONCERN.get(concern)
        plane = planes.get(plane_name) if plane_name else None
        if concern not in learned_severity and plane is None:
            continue
        base_severity, result = classical[concern]
        measures: dict[str, float] = {}
        agreement: dict[str, float] = {}
        if plane is not None and plane_name is not None:
            detected = plane >= MASK_THRESHOLD
            n_components = cv2.connectedComponents(detected.astype(np.uint8), connectivity=8)[0]
            measures = {
                "detected_area_pct": 100.0 * int(detected.sum()) / max(int(union.sum()), 1),
                "detected_count": float(n_components - 1),
            }
            reference = result.masks.get(plane_name)
            if reference is not None and reference.shape == detected.shape:
                agreement["dice"] = dice(detected & union, reference & union)
        severity = None
        if concern in learned_severity:
            value = round(float(np.clip(learned_severity[concern], 0.0, 100.0)), 1)
            severity = Severity(value, grade_of(value))
            agreement["severity_delta"] = value - base_severity.severity
        out[concern] = LearnedConcern(
            severity=severity,
            measures=measures,
            agreement=agreement,
            chosen=severity is not None and models.better_than_classical(concern),
            probability=plane,
        )
    return out
