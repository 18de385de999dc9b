"""Wrinkles: dark line-like valleys of L* found by a multi-scale hybrid Hessian ridge filter.

The detector gives the centre lines (a skeleton) whose length, in mm per cm² of skin, is the main
measure; the width and depth come from the image itself (the black top-hat profile across each
line), not from the filter scale. The binary wrinkle map is the result's ``map``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import NamedTuple

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
    prepare,
)
from skinscan.measures._relief import shadow_contrast, tone_normalised_relief
from skinscan.measures._ridge import noise_level, valley_response

__all__ = [
    "EDGE_KAPPA",
    "NETWORK_MAX_RESPONSE_CV",
    "NETWORK_MIN_LENGTH_MM",
    "RIDGE_BETA",
    "RIDGE_HIGH",
    "RIDGE_LOW",
    "RIDGE_SIGMAS_MM",
    "WRINKLE_FULL_LENGTH_RATIO",
    "WRINKLE_KEYS",
    "WRINKLE_MAX_RESPONSE_CV",
    "WRINKLE_METHOD",
    "WRINKLE_MIN_ELONGATION",
    "WRINKLE_MIN_LENGTH_MM",
    "WRINKLE_WEIGHT_NOISE",
    "WRINKLE_WEIGHT_SPAN",
    "WRINKLE_WEIGHT_ZERO",
    "measure_wrinkles",
    "wrinkle_mask",
    "wrinkles_from_context",
]

WRINKLE_KEYS = ("length_mm_per_cm2", "area_pct", "count", "mean_width_mm", "depth_proxy")
WRINKLE_METHOD = "classical-v1"
#: Gaussian scales of the ridge filter (mm); a valley of width w answers best at σ ≈ w / 2.
RIDGE_SIGMAS_MM = (0.2, 0.3, 0.5, 0.8, 1.2)
#: Frangi's blobness constant β and the width κ of the directional-gradient (edge) term.
RIDGE_BETA = 0.5
EDGE_KAPPA = 0.5
#: Hysteresis thresholds on the ridge response, in % of the local L* (a valley answers with about
#: 0.45 × its depth: RIDGE_HIGH ≈ a valley 5.5 % darker than the skin around it).
RIDGE_HIGH = 2.5
RIDGE_LOW = 1.5
#: Centre lines shorter than this are texture, not wrinkles.
WRINKLE_MIN_LENGTH_MM = 4.0
#: Soft weighting of each kept line in the length, area and depth. A line whose mean response
#: along its centre line (% of the local L*) is at most ``z = max(WRINKLE_WEIGHT_ZERO,
#: WRINKLE_WEIGHT_NOISE × noise)`` counts for nothing, one at ``z + WRINKLE_WEIGHT_SPAN`` or more in
#: full, and one in between in proportion; ``noise`` is this photo's noise level of the response
#: on the skin (:func:`skinscan.measures._ridge.noise_level`, the 75 % quantile), so that on a
#: noisy photo (sensor noise, an enlarged image) the chance alignments of noise that hysteresis
#: joins into lines count as little as on a clean one. A line as long as WRINKLE_MIN_LENGTH_MM
#: counts for nothing either, and one WRINKLE_FULL_LENGTH_RATIO times as long in full. A marginal
#: line, which hysteresis finds on one photo and not on the next, thus moves the measures little.
WRINKLE_WEIGHT_ZERO = 1.0
WRINKLE_WEIGHT_NOISE = 3.4
WRINKLE_WEIGHT_SPAN = 1.0
WRINKLE_FULL_LENGTH_RATIO = 1.5
#: Least elongation ``extent² / area`` of a detection (extent: bounding-box diagonal; area: holes
#: filled): a line of length L and width w has ≈ L / w, a disc or a ring 2.5.
WRINKLE_MIN_ELONGATION = 5.0
#: Most a detection's ridge response may vary along its centre line (SD / mean): a fold darkens
#: evenly along its length, whereas a chain of pores or the fine relief between them, which the
#: hysteresis can join into a line, answers strongly on each pore and weakly between them.
WRINKLE_MAX_RESPONSE_CV = 0.4
#: A centre line at least this long (mm) is a network of crossing folds, whose junctions and
#: differing depths spread the response more: it may vary by up to NETWORK_MAX_RESPONSE_CV.
NETWORK_MIN_LENGTH_MM = 40.0
NETWORK_MAX_RESPONSE_CV = 0.45
#: Black top-hat element (square side, mm): fills valleys narrower than this in any direction.
TOPHAT_SIDE_MM = 3.0
#: Furthest a wrinkle pixel may lie from its centre line (mm): widths up to twice this.
MAX_HALF_WIDTH_MM = 1.0
_MIN_SIGMA_PX = 0.7
_DEPTH_SMOOTH_MM = 0.1
# The ridge filter's scales run on grids where σ spans at least this many pixels.
_GRID_SIGMA_PX = 1.5
# Floor of the shading (L*) that divides the contrast: keeps near-black pixels from exploding.
_MIN_SHADING_L = 10.0


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
        ``concern="wrinkles"``, ``method="classical-v1"``; ``measures`` (and each region) hold:

        - ``length_mm_per_cm2``: centre-line length (mm) per cm² of skin, each wrinkle weighted
          (see Notes).
        - ``area_pct``: % of skin inside wrinkles (full width at half depth), weighted alike.
        - ``count``: wrinkles with more than half their centre line in the region (unweighted).
        - ``mean_width_mm``: wrinkle area / centre-line length (0 without wrinkles).
        - ``depth_proxy``: mean black top-hat depth on the centre lines, L* units at a reference
          lightness of L* 50 (tone-normalised; 0 without), weighted by the weighted length.

        ``map`` is the binary wrinkle mask (0.0 or 1.0).

    Notes
    -----
    The ridge response (:func:`skinscan.measures._ridge.valley_response`) runs on the Weber
    contrast ``100 (L* − shading) / shading`` (% of the local L*: a wrinkle is a shadow, so one
    threshold serves every tone) and is, per scale σ of :data:`RIDGE_SIGMAS_MM`,
    ``σ² λ2 · exp(−R_B² / 2β²) · exp(−q² / 2κ²)``: the scale-normalised curvature across the
    valley (Lindeberg 1998, IJCV 30:117), Frangi's blob suppression with ``R_B = |λ1| / λ2``
    (Frangi et al. 1998, MICCAI) and the gradient term of the hybrid Hessian filter (Ng et al.
    2014, ACCV), ``q`` being the gradient relative to the curvature, which rejects the dark side
    of edges. Its maximum over scales is thresholded with hysteresis (Canny 1986) at
    :data:`RIDGE_HIGH` / :data:`RIDGE_LOW` and thinned to one-pixel centre lines (Zhang & Suen
    1984, CACM 27:236). Shape constraints then drop a detection (one hysteresis component) whose
    centre line is shorter than :data:`WRINKLE_MIN_LENGTH_MM` or whose elongation is below
    :data:`WRINKLE_MIN_ELONGATION` (round spots, pores and the rims of strong spots), or whose
    response varies along its centre line by more than :data:`WRINKLE_MAX_RESPONSE_CV` of its mean
    (chains of pores). Each kept wrinkle then has a weight in [0, 1] in the length, area and
    depth: how far its mean response along the centre line exceeds a level set by this photo's
    noise (:data:`WRINKLE_WEIGHT_ZERO`, :data:`WRINKLE_WEIGHT_NOISE`, :data:`WRINKLE_WEIGHT_SPAN`)
    times how far its length exceeds :data:`WRINKLE_MIN_LENGTH_MM`
    (:data:`WRINKLE_FULL_LENGTH_RATIO`), so that a marginal line that one photo finds and the next
    misses moves the measures little; clear wrinkles count in full. The map shows every kept
    wrinkle. Length is the 8-connected polyline through the skeleton (1 per straight step, √2 per
    diagonal step): exact at 0°, 45° and 90°, at most 8 % long in between; thinning erodes each
    end by about half the width. Wrinkle pixels are those within :data:`MAX_HALF_WIDTH_MM` (a
    square neighbourhood) of a centre line whose black top-hat depth is at least half the centre
    line's depth there, so the width is a full width at half depth.
    Method and validation: ``docs/measures/wrinkles.md``.
    """
    return wrinkles_from_context(prepare(linear_rgb, regions, mm_per_px=mm_per_px))


