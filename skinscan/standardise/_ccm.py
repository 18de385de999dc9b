"""Colour-correction models fitted on chart patches: diagonal, 3 x 3 matrix, root-polynomial.

Every model maps camera linear RGB to reference linear sRGB as ``terms(rgb) @ matrix``, where
``terms`` is the identity expansion (R, G, B) for the matrix models and, for root-polynomial
degree 2 (Finlayson, Mackiewicz & Hurlbert 2015), (R, G, B, sqrt(RG), sqrt(GB), sqrt(RB)). Every
term scales linearly with exposure, so a root-polynomial correction fitted at one exposure holds at
any other, unlike an ordinary polynomial.

The ``"tone+"`` models first undo the camera's tone curve with a power law on luminance fitted to
the chart's neutral patches, applied as a per-pixel scalar so chromaticity is kept:
``corrected = s(Y) * (terms(rgb) @ matrix)`` with ``Y`` the Rec. 709 luminance of the camera RGB
and ``s(Y) = a * max(Y, Y0) ** (g - 1)``, so the curve is ``a * Y ** g`` above ``Y0`` and a
straight line through the origin below it (no infinite slope at black). Because every term is
homogeneous of degree 1, scaling the terms' output equals scaling the input first.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import delta_e00, linear_srgb_to_lab

__all__ = [
    "MODELS",
    "TONE_EXPONENT_RANGE",
    "apply_matrix",
    "fit_matrix",
    "fit_tone",
    "loo_errors",
    "neutral_patches",
    "patch_errors",
    "predict",
    "term_count",
    "tone_scale",
]

_TONE = "tone+"
MODELS = (
    "identity",
    "diagonal",
    "linear3x3",
    "root-polynomial2",
    "tone+linear3x3",
    "tone+root-polynomial2",
)
_TERMS = {"identity": 3, "diagonal": 3, "linear3x3": 3, "root-polynomial2": 6}
# Small ridge on the root-polynomial fit: 18 coefficients from at most 24 patches.
_RIDGE = 1e-5
_LUMINANCE = np.array([0.2126729, 0.7151522, 0.0721750])
# Exponents outside this range are not a camera tone curve but a fit gone wrong (e.g. a clipped
# white pulling a 3-point fit); the bounds keep the curve monotone and well conditioned.
TONE_EXPONENT_RANGE = (0.4, 2.5)
# Below this luminance the tone curve is linear: a power law with g < 1 has infinite slope at 0,
# which would amplify sensor noise in the blacks. The ColorChecker black is at Y ~ 0.03.
_TONE_FLOOR = 1e-3
# Reference patches with CIELAB chroma below this are the neutral row (white 3.2, the rest < 1;
# the least saturated chromatic patch, dark skin, is at 19.8).
_NEUTRAL_CHROMA = 6.0


def _base(model: str) -> str:
    return model.removeprefix(_TONE)


def term_count(model: str) -> int:
    """Number of rows of the model's coefficient matrix (one more for the tone parameters)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, not {model!r}")
    return _TERMS[_base(model)] + (1 if model.startswith(_TONE) else 0)


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
    luminance = reference @ _LUMINANCE
    return np.asarray((np.clip(luminance, 0.0, None) + 0.02) ** (-2.0 / 3.0))


