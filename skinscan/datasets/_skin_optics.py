"""Two-layer spectral skin reflectance: epidermis with melanin over dermis with blood.

The model, every constant with its source:

**Absorption** (mm⁻¹, λ in nm)

- melanin: a blend ``mu_mel = (1 − β) · mu_eu + β · mu_pheo`` of eumelanin
  ``mu_eu(λ) = 6.6e10 · λ^-3.33`` and pheomelanin ``mu_pheo(λ) = 2.9e14 · λ^-4.75``, with the
  pheomelanin share ``β = 0.5`` — the melanin terms of Donner & Jensen (2006), "A spectral BSSRDF
  for shading human skin", Eurographics Symposium on Rendering, used again by Jimenez et al.
  (2010), "A practical appearance model for dynamic facial color", ACM TOG 29(6):141. The
  eumelanin law is Jacques (1998), "Skin optics", Oregon Medical Laser Center News
  (6.6e11 · λ^-3.33 cm⁻¹ for the melanosome interior). Both papers leave ``β`` free; 0.5 puts the
  CIELAB hue of every tone preset at about 40-60°, as measured on real skin (pure eumelanin
  gives greyish dark skin with b* < 6);
- blood: ``mu_blood(λ) = ln(10) · c_Hb / 64 500 · (S · e_HbO2(λ) + (1 − S) · e_Hb(λ)) / 10`` with
  ``c_Hb = 150 g/L`` and oxygen saturation ``S = 0.75``; ``e`` from Prahl's table
  (:mod:`skinscan.datasets._hemoglobin_table`); the saturation of cutaneous blood as in Jimenez
  et al. (2010);
- skin baseline (bloodless, melanin-free tissue): ``mu_base(λ) = 0.0244 + 8.53 ·
  exp(−(λ − 154) / 66.2)`` — Jacques (1998), also Donner & Jensen (2006);
- epidermis ``mu_a = f_mel · mu_mel + (1 − f_mel) · mu_base``; dermis
  ``mu_a = f_blood · mu_blood + (1 − f_blood) · mu_base``.

**Scattering**: the reduced scattering coefficient of dermis (and, for want of better data,
epidermis), ``mu_s'(λ) = 2e4 · λ^-1.5 + 2e11 · λ^-4`` mm⁻¹ (Mie + Rayleigh terms; Jacques 1998,
2e5 · λ^-1.5 + 2e12 · λ^-4 cm⁻¹).

**Layers**: Kubelka–Munk with ``K = 2 mu_a`` and ``S = 0.75 mu_s'`` (Star, Marijnissen & van
Gemert 1988, "Light dosimetry in optical phantoms and in tissues: I", Phys. Med. Biol. 33:437).
A layer of thickness ``d`` (Kubelka 1948, J. Opt. Soc. Am. 38:448), ``a = 1 + K/S``,
``b = sqrt(a² − 1)``::

    R = sinh(b S d) / (a sinh(b S d) + b cosh(b S d))
    T = b / (a sinh(b S d) + b cosh(b S d))

The epidermis (0.1 mm, Jacques 1998) lies on the blood-bearing dermis, 0.2 mm of papillary and
upper reticular dermis where the superficial vascular plexus runs (blood fraction ``f_blood``),
which lies on a background of deep dermis thick enough to be semi-infinite, ``R_inf = a − b``,
with a fixed 0.5 % of blood (the layering of Meglinski & Matcher 2002, "Quantitative assessment
of skin layers absorption and skin reflectance spectra simulation in the visible and
near-infrared spectral regions", Physiol. Meas. 23:741, reduced to two layers on a background).
Layers are stacked with the Kubelka formula ``R = R1 + T1² R2 / (1 − R1 R2)``, first the dermis
on its background, then the epidermis on top (the approach of Doi & Tominaga 2003, "Spectral
estimation of human skin color using the Kubelka–Munk theory", Proc. SPIE 5008). Keeping the
blood in a thin layer matters: spread through a semi-infinite dermis it also absorbs the deep
red light, and on dark skin more blood would then *lower* a*. The surface (Fresnel) gloss is
left out: the phantom renders the diffuse body reflectance a cross-polarised photo records.

**Colour**: reflectance × CIE D65 integrated with the CIE 1931 2° observer
(``colour.msds_to_XYZ``, colour-science), XYZ → linear sRGB with the IEC 61966-2-1 matrix.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from skinscan.colour_space import LINEAR_SRGB_TO_XYZ
from skinscan.datasets._hemoglobin_table import (
    HB_DEOXY_EXTINCTION,
    HB_EXTINCTION_NM,
    HBO2_EXTINCTION,
)

__all__ = [
    "BLOOD_OXYGEN_SATURATION",
    "DEEP_DERMIS_BLOOD",
    "DERMIS_THICKNESS_MM",
    "EPIDERMIS_THICKNESS_MM",
    "HEMOGLOBIN_RANGE",
    "MELANIN_RANGE",
    "PHEOMELANIN_SHARE",
    "WAVELENGTHS_NM",
    "blood_absorption_per_mm",
    "estimate_melanin_hemoglobin",
    "melanin_absorption_per_mm",
    "reflectance_to_linear_rgb",
    "skin_linear_rgb",
    "skin_reflectance",
]

WAVELENGTHS_NM = np.arange(380, 781, 5, dtype=np.float64)
EPIDERMIS_THICKNESS_MM = 0.1
DERMIS_THICKNESS_MM = 0.2
DEEP_DERMIS_BLOOD = 0.005
BLOOD_OXYGEN_SATURATION = 0.75
PHEOMELANIN_SHARE = 0.5
HEMOGLOBIN_G_PER_L = 150.0
HEMOGLOBIN_G_PER_MOL = 64500.0
#: Volume fractions the lookup table covers; values outside are clipped.
MELANIN_RANGE = (0.0, 0.5)
HEMOGLOBIN_RANGE = (0.0, 0.25)
_LUT_MELANIN_STEPS = 201
_LUT_HEMOGLOBIN_STEPS = 101
_XYZ_TO_LINEAR_SRGB = np.linalg.inv(LINEAR_SRGB_TO_XYZ.astype(np.float64))


def melanin_absorption_per_mm(
    wavelengths_nm: ArrayLike, *, pheomelanin_share: float = PHEOMELANIN_SHARE
) -> NDArray[np.float64]:
    """Melanin absorption coefficient (mm⁻¹): eu-/pheomelanin blend of Donner & Jensen (2006).

    ``(1 − β) · 6.6e10 · λ^-3.33 + β · 2.9e14 · λ^-4.75`` with ``β = pheomelanin_share``.
    """
    lam = np.asarray(wavelengths_nm, dtype=np.float64)
    eumelanin = 6.6e10 * lam**-3.33
    pheomelanin = 2.9e14 * lam**-4.75
    return (1.0 - pheomelanin_share) * eumelanin + pheomelanin_share * pheomelanin


def blood_absorption_per_mm(
    wavelengths_nm: ArrayLike, *, saturation: float = BLOOD_OXYGEN_SATURATION
) -> NDArray[np.float64]:
    """Whole-blood absorption coefficient (mm⁻¹) from Prahl's molar extinction table.

    ``mu_a = ln(10) · 150 g/L / 64 500 g/mol · (S e_HbO2 + (1 − S) e_Hb)`` cm⁻¹, divided by 10.
    """
    lam = np.asarray(wavelengths_nm, dtype=np.float64)
    oxy = np.interp(lam, HB_EXTINCTION_NM, HBO2_EXTINCTION)
    deoxy = np.interp(lam, HB_EXTINCTION_NM, HB_DEOXY_EXTINCTION)
    extinction = saturation * oxy + (1.0 - saturation) * deoxy
    return np.log(10.0) * HEMOGLOBIN_G_PER_L / HEMOGLOBIN_G_PER_MOL * extinction / 10.0


def _baseline_absorption_per_mm(lam: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.0244 + 8.53 * np.exp(-(lam - 154.0) / 66.2)


def _reduced_scattering_per_mm(lam: NDArray[np.float64]) -> NDArray[np.float64]:
    return 2e4 * lam**-1.5 + 2e11 * lam**-4.0


def _km_layer(
    k: NDArray[np.float64], s: NDArray[np.float64], thickness_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = 1.0 + k / s
    b = np.sqrt(a * a - 1.0)
    bsd = np.minimum(b * s * thickness_mm, 50.0)
    denominator = a * np.sinh(bsd) + b * np.cosh(bsd)
    return np.sinh(bsd) / denominator, b / denominator


def skin_reflectance(
    melanin: ArrayLike,
    hemoglobin: ArrayLike,
    wavelengths_nm: ArrayLike = WAVELENGTHS_NM,
) -> NDArray[np.float64]:
    """Diffuse spectral reflectance of skin with the given volume fractions.

    Parameters
    ----------
    melanin : array_like
        Epidermal melanin volume fraction (0-1), any shape broadcastable with ``hemoglobin``.
    hemoglobin : array_like
        Dermal blood volume fraction (0-1).
    wavelengths_nm : array_like of shape (N,), default 380-780 nm in 5 nm steps

    Returns
    -------
    ndarray of shape (..., N), float64
        Reflectance factor in [0, 1] at each wavelength (model in the module docstring).
    """
    lam = np.asarray(wavelengths_nm, dtype=np.float64)
    f_mel = np.asarray(melanin, dtype=np.float64)[..., None]
    f_blood = np.asarray(hemoglobin, dtype=np.float64)[..., None]
    if np.any(f_mel < 0) or np.any(f_mel > 1) or np.any(f_blood < 0) or np.any(f_blood > 1):
        raise ValueError("volume fractions must lie in [0, 1]")
    base = _baseline_absorption_per_mm(lam)
    scattering = 0.75 * _reduced_scattering_per_mm(lam)
    mu_epidermis = f_mel * melanin_absorption_per_mm(lam) + (1.0 - f_mel) * base
    mu_dermis = f_blood * blood_absorption_per_mm(lam) + (1.0 - f_blood) * base
    mu_deep = DEEP_DERMIS_BLOOD * blood_absorption_per_mm(lam) + (1 - DEEP_DERMIS_BLOOD) * base
    r1, t1 = _km_layer(2.0 * mu_epidermis, scattering, EPIDERMIS_THICKNESS_MM)
    r2, t2 = _km_layer(2.0 * mu_dermis, scattering, DERMIS_THICKNESS_MM)
    a3 = 1.0 + 2.0 * mu_deep / scattering
    r3 = a3 - np.sqrt(a3 * a3 - 1.0)
    r23 = r2 + t2 * t2 * r3 / (1.0 - r2 * r3)
    return np.asarray(r1 + t1 * t1 * r23 / (1.0 - r1 * r23))


def reflectance_to_linear_rgb(
    reflectance: ArrayLike, wavelengths_nm: ArrayLike = WAVELENGTHS_NM
) -> NDArray[np.float64]:
    """Spectral reflectance under CIE D65 → linear sRGB, white (R = 1) ↦ (1, 1, 1).

    Parameters
    ----------
    reflectance : array_like of shape (..., N)
    wavelengths_nm : array_like of shape (N,), evenly spaced

    Returns
    -------
    ndarray of shape (..., 3), float64
    """
    import colour  # slow to import: only when a table is built

    lam = np.asarray(wavelengths_nm, dtype=np.float64)
    values = np.asarray(reflectance, dtype=np.float64)
    shape = colour.SpectralShape(float(lam[0]), float(lam[-1]), float(lam[1] - lam[0]))
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"].copy().align(shape)
    illuminant = colour.SDS_ILLUMINANTS["D65"].copy().align(shape)
    flat = values.reshape(-1, lam.size)
    xyz = colour.msds_to_XYZ(flat, cmfs, illuminant, method="Integration", shape=shape) / 100.0
    rgb = xyz @ _XYZ_TO_LINEAR_SRGB.T
    # Normalise so that the perfect reflector maps to exactly (1, 1, 1): removes the tiny
    # mismatch between the tabulated D65 and the sRGB white point.
    white = (
        colour.msds_to_XYZ(
            np.ones((1, lam.size)), cmfs, illuminant, method="Integration", shape=shape
        )
        / 100.0
    )
    rgb = rgb / (white @ _XYZ_TO_LINEAR_SRGB.T)
    return np.asarray(rgb.reshape((*values.shape[:-1], 3)))


@lru_cache(maxsize=1)
def _lut() -> NDArray[np.float32]:
    melanin = np.linspace(*MELANIN_RANGE, _LUT_MELANIN_STEPS)
    hemoglobin = np.linspace(*HEMOGLOBIN_RANGE, _LUT_HEMOGLOBIN_STEPS)
    spectra = skin_reflectance(melanin[:, None], hemoglobin[None, :])
    return reflectance_to_linear_rgb(spectra).astype(np.float32)


def _grid_coordinates(
    melanin: NDArray[np.float32], hemoglobin: NDArray[np.float32]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    m_step = (MELANIN_RANGE[1] - MELANIN_RANGE[0]) / (_LUT_MELANIN_STEPS - 1)
    h_step = (HEMOGLOBIN_RANGE[1] - HEMOGLOBIN_RANGE[0]) / (_LUT_HEMOGLOBIN_STEPS - 1)
    rows = np.clip((melanin - MELANIN_RANGE[0]) / m_step, 0, _LUT_MELANIN_STEPS - 1)
    cols = np.clip((hemoglobin - HEMOGLOBIN_RANGE[0]) / h_step, 0, _LUT_HEMOGLOBIN_STEPS - 1)
    return rows.astype(np.float32), cols.astype(np.float32)


def skin_linear_rgb(melanin: ArrayLike, hemoglobin: ArrayLike) -> NDArray[np.float32]:
    """Linear sRGB (D65) of skin, interpolated bilinearly in a precomputed table.

    See :func:`skinscan.datasets.phantom.skin_linear_rgb` for the contract.
    """
    m, h = np.broadcast_arrays(
        np.asarray(melanin, dtype=np.float32), np.asarray(hemoglobin, dtype=np.float32)
    )
    shape = m.shape
    rows, cols = _grid_coordinates(m.reshape(1, -1), h.reshape(1, -1))
    out = np.empty((rows.size, 3), dtype=np.float32)
    table = _lut()
    # cv2.remap is limited to 32767 columns per call: feed it in chunks.
    chunk = 32000
    for start in range(0, rows.size, chunk):
        stop = min(start + chunk, rows.size)
        out[start:stop] = cv2.remap(
            table,
            cols[:, start:stop],
            rows[:, start:stop],
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )[0]
    return out.reshape((*shape, 3))


@lru_cache(maxsize=1)
def _inverse_table() -> tuple[NDArray[np.float32], NDArray[np.float32], float, float, float]:
    """Nearest (melanin, blood) for each cell of a grid over log-chromaticity."""
    from scipy.spatial import cKDTree

    table = _lut().astype(np.float64)
    chroma = np.log(table[..., [0, 2]] / table[..., 1:2]).reshape(-1, 2)
    tree = cKDTree(chroma)
    low, high, cells = -1.0, 4.0, 512
    axis = np.linspace(low, high, cells)
    # Grid axes: log(R/G) and log(B/G) ranges that contain every skin colour.
    ur, ub = np.meshgrid(axis + 0.0, axis - 3.0, indexing="ij")
    _, nearest = tree.query(np.stack([ur.ravel(), ub.ravel()], axis=1))
    m_idx, h_idx = np.unravel_index(nearest, table.shape[:2])
    melanin = np.linspace(*MELANIN_RANGE, _LUT_MELANIN_STEPS)[m_idx].reshape(cells, cells)
    hemoglobin = np.linspace(*HEMOGLOBIN_RANGE, _LUT_HEMOGLOBIN_STEPS)[h_idx].reshape(cells, cells)
    step = (high - low) / (cells - 1)
    return melanin.astype(np.float32), hemoglobin.astype(np.float32), low, -3.0 + low, step


def estimate_melanin_hemoglobin(
    linear_rgb: ArrayLike,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Invert :func:`skin_linear_rgb` up to a brightness factor, by chromaticity.

    Parameters
    ----------
    linear_rgb : array_like of shape (..., 3), linear sRGB

    Returns
    -------
    melanin, hemoglobin : ndarray of shape (...), float32
        The table node whose log-chromaticity ``(log R/G, log B/G)`` is nearest to the pixel's
        (brightness cancels, so shading does not bias the estimate).
    """
    rgb = np.maximum(np.asarray(linear_rgb, dtype=np.float32), 1e-4)
    melanin, hemoglobin, r_low, b_low, step = _inverse_table()
    cells = melanin.shape[0]
    log_rg = np.log(rgb[..., 0] / rgb[..., 1])
    log_bg = np.log(rgb[..., 2] / rgb[..., 1])
    i = np.clip(np.rint((log_rg - r_low) / step), 0, cells - 1).astype(np.intp)
    j = np.clip(np.rint((log_bg - b_low) / step), 0, cells - 1).astype(np.intp)
    return melanin[i, j], hemoglobin[i, j]