#: How far inside the skin a wrinkle's centre line must lie (mm); see :func:`_ridge_map`.
BORDER_MM = 1.5


def _ridge_map(ctx: SkinContext) -> tuple[FloatArray, float]:
    """The ridge response on the working grid (% of the local L*), 0 off skin, and its noise level.

    The filter runs on the Weber contrast ``100 (L* − shading) / shading``: a wrinkle is a
    shadow, which darkens skin by a fraction of its lightness, so one threshold serves every tone.
    The noise level is :func:`~skinscan.measures._ridge.noise_level` of the response on the skin
    at least BORDER_MM inside its edge.
    """
    sigmas = [max(ctx.px(sigma_mm), _MIN_SIGMA_PX) for sigma_mm in RIDGE_SIGMAS_MM]
    # The shadow's relative change of L* + 16 (melanin removed; see shadow_contrast), expressed
    # as a change of L* relative to the local L*, the Weber contrast of a pure shadow.
    gain = (np.maximum(ctx.shading, 0.0) + np.float32(16.0)) / np.maximum(
        ctx.shading, np.float32(_MIN_SHADING_L)
    )
    contrast = np.asarray(shadow_contrast(ctx) * (np.float32(100.0) * gain), dtype=np.float32)
    # Where skin meets hair, eyes, lips or the jaw's edge, the boundary's own shadow reads as a
    # valley running along it. A wrinkle is a fold inside skin: its centre line must lie at least
    # BORDER_MM inside. (The frame's edge is not such a boundary: cv2.erode leaves it alone.)
    reach = 2 * round(ctx.px(BORDER_MM)) + 1
    inner = cv2.erode(
        ctx.skin.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
    ).view(bool)
    response = valley_response(
        contrast,
        sigmas,
        beta=RIDGE_BETA,
        edge_kappa=EDGE_KAPPA,
        min_grid_sigma=_GRID_SIGMA_PX,
    )
    response[~inner] = 0.0
    return response, noise_level(response, inner)


