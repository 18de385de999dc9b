"""Wrinkles: dark line-like valleys found by a multi-scale Hessian ridge filter on L*.

The detector gives the centre lines (a skeleton) whose length, in mm per cm² of skin, is the main
measure; the width and depth come from the image itself (the black top-hat profile across each
line), not from the filter scale.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import cv2
import numpy as np
from numpy.typing import NDArray
from skimage.morphology import skeletonize

from skinscan.measures._common import (
    ConcernResult,
    FloatArray,
    Region,
    SkinContext,
    blur,
    components_in,
    grow,
    prepare,
    shrink,
)

__all__ = [
    "RIDGE_HIGH",
    "RIDGE_LOW",
    "RIDGE_SIGMAS_MM",
    "WRINKLE_KEYS",
    "WRINKLE_MIN_LENGTH_MM",
    "measure_wrinkles",
    "wrinkles_from_context",
]

WRINKLE_KEYS = ("length_mm_per_cm2", "area_pct", "count", "mean_width_mm", "depth_proxy")
#: Gaussian scales of the ridge filter (mm); a valley of width w answers best at σ ≈ w / 2.
RIDGE_SIGMAS_MM = (0.3, 0.5, 0.8, 1.2)
#: Hysteresis thresholds on the ridge response (L* units, ≈ half the valley's depth).
RIDGE_HIGH = 2.0
RIDGE_LOW = 1.0
#: Centre lines shorter than this are texture, not wrinkles.
WRINKLE_MIN_LENGTH_MM = 3.0
#: Black top-hat element (square side, mm): fills valleys narrower than this in any direction.
TOPHAT_SIDE_MM = 3.0
#: Furthest a wrinkle pixel may lie from its centre line (mm): widths up to twice this.
MAX_HALF_WIDTH_MM = 1.0
_MIN_SIGMA_PX = 0.7
_DEPTH_SMOOTH_MM = 0.1


def measure_wrinkles(
    linear_rgb: NDArray[np.floating],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None = None,
) -> ConcernResult:
    """Detect wrinkles and measure their length density, area, width and depth.

    Parameters
    ----------
    linear_rgb : ndarray of shape (H, W, 3), float
        Colour-calibrated linear sRGB in [0, 1].
    regions : mapping of str to ndarray of shape (H, W), bool
        Skin masks.
    mm_per_px : float, optional
        Scale; None assumes :data:`~skinscan.measures.DEFAULT_MM_PER_PX`.

    Returns
    -------
    ConcernResult
        ``concern="wrinkles"``; ``measures`` (and each region) hold:

        - ``length_mm_per_cm2``: centre-line length (mm) per cm² of skin.
        - ``area_pct``: % of skin inside wrinkles (full width at half depth).
        - ``count``: wrinkles with more than half their centre line in the region.
        - ``mean_width_mm``: wrinkle area / centre-line length (0 without wrinkles).
        - ``depth_proxy``: mean black top-hat depth on the centre lines, L* units (0 without).

        ``map`` is the binary wrinkle mask (0.0 or 1.0).

    Notes
    -----
    Per scale σ, with ``λ1 ≥ λ2`` the Hessian eigenvalues of ``G_σ * (L* − shading)``, the ridge
    response is ``σ² (λ1 − |λ2|) − σ |∇|``: ``σ² λ1`` is the scale-normalised curvature across a
    dark valley (Lindeberg 1998, "Edge detection and ridge detection with automatic scale
    selection", IJCV 30:117; the same eigen-analysis as Sato et al. 1998 and Frangi et al. 1998),
    ``− σ² |λ2|`` suppresses blobs (spots, pores) and ``− σ |∇|`` suppresses the dark side of
    edges, which curves like a valley but is not one. The maximum over :data:`RIDGE_SIGMAS_MM` is
    thresholded with hysteresis (Canny 1986) and thinned to one-pixel centre lines (Lee, Kashyap &
    Chu 1994, CVGIP 56:462; unlike Zhang–Suen it keeps two-pixel-thick diagonals), and centre lines
    shorter than :data:`WRINKLE_MIN_LENGTH_MM` are dropped. Length is the 8-connected polyline
    through the skeleton (1 per straight step, √2 per diagonal step): exact at 0°, 45° and 90°, at
    most 8 % long in between; thinning erodes each end by about half the width, so a 20 mm line
    1 mm wide reads about 5 % short. Wrinkle pixels are those within
    :data:`MAX_HALF_WIDTH_MM` of a centre line whose black top-hat depth is at least half the
    centre line's depth, so the width is a full width at half depth.
    """
    return wrinkles_from_context(prepare(linear_rgb, regions, mm_per_px=mm_per_px))


def _ridge_response(ctx: SkinContext, image: FloatArray) -> FloatArray:
    """Maximum over scales of the valley response, float32 (h, w), ≥ 0."""
    h, w = image.shape
    best = np.zeros((h, w), dtype=np.float32)
    d1 = np.array([-0.5, 0.0, 0.5], np.float32)
    d2 = np.array([1.0, -2.0, 1.0], np.float32)
    one = np.ones(1, np.float32)
    for sigma_mm in RIDGE_SIGMAS_MM:
        sigma = max(ctx.px(sigma_mm), _MIN_SIGMA_PX)
        # Coarse scales run on a decimated grid: same response, a quarter of the work per level.
        factor = max(1, int(sigma / 2.5))
        sigma /= factor
        g = cv2.GaussianBlur(shrink(image, factor), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        gxx = cv2.sepFilter2D(g, -1, d2, one)
        gyy = cv2.sepFilter2D(g, -1, one, d2)
        gxy = cv2.sepFilter2D(g, -1, d1, d1)
        gx = cv2.sepFilter2D(g, -1, d1, one)
        gy = cv2.sepFilter2D(g, -1, one, d1)
        # λ1 − |λ2| = min(λ1 − λ2, λ1 + λ2) = min(√((gxx − gyy)² + 4 gxy²), gxx + gyy).
        spread = cv2.magnitude(gxx - gyy, 2.0 * gxy)
        valley = np.minimum(spread, gxx + gyy)
        resp = sigma * sigma * valley - sigma * cv2.magnitude(gx, gy)
        np.maximum(best, grow(resp, factor, (h, w)), out=best)
    return best


def _hysteresis(response: FloatArray, skin: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """Pixels above RIDGE_LOW connected to a pixel above RIDGE_HIGH, uint8 0/1."""
    low = ((response >= RIDGE_LOW) & skin).astype(np.uint8)
    count, labels = cv2.connectedComponents(low, connectivity=8)
    strong = np.zeros(count, dtype=bool)
    strong[np.unique(labels[response >= RIDGE_HIGH])] = True
    strong[0] = False
    return strong[labels].astype(np.uint8)


def _step_lengths(skeleton: NDArray[np.bool_]) -> FloatArray:
    """Half the length of the polyline steps at each skeleton pixel (px), so that they sum to it.

    A diagonal step whose corner is also on the skeleton is a shortcut of two straight steps and
    is not counted.
    """
    s = np.pad(skeleton, 1)
    c = s[1:-1, 1:-1]
    n, so, e, we = s[:-2, 1:-1], s[2:, 1:-1], s[1:-1, 2:], s[1:-1, :-2]
    straight = n.astype(np.float32) + so + e + we
    diagonal = (
        (s[:-2, :-2] & ~n & ~we).astype(np.float32)
        + (s[:-2, 2:] & ~n & ~e)
        + (s[2:, :-2] & ~so & ~we)
        + (s[2:, 2:] & ~so & ~e)
    )
    return np.where(c, 0.5 * (straight + math.sqrt(2.0) * diagonal), 0.0).astype(np.float32)


def _around(mask: NDArray[np.bool_], margin: int) -> tuple[slice, slice]:
    """Bounding box of ``mask`` widened by ``margin`` px (clipped to the image)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - margin), min(h, rows[-1] + margin + 1)),
        slice(max(0, cols[0] - margin), min(w, cols[-1] + margin + 1)),
    )


