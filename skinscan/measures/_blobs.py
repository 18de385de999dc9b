"""Dark blobs by scale-normalised Laplacian of Gaussian: centres and scales, vectorised.

A Gaussian scale space is built incrementally (each level blurs the previous one by the missing
variance, so no level pays for the full width of its kernel) on a pyramid (a wide level lives on a
coarser grid); the scale-normalised Laplacian ``σ² ∇²(G_σ * f)`` of each level is maximised over
scale, and blobs are the spatial local maxima of that maximum which pass a response threshold and
two shape tests. Only the candidates, a small share of the pixels, are ever indexed one by one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from skinscan.measures._common import BoolArray, FloatArray, IndexArray, blur

__all__ = ["Blobs", "ScaleSpace", "dark_blobs", "gaussian_scale_space", "halve", "upsample"]

Floats = NDArray[np.floating]
#: Offsets (row, col) of the 8 neighbours of a pixel.
#: Variance (px²) that sampling and the discrete Laplacian add to a blob's apparent scale.
_DISCRETISATION_VARIANCE = 1.0 / 12.0 + 1.0 / 6.0
_NEIGHBOURS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


class Blobs(NamedTuple):
    """Blob centres as flat indices, their scale σ (px, refined between levels), their response."""

    indices: IndexArray
    sigma_px: NDArray[np.float64]
    response: NDArray[np.float64]


class ScaleSpace(NamedTuple):
    """Gaussian scale space on a pyramid: level k is ``G_σk * image`` on a grid ``factors[k]``
    times coarser than the image's (pixel i of that grid covers image pixels ``[f·i, f·i + f)``).
    """

    sigmas_px: NDArray[np.float64]
    factors: tuple[int, ...]
    levels: list[FloatArray]
    shape: tuple[int, int]

    def first(self, n: int) -> ScaleSpace:
        """The scale space of the ``n`` finest levels."""
        return ScaleSpace(self.sigmas_px[:n], self.factors[:n], self.levels[:n], self.shape)

    def on_image_grid(self, k: int) -> FloatArray:
        """Level k interpolated (bilinearly) back to the image's grid."""
        return upsample(self.levels[k], self.factors[k], self.shape)


