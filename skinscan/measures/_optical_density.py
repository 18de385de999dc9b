"""Optical density of linear RGB and the chromatic plane, shared by the skin-colour separations.

``OD = −ln(max(linear RGB, ε))``: Beer–Lambert makes absorbers additive in OD, and a change of
illumination intensity moves OD along ``(1, 1, 1)`` only, so the plane orthogonal to ``(1, 1, 1)``
carries the chromaticity (Tsumura et al. 1999; 2003).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["CHROMATIC_PLANE", "GREY", "REFLECTANCE_FLOOR", "log_reflectance", "optical_density"]

FloatArray = NDArray[np.float32]

#: Linear values below this are floored before the logarithm (no information below the noise).
REFLECTANCE_FLOOR = 1e-3
#: The shading direction ``(1, 1, 1)``, unit length.
GREY = np.full(3, 1.0 / math.sqrt(3.0))
#: Orthonormal basis (columns) of the chromatic plane, orthogonal to :data:`GREY`.
CHROMATIC_PLANE = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, -2.0]]).T / np.sqrt([2.0, 6.0])


def log_reflectance(linear_rgb: NDArray[np.floating]) -> FloatArray:
    """``ln(max(linear RGB, REFLECTANCE_FLOOR))`` (that is ``−OD``), float32 of the same shape."""
    rgb = np.ascontiguousarray(linear_rgb, dtype=np.float32)
    # One channel of all the values: OpenCV applies a scalar to the first channel only.
    flat = rgb.reshape(-1, rgb.shape[-1] if rgb.ndim > 1 else 1)
    floored = cv2.max(flat, REFLECTANCE_FLOOR)  # type: ignore[call-overload]  # a scalar is valid
    return np.asarray(cv2.log(floored, dst=floored), dtype=np.float32).reshape(rgb.shape)


def optical_density(linear_rgb: NDArray[np.floating]) -> FloatArray:
    """``−ln(max(linear RGB, REFLECTANCE_FLOOR))``, float32 of the same shape."""
    return np.negative(log_reflectance(linear_rgb))
