"""Colour-space conversions used everywhere: sRGB transfer function, linear sRGB → XYZ → CIELAB.

All functions take and return float32 arrays whose last axis holds the three channels. Linear sRGB
uses the IEC 61966-2-1 primaries and D65 white; CIELAB uses the D65 reference white, so that a
calibrated photo's neutral patches land on a* = b* = 0.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "D65_WHITE_XYZ",
    "LINEAR_SRGB_TO_XYZ",
    "delta_e00",
    "lab_to_linear_srgb",
    "linear_srgb_to_lab",
    "linear_to_srgb",
    "linear_to_srgb_u8",
    "srgb_to_linear",
    "to_linear_float",
]

FloatArray = NDArray[np.float32]

# IEC 61966-2-1 matrix (D65).
LINEAR_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float32,
)
XYZ_TO_LINEAR_SRGB = np.linalg.inv(LINEAR_SRGB_TO_XYZ.astype(np.float64)).astype(np.float32)
D65_WHITE_XYZ = LINEAR_SRGB_TO_XYZ.sum(axis=1)


def srgb_to_linear(encoded: NDArray[np.floating]) -> FloatArray:
    """Decode sRGB values in [0, 1] to linear light (IEC 61966-2-1 piecewise curve)."""
    v = np.asarray(encoded, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(linear: NDArray[np.floating]) -> FloatArray:
    """Encode linear light in [0, 1] with the sRGB transfer function (clipped to [0, 1])."""
    v = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055).astype(np.float32)


@lru_cache(maxsize=4)
def _decode_lut(levels: int) -> FloatArray:
    return srgb_to_linear(np.arange(levels, dtype=np.float32) / (levels - 1))


#: Steps of the linear → 8-bit sRGB table of :func:`linear_to_srgb_u8` (finer than one 8-bit
#: code everywhere: the sRGB curve's steepest slope, 12.92, makes a step 0.2 codes).
_ENCODE_STEPS = 1 << 14


@lru_cache(maxsize=1)
def _encode_lut() -> NDArray[np.uint8]:
    linear = np.linspace(0.0, 1.0, _ENCODE_STEPS, dtype=np.float32)
    return np.asarray(np.rint(linear_to_srgb(linear) * np.float32(255.0)), dtype=np.uint8)


def linear_to_srgb_u8(linear: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Linear light → 8-bit sRGB codes through a lookup table (clipped to [0, 1]).

    One gather per value instead of the power law; within 0.1 code of the exact encoding before
    rounding, so a value that close to a half code may land on the neighbouring one.
    """
    steps = np.float32(_ENCODE_STEPS - 1)
    index = np.clip(np.asarray(linear, np.float32) * steps + np.float32(0.5), 0, steps)
    return _encode_lut()[index.astype(np.uint16)]


def to_linear_float(
    pixels: NDArray[np.integer] | FloatArray, *, transfer: str = "srgb"
) -> FloatArray:
    """Integer or float pixels → float32 linear light in [0, 1].

    Integer inputs go through a lookup table (one gather per pixel), which is several times faster
    than evaluating the power law.

    Parameters
    ----------
    pixels : ndarray of shape (..., 3), uint8, uint16 or float in [0, 1]
    transfer : {"srgb", "linear"}
        How the values are encoded.
    """
    if transfer not in ("srgb", "linear"):
        raise ValueError(f"transfer must be 'srgb' or 'linear', not {transfer!r}")
    if pixels.dtype == np.uint8 or pixels.dtype == np.uint16:
        levels = 256 if pixels.dtype == np.uint8 else 65536
        if transfer == "linear":
            return (pixels.astype(np.float32) / np.float32(levels - 1)).astype(np.float32)
        return _decode_lut(levels)[pixels]
    values = np.asarray(pixels, dtype=np.float32)
    return srgb_to_linear(values) if transfer == "srgb" else values


def _f_lab(t: FloatArray) -> FloatArray:
    delta = 6.0 / 29.0
    return np.where(t > delta**3, np.cbrt(t), t / (3 * delta**2) + 4.0 / 29.0).astype(np.float32)


def linear_srgb_to_lab(linear: NDArray[np.floating]) -> FloatArray:
    """Linear sRGB (D65) → CIELAB (D65 white), float32. L* in [0, 100]."""
    rgb = np.asarray(linear, dtype=np.float32)
    xyz = rgb @ LINEAR_SRGB_TO_XYZ.T
    f = _f_lab(xyz / D65_WHITE_XYZ)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_linear_srgb(lab: NDArray[np.floating]) -> FloatArray:
    """CIELAB (D65 white) → linear sRGB, float32 (not clipped)."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    f = np.stack([fx, fy, fz], axis=-1)
    delta = 6.0 / 29.0
    t = np.where(f > delta, f**3, 3 * delta**2 * (f - 4.0 / 29.0))
    xyz = t * D65_WHITE_XYZ
    return (xyz @ XYZ_TO_LINEAR_SRGB.T).astype(np.float32)


def delta_e00(lab1: NDArray[np.floating], lab2: NDArray[np.floating]) -> NDArray[np.float64]:
    """CIEDE2000 colour difference between two CIELAB arrays of shape (..., 3).

    Notes
    -----
    Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
    supplementary test data, and mathematical observations", Color Res. Appl. 30(1). Written here
    rather than imported from colour-science because that package takes over a second to import;
    the tests check both agree.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    g = 0.5 * (1.0 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    dlp = l2 - l1
    dcp = c2p - c1p
    dhp = h2p - h1p
    dhp = np.where(dhp > 180.0, dhp - 360.0, np.where(dhp < -180.0, dhp + 360.0, dhp))
    dhp = np.where(c1p * c2p == 0, 0.0, dhp)
    dhp_big = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dhp) / 2.0)
    lbp = (l1 + l2) / 2.0
    cbp = (c1p + c2p) / 2.0
    hsum = h1p + h2p
    hbp = np.where(
        c1p * c2p == 0,
        hsum,
        np.where(
            np.abs(h1p - h2p) <= 180.0,
            hsum / 2.0,
            np.where(hsum < 360.0, (hsum + 360.0) / 2.0, (hsum - 360.0) / 2.0),
        ),
    )
    t = (
        1.0
        - 0.17 * np.cos(np.radians(hbp - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * hbp))
        + 0.32 * np.cos(np.radians(3.0 * hbp + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * hbp - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((hbp - 275.0) / 25.0) ** 2))
    rc = 2.0 * np.sqrt(cbp**7 / (cbp**7 + 25.0**7))
    sl = 1.0 + 0.015 * (lbp - 50.0) ** 2 / np.sqrt(20.0 + (lbp - 50.0) ** 2)
    sc = 1.0 + 0.045 * cbp
    sh = 1.0 + 0.015 * cbp * t
    rt = -np.sin(np.radians(2.0 * d_theta)) * rc
    return np.asarray(
        np.sqrt(
            (dlp / sl) ** 2
            + (dcp / sc) ** 2
            + (dhp_big / sh) ** 2
            + rt * (dcp / sc) * (dhp_big / sh)
        )
    )