class _Lines(NamedTuple):
    """Kept centre lines as flat indices into the working grid, with their wrinkle (1..n), each
    pixel's share of its line's length (px) and each wrinkle's weight in [0, 1] (index 0 unused;
    see :data:`WRINKLE_WEIGHT_FULL`)."""

    pixels: NDArray[np.intp]
    which: NDArray[np.intp]
    steps: FloatArray
    n: int
    weight: FloatArray


class Stats(NamedTuple):
    """Candidate components: the label image, each label's pixel count and bounding box
    (x, y, width, height), and which labels survived hysteresis and the size test."""

    labels: NDArray[np.int32]
    area: NDArray[np.int32]
    box: NDArray[np.int32]
    kept: NDArray[np.intp]


def _candidates(response: FloatArray, min_length_px: float) -> tuple[NDArray[np.uint8], Stats]:
    """Hysteresis (Canny 1986) on the ridge response, without components too small to be lines.

    Returns the candidate mask (uint8 0/1, component labels kept in ``stats.labels``) and the
    component statistics. A component whose bounding box has ``width + height`` below the
    shortest wrinkle cannot hold a centre line that long and is dropped before thinning.
    """
    low = (response >= RIDGE_LOW).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(low, connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[labels[response >= RIDGE_HIGH]] = True
    keep &= stats[:, cv2.CC_STAT_WIDTH] + stats[:, cv2.CC_STAT_HEIGHT] >= min_length_px
    keep[0] = False
    area = np.asarray(stats[:, cv2.CC_STAT_AREA], dtype=np.int32)
    box = np.asarray(stats[:, :4], dtype=np.int32)
    label_image: NDArray[np.int32] = np.asarray(labels, dtype=np.int32)
    candidate = keep.view(np.uint8)[label_image]
    return candidate, Stats(label_image, area, box, np.flatnonzero(keep))


_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))
_DIAGONALS = (
    ((-1, -1), (-1, 0), (0, -1)),
    ((-1, 1), (-1, 0), (0, 1)),
    ((1, -1), (1, 0), (0, -1)),
    ((1, 1), (1, 0), (0, 1)),
)


