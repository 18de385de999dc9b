"""Classical measures of the four concerns: redness, pigment, texture, wrinkles.

Every measure takes a colour-calibrated linear sRGB image, the skin region masks and the scale, and
returns a :class:`ConcernResult` of measures in physical units (CIELAB units, degrees, %, mm,
counts per cm²) for the whole skin and each region, plus a map for overlays.
:func:`measure_all` computes the four on one shared preparation (crop, working grid, CIELAB,
shading), which is what the pipeline calls.

``method="classical-v1"``: Tsumura skin-colour separation for redness and pigment, GLCM,
band-pass roughness and scale-normalised pores for texture, multi-scale Hessian ridges for
wrinkles.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from skinscan.measures._common import (
    DEFAULT_MM_PER_PX,
    METHOD,
    WORKING_MM_PER_PX,
    ConcernResult,
    SkinContext,
    prepare,
)
from skinscan.measures._separation import context_separation
from skinscan.measures.pigment import (
    ITA_CATEGORY_NAMES,
    PIGMENT_KEYS,
    ita_category,
    measure_pigment,
    pigment_from_context,
)
from skinscan.measures.redness import REDNESS_KEYS, measure_redness, redness_from_context
from skinscan.measures.texture import TEXTURE_KEYS, measure_texture, texture_from_context
from skinscan.measures.wrinkles import WRINKLE_KEYS, measure_wrinkles, wrinkles_from_context

__all__ = [
    "CONCERNS",
    "DEFAULT_MM_PER_PX",
    "ITA_CATEGORY_NAMES",
    "MEASURE_KEYS",
    "METHOD",
    "WORKING_MM_PER_PX",
    "ConcernResult",
    "SkinContext",
    "ita_category",
    "measure_all",
    "measure_pigment",
    "measure_redness",
    "measure_texture",
    "measure_wrinkles",
    "prepare",
]

CONCERNS = ("redness", "pigment", "texture", "wrinkles")
#: The keys of ``ConcernResult.measures`` (and of each region) for each concern, in order.
MEASURE_KEYS: dict[str, tuple[str, ...]] = {
    "redness": REDNESS_KEYS,
    "pigment": PIGMENT_KEYS,
    "texture": TEXTURE_KEYS,
    "wrinkles": WRINKLE_KEYS,
}
_FROM_CONTEXT = {
    "redness": redness_from_context,
    "pigment": pigment_from_context,
    "texture": texture_from_context,
    "wrinkles": wrinkles_from_context,
}


def measure_all(
    linear_rgb: NDArray[np.floating],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None = None,
    timings_ms: dict[str, float] | None = None,
) -> dict[str, ConcernResult]:
    """All four measures on one shared preparation.

    Parameters
    ----------
    linear_rgb : ndarray of shape (H, W, 3), float
        Colour-calibrated linear sRGB in [0, 1].
    regions : mapping of str to ndarray of shape (H, W), bool
        Skin masks (face regions, or one ``"site"``).
    mm_per_px : float, optional
        Scale; None assumes :data:`DEFAULT_MM_PER_PX` and marks every result ``scale_assumed``.
    timings_ms : dict, optional
        If given, filled with ``"prepare"`` (crop, resampling, CIELAB, shading, skin-colour
        separation) and one entry per
        concern, in milliseconds.

    Returns
    -------
    dict of str to ConcernResult
        Keyed by concern, in the order of :data:`CONCERNS`.

    Examples
    --------
    >>> rgb = np.full((96, 96, 3), (0.45, 0.3, 0.25), np.float32)
    >>> results = measure_all(rgb, {"site": np.ones((96, 96), bool)}, mm_per_px=0.1)
    >>> sorted(results), results["wrinkles"].measures["count"]
    (['pigment', 'redness', 'texture', 'wrinkles'], 0.0)
    """
    start = time.perf_counter()
    context = prepare(linear_rgb, regions, mm_per_px=mm_per_px)
    context.detrended  # noqa: B018 - computed here so that its cost is shared, not billed to one concern
    context_separation(context)  # shared by redness and pigment
    results = {concern: _FROM_CONTEXT[concern](context) for concern in CONCERNS}
    if timings_ms is not None:
        spent = sum(result.elapsed_ms for result in results.values())
        timings_ms["prepare"] = round((time.perf_counter() - start) * 1000.0 - spent, 2)
        timings_ms.update({concern: result.elapsed_ms for concern, result in results.items()})
    return results