def neutral_patches(reference: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which reference patches are neutral (CIELAB chroma below 6), shape (n,)."""
    lab = linear_srgb_to_lab(np.asarray(reference, np.float64))
    return np.asarray(np.hypot(lab[:, 1], lab[:, 2]) < _NEUTRAL_CHROMA)


def fit_tone(measured: NDArray[np.float64], reference: NDArray[np.float64]) -> tuple[float, float]:
    """Gain ``a`` and exponent ``g`` of the tone curve ``Y_ref = a * Y_measured ** g``.

    Least squares in log-log over the neutral patches, the exponent clipped to
    :data:`TONE_EXPONENT_RANGE` (the gain is then refitted for the clipped exponent). With fewer
    than two neutral patches, or neutrals spanning less than a factor of 2 in luminance, the
    exponent cannot be measured and is 1 (a plain exposure gain).
    """
    neutral = neutral_patches(reference)
    x = np.log(np.maximum(np.asarray(measured, np.float64)[neutral] @ _LUMINANCE, _TONE_FLOOR))
    y = np.log(np.maximum(np.asarray(reference, np.float64)[neutral] @ _LUMINANCE, _TONE_FLOOR))
    if len(x) == 0:
        return 1.0, 1.0
    exponent = 1.0
    if len(x) >= 2 and np.ptp(x) >= np.log(2.0):
        slope = float(np.polyfit(x, y, 1)[0])
        exponent = float(np.clip(slope, *TONE_EXPONENT_RANGE))
    return float(np.exp(np.mean(y - exponent * x))), exponent


def tone_scale(
    luminance: NDArray[np.floating], gain: float, exponent: float
) -> NDArray[np.float64]:
    """Per-pixel factor ``a * max(Y, Y0) ** (g - 1)`` that applies the tone curve to RGB."""
    floored = np.maximum(np.asarray(luminance, np.float64), _TONE_FLOOR)
    return np.asarray(gain * floored ** (exponent - 1.0))


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
        For the ``"tone+"`` models the last row is ``(a, g, Y0)``, the tone curve (see the module
        docstring), and the rows above it the coefficients of the base model, fitted to the
        tone-corrected patches.
    """
    count = term_count(model)
    measured = np.asarray(measured, np.float64)
    reference = np.asarray(reference, np.float64)
    if model.startswith(_TONE):
        gain, exponent = fit_tone(measured, reference)
        scaled = measured * tone_scale(measured @ _LUMINANCE, gain, exponent)[:, None]
        coefficients = fit_matrix(scaled, reference, _base(model))
        return np.vstack([coefficients, [gain, exponent, _TONE_FLOOR]])
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
    rgb = np.asarray(measured, np.float64)
    if not model.startswith(_TONE):
        return np.asarray(_terms(rgb, model) @ matrix)
    gain, exponent, floor = matrix[-1]
    scale = gain * np.maximum(rgb @ _LUMINANCE, floor) ** (exponent - 1.0)
    return np.asarray((_terms(rgb, _base(model)) @ matrix[:-1]) * scale[:, None])


def patch_errors(
    corrected: NDArray[np.float64], reference: NDArray[np.float64]
) -> NDArray[np.float64]:
    """CIEDE2000 between corrected and reference patches, both linear sRGB, in CIELAB (D65)."""
    return delta_e00(linear_srgb_to_lab(corrected), linear_srgb_to_lab(reference))


def loo_errors(
    measured: NDArray[np.float64], reference: NDArray[np.float64], model: str
) -> NDArray[np.float64]:
    """Leave-one-out CIEDE2000: each patch predicted by the model fitted on all the others.

    The whole model is refitted without the held-out patch, the tone curve included (so a held-out
    neutral patch is not in the curve's fit either).
    """
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
    tone = model.startswith(_TONE)
    if tone:
        # The tone gain is a constant factor: fold it into the coefficients.
        gain, exponent, floor = (float(v) for v in matrix[-1])
        coeffs = coeffs[:-1] * np.float32(gain)
    out = np.asarray(cv2.transform(flat, coeffs[:3].T), np.float32)
    if _base(model) == "root-polynomial2":
        red, green, blue = cv2.split(cv2.threshold(flat, 0.0, 0.0, cv2.THRESH_TOZERO)[1])
        products = cv2.merge(
            [cv2.multiply(red, green), cv2.multiply(green, blue), cv2.multiply(blue, red)]
        )
        out += np.asarray(cv2.transform(cv2.sqrt(products), coeffs[3:].T), np.float32)
    if tone:
        # In place where possible: at 2 MP, allocating fresh buffers costs as much as the maths.
        scale = cv2.transform(flat, _LUMINANCE[None].astype(np.float32))
        np.maximum(scale, np.float32(floor), out=scale)
        # max(Y, Y0) ** (g - 1) as exp((g - 1) log(.)): several times faster than cv2.pow.
        cv2.log(scale, dst=scale)
        np.multiply(scale, np.float32(exponent - 1.0), out=scale)
        cv2.exp(scale, dst=scale)
        cv2.multiply(out, cv2.merge([scale, scale, scale]).reshape(out.shape), dst=out)
    return np.asarray(out, np.float32).reshape(rgb.shape)
