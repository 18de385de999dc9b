"""Redness: CIELAB a*, the erythema index, and hemoglobin relative to the person's own skin.

Absolute a*, the erythema index and the mean hemoglobin are reported as measurements; the measures
that the severity uses (``delta_a_star``, ``red_area_pct``) and ``delta_hemoglobin`` are
differences from the person's *baseline* skin, so that constitutive skin colour does not read as
redness. Hemoglobin comes from the skin-colour separation shared with pigment
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

from skinscan.measures._common import (
    ConcernResult,
    Region,
    SkinContext,
    blur,
    prepare,
    quantile,
)
from skinscan.measures._separation import context_separation

__all__ = [
    "BASELINE_FRACTION",
    "METHOD",
    "REDNESS_KEYS",
    "RED_DELTA_A_STAR",
    "RED_DELTA_HEMOGLOBIN",
    "RED_DETAIL_MM",
    "RED_RAMP_HEMOGLOBIN",
    "band_limit",
    "fine_hemoglobin",
    "hemoglobin_baseline",
    "lower_mean",
    "measure_redness",
    "red_weight",
    "redness_from_context",
    "smooth_hemoglobin",
]

REDNESS_KEYS = (
    "a_star",
    "a_star_p90",
    "erythema_index",
    "red_area_pct",
    "delta_a_star",
    "hemoglobin_mean",
    "delta_hemoglobin",
)
METHOD = "classical-v1"
#: The person's baseline skin: the mean of this lowest fraction of all skin pixels' a*
#: (:func:`lower_mean`), and this quantile of their band-limited hemoglobin
#: (:func:`hemoglobin_baseline`).
BASELINE_FRACTION = 0.4
#: Kept for reference: the a* step of visible erythema on light skin.
RED_DELTA_A_STAR = 6.0
#: Skin counts as red where its dermal blood exceeds the person's baseline by this much
#: (volume-fraction percentage points: 2 % → 3 % blood). Graded: a pixel counts
#: ``(Δh − (T − R)) / 2R`` of itself between ``T − R`` and ``T + R`` (``T`` this threshold, ``R``
#: :data:`RED_RAMP_HEMOGLOBIN`), so that a pixel near the threshold does not flip between
#: captures. One point of blood raises a* by about 1.7 on light skin, 1.5 on intermediate and
#: 0.25 on dark skin (two-layer model): a colour threshold would need far more blood on darker
#: skin; an amount of blood means the same on every tone.
RED_DELTA_HEMOGLOBIN = 1.0
RED_RAMP_HEMOGLOBIN = 0.5
#: Gaussian σ (mm) of the hemoglobin map before the red threshold.
RED_SMOOTH_MM = 0.2
#: Width (mm) below which a dip or a bump of the blood map is not read as blood: morphological
#: closings and openings with a disc this wide (:func:`band_limit`). Erythema is smooth at the
#: millimetre scale; wrinkle and pore shadows are 0.3–1.2 mm wide and, on dark skin where blood
#: changes the colour little, the separation reads part of a shadow's grey darkening as blood.
RED_DETAIL_MM = 1.5
_REFLECTANCE_FLOOR = 1e-4
_HEMOGLOBIN_RESOLUTION = 0.01


def fine_hemoglobin(ctx: SkinContext) -> NDArray[np.float32]:
    """The hemoglobin map smoothed by :data:`RED_SMOOTH_MM` only (computed once per context).

    Per-pixel noise (sensor, JPEG) is amplified by the separation where the pigments change
    the colour little (dark skin); redness has no detail below 0.2 mm.
    """
    cached: NDArray[np.float32] | None = ctx.__dict__.get("_fine_hemoglobin")
    if cached is None:
        cached = blur(context_separation(ctx).hemoglobin, ctx.px(RED_SMOOTH_MM))
        ctx.__dict__["_fine_hemoglobin"] = cached
    return cached


def smooth_hemoglobin(ctx: SkinContext) -> NDArray[np.float32]:
    """The :func:`fine_hemoglobin` map band-limited at :data:`RED_DETAIL_MM` (cached per context).

    Narrow shadows (wrinkles, pores, fine relief) leave dips and bumps in the blood map, most of
    all on dark skin: a dip pulls the person's baseline down, so the rest of the skin reads as
    red, and the bump beside it reads as red itself. :func:`band_limit` with a disc
    :data:`RED_DETAIL_MM` wide removes every dip and bump narrower than that and keeps erythema,
    which is wider. The redness threshold, its baseline and the map use this map.
    """
    cached: NDArray[np.float32] | None = ctx.__dict__.get("_smooth_hemoglobin")
    if cached is None:
        cached = band_limit(fine_hemoglobin(ctx), ctx.px(RED_DETAIL_MM))
        ctx.__dict__["_smooth_hemoglobin"] = cached
    return cached


def band_limit(image: NDArray[np.floating], width_px: float) -> NDArray[np.float32]:
    """Remove every valley and ridge of ``image`` narrower than a disc ``width_px`` wide.

    A closing fills every valley narrower than the disc and an opening cuts every ridge narrower
    than it; structures wider than the disc keep their level and their outline. The two orders
    (closing then opening, opening then closing) are averaged: either order alone biases noisy
    flat skin up or down. Borders are reflected. Below 3 px the input is returned (as float32).

    Notes
    -----
    Serra (1982), *Image Analysis and Mathematical Morphology*, Academic Press (closing, opening).
    """
    values = np.ascontiguousarray(image, dtype=np.float32)
    size = round(width_px)
    if size < 3:
        return values
    size += 1 - size % 2
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    border = cv2.BORDER_REFLECT
    close, open_ = cv2.MORPH_CLOSE, cv2.MORPH_OPEN
    dips_first = cv2.morphologyEx(
        cv2.morphologyEx(values, close, disc, borderType=border), open_, disc, borderType=border
    )
    bumps_first = cv2.morphologyEx(
        cv2.morphologyEx(values, open_, disc, borderType=border), close, disc, borderType=border
    )
    return np.asarray(0.5 * (dips_first + bumps_first), dtype=np.float32)


def lower_mean(values: NDArray[np.floating], fraction: float, *, resolution: float) -> float:
    """Mean of the lowest ``fraction`` (0..1) of ``values``: the baseline estimator.

    By histogram, as :func:`~skinscan.measures._common.quantile`: the values are counted into bins
    of width ``resolution`` and the bins up to the one holding the ``fraction``-quantile are
    averaged at their centres (to within ``resolution / 2``, at the cost of one quantile).

    The separation clips blood at 0, so a tenth or more of a face's smoothed blood map can sit at
    0, with few pixels just above: a low percentile lies on that thin stretch and moves with the
    share of clipped pixels, which sensor noise and exposure change between captures; the mean of
    the lower part averages over it and follows the skin as a whole.
    """
    if values.size == 0:
        return math.nan
    low = float(values.min())
    bins = ((values - np.float32(low)) * np.float32(1.0 / resolution)).astype(np.int32)
    counts = np.bincount(bins)
    cumulative = np.cumsum(counts)
    k = min(int(np.searchsorted(cumulative, fraction * values.size)), counts.size - 1)
    centres = low + (np.arange(k + 1, dtype=np.float64) + 0.5) * resolution
    return float(counts[: k + 1] @ centres / cumulative[k])


def hemoglobin_baseline(ctx: SkinContext, *, band_limited: bool = True) -> float:
    """The person's baseline hemoglobin, computed once per context and map.

    ``band_limited`` (the baseline of the redness measures): the :data:`BASELINE_FRACTION`
    quantile of :func:`smooth_hemoglobin` over all skin pixels. The separation reports blood
    below the model's range as 0, and 10–20 % of a face's pixels sit there: any estimator that
    reaches into that clipped mass (a low percentile, or the mean of the lowest 40 %) moves less
    than the rest of the skin when a small residual of the colour calibration shifts the whole
    blood map, so the distance of the red skin from it changes between captures (re-captures of
    one face read ``red_area_pct`` 38–42 % with the mean of the lowest 40 %). The 40th
    percentile lies above the clipped mass and moves with the skin; up to 60 % of the skin can
    be red without moving it.

    Otherwise (the conservative red mask that pigment leaves out): the :func:`lower_mean` of the
    lowest :data:`BASELINE_FRACTION` of :func:`fine_hemoglobin`, a lower baseline, so that more
    skin counts as red there.
    """
    key = "_hemoglobin_baseline" if band_limited else "_fine_hemoglobin_baseline"
    cached: float | None = ctx.__dict__.get(key)
    if cached is None:
        source = smooth_hemoglobin(ctx) if band_limited else fine_hemoglobin(ctx)
        hemoglobin = source.ravel()[ctx.union.indices]
        if band_limited:
            cached = quantile(hemoglobin, BASELINE_FRACTION, resolution=_HEMOGLOBIN_RESOLUTION)
        else:
            cached = lower_mean(hemoglobin, BASELINE_FRACTION, resolution=_HEMOGLOBIN_RESOLUTION)
        ctx.__dict__[key] = cached
    return cached


def red_weight(ctx: SkinContext, *, band_limited: bool = False) -> NDArray[np.float32]:
    """How much each pixel counts as red, 0..1 (h, w): the graded :data:`RED_DELTA_HEMOGLOBIN`.

    ``band_limited=True`` grades :func:`smooth_hemoglobin` above its baseline: the weight of
    ``red_area_pct``, blind to narrow shadows. The default grades :func:`fine_hemoglobin` above
    its baseline, blood-like detail of any width down to 0.2 mm: the conservative mask of red
    skin that pigment leaves out of its local melanin (leaving out a little more skin there
    costs pigment nothing).
    """
    key = "_red_weight" if band_limited else "_fine_red_weight"
    cached: NDArray[np.float32] | None = ctx.__dict__.get(key)
    if cached is not None:
        return cached
    source = smooth_hemoglobin(ctx) if band_limited else fine_hemoglobin(ctx)
    excess = source - np.float32(hemoglobin_baseline(ctx, band_limited=band_limited))
    low = RED_DELTA_HEMOGLOBIN - RED_RAMP_HEMOGLOBIN
    weight = (excess - np.float32(low)) * np.float32(0.5 / RED_RAMP_HEMOGLOBIN)
    cached = np.clip(weight, 0.0, 1.0).astype(np.float32)
    ctx.__dict__[key] = cached
    return cached


def measure_redness(
    linear_rgb: NDArray[np.floating],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None = None,
) -> ConcernResult:
    """Measure redness over the skin and per region.

    Parameters
    ----------
    linear_rgb : ndarray of shape (H, W, 3), float
        Colour-calibrated linear sRGB in [0, 1], read as reflectance.
    regions : mapping of str to ndarray of shape (H, W), bool
        Skin masks (face regions, or one ``"site"``).
    mm_per_px : float, optional
        Scale; redness has no lengths, so it only sets the working grid.

    Returns
    -------
    ConcernResult
        ``concern="redness"``; ``measures`` (and each region) hold:

        - ``a_star``: mean CIELAB a* (D65).
        - ``a_star_p90``: 90th percentile of a*.
        - ``erythema_index``: mean of ``100 · log10(R / G)`` per pixel.
        - ``red_area_pct``: graded % of pixels whose blood exceeds the person's baseline by more
          than :data:`RED_DELTA_HEMOGLOBIN` (:func:`red_weight`, band-limited).
        - ``delta_a_star``: mean a* minus the baseline a*.
        - ``hemoglobin_mean``: mean dermal blood volume fraction of the skin-colour separation,
          percent (includes the person's constitutive level).
        - ``delta_hemoglobin``: ``hemoglobin_mean`` minus the person's baseline, points (a
          narrow shadow's dip and the halo the separation leaves beside it cancel in the mean).

        ``map`` is the band-limited blood above the baseline, ``max(h − baseline, 0)``.

    Notes
    -----
    Hemoglobin: per-pixel inversion of the two-layer skin model (epidermal melanin over dermal
    blood), see :mod:`skinscan.measures._separation`; Tsumura's linear separation (ICA or fixed
    vectors) is selectable there. The blood is a volume fraction, so the same added blood raises
    ``h`` by the same amount whatever the melanin above it, which makes the hemoglobin measures
    tone-independent by design, while a* barely moves on dark skin.

    Erythema index: Dawson et al. (1980), "A theoretical and experimental study of light absorption
    and scattering by in vivo skin", Phys. Med. Biol. 25:695, and Diffey, Oliver & Farr (1984),
    Br. J. Dermatol. 111:663, define ``EI = 100 · [log10(1/R_green) − log10(1/R_red)]`` from
    narrow-band reflectances. Here R and G are the calibrated linear sRGB channels, whose bands are
    broader than a reflectance meter's, so values are comparable between photos of this pipeline
    but not numerically equal to a meter's.

    The baselines are the mean of the lowest :data:`BASELINE_FRACTION` of a* (:func:`lower_mean`)
    and the :data:`BASELINE_FRACTION` quantile of the band-limited hemoglobin
    (:func:`hemoglobin_baseline`) over *all* skin pixels, the same for every region: both stay on
    uninvolved skin while up to 60 % of the skin is red, and using the person-wide value lets a
    wholly red cheek read as red rather than as its own baseline. Uniform redness of the
    whole face cannot be told from constitutive colour in one photo; comparing visits catches it.

    Examples
    --------
    >>> rgb = np.full((64, 64, 3), (0.45, 0.3, 0.25), np.float32)
    >>> result = measure_redness(rgb, {"site": np.ones((64, 64), bool)}, mm_per_px=0.1)
    >>> result.measures["red_area_pct"]
    0.0
    """
    return redness_from_context(prepare(linear_rgb, regions, mm_per_px=mm_per_px))


def redness_from_context(ctx: SkinContext) -> ConcernResult:
    """:func:`measure_redness` on a prepared :class:`SkinContext`."""
    start = time.perf_counter()
    a_flat = ctx.lab[..., 1].ravel()
    rgb = np.maximum(ctx.linear, _REFLECTANCE_FLOOR)
    erythema = (100.0 * np.log10(rgb[..., 0] / rgb[..., 1])).ravel()
    baseline_a = lower_mean(a_flat[ctx.union.indices], BASELINE_FRACTION, resolution=0.01)
    h_flat = context_separation(ctx).hemoglobin.ravel()
    baseline_h = hemoglobin_baseline(ctx)
    red = red_weight(ctx, band_limited=True).ravel()

    def reduce(region: Region) -> dict[str, float]:
        idx = region.indices
        values = a_flat[idx]
        mean_a = float(values.mean(dtype=np.float64))
        mean_h = float(h_flat[idx].mean(dtype=np.float64))
        return {
            "a_star": mean_a,
            "a_star_p90": quantile(values, 0.9, resolution=0.01),
            "erythema_index": float(erythema[idx].mean(dtype=np.float64)),
            "red_area_pct": 100.0 * float(red[idx].mean(dtype=np.float64)),
            "delta_a_star": mean_a - baseline_a,
            "hemoglobin_mean": mean_h,
            "delta_hemoglobin": mean_h - baseline_h,
        }

    work_map = np.maximum(smooth_hemoglobin(ctx) - np.float32(baseline_h), 0.0).astype(np.float32)
    result = ctx.result("redness", reduce, work_map, started=start)
    return dataclasses.replace(result, method=METHOD)
