"""Shared machinery of the measures: input checks, the working grid, per-region reductions.

Every measure works on a :class:`SkinContext`: the photo cropped to the bounding box of its skin
regions, resampled so that one pixel is no finer than :data:`WORKING_MM_PER_PX`, converted to
CIELAB once, with each region as flat indices and a flat mask (:class:`Region`). A per-region
measure is then a function of a :class:`Region` (:meth:`SkinContext.table`), so that the whole
face and each region are reduced by the same code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_srgb_to_lab

__all__ = [
    "DEFAULT_MM_PER_PX",
    "METHOD",
    "SHADING_SIGMA_MM",
    "WORKING_MM_PER_PX",
    "ConcernResult",
    "Region",
    "SkinContext",
    "blur",
    "components_in",
    "grow",
    "masked_smooth",
    "prepare",
    "quantile",
    "robust_sd",
    "shrink",
]

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]
IndexArray = NDArray[np.intp]


class Region(NamedTuple):
    """One region on the working grid: its pixels as sorted flat indices and as a flat mask."""

    indices: IndexArray
    mask: BoolArray

    def contains(self, points: IndexArray) -> BoolArray:
        """Which of the flat indices ``points`` lie in the region."""
        return np.asarray(self.mask[points])


Reducer = Callable[[Region], dict[str, float]]

#: Scale assumed when the photo carries none: about right for a face filling a 1600 px frame.
DEFAULT_MM_PER_PX = 0.1
#: Finest grid the filters need (their smallest scale is 0.2 mm); finer photos are resampled to it.
WORKING_MM_PER_PX = 0.1
#: Standard deviation of the Gaussian that models illumination shading and constitutive colour.
SHADING_SIGMA_MM = 5.0
#: Pixels further than this from the shading (L* units) are left out of its second pass.
SHADING_OUTLIER_L = 3.0
METHOD = "classical-v1"


@dataclass(frozen=True)
class ConcernResult:
    """What one measure returns.

    Attributes
    ----------
    concern : {"redness", "pigment", "texture", "wrinkles"}
    measures : dict of str to float
        Measures over the union of all regions, in the units their names and docstrings give.
    regions : dict of str to dict of str to float
        The same keys for each region that has at least one pixel (empty masks are left out).
    map : ndarray of shape (H, W), float32
        Map of the concern at the input resolution, for overlays; 0 outside the regions.
    method : str
        Which implementation produced it.
    mm_per_px : float
        The input scale used; :data:`DEFAULT_MM_PER_PX` when the photo had none.
    scale_assumed : bool
        True when ``mm_per_px`` is the default rather than measured: every length, area and
        density is then only as right as that assumption.
    elapsed_ms : float
        Time spent in this concern's own filters (the shared preparation is not included).
    masks : dict of str to ndarray of shape (H, W), bool
        The concern's binary detections at the input resolution, where it makes them:
        ``"spots"`` (pigment) and ``"wrinkles"`` (wrinkles). They are the weak labels of
        unlabelled photos and what a learned segmentation is compared with.
    """

    concern: str
    measures: dict[str, float]
    regions: dict[str, dict[str, float]]
    map: FloatArray = field(repr=False, compare=False)
    method: str = METHOD
    mm_per_px: float = DEFAULT_MM_PER_PX
    scale_assumed: bool = False
    elapsed_ms: float = 0.0
    masks: dict[str, NDArray[np.bool_]] = field(default_factory=dict, repr=False, compare=False)


def shrink(image: FloatArray, factor: int, *, border: int = cv2.BORDER_REFLECT) -> FloatArray:
    """Block means over ``factor × factor`` tiles (the image padded to a multiple of ``factor``)."""
    if factor <= 1:
        return image
    h, w = image.shape[:2]
    pad_h, pad_w = -h % factor, -w % factor
    if pad_h or pad_w:
        image = np.asarray(cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, border, value=0))
    size = ((w + pad_w) // factor, (h + pad_h) // factor)
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.float32)


def grow(coarse: FloatArray, factor: int, shape: tuple[int, int]) -> FloatArray:
    """Inverse of :func:`shrink`: bilinear interpolation back to ``shape`` (h, w)."""
    if factor <= 1:
        return coarse
    size = (coarse.shape[1] * factor, coarse.shape[0] * factor)
    fine = cv2.resize(coarse, size, interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(fine[: shape[0], : shape[1]], dtype=np.float32)


def blur(image: FloatArray, sigma_px: float) -> FloatArray:
    """Gaussian blur (σ in px) with reflected borders; σ below 0.3 px returns the input.

    Wide Gaussians run on a grid about σ / 3 times coarser and are interpolated back: a Gaussian
    that wide carries nothing the coarse grid cannot hold, and the cost falls with the square of
    the factor.
    """
    if sigma_px < 0.3:
        return image
    factor = max(1, int(sigma_px / 3.0))
    coarse = shrink(image, factor)
    smooth = cv2.GaussianBlur(
        coarse, (0, 0), sigmaX=sigma_px / factor, borderType=cv2.BORDER_REFLECT
    )
    return grow(np.asarray(smooth, dtype=np.float32), factor, image.shape[:2])


def masked_smooth(values: FloatArray, weight: FloatArray, sigma_px: float) -> FloatArray:
    """Normalised convolution ``G*(w·v) / G*w``: a Gaussian mean that ignores pixels of weight 0.

    Where no weight lies within reach, the weighted mean of the whole image is returned.

    Notes
    -----
    Knutsson & Westin (1993), "Normalized and differential convolution", CVPR.
    """
    factor = max(1, int(sigma_px / 3.0))
    num = shrink(values * weight, factor, border=cv2.BORDER_CONSTANT)
    den = shrink(weight.astype(np.float32), factor, border=cv2.BORDER_CONSTANT)
    num, den = blur(num, sigma_px / factor), blur(den, sigma_px / factor)
    total = float(den.sum())
    fallback = float(num.sum()) / total if total > 0 else 0.0
    ratio = np.where(den > 1e-3, num / np.maximum(den, 1e-3), fallback).astype(np.float32)
    return grow(ratio, factor, values.shape)


def quantile(values: NDArray[np.floating], q: float, *, resolution: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` to within ``resolution``, by histogram.

    Counting values into bins of width ``resolution`` is several times faster than the partial
    sort of :func:`numpy.quantile`, and measures are not meaningful below about 0.01 of their unit.
    Returns the centre of the bin where the cumulative count first reaches ``q`` of the total.
    """
    if values.size == 0:
        return math.nan
    low = float(values.min())
    bins = ((values - low) * (1.0 / resolution)).astype(np.int32)
    cumulative = np.cumsum(np.bincount(bins))
    k = int(np.searchsorted(cumulative, q * values.size))
    return low + (min(k, cumulative.size - 1) + 0.5) * resolution