def _centre_lines(
    candidate: NDArray[np.uint8], mm_per_px: float
) -> tuple[NDArray[np.int32], FloatArray]:
    """Labelled centre lines (0 = none, 1..n) and each pixel's share of its line's length (px)."""
    labels = np.zeros(candidate.shape, dtype=np.int32)
    steps = np.zeros(candidate.shape, dtype=np.float32)
    if not candidate.any():
        return labels, steps
    box = _around(candidate.astype(bool), 2)
    skeleton = skeletonize(candidate[box].astype(bool), method="lee")
    box_steps = _step_lengths(skeleton)
    count, box_labels = cv2.connectedComponents(skeleton.astype(np.uint8), connectivity=8)
    lengths = np.bincount(box_labels.ravel(), weights=box_steps.ravel(), minlength=count)
    keep = lengths * mm_per_px >= WRINKLE_MIN_LENGTH_MM
    keep[0] = False
    relabel = np.zeros(count, dtype=np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels[box] = relabel[box_labels]
    steps[box] = np.where(labels[box] > 0, box_steps, 0.0)
    return labels, steps


def _wrinkle_mask(
    ctx: SkinContext, detrended: FloatArray, centre: NDArray[np.bool_]
) -> tuple[NDArray[np.bool_], FloatArray]:
    """Wrinkle pixels (full width at half depth) and the black top-hat depth (L* units)."""
    wrinkle = np.zeros(centre.shape, dtype=bool)
    depth = np.zeros(centre.shape, dtype=np.float32)
    if not centre.any():
        return wrinkle, depth
    side = max(3, 2 * round(ctx.px(TOPHAT_SIDE_MM) / 2) + 1)
    reach = max(3, 2 * round(ctx.px(MAX_HALF_WIDTH_MM)) + 1)
    box = _around(centre, side + reach)
    smoothed = blur(detrended[box], ctx.px(_DEPTH_SMOOTH_MM))
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    depth[box] = cv2.morphologyEx(smoothed, cv2.MORPH_BLACKHAT, square)
    near = cv2.dilate(
        np.where(centre[box], depth[box], 0.0).astype(np.float32),
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)),
    )
    wrinkle[box] = (near > 0) & (depth[box] >= 0.5 * near) & ctx.skin[box]
    return wrinkle, depth