def _step_lengths(skeleton: NDArray[np.bool_], points: NDArray[np.intp]) -> FloatArray:
    """Half the length of the polyline steps at each skeleton pixel (px), so that they sum to it.

    ``skeleton`` is padded by one pixel on every side and ``points`` are its flat indices. A
    diagonal step whose corner is also on the skeleton is a shortcut of two straight steps and is
    not counted.
    """
    flat = skeleton.ravel()
    width = skeleton.shape[1]

    def on(dy: int, dx: int) -> NDArray[np.bool_]:
        return np.asarray(flat[points + (dy * width + dx)])

    straight = sum(on(dy, dx).astype(np.float32) for dy, dx in _NEIGHBOURS)
    diagonal = sum(
        (on(*corner) & ~on(*side_a) & ~on(*side_b)).astype(np.float32)
        for corner, side_a, side_b in _DIAGONALS
    )
    return np.asarray(0.5 * (straight + math.sqrt(2.0) * diagonal), dtype=np.float32)


def _around(mask: NDArray[np.bool_], margin: int) -> tuple[slice, slice]:
    """Bounding box of ``mask`` widened by ``margin`` px (clipped to the image)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - margin), min(h, rows[-1] + margin + 1)),
        slice(max(0, cols[0] - margin), min(w, cols[-1] + margin + 1)),
    )


def _filled_area(shape: NDArray[np.bool_]) -> int:
    """Pixel count of ``shape`` with its holes filled (what a flood from outside cannot reach)."""
    outside = np.pad(shape, 1).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)
    return int(outside.size - np.count_nonzero(outside == 2))


def _centre_lines(
    candidate: NDArray[np.uint8],
    stats: Stats,
    mm_per_px: float,
    response: FloatArray,
    noise: float = 0.0,
) -> _Lines:
    """Thin the candidates (Zhang & Suen 1984) and keep the lines that pass the shape constraints.

    A wrinkle is one candidate component; its centre line must be at least
    :data:`WRINKLE_MIN_LENGTH_MM` long and its elongation, ``extent² / area`` with the extent the
    diagonal of its bounding box and the area including any holes, at least
    :data:`WRINKLE_MIN_ELONGATION`. A line L long and W wide has elongation ≈ L / W, a disc 2.5,
    and so has the ring that a strong round spot can leave around its rim, whose centre line is
    long for its own area but not for the disc it encloses. The ridge ``response`` along the
    centre line must also be even: its SD at most :data:`WRINKLE_MAX_RESPONSE_CV` times its mean
    (:data:`NETWORK_MAX_RESPONSE_CV` for lines of :data:`NETWORK_MIN_LENGTH_MM` or more). Each
    kept line's weight follows its mean response relative to ``noise`` (the photo's noise level
    of the response) and its length; see :data:`WRINKLE_WEIGHT_ZERO`.
    """
    empty = np.zeros(0, dtype=np.intp)
    if stats.kept.size == 0:
        return _Lines(empty, empty, np.zeros(0, np.float32), 0, np.zeros(1, np.float32))
    # Thinning peels one pixel layer per pass over its whole input, so each component is thinned
    # in its own bounding box: the cost follows the candidates, not the image.
    width = candidate.shape[1]
    all_pixels, all_steps = [], []
    filled_area = stats.area.astype(np.float64)
    for label in stats.kept:
        x, y, w, h = (int(v) for v in stats.box[label])
        shape = stats.labels[y : y + h, x : x + w] == label
        filled_area[label] = _filled_area(shape)
        skeleton = np.pad(skeletonize(shape), 1)
        padded = np.flatnonzero(skeleton)
        rows, cols = np.divmod(padded, w + 2)
        all_pixels.append((rows - 1 + y) * width + (cols - 1 + x))
        all_steps.append(_step_lengths(skeleton, padded))
    pixels = np.concatenate(all_pixels)
    steps = np.concatenate(all_steps)
    component = stats.labels.ravel()[pixels]
    lengths = np.bincount(component, weights=steps, minlength=stats.area.size)
    extent2 = stats.box[:, 2].astype(np.float64) ** 2 + stats.box[:, 3].astype(np.float64) ** 2
    along = response.ravel()[pixels].astype(np.float64)
    count = np.bincount(component, minlength=stats.area.size).astype(np.float64)
    total = np.bincount(component, weights=along, minlength=stats.area.size)
    squares = np.bincount(component, weights=along * along, minlength=stats.area.size)
    mean = total / np.maximum(count, 1.0)
    spread = np.sqrt(np.maximum(squares / np.maximum(count, 1.0) - mean * mean, 0.0))
    network = lengths * mm_per_px >= NETWORK_MIN_LENGTH_MM
    keep = (
        (lengths * mm_per_px >= WRINKLE_MIN_LENGTH_MM)
        & (extent2 >= WRINKLE_MIN_ELONGATION * filled_area)
        & (
            spread / np.maximum(mean, 1e-12)
            <= np.where(network, NETWORK_MAX_RESPONSE_CV, WRINKLE_MAX_RESPONSE_CV)
        )
    )
    keep[0] = False
    relabel = np.zeros(stats.area.size, dtype=np.intp)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1)
    which = relabel[component]
    kept = which > 0
    zero = max(WRINKLE_WEIGHT_ZERO, WRINKLE_WEIGHT_NOISE * noise)
    strength = (mean - zero) / WRINKLE_WEIGHT_SPAN
    longer = (lengths * mm_per_px / WRINKLE_MIN_LENGTH_MM - 1.0) / (WRINKLE_FULL_LENGTH_RATIO - 1.0)
    weight = np.clip(strength, 0.0, 1.0) * np.clip(longer, 0.0, 1.0)
    line_weight = np.concatenate([[0.0], weight[keep]]).astype(np.float32)
    return _Lines(pixels[kept], which[kept], steps[kept], int(keep.sum()), line_weight)


def _wrinkle_mask(
    ctx: SkinContext, detrended: FloatArray, lines: _Lines
) -> tuple[NDArray[np.bool_], FloatArray, FloatArray]:
    """Wrinkle pixels (full width at half depth), the black top-hat depth on the centre lines and
    the weight of each wrinkle pixel (in :func:`numpy.flatnonzero` order of the mask).

    A pixel belongs to a wrinkle when it lies within :data:`MAX_HALF_WIDTH_MM` (a square
    neighbourhood) of a centre line and its top-hat depth is at least half the deepest centre-line
    depth there.
    """
    shape = detrended.shape
    wrinkle = np.zeros(shape, dtype=bool)
    if lines.n == 0:
        return wrinkle, np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
    centre = np.zeros(shape, dtype=bool)
    centre.ravel()[lines.pixels] = True
    side = max(3, 2 * round(ctx.px(TOPHAT_SIDE_MM) / 2) + 1)
    reach = max(3, 2 * round(ctx.px(MAX_HALF_WIDTH_MM)) + 1)
    box = _around(centre, side + reach)
    smoothed = blur(detrended[box], ctx.px(_DEPTH_SMOOTH_MM))
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))
    depth = np.asarray(cv2.morphologyEx(smoothed, cv2.MORPH_BLACKHAT, square))
    near = cv2.dilate(
        np.where(centre[box], depth, 0.0).astype(np.float32),
        cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach)),
    )
    wrinkle[box] = (near > 0) & (depth >= 0.5 * near) & ctx.skin[box]
    full_depth = np.zeros(shape, dtype=np.float32)
    full_depth[box] = depth
    # Each wrinkle pixel takes the largest weight of the centre lines near it.
    weights = np.zeros(shape, dtype=np.float32)
    weights.ravel()[lines.pixels] = lines.weight[lines.which]
    weights[box] = cv2.dilate(
        weights[box], cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach))
    )
    wrinkle_pixels = np.flatnonzero(wrinkle)
    return wrinkle, full_depth.ravel()[lines.pixels], weights.ravel()[wrinkle_pixels]


_WRINKLES_KEY = "_wrinkle_analysis"


def _wrinkle_analysis(
    ctx: SkinContext,
) -> tuple[_Lines, NDArray[np.bool_], FloatArray, FloatArray]:
    """Centre lines, wrinkle mask, line depths and pixel weights (computed once per context)."""
    cached = ctx.__dict__.get(_WRINKLES_KEY)
    if cached is None:
        # Depth as shadow contrast at a reference lightness: the same fold reads the same on
        # every skin tone (see tone_normalised_relief).
        detrended = tone_normalised_relief(ctx)
        response, noise = _ridge_map(ctx)
        candidate, stats = _candidates(response, ctx.px(WRINKLE_MIN_LENGTH_MM))
        lines = _centre_lines(candidate, stats, ctx.mm_per_px, response, noise)
        cached = (lines, *_wrinkle_mask(ctx, detrended, lines))
        ctx.__dict__[_WRINKLES_KEY] = cached
    return cached


def wrinkle_mask(ctx: SkinContext) -> NDArray[np.bool_]:
    """The wrinkles of a measures context (h, w), bool: what :func:`measure_wrinkles` measures.

    Computed once per context and shared, so that texture can leave the folds out.
    """
    return _wrinkle_analysis(ctx)[1]


def wrinkles_from_context(ctx: SkinContext) -> ConcernResult:
    """:func:`measure_wrinkles` on a prepared :class:`SkinContext`."""
    start = time.perf_counter()
    lines, wrinkle, line_depth, pixel_weight = _wrinkle_analysis(ctx)
    wrinkle_pixels = np.flatnonzero(wrinkle)
    sizes = np.bincount(lines.which, minlength=lines.n + 1)
    # Each centre-line pixel's weighted share of its line's length (px).
    weighted_steps = (lines.steps * lines.weight[lines.which]).astype(np.float64)

    def reduce(region: Region) -> dict[str, float]:
        on_line = region.contains(lines.pixels)
        line_steps = weighted_steps[on_line]
        length_px = float(line_steps.sum())
        length_mm = length_px * ctx.mm_per_px
        area_mm2 = (
            float(pixel_weight[region.contains(wrinkle_pixels)].sum(dtype=np.float64))
            * ctx.mm_per_px**2
        )
        return {
            "length_mm_per_cm2": length_mm / ctx.area_cm2(region),
            "area_pct": 100.0 * area_mm2 / (ctx.area_cm2(region) * 100.0),
            "count": float(components_in(lines.which, sizes, on_line).sum()),
            "mean_width_mm": area_mm2 / length_mm if length_mm > 0 else 0.0,
            "depth_proxy": (
                float(np.dot(line_steps, line_depth[on_line]) / length_px) if length_px > 0 else 0.0
            ),
        }

    result = ctx.result(
        "wrinkles",
        reduce,
        wrinkle.astype(np.float32),
        started=start,
        nearest=True,
        masks={"wrinkles": wrinkle.astype(bool)},
    )
    return replace(result, method=WRINKLE_METHOD)
