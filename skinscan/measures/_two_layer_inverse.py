"""Per-pixel inversion of the two-layer skin model by table lookup.

Each pixel solves, with the local shading ``p_l`` of
:func:`~skinscan.measures._two_layer.fit_local_state` as a prior of weight
``w`` = :data:`~skinscan.measures._two_layer.PIXEL_SHADING_PRIOR`::

    min over m, h, p of  ‖OD − G(m, h) − p · (1, 1, 1)‖² + w (p − p_l)²

Eliminating ``p`` (its optimum is ``p_l + 3 (q − Ḡ) / (3 + w)``, with ``q = mean(OD) − p_l`` and
``Ḡ`` the mean of ``G``) leaves ``‖c(OD) − c(G)‖² + κ (q − Ḡ)²``, ``κ = 3w / (3 + w)``, with ``c``
the coordinates in the chromatic plane: the squared distance, in the space
``y = (c, √κ · q)``, from the pixel to the model surface ``(c(G), √κ · Ḡ)``. The solution is the
nearest point of the surface, a function of ``y`` alone, so it is tabulated once on regular grids
of ``y`` and interpolated trilinearly per pixel: the global minimum of the pixel's cost, where an
iterative solver finds the local one nearest its start.

Two grids: a coarse one over every plausible colour (:data:`COARSE_GRID`) and a fine one over
the dark end of the model (:data:`FINE_MELANIN`), where blood moves the colour up to ten times
less and the coarse grid would spread one cell over several points of blood. Against the exact
minimum (shading within 0.03 of the prior), the interpolation errs by at most 0.06 point of blood
(p99) up to 24 % melanin, 0.17 at 30 % and 0.3–1.5 from 32 to 48 %; melanin by at most 0.07
point up to 40 %. The tables are built once per process, at first use (≈ 0.8 s on two cores,
after the 0.65 s of the model tables): the nearest surface node of every cell (an exact Euclidean
distance transform of the rasterised surface), then projected Gauss–Newton on the interpolated
model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.measures._optical_density import CHROMATIC_PLANE
from skinscan.measures._two_layer import (
    BLOOD_MAX,
    GRID_STEP,
    MAX_STEP,
    MELANIN_MAX,
    PIXEL_SHADING_PRIOR,
    model_tables,
)

__all__ = [
    "COARSE_GRID",
    "FINE_MELANIN",
    "KAPPA",
    "NEGATIVE_BLOOD",
    "Grid",
    "InverseTable",
    "build_inverse_table",
    "inverse_tables",
    "invert_pixels",
]

FloatArray = NDArray[np.float32]

#: The weight ``κ`` of the grey residual and the shading's share ``3 / (3 + w)`` of it.
KAPPA = 3.0 * PIXEL_SHADING_PRIOR / (3.0 + PIXEL_SHADING_PRIOR)
_SHADING_SHARE = 3.0 / (3.0 + PIXEL_SHADING_PRIOR)
_BUILD_ITERATIONS = 16
#: Colours yellower than the model allows are fitted with blood below 0, the model extended
#: linearly (and reported as 0), so that the excess does not bend the melanin instead.
NEGATIVE_BLOOD = 0.1
#: Pixels per block of rows in the per-pixel inversion (a few MB of intermediates).
_BLOCK_PIXELS = 1 << 17


@dataclass(frozen=True)
class Grid:
    """A regular grid of ``y = (u, v, s)``: lowest node, steps and node counts, in that order."""

    low: tuple[float, float, float]
    step: tuple[float, float, float]
    size: tuple[int, int, int]

    def axes(self) -> list[NDArray[np.float64]]:
        return [
            np.asarray(lo + st * np.arange(n), np.float64)
            for lo, st, n in zip(self.low, self.step, self.size, strict=True)
        ]


#: The model surface spans ``u`` −0.55…−0.05, ``v`` −0.65…−0.02, ``s`` 0.11…1.05; the coarse grid
#: leaves room for colours off the model (synthetic CIELAB skin, imperfect calibration). Beyond
#: it a pixel takes the value at the grid's edge. A step of 0.02 keeps the interpolation error
#: under 0.03 point of blood (p99) up to 12 % melanin, 0.06 up to 16 %, 0.17 up to 20 %.
COARSE_GRID = Grid(low=(-1.3, -1.4, -0.1), step=(0.02, 0.02, 0.02), size=(71, 76, 71))
#: The fine grid covers the surface from this melanin fraction up, with a margin of
#: :data:`_FINE_MARGIN` (shading and colour off the model), at :data:`_FINE_STEP`.
FINE_MELANIN = 0.18
_FINE_MARGIN = 0.03
_FINE_STEP = (0.0075, 0.0075, 0.005)


@dataclass(frozen=True)
class InverseTable:
    """One grid's tabulated inverse, laid out for :func:`cv2.remap`.

    Attributes
    ----------
    grid : Grid
    atlas : ndarray of shape (n_s · n_v, n_u, 4), float32
        The ``n_s`` slices of constant ``s``, stacked along the rows; channels: melanin and blood
        in percent, and their increments to the next slice (trilinear interpolation from one
        bilinear lookup).
    """

    grid: Grid
    atlas: FloatArray


def _scaled_surface(od: NDArray[np.floating]) -> NDArray[np.float64]:
    """``y = (c(OD), √κ · mean(OD))`` of OD vectors (..., 3)."""
    od = np.asarray(od, dtype=np.float64)
    grey = math.sqrt(KAPPA) * od.mean(axis=-1, keepdims=True)
    return np.concatenate([od @ CHROMATIC_PLANE, grey], axis=-1)


def _fine_grid() -> Grid:
    """The grid over the surface's dark end, snapped to its steps."""
    surface = _scaled_surface(model_tables()[0])[round(FINE_MELANIN / GRID_STEP) :]
    step = np.array(_FINE_STEP)
    low = np.floor((surface.reshape(-1, 3).min(axis=0) - _FINE_MARGIN) / step) * step
    high = np.ceil((surface.reshape(-1, 3).max(axis=0) + _FINE_MARGIN) / step) * step
    size = np.rint((high - low) / step).astype(int) + 1
    return Grid(tuple(low.tolist()), _FINE_STEP, tuple(size.tolist()))