def wrinkles_from_context(ctx: SkinContext) -> ConcernResult:
    """:func:`measure_wrinkles` on a prepared :class:`SkinContext`."""
    start = time.perf_counter()
    detrended = ctx.detrended
    candidate = _hysteresis(_ridge_response(ctx, detrended), ctx.skin)
    labels, steps = _centre_lines(candidate, ctx.mm_per_px)
    wrinkle, depth = _wrinkle_mask(ctx, detrended, labels > 0)

    line_pixels = np.flatnonzero(labels)
    which = labels.ravel()[line_pixels]
    line_steps = steps.ravel()[line_pixels]
    line_depth = depth.ravel()[line_pixels]
    wrinkle_pixels = np.flatnonzero(wrinkle)
    sizes = np.bincount(which, minlength=int(labels.max()) + 1)

    def reduce(region: Region) -> dict[str, float]:
        on_line = region.contains(line_pixels)
        length_mm = float(line_steps[on_line].sum(dtype=np.float64)) * ctx.mm_per_px
        area_mm2 = int(region.contains(wrinkle_pixels).sum()) * ctx.mm_per_px**2
        return {
            "length_mm_per_cm2": length_mm / ctx.area_cm2(region),
            "area_pct": 100.0 * area_mm2 / (ctx.area_cm2(region) * 100.0),
            "count": float(components_in(which, sizes, on_line).sum()),
            "mean_width_mm": area_mm2 / length_mm if length_mm > 0 else 0.0,
            "depth_proxy": float(line_depth[on_line].mean()) if on_line.any() else 0.0,
        }

    return ctx.result("wrinkles", reduce, wrinkle.astype(np.float32), started=start, nearest=True)