def robust_sd(values: NDArray[np.floating], *, resolution: float = 1e-3) -> float:
    """1.4826 × median absolute deviation: the SD of the bulk, unmoved by sparse outliers."""
    centre = quantile(values, 0.5, resolution=resolution)
    return 1.4826 * quantile(np.abs(values - centre), 0.5, resolution=resolution)


def components_in(
    which: NDArray[np.integer], sizes: NDArray[np.intp], inside: BoolArray
) -> BoolArray:
    """Which labelled components belong to a region: those with more than half their pixels in it.

    Parameters
    ----------
    which : ndarray of int
        Label (1..n) of each labelled pixel.
    sizes : ndarray of shape (n + 1,)
        Pixel count of each label (``np.bincount(which, minlength=n + 1)``).
    inside : ndarray of bool, same shape as ``which``
        Whether each labelled pixel lies in the region (:meth:`Region.contains`).

    Returns
    -------
    ndarray of shape (n + 1,), bool
        Element 0 (the background) is always False.
    """
    counts = np.bincount(which[inside], minlength=sizes.size)
    member = 2 * counts > sizes
    member[0] = False
    return np.asarray(member)


class SkinContext:
    """The photo on the working grid, in CIELAB, with its regions as flat index arrays.

    Build it with :func:`prepare`; the measures read its attributes and never change them.

    Attributes
    ----------
    linear : ndarray of shape (h, w, 3), float32
        Linear sRGB on the working grid, cropped to the regions' bounding box.
    lab : ndarray of shape (h, w, 3), float32
        CIELAB (D65) of ``linear``.
    skin : ndarray of shape (h, w), bool
        Union of the regions on the working grid.
    regions : dict of str to Region
        Each non-empty region's pixels, as flat indices into ``(h, w)`` and as a flat mask.
    union : Region
        The pixels of ``skin``.
    mm_per_px : float
        Scale of the working grid.
    input_mm_per_px : float
        Scale of the input photo (the default when ``scale_assumed``).
    """

    def __init__(
        self,
        linear_rgb: NDArray[np.floating],
        regions: Mapping[str, NDArray[np.bool_]],
        mm_per_px: float | None,
    ) -> None:
        rgb = np.asarray(linear_rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"linear_rgb must have shape (H, W, 3), not {rgb.shape}")
        if not np.issubdtype(rgb.dtype, np.floating):
            raise ValueError(
                f"linear_rgb must be float linear RGB in [0, 1], not {rgb.dtype} "
                "(skinscan.colour_space.to_linear_float converts encoded pixels)"
            )
        if not regions:
            raise ValueError("regions is empty: at least one skin mask is needed")
        if mm_per_px is not None and not (math.isfinite(mm_per_px) and mm_per_px > 0):
            raise ValueError(f"mm_per_px must be a positive number or None, not {mm_per_px!r}")
        self.full_shape: tuple[int, int] = (rgb.shape[0], rgb.shape[1])
        masks: dict[str, BoolArray] = {}
        for name, mask in regions.items():
            m = np.asarray(mask)
            if m.shape != self.full_shape:
                raise ValueError(f"region {name!r} has shape {m.shape}, image is {self.full_shape}")
            masks[name] = m.astype(bool, copy=False)
        union = np.logical_or.reduce(list(masks.values()))
        rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
        if rows.size == 0:
            raise ValueError("every region mask is empty: there is no skin to measure")
        self.crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        self.scale_assumed = mm_per_px is None
        self.input_mm_per_px = DEFAULT_MM_PER_PX if mm_per_px is None else float(mm_per_px)
        # Resample only photos clearly finer than the working grid; a 20 % margin avoids
        # resampling (and blurring) photos that are already about right.
        self.zoom = min(1.0, self.input_mm_per_px / WORKING_MM_PER_PX)
        if self.zoom > 0.8:
            self.zoom = 1.0
        self.skin_full: BoolArray = union[self.crop]
        linear = np.asarray(rgb[self.crop], dtype=np.float32)
        if not np.isfinite(linear).all():
            raise ValueError("linear_rgb holds NaN or infinite values inside the regions")
        ch, cw = self.skin_full.shape
        self.work_size = (max(1, round(cw * self.zoom)), max(1, round(ch * self.zoom)))
        self.linear: FloatArray = np.ascontiguousarray(self._down(linear))
        self.mm_per_px = self.input_mm_per_px * cw / self.work_size[0]
        self.lab: FloatArray = linear_srgb_to_lab(self.linear)
        self.regions: dict[str, Region] = {}
        for name, mask in masks.items():
            work = (self._down(mask[self.crop].astype(np.float32)) > 0.5).ravel()
            idx = np.flatnonzero(work)
            if idx.size:
                self.regions[name] = Region(idx, work)
        self.skin: BoolArray = self._down(self.skin_full.astype(np.float32)) > 0.5
        self.union = Region(np.flatnonzero(self.skin), self.skin.ravel())
        if self.union.indices.size == 0:
            raise ValueError("the regions are too small to measure at this scale")

    def _down(self, image: FloatArray) -> FloatArray:
        if self.zoom == 1.0:
            return image
        return np.asarray(cv2.resize(image, self.work_size, interpolation=cv2.INTER_AREA))

    def px(self, mm: float) -> float:
        """Millimetres → pixels of the working grid."""
        return mm / self.mm_per_px

    def area_cm2(self, region: Region) -> float:
        """Area of a region in cm²."""
        return region.indices.size * self.mm_per_px**2 / 100.0

    @cached_property
    def shading(self) -> FloatArray:
        """Low-frequency L* of the skin (Gaussian σ = :data:`SHADING_SIGMA_MM`), float32 (h, w).

        Illumination shading plus constitutive colour: what a spot, a pore or a wrinkle is darker
        than. Two passes of :func:`masked_smooth`; the second leaves out pixels more than
        :data:`SHADING_OUTLIER_L` from the first, so that spots and wrinkles do not pull it down.
        """
        lightness = self.lab[..., 0]
        weight = self.skin.astype(np.float32)
        sigma = self.px(SHADING_SIGMA_MM)
        first = masked_smooth(lightness, weight, sigma)
        weight *= np.abs(lightness - first) <= SHADING_OUTLIER_L
        return masked_smooth(lightness, weight, sigma)

    @cached_property
    def detrended(self) -> FloatArray:
        """``L* − shading`` on skin and 0 elsewhere, float32 (h, w).

        Filling the background with 0 (the local skin level) keeps region borders, eyes and hair
        from looking like dark lines to the filters.
        """
        return np.where(self.skin, self.lab[..., 0] - self.shading, 0.0).astype(np.float32)

    def table(self, reduce: Reducer) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """Apply ``reduce`` to the union of the regions and to each region."""
        whole = reduce(self.union)
        return whole, {name: reduce(region) for name, region in self.regions.items()}

    def full_map(self, work_map: FloatArray, *, nearest: bool = False) -> FloatArray:
        """A working-grid map → float32 (H, W) at the input resolution, 0 outside the regions."""
        crop_h, crop_w = self.skin_full.shape
        if work_map.shape != (crop_h, crop_w):
            interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
            work_map = np.asarray(cv2.resize(work_map, (crop_w, crop_h), interpolation=interp))
        out = np.zeros(self.full_shape, dtype=np.float32)
        out[self.crop] = np.where(self.skin_full, work_map, 0.0)
        return out

    def result(
        self,
        concern: str,
        reduce: Reducer,
        work_map: FloatArray,
        *,
        started: float,
        nearest: bool = False,
        masks: Mapping[str, NDArray[np.bool_]] | None = None,
    ) -> ConcernResult:
        """Reduce per region and package a :class:`ConcernResult`.

        ``started`` is the :func:`time.perf_counter` reading when the concern's work began;
        ``masks`` are working-grid detections, returned at the input resolution.
        """
        whole, per_region = self.table(reduce)
        full = self.full_map(work_map, nearest=nearest)
        full_masks = {
            name: self.full_map(mask.astype(np.float32), nearest=True) > 0.5
            for name, mask in (masks or {}).items()
        }
        return ConcernResult(
            concern=concern,
            measures=whole,
            regions=per_region,
            map=full,
            mm_per_px=self.input_mm_per_px,
            scale_assumed=self.scale_assumed,
            elapsed_ms=round((time.perf_counter() - started) * 1000.0, 2),
            masks=full_masks,
        )


