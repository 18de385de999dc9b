"""Skin-colour separation: melanin, hemoglobin and shading maps from linear RGB.

The photo is taken to optical density, ``OD = −ln(max(linear RGB, ε))``, where Beer–Lambert makes
the pigments additive (Tsumura et al. 1999; 2003)::

    OD(x) = m(x) · v_mel + h(x) · v_hem + p(x) · (1, 1, 1)

``v_mel`` and ``v_hem`` are unit vectors, ``m`` and ``h`` the pigment amounts and ``p`` the shading:
a change of illumination intensity multiplies all three channels alike, so it moves OD along
``(1, 1, 1)`` only (Tsumura 2003, §3: shading is removed by projecting along the illumination
intensity direction, which for a calibrated, white-balanced photo is ``(1, 1, 1)``). The linear
methods estimate the pigment vectors per photo by independent component analysis of the skin
pixels' OD in the plane orthogonal to ``(1, 1, 1)`` (Tsumura 1999; :mod:`._fastica`), with fixed
vectors as the fallback, and invert the 3 × 3 system per pixel. The default replaces the two
vectors by the two-layer skin model, whose pigment directions turn with the amounts
(:mod:`._two_layer`, :mod:`._two_layer_inverse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.measures._fastica import (
    ICA_MAX_PIXELS,
    MAX_ANGLE_TO_FIXED_DEG,
    MIN_ANGLE_BETWEEN_DEG,
    MIN_NONGAUSSIANITY,
    MIN_SPREAD_OD,
    fastica_2d,
    ica_vectors,
    sample_skin,
)
from skinscan.measures._optical_density import log_reflectance, optical_density
from skinscan.measures._two_layer import (
    FACE_SHADING_PRIOR,
    LOCAL_SIGMA_MM,
    PIXEL_SHADING_PRIOR,
    fit_local_state,
    grow,
    tangent_vectors,
)
from skinscan.measures._two_layer_inverse import invert_pixels

__all__ = [
    "FACE_SHADING_PRIOR",
    "HEMOGLOBIN_VECTOR",
    "ICA_MAX_PIXELS",
    "LOCAL_SIGMA_MM",
    "MAX_ANGLE_TO_FIXED_DEG",
    "MELANIN_VECTOR",
    "MIN_ANGLE_BETWEEN_DEG",
    "MIN_NONGAUSSIANITY",
    "MIN_SPREAD_OD",
    "PIXEL_SHADING_PRIOR",
    "Separation",
    "context_separation",
    "fastica_2d",
    "fixed_vectors",
    "optical_density",
    "separate",
]

FloatArray = NDArray[np.float32]

#: Default fixed pigment vectors (R, G, B): ``−ln`` linear sRGB per unit amount, unit length. A
#: Beer–Lambert fit: the derivative of ``−ln(sRGB)`` of the reflectance
#: ``0.6 · exp(−m μ_mel(λ) − h μ_blood(λ) ℓ(λ))`` at ``m = h = 1``, under CIE D65 with the
#: CIE 1931 2° observer; ``μ_mel ∝ λ^−3.33`` (Jacques 1998), ``μ_blood`` 75 % HbO2 + 25 % Hb
#: (Prahl's molar extinction tabulation) weighted by the dermal penetration depth ``ℓ(λ)`` of
#: Anderson & Parrish (1981), since blue light reaches little of the dermal blood. The
#: hemoglobin vector lies within 3° of the one Tsumura's group estimates from facial photos,
#: (0.30, 0.68, 0.67): a green peak, little in the red. The same on every tone.
MELANIN_VECTOR = np.array([0.2396, 0.4505, 0.8600])
HEMOGLOBIN_VECTOR = np.array([0.2559, 0.6905, 0.6766])

Method = Literal["two-layer", "ica", "fixed"]
FixedModel = Literal["beer-lambert", "two-layer"]


@dataclass(frozen=True)
class Separation:
    """Result of :func:`separate`.

    Attributes
    ----------
    melanin, hemoglobin : ndarray of shape (H, W), float32
        Pigment amounts: ``"two-layer"``, volume fractions in percent; linear methods, OD
        (natural log) along the unit vectors, relative units.
    shading : ndarray of shape (H, W), float32
        The ``(1, 1, 1)`` component ``p``: ``exp(−p)`` is the intensity factor of illumination (and
        of the grey part of the skin's own reflectance).
    melanin_vector, hemoglobin_vector : ndarray of shape (3,), float64
        The unit vectors used (``"two-layer"``: the model's tangents at the median skin).
    method : {"two-layer", "ica", "fixed"}
    reason : str
        Why the fixed vectors were used ("" otherwise).
    """

    melanin: FloatArray
    hemoglobin: FloatArray
    shading: FloatArray
    melanin_vector: NDArray[np.float64]
    hemoglobin_vector: NDArray[np.float64]
    method: Method
    reason: str = ""


def fixed_vectors(
    skin_od: NDArray[np.floating], *, model: FixedModel = "beer-lambert"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The fixed melanin and hemoglobin vectors for skin of optical density ``skin_od`` (3,).

    ``"beer-lambert"``: :data:`MELANIN_VECTOR` and :data:`HEMOGLOBIN_VECTOR` whatever the skin.
    ``"two-layer"``: the derivatives of the two-layer model's OD with respect to the melanin and
    blood fractions, at the model state nearest to ``skin_od``, made unit length: tone-dependent
    vectors, continuous in the skin's OD.

    Examples
    --------
    >>> mel, hem = fixed_vectors(np.array([0.64, 1.07, 1.39]), model="two-layer")
    >>> bool(mel[2] > mel[0]), bool(hem[1] > hem[0])
    (True, True)
    """
    if model == "beer-lambert":
        return MELANIN_VECTOR, HEMOGLOBIN_VECTOR
    if model != "two-layer":
        raise ValueError(f"model must be 'beer-lambert' or 'two-layer', not {model!r}")
    return tangent_vectors(np.asarray(skin_od, dtype=np.float64))


def _two_layer(rgb: FloatArray, skin: NDArray[np.bool_], local_sigma_px: float) -> Separation:
    log_rgb = log_reflectance(rgb)
    local = fit_local_state(log_rgb, skin, local_sigma_px)
    local_shading = grow(local.shading, local.factor, skin.shape)
    melanin, hemoglobin, shading = invert_pixels(log_rgb, local_shading)
    mel, hem = tangent_vectors(local.skin_od)
    return Separation(melanin, hemoglobin, shading, mel, hem, method="two-layer")


def separate(
    linear_rgb: NDArray[np.floating],
    skin: NDArray[np.bool_] | None = None,
    *,
    method: Method = "two-layer",
    local_sigma_px: float = LOCAL_SIGMA_MM / 0.1,
    fixed: FixedModel = "beer-lambert",
) -> Separation:
    """Melanin, hemoglobin and shading maps of a photo.

    Parameters
    ----------
    linear_rgb : ndarray of shape (H, W, 3), float
        Colour-calibrated linear sRGB in [0, 1], read as reflectance.
    skin : ndarray of shape (H, W), bool, optional
        The skin pixels (all pixels when None): what the local skin state (``"two-layer"``) or
        the ICA (``"ica"``) is learnt from. Every pixel gets values.
    method : {"two-layer", "ica", "fixed"}
        ``"two-layer"`` (default): per-pixel inversion of the two-layer skin model; melanin and
        hemoglobin in volume-fraction percent. ``"ica"``: linear separation with vectors
        estimated by ICA, ``fixed`` vectors as the fallback; ``"fixed"``: linear separation with
        the ``fixed`` vectors. The linear methods give OD along unit vectors.
    local_sigma_px : float
        ``"two-layer"``: Gaussian σ (px) of the local skin state, :data:`LOCAL_SIGMA_MM` on the
        photo's scale; 50 px is 5 mm at 0.1 mm/px.
    fixed : {"beer-lambert", "two-layer"}
        Linear methods: the fixed vectors (:func:`fixed_vectors`), the fallback of the ICA and
        what its vectors must lie near.

    Returns
    -------
    Separation

    Notes
    -----
    Linear: Tsumura, Haneishi & Miyake (1999), "Independent-component analysis of skin color
    image", J. Opt. Soc. Am. A 16:2169; Tsumura et al. (2003), ACM TOG 22:770 (SIGGRAPH). The
    concentrations solve ``[v_mel v_hem 1] (m, h, p)ᵀ = OD`` per pixel; a multiplicative shading
    field only changes ``p``.

    Two-layer: ``OD = G(f_mel, f_blood) + p · (1, 1, 1)`` with ``G`` the ``−ln`` linear sRGB of
    the two-layer Kubelka–Munk skin model (epidermal melanin over dermal blood; Doi & Tominaga
    2003; :mod:`skinscan.datasets._skin_optics`), fitted first to the skin's local mean OD
    (σ ``local_sigma_px``, by Gauss–Newton on a coarse grid, shading held near 0 by the weight
    :data:`FACE_SHADING_PRIOR`: the photo is exposure-calibrated;
    :func:`~skinscan.measures._two_layer.fit_local_state`), then per pixel, shading held near the
    local shading by :data:`PIXEL_SHADING_PRIOR`: each pixel takes the global minimum of its
    cost, looked up in a table of the model's inverse
    (:mod:`skinscan.measures._two_layer_inverse`; built once per process, ≈ 1.3 s with the model
    tables). Where the pigments change the colour's chromaticity, the shading is free and the
    fractions follow the chromaticity alone, as in Tsumura's method; where they do not (melanin
    near 12 %, whose effect there is a near-grey darkening), a darkening against the surrounding
    skin is read as melanin rather than shadow.

    Examples
    --------
    >>> rgb = np.full((8, 8, 3), (0.53, 0.34, 0.25), np.float32)
    >>> s = separate(rgb, method="ica")
    >>> s.method, s.reason
    ('fixed', 'too few skin pixels (64)')
    """
    rgb = np.ascontiguousarray(linear_rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"linear_rgb must have shape (H, W, 3), not {rgb.shape}")
    if method not in ("two-layer", "ica", "fixed"):
        raise ValueError(f"method must be 'two-layer', 'ica' or 'fixed', not {method!r}")
    mask = np.ones(rgb.shape[:2], bool) if skin is None else np.ascontiguousarray(skin, bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"skin has shape {mask.shape}, image is {rgb.shape[:2]}")
    if method == "two-layer":
        return _two_layer(rgb, mask, local_sigma_px)
    od = optical_density(rgb)
    pixels = sample_skin(rgb, np.flatnonzero(mask))
    samples = od.reshape(-1, 3)[pixels].astype(np.float64)
    skin_od = np.median(samples, axis=0) if pixels.size else np.median(od.reshape(-1, 3), axis=0)
    mel, hem = fixed_vectors(skin_od, model=fixed)
    if method == "ica":
        mel, hem, reason = ica_vectors(samples, mel, hem)
    else:
        reason = "fixed vectors requested"
    system = np.stack([mel, hem, np.ones(3)], axis=1)
    inverse = np.linalg.inv(system).astype(np.float32)
    amounts = np.asarray(cv2.transform(od, inverse), dtype=np.float32)
    return Separation(
        melanin=np.ascontiguousarray(amounts[..., 0]),
        hemoglobin=np.ascontiguousarray(amounts[..., 1]),
        shading=np.ascontiguousarray(amounts[..., 2]),
        melanin_vector=mel,
        hemoglobin_vector=hem,
        method="fixed" if reason else "ica",
        reason=reason,
    )


class _Context(Protocol):
    linear: FloatArray
    skin: NDArray[np.bool_]
    __dict__: dict[str, Any]

    def px(self, mm: float) -> float: ...


def context_separation(ctx: _Context) -> Separation:
    """The default separation of a measures context (working grid, its skin), computed once.

    Cached where :func:`skinscan.measures._common.skin_separation` looks for it, so both return
    the same object; this one passes the context's scale for the local skin state.
    """
    cached: Separation | None = ctx.__dict__.get("_skin_separation")
    if cached is None:
        cached = separate(ctx.linear, ctx.skin, local_sigma_px=ctx.px(LOCAL_SIGMA_MM))
        ctx.__dict__["_skin_separation"] = cached
    return cached
