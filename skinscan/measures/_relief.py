"""Relief in tone-independent units, shared by the texture and wrinkle measures.

Relief is seen as shadow, and a shadow multiplies the three linear channels by the same factor:
in optical density ``OD = −ln(linear RGB)`` it moves along ``(1, 1, 1)`` only, and leaves every
chromatic combination ``d · OD`` (``d · (1, 1, 1) = 0``) unchanged. Melanin moves OD along its own
direction, bluer than grey on light skin, nearly grey (then redder) as the skin darkens (the
two-layer model's derivative, :func:`skinscan.measures._separation.fixed_vectors`), and darkens
L* as well. The relief is ``L* − shading`` with the darkening that the local chromatic change
accounts for as melanin taken back out, so that spots and mottling are not read as pores,
roughness or folds, while a pure shadow reads exactly as before.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skinscan.measures._common import (
    SHADING_SIGMA_MM,
    FloatArray,
    SkinContext,
    blur,
    masked_smooth,
)
from skinscan.measures._separation import fixed_vectors, optical_density

__all__ = [
    "CORRECTION_SIGMA_MM",
    "MAX_CORRECTION_GAIN",
    "NOISE_OD",
    "REFERENCE_L",
    "melanin_correction_weights",
    "shadow_contrast",
    "tone_normalised_relief",
]

#: Lightness every relief contrast is expressed at (see :func:`tone_normalised_relief`).
REFERENCE_L = 50.0
#: Largest length of the chromatic weights ``d`` (:func:`melanin_correction_weights`): where
#: melanin darkens nearly greyly (near 12 % melanin) removing it in full would amplify the
#: photo's colour noise many times, so it is removed only in part there.
MAX_CORRECTION_GAIN = 4.5
#: Gaussian σ (mm) of the chromatic correction: one pixel of the 0.1 mm working grid, which
#: takes the per-pixel colour noise down without smearing the edges of spots.
CORRECTION_SIGMA_MM = 0.1
#: Changes of the chromatic combination up to this (OD) are taken for colour noise and left in
#: the relief; beyond it, only the excess is corrected (a soft threshold).
NOISE_OD = 0.01
#: Pixels whose correction departs from the first local estimate by more than this (OD; about
#: 3 L* at L* 50) are left out of the second, as spots are from the L* shading.
_OUTLIER_OD = 3.0 * 3.0 / (REFERENCE_L + 16.0)
_CACHE_KEY = "_shadow_contrast"
#: Rec. 709 / sRGB luminance coefficients: Y = 0.2126 R + 0.7152 G + 0.0722 B.
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def melanin_correction_weights(skin_rgb: ArrayLike) -> NDArray[np.float64]:
    """Chromatic OD weights ``d`` (3,) for skin of linear RGB ``skin_rgb`` (3,).

    ``−ln Y`` moves by ``w · ΔOD`` for a small change, ``w`` being each channel's share of the
    luminance. ``d`` lies in the chromatic plane (``d · (1, 1, 1) = 0``, so a shadow does not move
    ``d · OD``) and makes ``(w + d) · v_mel = 0``, with ``v_mel`` the melanin vector of that skin:
    ``d = −α P v_mel`` (``P`` the projection on the plane), ``α = (w · v_mel) / |P v_mel|²``,
    shortened to ``|d| ≤`` :data:`MAX_CORRECTION_GAIN`.
    """
    rgb = np.maximum(np.asarray(skin_rgb, dtype=np.float64), 1e-4)
    share = _LUMA * rgb / float(_LUMA @ rgb)
    melanin, _ = fixed_vectors(-np.log(rgb), model="two-layer")
    in_plane = melanin - melanin.mean()
    norm2 = float(in_plane @ in_plane)
    if norm2 < 1e-12:
        return np.zeros(3)
    alpha = float(share @ melanin) / norm2
    alpha = min(alpha, MAX_CORRECTION_GAIN / np.sqrt(norm2))
    return np.asarray(-alpha * in_plane)


def shadow_contrast(ctx: SkinContext) -> FloatArray:
    """``(L* + 16) / (shading + 16) − 1`` without its melanin part, on the working grid, 0 off skin.

    For a shadow this is the relative change of ``Y^(1/3)`` it causes. The chromatic combination
    ``c = d · OD`` (:func:`melanin_correction_weights`, at the skin's median colour) is compared
    with its local level (two passes of a masked Gaussian of σ = the L* shading's, the second
    without outliers); ``exp(Δc / 3)`` is the factor on ``Y^(1/3)`` that melanin accounts for,
    and is divided out. Computed once per context.
    """
    cached: FloatArray | None = ctx.__dict__.get(_CACHE_KEY)
    if cached is not None:
        return cached
    skin = ctx.skin
    contrast = ctx.detrended / (np.maximum(ctx.shading, 0.0) + np.float32(16.0))
    # The skin's median colour, from a systematic sample of at most about 100 000 pixels.
    sample = ctx.union.indices[:: max(1, ctx.union.indices.size // 100_000)]
    d = melanin_correction_weights(np.median(ctx.linear.reshape(-1, 3)[sample], axis=0))
    if np.any(d):
        od = optical_density(ctx.linear)
        chroma = blur(
            np.asarray(od @ d.astype(np.float32), dtype=np.float32), ctx.px(CORRECTION_SIGMA_MM)
        )
        weight = skin.astype(np.float32)
        sigma = ctx.px(SHADING_SIGMA_MM)
        first = masked_smooth(chroma, weight, sigma)
        weight *= np.abs(chroma - first) <= _OUTLIER_OD
        local = masked_smooth(chroma, weight, sigma)
        change = chroma - local
        # Colour noise is left alone: only a change beyond it is taken for melanin.
        change -= np.clip(change, -NOISE_OD, NOISE_OD)
        factor = np.exp(change / np.float32(-3.0))
        contrast = (contrast + np.float32(1.0)) * factor - np.float32(1.0)
    result = np.asarray(np.where(skin, contrast, 0.0), dtype=np.float32)
    ctx.__dict__[_CACHE_KEY] = result
    return result


def tone_normalised_relief(ctx: SkinContext) -> FloatArray:
    """Relief in L* units as it would read on skin of L* = :data:`REFERENCE_L`, 0 off skin.

    A shadow multiplies the luminance Y by a factor that does not depend on the skin's colour;
    since L* + 16 = 116 (Y/Yn)^(1/3), it moves L* in proportion to L* + 16, so the same pore or
    furrow reads about 0.6 times as deep on skin of L* 35 as on skin of L* 70. The relief is
    therefore ``(REFERENCE_L + 16) ×`` :func:`shadow_contrast`: ``L* − shading`` rescaled to
    mid-tone skin, with the melanin changes taken out.
    """
    return np.asarray(np.float32(REFERENCE_L + 16.0) * shadow_contrast(ctx), dtype=np.float32)