def _in_rows(values: NDArray[np.float32], width: int = 4096) -> NDArray[np.float32]:
    """(N, ...) → (ceil(N / width), width, ...), edge-padded: image-shaped for cv2.remap."""
    n = values.shape[0]
    rows = max(1, -(-n // width))
    pad = rows * width - n
    padded = np.concatenate([values, np.repeat(values[-1:], pad, axis=0)]) if pad else values
    return np.ascontiguousarray(padded.reshape(rows, width, *values.shape[1:]))


def _seeds(surface: NDArray[np.float64], grid: Grid) -> tuple[FloatArray, FloatArray]:
    """Per cell (order s, v, u), the fractions of the surface node nearest to it, within a cell.

    The nodes are rasterised into the cells (the node nearest each occupied cell's centre) and
    an exact Euclidean distance transform gives every cell its nearest occupied cell.
    """
    from scipy.ndimage import distance_transform_edt

    shape = grid.size[::-1]
    index = ((surface.reshape(-1, 3) - np.array(grid.low)) / np.array(grid.step))[:, ::-1]
    cell = np.rint(index)
    inside = np.all((cell >= 0) & (cell < np.array(shape)), axis=1)
    node = np.flatnonzero(inside)
    off_centre = np.sum((index[node] - cell[node]) ** 2, axis=1)
    flat = np.ravel_multi_index(tuple(cell[node].astype(np.intp).T), shape)
    order = np.argsort(-off_centre, kind="stable")  # the node nearest the centre is written last
    occupant = np.full(int(np.prod(shape)), -1, np.intp)
    occupant[flat[order]] = node[order]
    empty = (occupant < 0).reshape(shape)
    # The rasterisation is in cells: scale the axes so that the transform measures y.
    sampling = np.array(grid.step)[::-1]
    nearest = distance_transform_edt(
        empty, sampling=sampling, return_distances=False, return_indices=True
    )
    seed = occupant[np.ravel_multi_index(tuple(nearest), shape)].ravel()
    rows, cols = np.unravel_index(seed, surface.shape[:2])
    blood = cols * GRID_STEP - NEGATIVE_BLOOD
    return (rows * GRID_STEP).astype(np.float32), blood.astype(np.float32)


@lru_cache(maxsize=1)
def _extended_model() -> tuple[FloatArray, FloatArray, FloatArray]:
    """The model tables with blood extended below 0 to −:data:`NEGATIVE_BLOOD` (linearly)."""
    od, _, d_blood = (t.astype(np.float64) for t in model_tables())
    below = -GRID_STEP * np.arange(round(NEGATIVE_BLOOD / GRID_STEP), 0, -1)
    extension = od[:, :1] + below[None, :, None] * d_blood[:, :1]
    extended = np.concatenate([extension, od], axis=1)
    d_m = np.gradient(extended, GRID_STEP, axis=0)
    d_h = np.gradient(extended, GRID_STEP, axis=1)
    return tuple(np.ascontiguousarray(t, dtype=np.float32) for t in (extended, d_m, d_h))  # type: ignore[return-value]


@lru_cache(maxsize=1)
def _surface_tables() -> tuple[FloatArray, FloatArray, FloatArray]:
    """The model surface ``y(m, h)`` and its derivatives on the model grid, (201, 101, 3)."""
    to_y = np.concatenate([CHROMATIC_PLANE, np.full((3, 1), math.sqrt(KAPPA) / 3.0)], axis=1)
    return tuple(np.ascontiguousarray(t @ to_y, dtype=np.float32) for t in _extended_model())  # type: ignore[return-value]


def _surface_at(melanin: FloatArray, blood: FloatArray, count: int = 3) -> list[FloatArray]:
    """The first ``count`` of :func:`_surface_tables` at maps of fractions (bilinear)."""
    rows = np.asarray(melanin * np.float32(1.0 / GRID_STEP), dtype=np.float32)
    cols = np.asarray((blood + np.float32(NEGATIVE_BLOOD)) / np.float32(GRID_STEP), np.float32)
    return [
        np.asarray(
            cv2.remap(table, cols, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
            dtype=np.float32,
        )
        for table in _surface_tables()[:count]
    ]


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.asarray(np.einsum("...c,...c->...", a, b), dtype=np.float32)


def build_inverse_table(grid: Grid) -> FloatArray:
    """The nearest model state of every node of ``grid``: (n_s, n_v, n_u, 2), melanin and blood
    in percent. Built from :func:`~skinscan.measures._two_layer.model_tables`."""
    axes = grid.axes()
    nodes = np.stack(np.meshgrid(*axes[::-1], indexing="ij")[::-1], axis=-1).reshape(-1, 3)
    melanin, blood = _seeds(_scaled_surface(_extended_model()[0]), grid)
    target = _in_rows(nodes.astype(np.float32))
    m, h = _in_rows(melanin), _in_rows(blood)
    radius = np.full(m.shape, MAX_STEP, np.float32)
    for _ in range(_BUILD_ITERATIONS):
        surface, j_m, j_h = _surface_at(m, h)
        residual = target - surface
        cost = _dot(residual, residual)
        n_mm, n_hh, n_mh = _dot(j_m, j_m), _dot(j_h, j_h), _dot(j_m, j_h)
        g_m, g_h = _dot(j_m, residual), _dot(j_h, residual)
        damping = np.float32(1e-6) * (n_mm + n_hh) + np.float32(1e-12)
        n_mm += damping
        n_hh += damping
        det = n_mm * n_hh - n_mh * n_mh
        step_m = (n_hh * g_m - n_mh * g_h) / det
        step_h = (n_mm * g_h - n_mh * g_m) / det
        # A trust region, shrunk where a step does not lower the distance: far from the
        # surface a full Gauss–Newton step can overshoot.
        largest = np.maximum(np.maximum(np.abs(step_m), np.abs(step_h)), 1e-12)
        scale = np.minimum(1.0, radius / largest)
        new_m = np.clip(m + scale * step_m, 0.0, MELANIN_MAX).astype(np.float32)
        new_h = np.clip(h + scale * step_h, -NEGATIVE_BLOOD, BLOOD_MAX).astype(np.float32)
        new_residual = target - _surface_at(new_m, new_h, 1)[0]
        better = _dot(new_residual, new_residual) <= cost
        m, h = np.where(better, new_m, m), np.where(better, new_h, h)
        radius = np.where(better, np.minimum(2.0 * radius, MAX_STEP), 0.25 * radius)
    n = nodes.shape[0]
    fractions = np.stack([m.ravel()[:n], h.ravel()[:n]], axis=-1)
    return (100.0 * fractions).astype(np.float32).reshape(*grid.size[::-1], 2)


def _atlas(table: FloatArray) -> FloatArray:
    n_s, n_v, n_u, _ = table.shape
    atlas = np.zeros((n_s, n_v, n_u, 4), np.float32)
    atlas[..., :2] = table
    atlas[:-1, ..., 2:] = table[1:] - table[:-1]
    return atlas.reshape(n_s * n_v, n_u, 4)


@lru_cache(maxsize=1)
def inverse_tables() -> tuple[InverseTable, InverseTable]:
    """The coarse and the fine table, built once per process."""
    fine = _fine_grid()
    return (
        InverseTable(COARSE_GRID, _atlas(build_inverse_table(COARSE_GRID))),
        InverseTable(fine, _atlas(build_inverse_table(fine))),
    )


@lru_cache(maxsize=1)
def _mean_od_table() -> FloatArray:
    """``Ḡ``, the extended model's mean OD (blood from −:data:`NEGATIVE_BLOOD`)."""
    return np.ascontiguousarray(_extended_model()[0].mean(axis=-1), dtype=np.float32)


def _lookup(
    table: InverseTable, u: FloatArray, v: FloatArray, s: FloatArray, out: list[FloatArray]
) -> None:
    """Trilinear melanin and blood (percent) at grid indices ``(u, v, s)`` into ``out``.

    ``v`` and ``s`` are clamped in place and ``s`` is overwritten.
    """
    _, n_v, n_s = table.grid.size
    # u stays inside by the border mode; v and s select the rows of a slice and must be clamped.
    np.clip(v, 0.0, n_v - 1.0, out=v)
    np.clip(s, 0.0, n_s - 1.001, out=s)
    row = np.floor(s)
    above = np.subtract(s, row, out=s)
    row *= np.float32(n_v)
    row += v
    corners = cv2.remap(table.atlas, u, row, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    increments = [np.empty_like(u), np.empty_like(u)]
    cv2.mixChannels([corners], [*out, *increments], [0, 0, 1, 1, 2, 2, 3, 3])
    cv2.accumulateProduct(increments[0], above, out[0])
    cv2.accumulateProduct(increments[1], above, out[1])


def _fine_range(coarse: Grid, fine: Grid, axis: int) -> tuple[float, float]:
    """The fine grid's extent along ``axis`` in coarse indices."""
    low = (fine.low[axis] - coarse.low[axis]) / coarse.step[axis]
    return low, low + (fine.size[axis] - 1) * fine.step[axis] / coarse.step[axis]


def _to_fine(x: FloatArray, axis: int, coarse: Grid, fine: Grid) -> FloatArray:
    """Coarse indices along ``axis`` as fine ones."""
    ratio = coarse.step[axis] / fine.step[axis]
    offset = (coarse.low[axis] - fine.low[axis]) / fine.step[axis]
    return np.asarray(x * np.float32(ratio) + np.float32(offset), dtype=np.float32)


def _invert_rows(
    log_rgb: FloatArray,
    local_shading: FloatArray,
    melanin: FloatArray,
    blood: FloatArray,
    shading: FloatArray,
) -> None:
    """:func:`invert_pixels` on a block of rows, into the given outputs."""
    coarse, fine = inverse_tables()
    grid = coarse.grid
    root = math.sqrt(KAPPA)
    u, v, s = (np.asarray(cv2.transform(log_rgb, row), np.float32) for row in _to_index(grid))
    # p = (1 − share) p_l + share · (mean(OD) − Ḡ); mean(OD) is affine in s before p_l comes off.
    share = _SHADING_SHARE
    cv2.addWeighted(
        local_shading,
        1.0 - share,
        s,
        share * grid.step[2] / root,
        share * grid.low[2] / root,
        dst=shading,
    )
    cv2.scaleAdd(local_shading, -root / grid.step[2], s, dst=s)
    # The fine grid's pixels, found before the lookup clamps v and s.
    dark = cv2.inRange(s, *_fine_range(grid, fine.grid, 2))
    count = cv2.countNonZero(dark)
    if count:
        for axis, x in ((0, u), (1, v)):
            dark = cv2.bitwise_and(dark, cv2.inRange(x, *_fine_range(grid, fine.grid, axis)))
        count = cv2.countNonZero(dark)
    if count > dark.size // 4:
        fine_uvs = [_to_fine(x, axis, grid, fine.grid) for axis, x in enumerate((u, v, s))]
    elif count:
        pixels = np.flatnonzero(dark)
        fine_uvs = [
            _to_fine(_in_rows(x.ravel()[pixels]), axis, grid, fine.grid)
            for axis, x in enumerate((u, v, s))
        ]
    _lookup(coarse, u, v, s, [melanin, blood])
    if count:
        fine_out = [np.empty_like(fine_uvs[0]), np.empty_like(fine_uvs[0])]
        _lookup(fine, fine_uvs[0], fine_uvs[1], fine_uvs[2], fine_out)
        if count > dark.size // 4:
            cv2.copyTo(fine_out[0], dark, melanin)
            cv2.copyTo(fine_out[1], dark, blood)
        else:
            melanin.ravel()[pixels] = fine_out[0].ravel()[:count]
            blood.ravel()[pixels] = fine_out[1].ravel()[:count]
    # The model's mean OD at the solution gives the shading.
    per_point = np.float32(0.01 / GRID_STEP)
    mean_od = cv2.remap(
        _mean_od_table(),
        blood * per_point + np.float32(NEGATIVE_BLOOD / GRID_STEP),
        melanin * per_point,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    cv2.scaleAdd(mean_od, -share, shading, dst=shading)
    np.maximum(blood, 0.0, out=blood)


@lru_cache(maxsize=2)
def _to_index(grid: Grid) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(1, 4) maps from ``ln(RGB)`` = −OD to the u, v and s indices of ``grid`` (q = mean OD)."""
    rows = np.zeros((3, 4))
    rows[:2, :3] = -CHROMATIC_PLANE.T
    rows[2, :3] = -math.sqrt(KAPPA) / 3.0
    rows[:, 3] = -np.array(grid.low)
    rows /= np.array(grid.step)[:, None]
    return tuple(np.ascontiguousarray(r[None], dtype=np.float32) for r in rows)  # type: ignore[return-value]


def invert_pixels(
    log_rgb: FloatArray, local_shading: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Melanin and blood (percent) and shading of every pixel, from the tables.

    Parameters
    ----------
    log_rgb : ndarray of shape (H, W, 3), float32
        ``ln`` of the floored linear RGB.
    local_shading : ndarray of shape (H, W), float32
        The prior ``p_l`` of each pixel's shading (its local skin state's).

    Returns
    -------
    melanin, blood, shading : ndarray of shape (H, W), float32

    Notes
    -----
    The image is processed in blocks of :data:`_BLOCK_PIXELS`: the dozen passes over each block
    then run in the processor's cache instead of main memory.
    """
    height, width = log_rgb.shape[:2]
    melanin, blood, shading = (np.empty((height, width), np.float32) for _ in range(3))
    rows = max(1, _BLOCK_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        block = slice(top, min(top + rows, height))
        _invert_rows(
            log_rgb[block], local_shading[block], melanin[block], blood[block], shading[block]
        )
    return melanin, blood, shading
