"""The two-layer skin model as a table, and its fit to the skin's local mean colour.

``OD = G(f_mel, f_blood) + p · (1, 1, 1)``: ``G`` is the ``−ln`` linear sRGB of the two-layer
Kubelka–Munk skin of :mod:`skinscan.datasets._skin_optics` (epidermal melanin over dermal blood;
Doi & Tominaga 2003), tabulated with its derivatives on a melanin × blood grid; ``p`` is the
shading. The local skin state (the fractions and shading of the skin's mean colour around each
pixel) is fitted by Gauss–Newton on a grid ``σ / 3`` coarser than the photo; the per-pixel
inversion from that state is :mod:`skinscan.measures._two_layer_inverse`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.measures._optical_density import REFLECTANCE_FLOOR

__all__ = [
    "BLOOD_MAX",
    "FACE_SHADING_PRIOR",
    "GRID_STEP",
    "LOCAL_SIGMA_MM",
    "MAX_STEP",
    "MELANIN_MAX",
    "PIXEL_SHADING_PRIOR",
    "LocalState",
    "fit_local_state",
    "grow",
    "model_at",
    "model_tables",
    "nearest_state",
    "tangent_vectors",
]

FloatArray = NDArray[np.float32]

#: Grid of the model tables: melanin 0–50 % and blood 0–25 % in steps of 0.25 points.
MELANIN_MAX, BLOOD_MAX, GRID_STEP = 0.5, 0.25, 0.0025
#: Weight of the prior on the shading in the inversion (per OD² of shading, against the OD²
#: of the colour residual): a whole-face fit keeps the shading near that of a calibrated
#: exposure; a pixel keeps it near the shading of the skin around it.
FACE_SHADING_PRIOR = 0.03
PIXEL_SHADING_PRIOR = 0.1
#: Gauss–Newton iterations on the smoothed skin.
_LOCAL_ITERATIONS = 8
#: Largest Gauss–Newton step (fraction) per iteration.
MAX_STEP = 0.02
#: Scale of the local skin state (Gaussian σ, mm), the same as the measures' shading scale.
LOCAL_SIGMA_MM = 5.0
#: A coarse cell is skin when at least this share of its pixels are.
_SKIN_CELL_SHARE = 0.5


@lru_cache(maxsize=1)
def model_tables() -> tuple[FloatArray, FloatArray, FloatArray]:
    """OD of the two-layer skin model and its derivatives on the melanin × blood grid.

    Fractions, not percent; arrays of shape (201, 101, 3). Built once per process from the
    spectral model (≈ 0.6–0.9 s on two cores, most of it the spectral table).
    """
    from skinscan.datasets._skin_optics import skin_linear_rgb

    melanin = np.linspace(0.0, MELANIN_MAX, round(MELANIN_MAX / GRID_STEP) + 1)
    blood = np.linspace(0.0, BLOOD_MAX, round(BLOOD_MAX / GRID_STEP) + 1)
    rgb = skin_linear_rgb(melanin[:, None], blood[None, :]).astype(np.float64)
    od = -np.log(np.maximum(rgb, REFLECTANCE_FLOOR))
    d_melanin = np.gradient(od, melanin, axis=0)
    d_blood = np.gradient(od, blood, axis=1)
    return tuple(np.ascontiguousarray(t, dtype=np.float32) for t in (od, d_melanin, d_blood))  # type: ignore[return-value]


def model_at(melanin: FloatArray, blood: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Model OD, ∂OD/∂melanin and ∂OD/∂blood at 2-D maps of fractions (bilinear), (h, w, 3).

    The maps may be at most 32 767 columns wide (OpenCV's remap).
    """
    rows = np.asarray(melanin * np.float32(1.0 / GRID_STEP), dtype=np.float32)
    cols = np.asarray(blood * np.float32(1.0 / GRID_STEP), dtype=np.float32)
    return tuple(  # type: ignore[return-value]
        np.asarray(
            cv2.remap(table, cols, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
            dtype=np.float32,
        )
        for table in model_tables()
    )


def nearest_state(od: NDArray[np.float64]) -> tuple[float, float]:
    """The grid state whose OD is nearest to ``od`` (3,), shading taken as 0 (calibrated)."""
    table = model_tables()[0]
    distance = np.sum((table - od.astype(np.float32)) ** 2, axis=-1)
    row, col = np.unravel_index(int(np.argmin(distance)), distance.shape)
    return float(row * GRID_STEP), float(col * GRID_STEP)


def tangent_vectors(od: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit ∂OD/∂melanin and ∂OD/∂blood at the model state nearest to ``od`` (3,)."""
    melanin, blood = nearest_state(od)
    _, d_melanin, d_blood = model_at(
        np.full((1, 1), melanin, np.float32), np.full((1, 1), blood, np.float32)
    )
    mel = d_melanin[0, 0].astype(np.float64)
    hem = d_blood[0, 0].astype(np.float64)
    return mel / np.linalg.norm(mel), hem / np.linalg.norm(hem)


def _dot(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.asarray(np.einsum("...c,...c->...", a, b), dtype=np.float32)


def _channel_sum(a: FloatArray) -> FloatArray:
    # Faster than a.sum(axis=-1) over three channels.
    return np.asarray(a[..., 0] + a[..., 1] + a[..., 2], dtype=np.float32)


def _gauss_newton_step(
    error: FloatArray, d_m: FloatArray, d_h: FloatArray, shading_prior: FloatArray, weight: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One step ``(Δm, Δh)`` and the shading ``p`` for OD residual ``error`` = OD − G.

    The shading ``p = (Σ error + w · prior) / (3 + w)`` is solved in closed form for given
    fractions (variable projection), which leaves a 2 × 2 system per pixel: with ``S`` the channel
    sums of the derivatives and ``k = 1 / (3 + w)``, normal matrix ``dᵢ · dⱼ − k Sᵢ Sⱼ`` and
    gradient ``dᵢ · error − p Sᵢ``; solved by Cramer's rule.
    """
    k = np.float32(1.0 / (3.0 + weight))
    p = (_channel_sum(error) + np.float32(weight) * shading_prior) * k
    sum_m, sum_h = _channel_sum(d_m), _channel_sum(d_h)
    n_mm = _dot(d_m, d_m) - k * sum_m * sum_m
    n_hh = _dot(d_h, d_h) - k * sum_h * sum_h
    n_mh = _dot(d_m, d_h) - k * sum_m * sum_h
    g_m = _dot(d_m, error) - p * sum_m
    g_h = _dot(d_h, error) - p * sum_h
    damping = np.float32(1e-6) * (n_mm + n_hh) + np.float32(1e-12)
    n_mm += damping
    n_hh += damping
    det = n_mm * n_hh - n_mh * n_mh
    return (n_hh * g_m - n_mh * g_h) / det, (n_mm * g_h - n_mh * g_m) / det, p


def _gauss_newton(
    od: FloatArray,
    melanin: FloatArray,
    blood: FloatArray,
    shading_prior: FloatArray,
    weight: float,
    iterations: int,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fit ``OD = G(melanin, blood) + p · (1, 1, 1)`` per pixel, with ``weight · (p − prior)²``."""
    m, h = melanin.copy(), blood.copy()
    for _ in range(iterations):
        model, d_m, d_h = model_at(m, h)
        step_m, step_h, _ = _gauss_newton_step(od - model, d_m, d_h, shading_prior, weight)
        # A trust region: steps past the model's curvature scale are shortened, so a pixel does
        # not jump across the fold of the model onto the other branch.
        scale = np.minimum(
            1.0, MAX_STEP / np.maximum(np.maximum(np.abs(step_m), np.abs(step_h)), 1e-12)
        )
        m = np.clip(m + scale * step_m, 0.0, MELANIN_MAX).astype(np.float32)
        h = np.clip(h + scale * step_h, 0.0, BLOOD_MAX).astype(np.float32)
    model, _, _ = model_at(m, h)
    k = np.float32(1.0 / (3.0 + weight))
    p = (_channel_sum(od - model) + np.float32(weight) * shading_prior) * k
    return m, h, p.astype(np.float32)


@dataclass(frozen=True)
class LocalState:
    """The skin's local state on a grid ``factor`` times coarser than the photo.

    Attributes
    ----------
    melanin, blood, shading : ndarray of shape (h, w), float32
        Fractions and shading ``p`` fitted to the skin's local mean OD.
    factor : int
        Coarsening factor; :func:`grow` brings a map back to the photo's grid.
    skin_od : ndarray of shape (3,), float64
        Median local mean OD of the skin cells: where the fit starts.
    """

    melanin: FloatArray
    blood: FloatArray
    shading: FloatArray
    factor: int
    skin_od: NDArray[np.float64]


def _area_mean(image: FloatArray, factor: int) -> FloatArray:
    """Means over ``factor`` × ``factor`` cells (the last row and column of cells may be partial).

    Two passes of 4 × 4 then ``factor / 4`` when 4 divides ``factor``: OpenCV's area resampling is
    several times faster for small integer factors.
    """
    steps = [4, factor // 4] if factor % 4 == 0 and factor > 4 else [factor]
    for step in steps:
        height, width = image.shape[:2]
        size = (max(1, -(-width // step)), max(1, -(-height // step)))
        image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.float32)
    return image


def _local_mean(
    log_rgb: FloatArray, skin: NDArray[np.bool_], factor: int, sigma_px: float
) -> tuple[FloatArray, NDArray[np.float64]]:
    """The skin's normalised Gaussian mean OD on the coarse grid, and the median skin cell OD."""
    weight = skin.view(np.uint8).astype(np.float32) if not skin.all() else None
    if weight is None:
        num = _area_mean(log_rgb, factor)
        share = np.ones(num.shape[:2], np.float32)
    else:
        masked = np.zeros_like(log_rgb)
        cv2.copyTo(log_rgb, skin.view(np.uint8), masked)
        num = _area_mean(masked, factor)
        share = _area_mean(weight, factor)
    cells = share >= _SKIN_CELL_SHARE
    cell_od = -num[cells] / share[cells][:, None] if cells.any() else -num.reshape(-1, 3)
    skin_od = np.median(cell_od.astype(np.float64), axis=0)
    sigma = max(sigma_px / factor, 0.5)
    den = cv2.GaussianBlur(share, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    num = np.asarray(cv2.GaussianBlur(num, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT))
    fallback = num.reshape(-1, 3).sum(axis=0) / max(float(den.sum()), 1e-12)
    local = np.where(den[..., None] > 1e-3, num / np.maximum(den, 1e-3)[..., None], fallback)
    return np.negative(local, dtype=np.float32), skin_od


def fit_local_state(log_rgb: FloatArray, skin: NDArray[np.bool_], sigma_px: float) -> LocalState:
    """Fit the two-layer model to the skin's local mean OD (Gaussian σ ``sigma_px``).

    Parameters
    ----------
    log_rgb : ndarray of shape (H, W, 3), float32
        ``ln`` of the floored linear RGB
        (:func:`~skinscan.measures._optical_density.log_reflectance`).
    skin : ndarray of shape (H, W), bool
        The pixels the local mean is taken over.
    sigma_px : float
        Scale of the local mean; the fit runs on a grid ``max(1, int(σ / 3))`` times coarser.

    Notes
    -----
    Gauss–Newton from the model state nearest to the median skin cell, with the weight
    :data:`FACE_SHADING_PRIOR` on ``p²``: the photo is exposure-calibrated, so the skin's shading
    is near 0 on average.
    """
    factor = max(1, int(sigma_px / 3.0))
    local_od, skin_od = _local_mean(log_rgb, skin, factor, sigma_px)
    start = nearest_state(skin_od)
    coarse = local_od.shape[:2]
    melanin, blood, shading = _gauss_newton(
        local_od,
        np.full(coarse, start[0], np.float32),
        np.full(coarse, start[1], np.float32),
        np.zeros(coarse, np.float32),
        FACE_SHADING_PRIOR,
        _LOCAL_ITERATIONS,
    )
    return LocalState(melanin, blood, shading, factor, skin_od)


def grow(coarse: FloatArray, factor: int, shape: tuple[int, int]) -> FloatArray:
    """A coarse (h, w) map enlarged ``factor`` times (bilinear) and cut to ``shape``: a view."""
    if factor == 1:
        return coarse[: shape[0], : shape[1]]
    size = (coarse.shape[1] * factor, coarse.shape[0] * factor)
    up = np.asarray(cv2.resize(coarse, size, interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    return up[: shape[0], : shape[1]]
