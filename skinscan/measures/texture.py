"""Texture: band-pass roughness, co-occurrence statistics, and pore density and size.

All three work on the relief of :func:`skinscan.measures._relief.tone_normalised_relief`:
``L* − shading`` (:attr:`SkinContext.detrended`) expressed at a reference lightness, with the
darkening that the local colour change accounts for as melanin taken out, so that illumination
falloff, the skin's own lightness and its pigment spots and mottling do not count as texture; and
in millimetres, so they mean the same at any resolution. Definitions, sources and limits:
``docs/measures/texture.md``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import replace

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.measures._blobs import dark_blobs, gaussian_scale_space, halve, upsample
from skinscan.measures._common import (
    ConcernResult,
    FloatArray,
    Region,
    SkinContext,
    blur,
    prepare,
    robust_sd,
)
from skinscan.measures._glcm import glcm, glcm_features, quantise, row_step_for
from skinscan.measures._relief import tone_normalised_relief
from skinscan.measures.pigment import spot_mask
from skinscan.measures.wrinkles import wrinkle_mask

__all__ = [
    "FEATURE_MIN_L",
    "FEATURE_SCALE_MM",
    "GLCM_BIN_WIDTH_L",
    "GLCM_DISTANCE_MM",
    "GLCM_LEVELS",
    "METHOD",
    "PORE_MIN_RESPONSE",
    "PORE_RADII_MM",
    "PORE_SIGMAS_MM",
    "ROUGHNESS_BAND_MM",
    "ROUGHNESS_OUTLIER_SD",
    "TEXTURE_KEYS",
    "measure_texture",
    "texture_from_context",
]

METHOD = "classical-v1"
TEXTURE_KEYS = (
    "roughness",
    "pore_density_per_cm2",
    "pore_mean_size_mm",
    "glcm_contrast",
    "glcm_homogeneity",
    "glcm_entropy",
)
#: Difference-of-Gaussians band (σ fine, σ coarse) in mm: fine relief, below wrinkles and shading.
ROUGHNESS_BAND_MM = (0.2, 1.0)
#: Spots and wrinkles are left out of the roughness: skin whose relief, smoothed at
#: :data:`FEATURE_SCALE_MM` (which pores and fine relief do not survive), departs from 0 by more
#: than this many robust SDs of that map and by at least :data:`FEATURE_MIN_L`, and the skin
#: within two coarse σ (2 mm) of it, where its band-pass response still rings. (Shallow folds on
#: a real face, 3-4 SDs of that map, otherwise count as roughness.)
ROUGHNESS_OUTLIER_SD = 3.0
FEATURE_SCALE_MM = 0.4
FEATURE_MIN_L = 3.0
#: Pore radii found and sized (mm): the LoG scales σ = r / √2 step by √2 from 0.071 to 0.4 mm,
#: one level beyond each end of the range so that the scale of its ends can be refined. The
#: roughness's fine scale (0.2 mm) is one of them.
PORE_RADII_MM = (0.1, 0.5)
PORE_SIGMAS_MM = tuple(ROUGHNESS_BAND_MM[0] * math.sqrt(2.0) ** k for k in range(-3, 3))
#: Smallest scale-normalised LoG response (L* units, ≈ half the pore's depth) that is a pore.
PORE_MIN_RESPONSE = 1.5
#: Principal-curvature ratio above which a response is an edge or a line, not a blob (Lowe 2004).
PORE_EDGE_RATIO = 10.0
#: Grey levels of the co-occurrence matrix, and their fixed width in L* (pyradiomics' binWidth):
#: 32 levels of 0.5 L* span detrended L* −8 … +8; darker or lighter pixels join the end levels.
GLCM_LEVELS = 32
GLCM_BIN_WIDTH_L = 0.5
#: Displacement of the pixel pairs (mm), at the four angles 0°, 45°, 90°, 135°.
GLCM_DISTANCE_MM = 0.2
#: Pairs per angle sampled (by rows) in a large region: the normalised matrix then correlates
#: with the full one at r ≈ 0.9997 and the contrast is within ≈ 0.5 % (``benchmark_glcm``).
GLCM_PAIRS_PER_ANGLE = 1 << 16
#: Smallest Gaussian the grid can carry meaningfully (px).
_MIN_SIGMA_PX = 0.7


def measure_texture(
    linear_rgb: NDArray[np.floating],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None = None,
) -> ConcernResult:
    """Measure surface roughness, co-occurrence texture and pores over the skin and per region.

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
        ``concern="texture"``, ``method="classical-v1"``; ``measures`` (and each region) hold:

        - ``roughness``: RMS of the difference of Gaussians ``G(0.2 mm) − G(1.0 mm)`` of
          detrended L*, in L* units, over the relief: spots and wrinkles (see
          :data:`ROUGHNESS_OUTLIER_SD`), the pigment spots and the wrinkles that their own
          modules measure (:func:`~skinscan.measures.pigment.spot_mask`,
          :func:`~skinscan.measures.wrinkles.wrinkle_mask`) and the skin within 2 mm of them
          are left out.
        - ``pore_density_per_cm2``: dark blobs of radius 0.1–0.5 mm per cm² of skin, outside
          the pigment spots and the measured wrinkles.
        - ``pore_mean_size_mm``: their mean diameter ``2√2 σ`` (0 without pores).
        - ``glcm_contrast``, ``glcm_homogeneity``, ``glcm_entropy``: pyradiomics' Contrast
          (grey levels²), Inverse Difference ("Homogeneity 1") and Joint Entropy (bits) of the
          symmetric co-occurrence matrix of detrended L* in :data:`GLCM_LEVELS` levels of
          :data:`GLCM_BIN_WIDTH_L` L*, pairs :data:`GLCM_DISTANCE_MM` apart with both pixels in
          the region, averaged over 0°, 45°, 90° and 135°.

        ``map`` is the local RMS of the band-pass (Gaussian window σ 1 mm), L* units.

    Notes
    -----
    Pores are local maxima of the scale-normalised Laplacian of Gaussian ``σ² ∇²(G_σ * L*)`` over
    space and scale (Lindeberg 1998, "Feature detection with automatic scale selection", IJCV
    30:79), whose peak is about half the blob's depth; maxima on edges and lines are dropped
    (:func:`skinscan.measures._blobs.dark_blobs`). Scales below 0.7 px are clamped: on grids
    coarser than about 0.1 mm/px, pores of radius down to about one pixel are still found,
    smaller ones are not. The co-occurrence features follow pyradiomics' documentation, "Gray
    Level Co-occurrence Matrix (GLCM) Features".
    """
    return texture_from_context(prepare(linear_rgb, regions, mm_per_px=mm_per_px))


def texture_from_context(ctx: SkinContext) -> ConcernResult:
    """:func:`measure_texture` on a prepared :class:`SkinContext`."""
    start = time.perf_counter()
    detrended = tone_normalised_relief(ctx)
    h, w = detrended.shape
    fine_px, coarse_px = (max(ctx.px(mm), _MIN_SIGMA_PX) for mm in ROUGHNESS_BAND_MM)
    pore_sigmas = np.unique(np.maximum(np.asarray(PORE_SIGMAS_MM) / ctx.mm_per_px, _MIN_SIGMA_PX))
    # One scale space holds the pore scales, the roughness's fine scale (one of them) and its
    # coarse scale, so that every blur is an increment on the one before. (On a grid coarser
    # than 1.4 mm/px the clamp makes them all one level.)
    space = gaussian_scale_space(detrended, np.union1d(pore_sigmas, [coarse_px]))
    blobs = dark_blobs(
        space.first(pore_sigmas.size),
        min_response=PORE_MIN_RESPONSE,
        edge_ratio=PORE_EDGE_RATIO,
        within=ctx.union.mask & ~(spot_mask(ctx) | wrinkle_mask(ctx)).ravel(),
    )
    diameters = 2.0 * math.sqrt(2.0) * blobs.sigma_px * ctx.mm_per_px

    # The band-pass on the fine level's grid (the image's, unless the grid is fine enough to
    # hold 0.2 mm on a coarser one); the coarse level is brought up to it.
    fine = int(np.abs(pore_sigmas - fine_px).argmin())
    fine_level, fine_factor = space.levels[fine], space.factors[fine]
    coarse_level = upsample(space.levels[-1], space.factors[-1] // fine_factor, fine_level.shape)
    band_on_grid = np.asarray(cv2.subtract(fine_level, coarse_level), dtype=np.float32)
    band = np.ascontiguousarray(upsample(band_on_grid, fine_factor, (h, w)))
    squares = np.asarray(cv2.multiply(band, band), dtype=np.float32)
    feature = int(np.abs(pore_sigmas - max(ctx.px(FEATURE_SCALE_MM), _MIN_SIGMA_PX)).argmin())
    kept_u8 = _relief_only(
        ctx, space.levels[feature], space.factors[feature], 2.0 * coarse_px
    ).view(np.uint8)

    grey = quantise(detrended, bin_width=GLCM_BIN_WIDTH_L, levels=GLCM_LEVELS)
    distance = max(1, round(ctx.px(GLCM_DISTANCE_MM)))

    def reduce(region: Region) -> dict[str, float]:
        idx = region.indices
        inside = region.contains(blobs.indices)
        count = int(inside.sum())
        # The region's bounding box, then masked means over it (no per-pixel gathers).
        band_rows = slice(idx[0] // w, idx[-1] // w + 1)
        mask = region.mask.reshape(h, w)[band_rows]
        x, y, box_w, box_h = cv2.boundingRect(mask.view(np.uint8))
        box = (slice(band_rows.start + y, band_rows.start + y + box_h), slice(x, x + box_w))
        in_box = mask[y : y + box_h, x : x + box_w]
        in_box_u8 = in_box.view(np.uint8)
        relief = np.asarray(cv2.bitwise_and(kept_u8[box], in_box_u8), dtype=np.uint8)
        if cv2.countNonZero(relief):
            mean_square = cv2.mean(squares[box], mask=relief)[0]
        else:  # the region is all spot or wrinkle: its relief cannot be told apart
            mean_square = cv2.mean(squares[box], mask=in_box_u8)[0]
        matrices = glcm(
            grey[box],
            in_box,
            distance_px=distance,
            levels=GLCM_LEVELS,
            row_step=row_step_for(box_w * box_h, GLCM_PAIRS_PER_ANGLE),
        )
        features = glcm_features(matrices)
        return {
            "roughness": math.sqrt(mean_square),
            "pore_density_per_cm2": count / ctx.area_cm2(region),
            "pore_mean_size_mm": float(diameters[inside].mean()) if count else 0.0,
            "glcm_contrast": features.contrast,
            "glcm_homogeneity": features.inverse_difference,
            "glcm_entropy": features.joint_entropy,
        }

    # Local RMS over the coarse scale, computed on a coarser grid and brought back.
    map_factor = 1
    energy = squares
    while coarse_px / map_factor >= 4.0 and min(energy.shape) >= 16:
        energy, map_factor = halve(energy), 2 * map_factor
    energy = upsample(blur(energy, coarse_px / map_factor), map_factor, (h, w))
    work_map = np.sqrt(np.maximum(energy, 0.0)).astype(np.float32)
    return replace(ctx.result("texture", reduce, work_map, started=start), method=METHOD)


def _relief_only(
    ctx: SkinContext, smooth: FloatArray, factor: int, reach_px: float
) -> NDArray[np.bool_]:
    """The skin that is relief: away from spots and wrinkles, and from those measured (h, w).

    ``smooth`` is the relief at :data:`FEATURE_SCALE_MM` on a grid ``factor`` times coarser:
    pores and relief average out there, spots and wrinkles do not. Its robust SD comes from a
    systematic sample of the skin.
    """
    h, w = ctx.skin.shape
    measured_elsewhere = spot_mask(ctx) | wrinkle_mask(ctx)
    sample = ctx.union.indices[:: max(1, ctx.union.indices.size // 100_000)]
    rows, cols = np.divmod(sample, w)
    on_grid = smooth[
        np.minimum(rows // factor, smooth.shape[0] - 1),
        np.minimum(cols // factor, smooth.shape[1] - 1),
    ]
    limit = max(ROUGHNESS_OUTLIER_SD * robust_sd(on_grid), FEATURE_MIN_L)
    feature = (np.abs(smooth) > limit).view(np.uint8)
    if measured_elsewhere.any():
        # The pigment spots, wherever their darkening was corrected out of the relief (their
        # edges still ring in the band-pass), and the wrinkles the wrinkle detector measures,
        # where they are shallower than the relief threshold above.
        # Any share of a grid cell counts (an area mean in float, not rounded to 0/1).
        elsewhere_on_grid = cv2.resize(
            measured_elsewhere.astype(np.float32),
            (feature.shape[1], feature.shape[0]),
            interpolation=cv2.INTER_AREA,
        )
        feature = np.asarray(
            cv2.bitwise_or(feature, (elsewhere_on_grid > 0).view(np.uint8)), np.uint8
        )
    size = 2 * round(reach_px / factor) + 1
    near = cv2.dilate(feature, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    if factor > 1:
        grid_h, grid_w = near.shape
        near = cv2.resize(near, (grid_w * factor, grid_h * factor), interpolation=cv2.INTER_NEAREST)
        near = cv2.copyMakeBorder(
            near, 0, max(0, h - near.shape[0]), 0, max(0, w - near.shape[1]), cv2.BORDER_REPLICATE
        )[:h, :w]
    return np.asarray(ctx.skin & (near == 0))
