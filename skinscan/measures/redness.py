"""Redness: CIELAB a*, the erythema index, and red area relative to the person's own skin.

Absolute a* and the erythema index are reported as measurements; the measures that the severity
uses (``delta_a_star``, ``red_area_pct``) are differences from the person's *baseline* skin a*, so
that constitutive skin colour does not read as redness.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from skinscan.measures._common import (
    ConcernResult,
    Region,
    SkinContext,
    prepare,
    quantile,
)

__all__ = [
    "BASELINE_PERCENTILE",
    "REDNESS_KEYS",
    "RED_DELTA_A_STAR",
    "measure_redness",
    "redness_from_context",
]

REDNESS_KEYS = ("a_star", "a_star_p90", "erythema_index", "red_area_pct", "delta_a_star")
#: Percentile of all skin pixels' a* taken as the person's baseline (uninvolved) skin.
BASELINE_PERCENTILE = 25.0
#: A pixel is "red" when its a* exceeds the baseline by more than this (CIELAB units).
RED_DELTA_A_STAR = 6.0
_REFLECTANCE_FLOOR = 1e-4


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
        - ``red_area_pct``: % of pixels with ``a* > baseline + RED_DELTA_A_STAR``.
        - ``delta_a_star``: mean a* minus the baseline.

        ``map`` is ``max(a* − baseline, 0)`` in CIELAB units.

    Notes
    -----
    Erythema index: Dawson et al. (1980), "A theoretical and experimental study of light absorption
    and scattering by in vivo skin", Phys. Med. Biol. 25:695, and Diffey, Oliver & Farr (1984),
    Br. J. Dermatol. 111:663, define ``EI = 100 · [log10(1/R_green) − log10(1/R_red)]`` from
    narrow-band reflectances. Here R and G are the calibrated linear sRGB channels, whose bands are
    broader than a reflectance meter's, so values are comparable between photos of this pipeline
    but not numerically equal to a meter's.

    The baseline is the :data:`BASELINE_PERCENTILE` th percentile of a* over *all* skin pixels, the
    same for every region: a percentile below the median stays on uninvolved skin while up to
    about three quarters of the skin is red, and using the person-wide value lets a wholly red
    cheek read as red rather than as its own baseline. Uniform redness of the whole face cannot
    be told from constitutive colour in one photo; comparing visits catches it.

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
    a_star = ctx.lab[..., 1]
    a_flat = a_star.ravel()
    rgb = np.maximum(ctx.linear, _REFLECTANCE_FLOOR)
    erythema = (100.0 * np.log10(rgb[..., 0] / rgb[..., 1])).ravel()
    baseline = quantile(a_flat[ctx.union.indices], BASELINE_PERCENTILE / 100, resolution=0.01)
    red = (a_flat > baseline + RED_DELTA_A_STAR).astype(np.float32)

    def reduce(region: Region) -> dict[str, float]:
        idx = region.indices
        values = a_flat[idx]
        mean_a = float(values.mean(dtype=np.float64))
        return {
            "a_star": mean_a,
            "a_star_p90": quantile(values, 0.9, resolution=0.01),
            "erythema_index": float(erythema[idx].mean(dtype=np.float64)),
            "red_area_pct": 100.0 * float(red[idx].mean(dtype=np.float64)),
            "delta_a_star": mean_a - baseline,
        }

    work_map = np.maximum(a_star - baseline, 0.0).astype(np.float32)
    return ctx.result("redness", reduce, work_map, started=start)
