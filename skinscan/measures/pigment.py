"""Pigment: constitutive colour (ITA°, melanin) and spots and mottling relative to local skin.

ITA°, the melanin index and the mean melanin describe *skin tone* and are reported, not scored.
The spot and evenness measures compare each pixel with the person's own skin a few millimetres
around it, so a darker complexion does not read as more pigmentary disorder. Melanin comes from
the skin-colour separation shared with redness
(:func:`skinscan.measures._separation.context_separation`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import delta_e00
from skinscan.measures._common import (
    SHADING_SIGMA_MM,
    ConcernResult,
    Region,
    SkinContext,
    blur,
    components_in,
    masked_smooth,
    prepare,
    robust_sd,
)
from skinscan.measures._separation import context_separation
from skinscan.measures.redness import red_weight

__all__ = [
    "ITA_CATEGORY_NAMES",
    "METHOD",
    "PIGMENT_KEYS",
    "SPOT_MIN_AREA_MM2",
    "SPOT_NOISE_FACTOR",
    "SPOT_RELATIVE_MELANIN",
    "ita_category",
    "measure_pigment",
    "pigment_from_context",
    "spot_mask",
]

PIGMENT_KEYS = (
    "ita_deg",
    "ita_category",
    "melanin_index",
    "spot_count",
    "spot_area_pct",
    "spot_contrast_de00",
    "evenness_sd",
    "melanin_mean",
    "melanin_variation",
)
METHOD = "classical-v1"
#: ``ita_category`` codes 0..5 (Chardon et al. 1991; "dark" added by Del Bino et al. 2006).
ITA_CATEGORY_NAMES = ("very_light", "light", "intermediate", "tan", "brown", "dark")
_ITA_LOWER_BOUNDS = (55.0, 41.0, 28.0, 10.0, -30.0)
#: A spot holds at least this share more melanin than the local skin (relative excess,
#: ``m / m_local − 1``): a macule 4 L* darker and 1 b* yellower than light skin holds about
#: 40 % more. Relative because melanogenesis is: the phantom's lentigines, like real ones, add
#: melanin in proportion to what the skin already has, so the same relative excess means the
#: same lesion on every tone.
SPOT_RELATIVE_MELANIN = 0.12
#: Pixels whose melanin differs from the first local estimate by more than this share of it are
#: left out of the second.
MELANIN_OUTLIER = 0.15
#: Smallest spot (mm²); smaller dark blobs are pores, the texture measure's business.
SPOT_MIN_AREA_MM2 = 1.0
#: Noise smoothing before thresholding (Gaussian σ, mm).
SPOT_SMOOTH_MM = 0.2
#: A spot's mean excess stands this many times the skin's fine-scale grain above its ring.
SPOT_NOISE_FACTOR = 3.0
#: The grain is what the excess holds finer than a spot's surround (Gaussian σ, mm).
SPOT_SURROUND_MM = 1.0
#: Width of the ring of skin a spot is compared with (mm).
SPOT_RING_MM = 0.8
#: A spot within this share of either threshold (its contrast against :data:`SPOT_NOISE_FACTOR`
#: times the grain, its area against :data:`SPOT_MIN_AREA_MM2`) counts in ``spot_area_pct`` in
#: proportion: ``(x − (1 − g) t) / 2 g t`` of it between ``(1 − g) t`` and ``(1 + g) t``, so that a
#: spot near a threshold does not flip in or out between two captures (or two JPEG encodings).
SPOT_GRADE = 0.25
#: Share of a spot's ring that must be skin: a macule is seen against skin on most sides, while
#: the dark band that hair, brows or lashes leave along the edge of the skin has skin on one side
#: only. Graded across :data:`SPOT_GRADE` of it, as the other thresholds.
SPOT_MIN_RING_SKIN = 0.5
#: Dark components no wider than this and at least LINE_ELONGATION times longer are lines
#: (wrinkles, folds), not macules.
LINE_MAX_WIDTH_MM = 2.0
LINE_ELONGATION = 4.0
#: Mottling is measured between this scale (Gaussian σ, mm) and the shading scale.
EVENNESS_SMOOTH_MM = 0.5
_MELANIN_RESOLUTION = 1e-3
#: Floor of the person's mean melanin (%) in the variation ratio: grey input has none.
_MELANIN_FLOOR = 0.5
# A regular subsample this large estimates a robust SD to well under 1 %, at a fraction of the cost.
_VARIATION_SAMPLES = 250_000
_REFLECTANCE_FLOOR = 1e-4


def ita_category(ita_deg: float) -> int:
    """ITA° → skin colour category code 0 (very light) .. 5 (dark).

    Notes
    -----
    Bounds > 55°, > 41°, > 28°, > 10°, > −30°, else dark: Chardon, Cretois & Hourseau (1991),
    "Skin colour typology and suntanning pathways", Int. J. Cosmet. Sci. 13:191; Del Bino et al.
    (2006), Pigment Cell Res. 19:606.

    Examples
    --------
    >>> ita_category(60.0), ita_category(0.0), ITA_CATEGORY_NAMES[ita_category(-45.0)]
    (0, 4, 'dark')
    """
    for code, bound in enumerate(_ITA_LOWER_BOUNDS):
        if ita_deg > bound:
            return code
    return len(_ITA_LOWER_BOUNDS)


def measure_pigment(
    linear_rgb: NDArray[np.floating],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None = None,
) -> ConcernResult:
    """Measure skin tone, pigmented spots and mottling over the skin and per region.

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
        ``concern="pigment"``; ``measures`` (and each region) hold:

        - ``ita_deg``: individual typology angle of the mean colour, ``atan2(L* − 50, b*)`` in
          degrees.
        - ``ita_category``: :func:`ita_category` code of ``ita_deg`` (0..5, as a float).
        - ``melanin_index``: mean of ``100 · log10(1 / R)`` per pixel.
        - ``spot_count``: spots with more than half their area in the region.
        - ``spot_area_pct``: % of the region's pixels inside spots.
        - ``spot_contrast_de00``: mean over those spots of the CIEDE2000 difference between the
          spot's mean colour and the surrounding skin (0 without spots).
        - ``evenness_sd``: SD of L* after removing shading (σ 5 mm) and fine texture (σ 0.5 mm).
        - ``melanin_mean``: mean epidermal melanin volume fraction of the skin-colour separation,
          percent.
        - ``melanin_variation``: robust SD of the melanin (3 × 3 median) between the 0.5 mm and
          5 mm scales, divided by the person's mean melanin (a coefficient of variation,
          dimensionless).

        ``map`` is the melanin above the local skin's, ``max(m − local, 0)``, percentage points.

    Notes
    -----
    Melanin: per-pixel inversion of the two-layer skin model, see
    :mod:`skinscan.measures._separation`.

    Spots are connected (8-neighbour) components of ``m / local − 1 ≥ SPOT_RELATIVE_MELANIN``
    after a 3 × 3 median (isolated pixels the separation throws far off under sensor noise) and a
    σ = 0.2 mm smoothing of the melanin map ``m``, where ``local`` is its Gaussian
    (σ = 5 mm) normalised-convolution mean over the skin, in two passes, the second leaving out
    pixels further than :data:`MELANIN_OUTLIER` (relative) from the first, and red skin
    (:func:`~skinscan.measures.redness.red_weight` above 0.5) left out of both;
    components under :data:`SPOT_MIN_AREA_MM2` and thin elongated ones (wrinkles) are dropped,
    and so are those whose mean excess stands less than ``max(SPOT_RELATIVE_MELANIN,``
    :data:`SPOT_NOISE_FACTOR` ``× grain)`` above a 0.8 mm ring of skin around them. The grain is
    the robust SD of the excess finer than σ = 1 mm over the skin below the spot threshold: on a
    clean photo it is far below 0.12 and the ring test changes nothing; on a noisy or mottled one
    it keeps the skin's own grain, which fades gradually into its surroundings, from reading as
    spots, while a macule, which has an edge, stands out of its ring by its whole contrast.
    The same relative change of melanocyte activity gives the same relative excess on any skin
    tone; shadows, wrinkles and pores, which darken all channels alike, fall mostly into the
    shading of the separation (not near 12 % melanin, where melanin darkens almost greyly). The
    surrounding colour for the contrast is the L* shading and the
    same kind of mean of a* and b*, with the spots left out.

    ``melanin_variation`` follows the "variation" of the Antera 3D melanin map (SD of the
    concentration over the area) with two changes. The low-frequency component (σ 5 mm: shading
    residue, constitutive colour across the face) is removed first, so it measures mottling, not
    the difference between cheek and forehead. It is divided by the person's mean melanin
    because melanogenic unevenness scales with constitutive melanin: the same relative change
    in melanocyte activity gives a melanin difference proportional to the melanin already there,
    so an absolute SD would grade darker skin as more uneven for the same biology.

    Melanin index: Dawson et al. (1980), Phys. Med. Biol. 25:695; Diffey et al. (1984),
    Br. J. Dermatol. 111:663: ``MI = 100 · log10(1 / R_red)``; the camera's red channel stands in
    for the meter's narrow red band (see Stamatas et al. 2004, Pigment Cell Res. 17:618, on how
    such indices compare). ΔE00: Sharma, Wu & Dalal (2005).
    """
    return pigment_from_context(prepare(linear_rgb, regions, mm_per_px=mm_per_px))


_SPOTS_KEY = "_pigment_spots"


def _local_melanin(ctx: SkinContext, melanin: NDArray[np.float32]) -> NDArray[np.float32]:
    """Melanin of the skin around each pixel: σ 5 mm, red skin and outliers left out."""
    red = red_weight(ctx) > 0.5
    weight = (ctx.skin & ~red).astype(np.float32)
    if not weight.any():
        weight = ctx.skin.astype(np.float32)
    sigma = ctx.px(SHADING_SIGMA_MM)
    first = masked_smooth(melanin, weight, sigma)
    weight *= np.abs(melanin - first) <= MELANIN_OUTLIER * np.maximum(first, _MELANIN_FLOOR)
    return masked_smooth(melanin, weight, sigma)


def _despeckle(melanin: NDArray[np.float32]) -> NDArray[np.float32]:
    """3 × 3 median: removes isolated pixels that the separation throws far off (sensor noise)."""
    return np.asarray(cv2.medianBlur(np.ascontiguousarray(melanin, np.float32), 3), np.float32)


def _noise(ctx: SkinContext, excess: NDArray[np.float32]) -> float:
    """Robust SD of the excess finer than a spot's surround: the grain a spot must stand out of."""
    fine = excess - blur(excess, ctx.px(SPOT_SURROUND_MM))
    # Skin below the spot threshold only, so that the spots themselves do not raise it.
    plain = np.flatnonzero(ctx.skin.ravel() & (excess.ravel() < SPOT_RELATIVE_MELANIN))
    if plain.size == 0:
        return 0.0
    return robust_sd(fine.ravel()[plain[:: max(1, plain.size // _VARIATION_SAMPLES)]])


def _spots(
    ctx: SkinContext, excess: NDArray[np.float32], contrast: float
) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """The spots' label image (0 = none, 1..n) and each pixel's spot weight (0..1).

    ``excess`` is the relative melanin excess over the local skin, ``m / m_local − 1``; a spot's
    mean excess stands at least ``contrast`` above the skin just around it, it covers at least
    :data:`SPOT_MIN_AREA_MM2`, and at least :data:`SPOT_MIN_RING_SKIN` of the ring around it is
    skin (not the edge of hair, brows or eyes); line-like components are wrinkles, not spots.
    The labels are the spots that pass all three thresholds; the weights grade every candidate
    across :data:`SPOT_GRADE` of each threshold (their product), for ``spot_area_pct``.
    """
    seed = (excess >= SPOT_RELATIVE_MELANIN) & ctx.skin
    count, seeds = cv2.connectedComponents(seed.astype(np.uint8), connectivity=8)
    # Each spot's extent is where it reaches half its own peak excess (full width at half
    # maximum): its painted edge whatever its contrast, so area does not grow with tone.
    seed_pixels = np.flatnonzero(seed)
    seed_labels = np.asarray(seeds, dtype=np.int32).ravel()[seed_pixels]
    seed_excess = excess.ravel()[seed_pixels]
    peak = np.zeros(count, dtype=np.float32)
    np.maximum.at(peak, seed_labels, seed_excess)
    candidate = np.zeros(seed.shape, dtype=np.uint8)
    candidate.ravel()[seed_pixels[seed_excess >= 0.5 * peak[seed_labels]]] = 1
    count, raw_labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
    labels = np.asarray(raw_labels, dtype=np.int32)
    areas = stats[:, cv2.CC_STAT_AREA]
    min_area = SPOT_MIN_AREA_MM2 / ctx.mm_per_px**2
    ids = np.flatnonzero(areas >= (1.0 - SPOT_GRADE) * min_area)
    ids = ids[ids > 0]
    if ids.size:
        inner = cv2.distanceTransform(candidate, cv2.DIST_L2, 5).ravel()
        pixels = np.flatnonzero(candidate)
        widest = np.zeros(count, dtype=np.float64)
        np.maximum.at(widest, labels.ravel()[pixels], inner[pixels])
        width_px = 2.0 * widest[ids]
        line = (width_px * ctx.mm_per_px <= LINE_MAX_WIDTH_MM) & (
            areas[ids] >= LINE_ELONGATION * width_px**2
        )
        ids = ids[~line]
    weight = np.zeros(count, dtype=np.float32)
    passed = np.zeros(count, dtype=bool)
    if ids.size:
        # Contrast with the skin in a ring just outside: a spot has an edge, the skin's own
        # grain rises and falls gradually into its surroundings.
        reach = max(1, round(ctx.px(SPOT_RING_MM)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        # Dilated on a canvas padded by the reach: the ring beyond the grid counts too (the grid
        # is the skin's bounding box, so what lies past it is not skin that is measured).
        padded = cv2.copyMakeBorder(
            labels.astype(np.float32), reach, reach, reach, reach, cv2.BORDER_CONSTANT, value=0
        )
        around_all = np.asarray(cv2.dilate(padded, kernel), dtype=np.int32)
        whole = around_all[(around_all > 0) & (padded == 0)]
        around = around_all[reach:-reach, reach:-reach]
        ring = (around > 0) & (labels == 0) & ctx.skin
        flat = excess.ravel()
        inside = np.bincount(labels.ravel(), flat, count) / np.maximum(areas, 1)
        ring_n = np.bincount(around[ring], minlength=count)
        outside = np.bincount(around[ring], excess[ring], count) / np.maximum(ring_n, 1)
        on_skin = ring_n[ids] / np.maximum(np.bincount(whole, minlength=count)[ids], 1)
        lift = inside[ids] - outside[ids]
        weight[ids] = (
            _graded(lift, contrast)
            * _graded(areas[ids].astype(np.float64), min_area)
            * _graded(on_skin, SPOT_MIN_RING_SKIN)
        )
        passed[ids] = (
            (lift >= contrast) & (areas[ids] >= min_area) & (on_skin >= SPOT_MIN_RING_SKIN)
        )
    kept = np.flatnonzero(passed)
    relabel = np.zeros(count, dtype=np.int32)
    relabel[kept] = np.arange(1, kept.size + 1, dtype=np.int32)
    return np.asarray(relabel[labels], dtype=np.int32), weight[labels]


def _graded(value: NDArray[np.float64], threshold: float) -> NDArray[np.float32]:
    """0 below ``(1 − g) threshold``, 1 above ``(1 + g) threshold``, linear between."""
    low = (1.0 - SPOT_GRADE) * threshold
    return np.clip((value - low) / (2.0 * SPOT_GRADE * threshold), 0.0, 1.0).astype(np.float32)


def _spot_analysis(
    ctx: SkinContext,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int32], NDArray[np.float32]]:
    """The despeckled melanin, the local skin's melanin, the spot labels and the spot weights.

    Computed once per context.
    """
    cached = ctx.__dict__.get(_SPOTS_KEY)
    if cached is None:
        clean = _despeckle(context_separation(ctx).melanin)
        local = _local_melanin(ctx, clean)
        floor = np.float32(_MELANIN_FLOOR)
        excess = np.asarray(
            blur(clean, ctx.px(SPOT_SMOOTH_MM)) / np.maximum(local, floor) - np.float32(1.0),
            dtype=np.float32,
        )
        contrast = max(SPOT_NOISE_FACTOR * _noise(ctx, excess), SPOT_RELATIVE_MELANIN)
        cached = (clean, local, *_spots(ctx, excess, contrast))
        ctx.__dict__[_SPOTS_KEY] = cached
    return cached


def spot_mask(ctx: SkinContext) -> NDArray[np.bool_]:
    """The pigment spots of a measures context (h, w), bool: what :func:`measure_pigment` counts.

    Computed once per context and shared, so that texture and wrinkles can leave the spots out.
    """
    return np.asarray(_spot_analysis(ctx)[2] > 0)


def pigment_from_context(ctx: SkinContext) -> ConcernResult:
    """:func:`measure_pigment` on a prepared :class:`SkinContext`."""
    start = time.perf_counter()
    lab = ctx.lab
    channels = [lab[..., c].ravel() for c in range(3)]
    melanin_index = (-100.0 * np.log10(np.maximum(ctx.linear[..., 0], _REFLECTANCE_FLOOR))).ravel()
    mottling = blur(ctx.detrended, ctx.px(EVENNESS_SMOOTH_MM)).ravel()
    melanin = context_separation(ctx).melanin
    m_flat = melanin.ravel()
    clean, local, labels, spot_weight = _spot_analysis(ctx)
    weight_flat = spot_weight.ravel()
    unevenness = (blur(clean, ctx.px(EVENNESS_SMOOTH_MM)) - local).ravel()
    person_melanin = float(m_flat[ctx.union.indices].mean(dtype=np.float64))
    # A floor keeps the ratio finite on (unphysical) grey input with no melanin signature at all.
    person_melanin = max(person_melanin, _MELANIN_FLOOR)

    n_spots = int(labels.max())
    pixels = np.flatnonzero(labels)
    which = labels.ravel()[pixels]
    sizes = np.bincount(which, minlength=n_spots + 1)
    contrast = np.zeros(n_spots + 1)
    if n_spots:
        # Surrounding skin: the shading for L*, the same normalised mean for a* and b*.
        weight = (ctx.skin & (labels == 0)).astype(np.float32)
        sigma = ctx.px(SHADING_SIGMA_MM)
        around = [ctx.shading] + [masked_smooth(lab[..., c], weight, sigma) for c in (1, 2)]
        counts = np.maximum(sizes, 1)
        spot_lab = np.stack(
            [np.bincount(which, channel[pixels], sizes.size) for channel in channels], -1
        )
        skin_lab = np.stack(
            [np.bincount(which, channel.ravel()[pixels], sizes.size) for channel in around], -1
        )
        contrast = delta_e00(spot_lab / counts[:, None], skin_lab / counts[:, None])

    def reduce(region: Region) -> dict[str, float]:
        idx = region.indices
        mean_l = float(channels[0][idx].mean(dtype=np.float64))
        mean_b = float(channels[2][idx].mean(dtype=np.float64))
        ita = math.degrees(math.atan2(mean_l - 50.0, mean_b))
        inside = region.contains(pixels)
        member = components_in(which, sizes, inside)
        n = int(member.sum())
        return {
            "ita_deg": ita,
            "ita_category": float(ita_category(ita)),
            "melanin_index": float(melanin_index[idx].mean(dtype=np.float64)),
            "spot_count": float(n),
            "spot_area_pct": 100.0 * float(weight_flat[idx].sum(dtype=np.float64)) / idx.size,
            "spot_contrast_de00": float(contrast[member].mean()) if n else 0.0,
            "evenness_sd": robust_sd(mottling[idx]),
            "melanin_mean": float(m_flat[idx].mean(dtype=np.float64)),
            "melanin_variation": robust_sd(
                unevenness[idx[:: max(1, idx.size // _VARIATION_SAMPLES)]],
                resolution=_MELANIN_RESOLUTION,
            )
            / person_melanin,
        }

    work_map = np.maximum(melanin - local, 0.0).astype(np.float32)
    result = ctx.result("pigment", reduce, work_map, started=start, masks={"spots": labels > 0})
    return dataclasses.replace(result, method=METHOD)