def prepare(
    linear_rgb: NDArray[np.floating],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None = None,
) -> SkinContext:
    """Check the inputs and build the :class:`SkinContext` the measures share.

    Parameters
    ----------
    linear_rgb : ndarray of shape (H, W, 3), float
        Colour-calibrated linear sRGB in [0, 1].
    regions : mapping of str to ndarray of shape (H, W), bool
        Skin masks; at least one must be non-empty.
    mm_per_px : float, optional
        Input scale; None uses :data:`DEFAULT_MM_PER_PX` and marks the results ``scale_assumed``.

    Raises
    ------
    ValueError
        Wrong shapes, no skin, or a scale that is not a positive number.
    """
    return SkinContext(linear_rgb, regions, mm_per_px)


# Appended below the shared machinery; _separation imports nothing from this module.
from skinscan.measures._separation import Separation, separate  # noqa: E402


def skin_separation(ctx: SkinContext) -> Separation:
    """Melanin, hemoglobin and shading maps of the context's working grid, computed once.

    :func:`skinscan.measures._separation.separate` on ``ctx.linear`` with the ICA fitted on
    ``ctx.skin``; cached on the context so that redness and pigment share one computation.
    """
    cached: Separation | None = ctx.__dict__.get("_skin_separation")
    if cached is None:
        cached = separate(ctx.linear, ctx.skin)
        ctx.__dict__["_skin_separation"] = cached
    return cached
