"""Colour-correction models fitted on chart patches: diagonal, 3 x 3 matrix, root-polynomial.

Every model maps camera linear RGB to reference linear sRGB as ``terms(rgb) @ matrix``, where
``terms`` is the identity expansion (R, G, B) for the matrix models and, for root-polynomial
degree 2 (Finlayson, Mackiewicz & Hurlbert 2015), (R, G, B, sqrt(RG), sqrt(GB), sqrt(RB)). Every
term scales linearly with exposure, so a root-polynomial correction fitted at one exposure holds at
any other, unlike an ordinary polynomial.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import delta_e00, linear_srgb_to_lab

__all__ = [
    "MODELS",
    "apply_matrix",
    "fit_matrix",
    "loo_errors",
    "patch_errors",
    "predict",
    "term_count",
]

MODELS = ("identity", "diagonal", "linear3x3", "root-polynomial2")
_TERMS = {"identity": 3, "diagonal": 3, "linear3x3": 3, "root-polynomial2": 6}
# Small ridge on the root-polynomial fit: 18 coefficients from at most 24 patches.
_RIDGE = 1e-5


def term_count(model: str) -> int:
    """Number of rows of the model's coefficient matrix."""
    if model not in _TERMS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    return _TERMS[model]


def _terms(rgb: NDArray[np.float64], model: str) -> NDArray[np.float64]:
    if model != "root-polynomial2":
        return rgb
    pos = np.clip(rgb, 0.0, None)
    cross = np.sqrt(pos * pos[:, [1, 2, 0]])  # sqrt(RG), sqrt(GB), sqrt(BR)
    return np.concatenate([rgb, cross], axis=1)


def _perceptual_weights(reference: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row weights that turn linear-RGB residuals into roughly CIELAB-sized ones.

    L* grows as Y^(1/3), so an error dY counts about Y^(-2/3) times as much in L*; weighting each
    patch's residual by that keeps the dark patches from being ignored by a plain least-squares fit.
    """
    luminance = reference @ np.array([0.2126729, 0.7151522, 0.0721750])
    return np.asarray((np.clip(luminance, 0.0, None) + 0.02) ** (-2.0 / 3.0))


def fit_matrix(
    measured: NDArray[np.float64], reference: NDArray[np.float64], model: str
) -> NDArray[np.float64]:
    """Weighted least-squares coefficients with ``terms(measured) @ matrix ≈ reference``.

    Parameters
    ----------
    measured, reference : ndarray of shape (n, 3)
        Linear RGB of the patches as photographed and as they should be.
    model : str
        One of :data:`MODELS`.

    Returns
    -------
    ndarray of shape (term_count(model), 3)
    """
    count = term_count(model)
    measured = np.asarray(measured, np.float64)
    reference = np.asarray(reference, np.float64)
    if model == "identity":
        return np.eye(3)
    w = _perceptual_weights(reference)[:, None]
    if model == "diagonal":
        num = (w**2 * measured * reference).sum(axis=0)
        den = (w**2 * measured * measured).sum(axis=0)
        return np.diag(np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0))
    design = _terms(measured, model) * w
    target = reference * w
    if model == "root-polynomial2":
        # Ridge as extra rows: sqrt(lambda) I against zero targets.
        strength = np.sqrt(_RIDGE * np.sum(design**2) / count)
        design = np.vstack([design, strength * np.eye(count)])
        target = np.vstack([target, np.zeros((count, 3))])
    # SVD least squares: a degenerate patch set gives the minimum-norm answer, not an error.
    return np.asarray(np.linalg.lstsq(design, target, rcond=None)[0])


def predict(
    measured: NDArray[np.float64], matrix: NDArray[np.float64], model: str
) -> NDArray[np.float64]:
    """Corrected linear RGB of patches, shape (n, 3)."""
    return np.asarray(_terms(np.asarray(measured, np.float64), model) @ matrix)


def patch_errors(
    corrected: NDArray[np.float64], reference: NDArray[np.float64]
) -> NDArray[np.float64]:
    """CIEDE2000 between corrected and reference patches, both linear sRGB, in CIELAB (D65)."""
    return delta_e00(linear_srgb_to_lab(corrected), linear_srgb_to_lab(reference))


def loo_errors(
    measured: NDArray[np.float64], reference: NDArray[np.float64], model: str
) -> NDArray[np.float64]:
    """Leave-one-out CIEDE2000: each patch predicted by the model fitted on all the others."""
    n = len(measured)
    predicted = np.empty((n, 3))
    keep = np.ones(n, bool)
    for i in range(n):
        keep[i] = False
        matrix = fit_matrix(measured[keep], reference[keep], model)
        predicted[i] = predict(measured[i : i + 1], matrix, model)[0]
        keep[i] = True
    return patch_errors(predicted, reference)


def apply_matrix(
    linear_rgb: NDArray[np.floating], matrix: NDArray[np.float64], model: str
) -> NDArray[np.float32]:
    """Apply a fitted model to an image or any array of shape (..., 3); float32 out, unclipped."""
    rgb = np.asarray(linear_rgb, np.float32)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"expected an array of shape (..., 3), got {rgb.shape}")
    if model == "identity":
        return rgb.copy()
    flat = np.ascontiguousarray(rgb.reshape(-1, 1, 3))
    coeffs = np.asarray(matrix, np.float32)
    if flat.size == 0:
        return rgb.copy()
    out = np.asarray(cv2.transform(flat, coeffs[:3].T), np.float32)
    if model == "root-polynomial2":
        red, green, blue = cv2.split(cv2.threshold(flat, 0.0, 0.0, cv2.THRESH_TOZERO)[1])
        products = cv2.merge(
            [cv2.multiply(red, green), cv2.multiply(green, blue), cv2.multiply(blue, red)]
        )
        out += np.asarray(cv2.transform(cv2.sqrt(products), coeffs[3:].T), np.float32)
    return out.reshape(rgb.shape)
