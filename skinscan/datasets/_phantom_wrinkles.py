"""Wrinkles painted as shaded valleys along curves from the real hand-drawn masks.

Profile across a wrinkle of half-width ``w`` at distance ``d`` from its centre line: a valley
``V(d) = exp(−ln 4 · (d / w)²)`` (a quarter of the centre's darkening at the rim ``d = w``) that
multiplies the skin by ``1 − depth · V``, and a highlight on the wall facing the light: the valley
shifted by ``1.2 w`` towards the light, ``H``, brightening by ``1 + 0.35 · depth · max(H − V, 0)``.
The painted mask is ``d ≤ w``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.datasets._wrinkle_curves import (
    CANONICAL_MM_PER_PX,
    WrinkleCurve,
    draw_curves,
    mask_curves,
    mask_indices,
)

__all__ = [
    "WRINKLE_DEPTH",
    "WRINKLE_LENGTH_FRACTION",
    "WRINKLE_WIDTH_MM",
    "FaceWrinkles",
    "PatchWrinkles",
    "apply_face_wrinkles",
    "apply_patch_wrinkles",
    "sample_face_wrinkles",
    "sample_patch_wrinkles",
]

#: Wrinkles per 16 cm² of patch (a 40 × 40 mm field).
WRINKLE_COUNT_PER_16CM2 = (0, 2, 4, 6, 9)
#: Share of a mask's curves painted on a face.
WRINKLE_CURVE_FRACTION = (0.0, 0.3, 0.55, 0.8, 1.0)
#: Central share of each curve's extent that is painted.
WRINKLE_LENGTH_FRACTION = (0.0, 0.5, 0.7, 0.85, 1.0)
WRINKLE_WIDTH_MM = (0.0, 0.35, 0.55, 0.8, 1.1)
WRINKLE_DEPTH = (0.0, 0.10, 0.18, 0.27, 0.36)
_HIGHLIGHT_SHIFT = 1.2
_HIGHLIGHT_GAIN = 0.35
#: Light from above (image up), slightly from the left.
_LIGHT_DIRECTION = np.array([-0.35, -0.94])
_MIN_CURVES_FOR_PATCH = 4


@dataclass(frozen=True)
class PatchWrinkles:
    """Curves (canonical px) with the affine map of each into the patch, and depth jitter."""

    ffhq_index: int
    curves: tuple[WrinkleCurve, ...]
    transforms: tuple[NDArray[np.float64], ...]
    depth: NDArray[np.float64]
    area_cm2: float


@dataclass(frozen=True)
class FaceWrinkles:
    """Curves of one mask in the order they are added, and depth jitter."""

    ffhq_index: int
    curves: tuple[WrinkleCurve, ...]
    depth: NDArray[np.float64]


def _pick_mask(rng: np.random.Generator, mask_index: int | None, min_curves: int) -> int:
    if mask_index is not None:
        if mask_index not in mask_indices():
            raise ValueError(f"no wrinkle mask for FFHQ image {mask_index}")
        return mask_index
    candidates = mask_indices()
    for _ in range(32):
        index = int(candidates[rng.integers(len(candidates))])
        if len(mask_curves(index)) >= min_curves:
            return index
    return index


def sample_patch_wrinkles(
    rng: np.random.Generator,
    shape: tuple[int, int],
    mm_per_px: float,
    mask_index: int | None,
) -> PatchWrinkles:
    """Pick a mask and lay its curves, at their real size, at random places in the patch.

    Each curve keeps its drawn orientation ± 25° and is centred on a uniform random position.
    """
    index = _pick_mask(rng, mask_index, _MIN_CURVES_FOR_PATCH)
    available = mask_curves(index)
    area = shape[0] * shape[1] * mm_per_px**2 / 100.0
    count = max(1, round(WRINKLE_COUNT_PER_16CM2[-1] * area / 16.0))
    order = rng.permutation(len(available)) if available else np.zeros(0, dtype=int)
    curves, transforms = [], []
    scale = CANONICAL_MM_PER_PX / mm_per_px
    for k in range(count if available else 0):
        curve = available[int(order[k % len(order)])]
        angle = np.radians(rng.uniform(-25.0, 25.0))
        c, s = np.cos(angle) * scale, np.sin(angle) * scale
        target = rng.uniform([0.1 * shape[1], 0.1 * shape[0]], [0.9 * shape[1], 0.9 * shape[0]])
        centre = curve.points.mean(axis=0)
        rotation = np.array([[c, -s], [s, c]])
        transforms.append(np.hstack([rotation, (target - rotation @ centre)[:, None]]))
        curves.append(curve)
    return PatchWrinkles(
        index, tuple(curves), tuple(transforms), rng.uniform(0.8, 1.2, len(curves)), area
    )


def sample_face_wrinkles(rng: np.random.Generator, mask_index: int | None) -> FaceWrinkles:
    """Pick a mask (one with at least 4 curves unless given) and an order for its curves."""
    index = _pick_mask(rng, mask_index, _MIN_CURVES_FOR_PATCH)
    available = mask_curves(index)
    order = rng.permutation(len(available))
    curves = tuple(available[int(i)] for i in order)
    return FaceWrinkles(index, curves, rng.uniform(0.8, 1.2, len(curves)))


def _segments(
    curve: WrinkleCurve, transform: NDArray[np.float64], fraction: float
) -> NDArray[np.float64]:
    links = curve.central_links(fraction)
    points = curve.points @ transform[:, :2].T + transform[:, 2]
    return np.stack([points[links[:, 0]], points[links[:, 1]]], axis=1)


def _paint(
    shape: tuple[int, int],
    segments: list[NDArray[np.float64]],
    depths: list[float],
    half_width_px: float,
    skin: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    if not segments:
        return np.ones(shape, dtype=np.float32), np.zeros(shape, dtype=bool)
    # Centre lines labelled by curve (1-based) so that each pixel gets its nearest curve's depth.
    labels = np.zeros(shape, dtype=np.uint8)
    for k, pieces in enumerate(segments):
        drawn = draw_curves(shape, [pieces]) > 0
        labels[drawn & (labels == 0)] = min(k + 1, 255)
    lines = labels > 0
    distance, nearest = cv2.distanceTransformWithLabels(
        np.where(lines, 0, 255).astype(np.uint8),
        cv2.DIST_L2,
        cv2.DIST_MASK_5,
        labelType=cv2.DIST_LABEL_PIXEL,
    )
    # Pixel labels index the zero pixels in row-major order: map them back to curve numbers.
    curve_of_label = np.concatenate([[0], labels[lines]])
    depth_table = np.concatenate([[0.0], np.asarray(depths, dtype=np.float32)])
    depth = depth_table[np.minimum(curve_of_label[nearest], len(depths))].astype(np.float32)
    valley = np.exp(-np.log(4.0) * (distance / half_width_px) ** 2).astype(np.float32)
    shift = _LIGHT_DIRECTION * _HIGHLIGHT_SHIFT * half_width_px
    move = np.array([[1.0, 0.0, -shift[0]], [0.0, 1.0, -shift[1]]], dtype=np.float32)
    highlight = cv2.warpAffine(valley, move, (shape[1], shape[0]), flags=cv2.INTER_LINEAR)
    shading = (1.0 - depth * valley) * (
        1.0 + _HIGHLIGHT_GAIN * depth * np.maximum(highlight - valley, 0.0)
    )
    mask = distance <= half_width_px
    if skin is not None:
        shading = np.where(skin, shading, 1.0)
        mask &= skin
    return shading.astype(np.float32), mask


def apply_patch_wrinkles(
    params: PatchWrinkles, level: int, shape: tuple[int, int], mm_per_px: float
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Wrinkle shading (1 = none) and painted mask of a patch at this level."""
    count = round(WRINKLE_COUNT_PER_16CM2[level] * params.area_cm2 / 16.0)
    count = min(max(count, 1) if level else 0, len(params.curves))
    fraction = WRINKLE_LENGTH_FRACTION[level]
    segments = [_segments(params.curves[k], params.transforms[k], fraction) for k in range(count)]
    depths = [WRINKLE_DEPTH[level] * float(params.depth[k]) for k in range(count)]
    half_width = max(WRINKLE_WIDTH_MM[level] / 2.0 / mm_per_px, 0.5)
    return _paint(shape, segments, depths, half_width, None)


def apply_face_wrinkles(
    params: FaceWrinkles,
    level: int,
    shape: tuple[int, int],
    to_canonical: NDArray[np.float64],
    mm_per_px: float,
    skin: NDArray[np.bool_],
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Wrinkle shading and mask of a face: curves where they were drawn, mapped to the image."""
    forward = np.vstack([np.asarray(to_canonical, dtype=np.float64), [0.0, 0.0, 1.0]])
    to_image = np.linalg.inv(forward)[:2]
    count = int(np.ceil(WRINKLE_CURVE_FRACTION[level] * len(params.curves)))
    fraction = WRINKLE_LENGTH_FRACTION[level]
    segments = [_segments(params.curves[k], to_image, fraction) for k in range(count)]
    depths = [WRINKLE_DEPTH[level] * float(params.depth[k]) for k in range(count)]
    half_width = max(WRINKLE_WIDTH_MM[level] / 2.0 / mm_per_px, 0.5)
    return _paint(shape, segments, depths, half_width, skin)
