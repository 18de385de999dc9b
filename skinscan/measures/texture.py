"""Texture: band-pass roughness of the skin surface and pore density and size.

Both work on ``L* − shading`` (:attr:`SkinContext.detrended`), so illumination falloff and the
skin's own lightness level do not count as texture, and in millimetres, so they mean the same at
any resolution. (The L* contrast of a given relief still scales with the skin's lightness; see
``docs/scoring.md``.)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.measures._common import (
    ConcernResult,
    FloatArray,
    IndexArray,
    Region,
    SkinContext,
    blur,
    prepare,
    robust_sd,
)

__all__ = [
    "PORE_MIN_RESPONSE",
    "PORE_RADII_MM",
    "ROUGHNESS_BAND_MM",
    "TEXTURE_KEYS",
    "measure_texture",
    "texture_from_context",
]

TEXTURE_KEYS = ("roughness", "pore_density_per_cm2", "pore_mean_size_mm")
#: Difference-of-Gaussians band (σ fine, σ coarse) in mm: fine relief, below wrinkles and shading.
ROUGHNESS_BAND_MM = (0.2, 1.0)
#: Pore radii looked for (mm); each radius r is searched at the LoG scale σ = r / √2.
PORE_RADII_MM = (0.1, 0.5)
_PORE_SCALES = 5
#: Smallest scale-normalised LoG response (L* units, ≈ half the pore's depth) that is a pore.
PORE_MIN_RESPONSE = 1.5
#: Principal-curvature ratio above which a response is an edge or a line, not a blob (Lowe 2004).
PORE_EDGE_RATIO = 10.0
#: Smallest Gaussian the grid can carry meaningfully (px).
_MIN_SIGMA_PX = 0.7
Floats = NDArray[np.floating]


def measure_texture(
    linear_rgb: NDArray[np.floating],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None = None,
) -> ConcernResult:
    """Measure surface roughness and pores over the skin and per region.

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
        ``concern="texture"``; ``measures`` (and each region) hold:

        - ``roughness``: robust SD (1.4826 × median absolute deviation) of the difference of
          Gaussians ``G(0.2 mm) − G(1.0 mm)`` of L*, in L* units.
        - ``pore_density_per_cm2``: dark blobs of radius 0.1–0.5 mm per cm² of skin.
        - ``pore_mean_size_mm``: their mean diameter (0 without pores).

        ``map`` is the local RMS of the band-pass (Gaussian window σ 1 mm), L* units.

    Notes
    -----
    The median-based SD keeps sparse features (spots, single wrinkles) from dominating the
    roughness, which is about the skin between them. Pores are local maxima of the
    scale-normalised Laplacian of Gaussian ``σ² ∇²(G_σ * L*)`` over space and scale (Lindeberg
    1998, "Feature detection with automatic scale selection", IJCV 30:79), whose peak value is
    about half the blob's depth; maxima whose Hessian ratio ``tr² / det`` exceeds
    ``(r + 1)² / r`` with r = :data:`PORE_EDGE_RATIO` sit on edges or lines and are dropped (Lowe
    2004, IJCV 60:91), and so are maxima whose gradient ``σ |∇|`` exceeds half their response
    (the dark side of a spot's edge). The radius is ``√2 σ`` at the best scale, refined by a
    parabola in log σ. Scales below 0.7 px are clamped: on grids coarser than about 0.1 mm/px,
    pores of radius down to about one pixel are still found, smaller ones are not.
    """
    return texture_from_context(prepare(linear_rgb, regions, mm_per_px=mm_per_px))


def _pores(
    ctx: SkinContext, detrended: NDArray[np.float32]
) -> tuple[IndexArray, NDArray[np.float64]]:
    """Flat indices of pore centres and their diameters in mm."""
    radii = np.geomspace(*PORE_RADII_MM, _PORE_SCALES)
    sigmas = np.unique(np.maximum(radii / math.sqrt(2.0) / ctx.mm_per_px, _MIN_SIGMA_PX))
    smoothed = np.empty((sigmas.size, *detrended.shape), dtype=np.float32)
    peak = np.full(detrended.shape, -np.inf, dtype=np.float32)
    for k, sigma in enumerate(sigmas):
        smoothed[k] = blur(detrended, float(sigma))
        # Dark blob → positive Laplacian; σ² makes the responses comparable across scales.
        np.maximum(peak, sigma * sigma * cv2.Laplacian(smoothed[k], cv2.CV_32F, ksize=1), out=peak)
    local_max = peak >= cv2.dilate(peak, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(local_max & (peak >= PORE_MIN_RESPONSE) & ctx.skin)
    h, w = detrended.shape
    inner = (ys > 0) & (ys < h - 1) & (xs > 0) & (xs < w - 1)
    ys, xs = ys[inner], xs[inner]
    # Responses of every scale, at the candidates only: the best scale and its neighbours.
    levels = np.arange(sigmas.size)[:, None]
    responses = (sigmas**2)[:, None] * _laplacian_at(smoothed, levels, ys[None], xs[None])
    k = responses.argmax(axis=0)
    dxx, dyy, dxy, grad = _derivatives(smoothed, k, ys, xs)
    det = dxx * dyy - dxy * dxy
    ratio = (PORE_EDGE_RATIO + 1.0) ** 2 / PORE_EDGE_RATIO
    sigma_k = sigmas[k]
    blob = (det > 0) & ((dxx + dyy) ** 2 < ratio * det)
    # A blob centre is flat (no gradient); the dark side of an edge is not.
    blob &= sigma_k * grad < 0.5 * sigma_k**2 * (dxx + dyy)
    ys, xs, k, responses = ys[blob], xs[blob], k[blob], responses[:, blob]
    # Parabolic refinement of the scale in log σ between neighbouring levels.
    log_sigma = np.log(sigmas)
    refined = log_sigma[k].astype(np.float64)
    mid = np.flatnonzero((k > 0) & (k < sigmas.size - 1))
    if mid.size:
        km = k[mid]
        r0, r1, r2 = (responses[km + d, mid] for d in (-1, 0, 1))
        curvature = r0 - 2 * r1 + r2
        safe = np.where(curvature < 0, curvature, -1.0)
        step = np.where(curvature < 0, 0.5 * (r0 - r2) / safe, 0.0)
        spacing = (log_sigma[km + 1] - log_sigma[km - 1]) / 2
        refined[mid] += np.clip(step, -0.5, 0.5) * spacing
    diameters = 2.0 * math.sqrt(2.0) * np.exp(refined) * ctx.mm_per_px
    return ys * w + xs, diameters


def _laplacian_at(g: FloatArray, k: IndexArray, y: IndexArray, x: IndexArray) -> Floats:
    """5-point Laplacian of ``g[k]`` at the points (y, x) (broadcast), away from the border."""
    return np.asarray(
        g[k, y - 1, x] + g[k, y + 1, x] + g[k, y, x - 1] + g[k, y, x + 1] - 4 * g[k, y, x]
    )


def _derivatives(
    g: FloatArray, k: IndexArray, y: IndexArray, x: IndexArray
) -> tuple[Floats, Floats, Floats, Floats]:
    """Central-difference Hessian (xx, yy, xy) and gradient magnitude of ``g[k]`` at points."""
    centre = g[k, y, x]
    dxx = g[k, y, x + 1] - 2 * centre + g[k, y, x - 1]
    dyy = g[k, y + 1, x] - 2 * centre + g[k, y - 1, x]
    dxy = (g[k, y + 1, x + 1] - g[k, y + 1, x - 1] - g[k, y - 1, x + 1] + g[k, y - 1, x - 1]) / 4
    grad = np.hypot(g[k, y, x + 1] - g[k, y, x - 1], g[k, y + 1, x] - g[k, y - 1, x]) / 2
    return dxx, dyy, dxy, grad


def texture_from_context(ctx: SkinContext) -> ConcernResult:
    """:func:`measure_texture` on a prepared :class:`SkinContext`."""
    start = time.perf_counter()
    detrended = ctx.detrended
    fine, coarse = (max(ctx.px(mm), _MIN_SIGMA_PX) for mm in ROUGHNESS_BAND_MM)
    band = blur(detrended, fine) - blur(detrended, coarse)
    flat_band = band.ravel()
    centres, diameters = _pores(ctx, detrended)

    def reduce(region: Region) -> dict[str, float]:
        idx = region.indices
        inside = region.contains(centres)
        count = int(inside.sum())
        return {
            "roughness": robust_sd(flat_band[idx]),
            "pore_density_per_cm2": count / ctx.area_cm2(region),
            "pore_mean_size_mm": float(diameters[inside].mean()) if count else 0.0,
        }

    work_map = np.sqrt(blur(band * band, coarse)).astype(np.float32)
    return ctx.result("texture", reduce, work_map, started=start)