def halve(image: FloatArray) -> FloatArray:
    """2 × 2 block means (a trailing odd row or column is dropped)."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    # Bilinear resizing by exactly 1/2 samples between the four pixels of each block: their mean.
    return np.asarray(cv2.resize(image[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_LINEAR))


def upsample(image: FloatArray, factor: int, shape: tuple[int, int]) -> FloatArray:
    """A grid ``factor`` times coarser (:class:`ScaleSpace`) back to ``shape``, bilinearly."""
    if factor == 1:
        return image
    h, w = image.shape
    # One replicated row and column cover the image rows and columns the halving dropped.
    padded = cv2.copyMakeBorder(image, 0, 1, 0, 1, cv2.BORDER_REPLICATE)
    fine = cv2.resize(padded, ((w + 1) * factor, (h + 1) * factor), interpolation=cv2.INTER_LINEAR)
    return np.asarray(fine, dtype=np.float32)[: shape[0], : shape[1]]


def gaussian_scale_space(
    image: FloatArray, sigmas_px: NDArray[np.floating], *, octave_sigma: float = 1.4
) -> ScaleSpace:
    """``G_σ * image`` for increasing ``sigmas_px``, each on the coarsest grid that holds it.

    Level k is level k − 1 blurred by the missing variance (the same Gaussian as blurring the
    image by σ_k, at the cost of the increment's narrower kernel). A level moves to a grid twice
    coarser, by 2 × 2 block means (variance f²/4 in image px² on a grid of step f), once its σ is
    at least ``octave_sigma`` pixels of that grid: a Gaussian that wide carries nothing the coarse
    grid cannot hold, and each halving quarters the cost of what follows.
    """
    sigmas = np.asarray(sigmas_px, dtype=np.float64)
    if sigmas.ndim != 1 or sigmas.size == 0 or np.any(np.diff(sigmas) <= 0) or sigmas[0] <= 0:
        raise ValueError("sigmas_px must be a non-empty, strictly increasing, positive sequence")
    current, variance, factor = image, 0.0, 1
    levels: list[FloatArray] = []
    factors: list[int] = []
    for sigma in sigmas:
        while (
            sigma >= 2 * factor * octave_sigma
            and variance + factor * factor / 4 <= sigma * sigma
            and min(current.shape) >= 8
        ):
            current, variance, factor = halve(current), variance + factor * factor / 4, factor * 2
        current = blur(current, math.sqrt(sigma * sigma - variance) / factor)
        variance = float(sigma * sigma)
        levels.append(current)
        factors.append(factor)
    return ScaleSpace(sigmas, tuple(factors), levels, (image.shape[0], image.shape[1]))


def _on_grid(coordinate: IndexArray, factor: int, size: int) -> IndexArray:
    """Nearest pixel of a grid ``factor`` times coarser, kept one pixel inside its border."""
    nearest = np.floor((coordinate + 0.5) / factor).astype(np.intp)
    return np.clip(nearest, 1, size - 2)


def dark_blobs(
    space: ScaleSpace,
    *,
    min_response: float,
    edge_ratio: float = 10.0,
    within: BoolArray | None = None,
) -> Blobs:
    """Dark blobs in a Gaussian scale space (:func:`gaussian_scale_space`).

    Parameters
    ----------
    space : ScaleSpace
        The image blurred at increasing scales.
    min_response : float
        Smallest scale-normalised Laplacian ``σ² ∇²(G_σ * f)`` that counts, in the image's units.
        For a dark disc of depth D and radius ``√2 σ`` it peaks at about D / 2.
    edge_ratio : float
        Largest principal-curvature ratio r of a blob: maxima with ``tr²/det ≥ (r + 1)² / r`` of
        the Hessian lie on edges or lines (Lowe 2004, IJCV 60:91).
    within : ndarray of shape (h · w,), bool, optional
        Flat mask of where centres may lie.

    Returns
    -------
    Blobs
        Sorted by flat index. ``sigma_px`` is the scale of the strongest response, refined by a
        parabola in log σ between neighbouring levels and less the variance the pixel grid adds
        (1/12 + 1/6 px²); the blob's radius is ``√2 σ``. Of blobs whose centres lie inside one
        another's radius only the strongest is kept.

    Notes
    -----
    Lindeberg (1998), "Feature detection with automatic scale selection", IJCV 30:79: the
    scale-normalised Laplacian peaks over scale where σ matches the blob's size. It is the same
    number on every grid (``σ² ∇²`` in the grid's own pixels), so levels on coarser grids compare
    directly. A maximum whose gradient ``σ|∇|`` exceeds half its response sits on the dark side
    of an edge, not on a blob centre, and is dropped too.
    """
    sigmas = space.sigmas_px
    h, w = space.shape
    n = sigmas.size
    grid_sigmas = sigmas / np.asarray(space.factors)
    # Per grid, the largest response over its levels; then all grids on the image's grid.
    peaks: dict[int, FloatArray] = {}
    responses_on_grid: list[FloatArray] = []
    for k, (level, factor) in enumerate(zip(space.levels, space.factors, strict=True)):
        # A dark blob has a positive Laplacian; σ² makes the levels comparable (Lindeberg 1998).
        scale = float(grid_sigmas[k] ** 2)
        response = np.asarray(cv2.Laplacian(level, cv2.CV_32F, ksize=1, scale=scale), np.float32)
        responses_on_grid.append(response)
        if factor in peaks:
            response = np.asarray(cv2.max(peaks[factor], response), np.float32)
        peaks[factor] = response
    peak: FloatArray | None = None
    for factor, grid_peak in peaks.items():
        on_image = upsample(grid_peak, factor, (h, w))
        peak = on_image if peak is None else np.asarray(cv2.max(peak, on_image), np.float32)
    assert peak is not None  # at least one level
    peak = np.ascontiguousarray(peak)
    flat_peak = peak.ravel()
    candidates = np.flatnonzero(flat_peak >= min_response)
    ys, xs = np.divmod(candidates, w)
    inner = (ys > 0) & (ys < h - 1) & (xs > 0) & (xs < w - 1)
    if within is not None:
        inner &= within[candidates]
    candidates, ys, xs = candidates[inner], ys[inner], xs[inner]
    values = flat_peak[candidates]
    maximal = np.ones(candidates.size, dtype=bool)
    for dy, dx in _NEIGHBOURS:
        maximal &= values >= flat_peak[candidates + dy * w + dx]
    ys, xs = ys[maximal], xs[maximal]
    # Responses of every level at the candidates only (interpolated on the coarser grids): the
    # best level, and its neighbours for the refinement.
    responses = np.stack(
        [
            _bilinear(response, ys, xs, factor)
            for response, factor in zip(responses_on_grid, space.factors, strict=True)
        ]
    ).reshape(n, ys.size)
    at = [
        (_on_grid(ys, f, level.shape[0]), _on_grid(xs, f, level.shape[1]))
        for level, f in zip(space.levels, space.factors, strict=True)
    ]
    best = responses.argmax(axis=0)
    blob = np.zeros(ys.size, dtype=bool)
    for k in range(n):
        which = np.flatnonzero(best == k)
        if which.size == 0:
            continue
        yk, xk = at[k][0][which], at[k][1][which]
        dxx, dyy, dxy, grad = _derivatives(space.levels[k], yk, xk)
        trace, det = dxx + dyy, dxx * dyy - dxy * dxy
        shaped = (det > 0) & (trace * trace < (edge_ratio + 1.0) ** 2 / edge_ratio * det)
        blob[which] = shaped & (grid_sigmas[k] * grad < 0.5 * grid_sigmas[k] ** 2 * trace)
    ys, xs, best, responses = ys[blob], xs[blob], best[blob], responses[:, blob]
    log_sigma = np.log(sigmas)
    refined = log_sigma[best]
    mid = np.flatnonzero((best > 0) & (best < n - 1))
    if mid.size:
        km = best[mid]
        r0, r1, r2 = (responses[km + d, mid] for d in (-1, 0, 1))
        curvature = r0 - 2 * r1 + r2
        safe = np.where(curvature < 0, curvature, -1.0)
        step = np.where(curvature < 0, 0.5 * (r0 - r2) / safe, 0.0)
        spacing = (log_sigma[km + 1] - log_sigma[km - 1]) / 2
        refined[mid] += np.clip(step, -0.5, 0.5) * spacing
    strongest = np.asarray(responses[best, np.arange(best.size)], dtype=np.float64)
    # The pixel's own area (variance 1/12 px²) and the 5-point Laplacian (which acts as a further
    # Gaussian of variance about 1/6 px²) widen every blob a little; only small ones notice.
    sigma = np.sqrt(np.maximum(np.exp(2.0 * refined) - _DISCRETISATION_VARIANCE, 0.25))
    keep = _strongest_of_overlaps(ys, xs, sigma, strongest)
    return Blobs(ys[keep] * w + xs[keep], sigma[keep], strongest[keep])


def _strongest_of_overlaps(
    ys: IndexArray, xs: IndexArray, sigma: NDArray[np.float64], response: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Which blobs to keep: of two whose centres lie within the larger one's radius ``√2 σ``,
    the weaker goes.

    The maximum over scale taken on grids of different steps can put two maxima a pixel or two
    apart on one blob; this keeps one, as the 3 × 3 × 3 maxima of a single-grid scale space would.
    """
    keep = np.ones(ys.size, dtype=bool)
    if ys.size < 2:
        return keep
    radius = math.sqrt(2.0) * sigma
    pairs = cKDTree(np.column_stack([ys, xs])).query_pairs(
        float(radius.max()), output_type="ndarray"
    )
    if pairs.size == 0:
        return keep
    i, j = pairs[:, 0], pairs[:, 1]
    overlap = np.hypot(ys[i] - ys[j], xs[i] - xs[j]) < np.maximum(radius[i], radius[j])
    i, j = i[overlap], j[overlap]
    keep[np.where(response[i] < response[j], i, j)] = False
    return keep


def _bilinear(image: FloatArray, y: IndexArray, x: IndexArray, factor: int) -> Floats:
    """``image`` (on a grid ``factor`` times coarser) at image-grid pixels (y, x), bilinearly."""
    if factor == 1:
        return np.asarray(image[y, x], dtype=np.float64)
    h, w = image.shape
    fy = np.clip((y + 0.5) / factor - 0.5, 0.0, h - 1.0)
    fx = np.clip((x + 0.5) / factor - 0.5, 0.0, w - 1.0)
    y0 = np.minimum(fy.astype(np.intp), h - 2)
    x0 = np.minimum(fx.astype(np.intp), w - 2)
    ty, tx = fy - y0, fx - x0
    top = image[y0, x0] * (1 - tx) + image[y0, x0 + 1] * tx
    bottom = image[y0 + 1, x0] * (1 - tx) + image[y0 + 1, x0 + 1] * tx
    return np.asarray(top * (1 - ty) + bottom * ty, dtype=np.float64)


def _derivatives(
    g: FloatArray, y: IndexArray, x: IndexArray
) -> tuple[Floats, Floats, Floats, Floats]:
    """Central-difference Hessian (xx, yy, xy) and gradient magnitude of ``g`` at points."""
    centre = g[y, x].astype(np.float64)
    dxx = g[y, x + 1] - 2 * centre + g[y, x - 1]
    dyy = g[y + 1, x] - 2 * centre + g[y - 1, x]
    dxy = (g[y + 1, x + 1] - g[y + 1, x - 1] - g[y - 1, x + 1] + g[y - 1, x - 1]) / 4
    grad = np.hypot(g[y, x + 1] - g[y, x - 1], g[y + 1, x] - g[y - 1, x]) / 2
    return dxx, dyy, dxy, grad
