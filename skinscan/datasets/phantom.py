"""The spectral skin phantom: skin images with exact ground truth, for tests and pretraining.

Colour comes from a two-layer optical model (epidermis with melanin over dermis with blood,
Kubelka–Munk, spectra integrated under D65 with colour-science; formulas and sources in
:mod:`skinscan.datasets._skin_optics` and ``datasets/phantom/DATASET_CARD.md``). On top of it the
four concerns are painted at ladder levels 0-4, each independently:

- **redness**: erythema patches raising the dermal blood fraction;
- **pigment**: lentigines (≥ 1.6 mm) and mottling of the epidermal melanin fraction;
- **texture**: pores and fine relief (shading band-limited to 0.1-0.5 mm);
- **wrinkles**: shaded valleys along centre lines from 674 real hand-drawn FFHQ wrinkle masks.

Each concern draws its randomness from its own stream, ``default_rng([seed, concern])``, and
samples every random quantity before applying a level, so changing one concern's level leaves the
other concerns' maps bit-identical, and each ladder nests (level ``k`` ⊂ level ``k + 1``).

Examples
--------
>>> phantom = render_patch(tone="tan", redness=3, seed=1)  # doctest: +SKIP
>>> phantom.truth.red_area.mean()  # doctest: +SKIP
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from skinscan.colour_space import to_linear_float
from skinscan.datasets import _phantom_paint as paint
from skinscan.datasets import _phantom_wrinkles as wrinkle_paint
from skinscan.datasets import _skin_optics as optics
from skinscan.datasets._phantom_types import Phantom, PhantomTruth
from skinscan.datasets._wrinkle_curves import load_crops

__all__ = [
    "DEFAULT_HEMOGLOBIN",
    "LADDER_LEVELS",
    "SKIN_TONES",
    "Phantom",
    "PhantomTruth",
    "load_wrinkle_masks",
    "render_face",
    "render_patch",
    "skin_linear_rgb",
    "skin_reflectance",
]

#: Epidermal melanin volume fraction of each tone preset; the ITA° of the rendered base colour
#: (at :data:`DEFAULT_HEMOGLOBIN`) falls in the Chardon/Del Bino category of the same name,
#: "very_dark" being far below −30°. Table in the dataset card.
SKIN_TONES: dict[str, float] = {
    "very_light": 0.02,
    "light": 0.04,
    "intermediate": 0.055,
    "tan": 0.08,
    "brown": 0.12,
    "dark": 0.19,
    "very_dark": 0.30,
}
#: Dermal blood volume fraction of unaffected skin (Jacques 1998: 0.2-7 %, typically ~2 %).
DEFAULT_HEMOGLOBIN = 0.02
LADDER_LEVELS = 5
_CONCERNS = ("redness", "pigment", "texture", "wrinkles")
#: Fine relief and melanin variation every patch has, whatever its levels.
_BASE_RELIEF = 0.01
_BASE_MELANIN_VARIATION = 0.04
_BASE_BLOOD_VARIATION = 0.06


def skin_linear_rgb(melanin: ArrayLike, hemoglobin: ArrayLike) -> NDArray[np.float32]:
    """Colour of skin with the given volume fractions, as linear sRGB.

    Parameters
    ----------
    melanin : array_like
        Epidermal melanin volume fraction; values are clipped to [0, 0.5].
    hemoglobin : array_like
        Dermal blood volume fraction, broadcastable with ``melanin``; clipped to [0, 0.25].

    Returns
    -------
    ndarray of shape (..., 3), float32
        Linear sRGB (D65 white = 1) of the diffuse reflectance under D65.

    Notes
    -----
    Bilinear interpolation in a 201 × 101 table of :func:`skin_reflectance` rendered with
    colour-science (built on first use, ~1.5 s); it agrees with the direct spectral computation
    within ΔE00 0.03 (the tests allow 0.5). A 1024² map takes ~30 ms.
    """
    return optics.skin_linear_rgb(melanin, hemoglobin)


def skin_reflectance(
    melanin: ArrayLike,
    hemoglobin: ArrayLike,
    wavelengths_nm: ArrayLike = optics.WAVELENGTHS_NM,
) -> NDArray[np.float64]:
    """Diffuse spectral reflectance of the two-layer skin model.

    Parameters
    ----------
    melanin, hemoglobin : array_like
        Volume fractions in [0, 1] (broadcast together).
    wavelengths_nm : array_like of shape (N,), default 380-780 nm every 5 nm

    Returns
    -------
    ndarray of shape (..., N), float64, in [0, 1]

    Notes
    -----
    Epidermis (0.1 mm) with ``mu_a = f_mel · mu_mel + (1 − f_mel) · mu_base`` over a
    semi-infinite dermis with ``mu_a = f_blood · mu_blood + (1 − f_blood) · mu_base``;
    Kubelka–Munk layers with ``K = 2 mu_a``, ``S = 0.75 mu_s'`` combined as
    ``R = R1 + T1² R2 / (1 − R1 R2)``. Sources: Jacques (1998); Donner & Jensen (2006); Prahl's
    haemoglobin table; Kubelka (1948); Star et al. (1988) — see
    :mod:`skinscan.datasets._skin_optics`.
    """
    return optics.skin_reflectance(melanin, hemoglobin, wavelengths_nm)


def _levels(**levels: int) -> dict[str, int]:
    for name, level in levels.items():
        if not isinstance(level, int | np.integer) or not 0 <= level < LADDER_LEVELS:
            raise ValueError(f"{name} must be an integer level 0..{LADDER_LEVELS - 1}, not {level}")
    return {name: int(levels[name]) for name in _CONCERNS}


def _streams(seed: int) -> dict[str, np.random.Generator]:
    return {name: np.random.default_rng([seed, i]) for i, name in enumerate(_CONCERNS)}


def _tone_melanin(tone: str | float) -> float:
    if isinstance(tone, str):
        if tone not in SKIN_TONES:
            raise ValueError(f"unknown tone {tone!r}; choose from {sorted(SKIN_TONES)}")
        return SKIN_TONES[tone]
    value = float(tone)
    if not optics.MELANIN_RANGE[0] <= value <= optics.MELANIN_RANGE[1]:
        raise ValueError(f"melanin fraction must lie in {optics.MELANIN_RANGE}, not {value}")
    return value


def render_patch(
    *,
    size: tuple[int, int] = (400, 400),
    mm_per_px: float = 0.1,
    tone: str | float = "intermediate",
    hemoglobin: float | None = None,
    redness: int = 0,
    pigment: int = 0,
    texture: int = 0,
    wrinkles: int = 0,
    seed: int = 0,
    mask_index: int | None = None,
) -> Phantom:
    """A flat field of skin (cheek- or forehead-like) with each concern at a ladder level.

    Parameters
    ----------
    size : (int, int)
        ``(height, width)`` in pixels.
    mm_per_px : float
        Pixel size at the skin.
    tone : str or float
        A key of :data:`SKIN_TONES` or an epidermal melanin fraction in [0, 0.5].
    hemoglobin : float, optional
        Baseline dermal blood fraction; :data:`DEFAULT_HEMOGLOBIN` when omitted.
    redness, pigment, texture, wrinkles : int
        Ladder levels 0 (none beyond the baseline) .. 4; definitions in the dataset card.
    seed : int
    mask_index : int, optional
        FFHQ index of the wrinkle mask to take curves from; drawn at random when omitted.

    Returns
    -------
    Phantom
        ``linear_rgb = skin_linear_rgb(melanin, hemoglobin) × shading``, clipped to [0, 1].

    Notes
    -----
    Every patch has a baseline: melanin and blood vary by ±4 % and ±6 % (1 SD, 5-8 mm grain)
    and the relief shading by 1 % (0.1-0.5 mm band). The ladders add to it (see
    :mod:`skinscan.datasets._phantom_paint` and :mod:`skinscan.datasets._phantom_wrinkles`).
    """
    levels = _levels(redness=redness, pigment=pigment, texture=texture, wrinkles=wrinkles)
    height, width = (int(size[0]), int(size[1]))
    if height < 8 or width < 8 or mm_per_px <= 0:
        raise ValueError("size must be at least 8 × 8 pixels and mm_per_px positive")
    shape = (height, width)
    base_melanin = _tone_melanin(tone)
    base_blood = DEFAULT_HEMOGLOBIN if hemoglobin is None else float(hemoglobin)
    rng = _streams(seed)

    erythema = paint.sample_erythema(rng["redness"], shape, mm_per_px)
    pigment_params = paint.sample_pigment(rng["pigment"], shape, mm_per_px, None)
    pores_params = paint.sample_pores(rng["texture"], shape, mm_per_px, None)
    relief_params = paint.sample_relief(rng["texture"], shape, mm_per_px)
    wrinkle_params = wrinkle_paint.sample_patch_wrinkles(
        rng["wrinkles"], shape, mm_per_px, mask_index
    )

    blood_added, red_area = paint.apply_erythema(erythema, levels["redness"], None)
    blood_map = base_blood * (1.0 + _BASE_BLOOD_VARIATION * erythema.baseline)
    melanin_map = base_melanin * (1.0 + _BASE_MELANIN_VARIATION * pigment_params.baseline)
    melanin_added, spots = paint.apply_pigment(
        pigment_params, levels["pigment"], melanin_map.astype(np.float32), mm_per_px, None
    )
    pore_shading, pores = paint.apply_pores(pores_params, levels["texture"], shape, mm_per_px, None)
    relief = paint.apply_relief(
        relief_params, _BASE_RELIEF + paint.RELIEF_AMPLITUDE[levels["texture"]], None
    )
    wrinkle_shading, wrinkle_mask = wrinkle_paint.apply_patch_wrinkles(
        wrinkle_params, levels["wrinkles"], shape, mm_per_px
    )

    melanin = np.clip(melanin_map + melanin_added, 0.0, optics.MELANIN_RANGE[1])
    blood = np.clip(blood_map + blood_added, 0.0, optics.HEMOGLOBIN_RANGE[1])
    shading = (pore_shading * relief * wrinkle_shading).astype(np.float32)
    rgb = skin_linear_rgb(melanin, blood) * shading[..., None]
    truth = PhantomTruth(
        melanin=melanin.astype(np.float32),
        hemoglobin=blood.astype(np.float32),
        shading=shading,
        wrinkles=wrinkle_mask,
        spots=spots,
        pores=pores,
        red_area=red_area,
        skin=np.ones(shape, dtype=bool),
        mm_per_px=float(mm_per_px),
        levels=levels,
        melanin_added=melanin_added,
        hemoglobin_added=blood_added,
        wrinkle_mask_index=wrinkle_params.ffhq_index,
    )
    return Phantom(np.clip(rgb, 0.0, 1.0).astype(np.float32), truth)


def render_face(
    rgb_u8_or_linear: NDArray[np.uint8] | NDArray[np.floating],
    *,
    to_canonical: NDArray[np.floating],
    skin: NDArray[np.bool_],
    mm_per_px: float,
    redness: int = 0,
    pigment: int = 0,
    texture: int = 0,
    wrinkles: int = 0,
    seed: int = 0,
    mask_index: int | None = None,
) -> Phantom:
    """Paint the concerns onto a real face photo, with the painted changes as truth.

    Parameters
    ----------
    rgb_u8_or_linear : ndarray of shape (H, W, 3)
        ``uint8`` sRGB, or float linear sRGB in [0, 1].
    to_canonical : ndarray of shape (2, 3)
        Image → FFHQ-aligned 1024² frame (``FaceGeometry.to_canonical`` /
        :func:`skinscan.standardise.face.canonical_transform`).
    skin : ndarray of shape (H, W), bool
        The face's skin (e.g. :func:`skinscan.standardise.face.facial_skin`, which leaves out
        hair, eyes, brows and lips); nothing is painted outside it.
    mm_per_px : float
        Pixel size at the face (``FaceGeometry.mm_per_px``).
    redness, pigment, texture, wrinkles : int
        Ladder levels 0..4, as in :func:`render_patch` (level 0 paints nothing).
    seed : int
    mask_index : int, optional
        FFHQ index of the wrinkle mask; drawn at random when omitted.

    Returns
    -------
    Phantom
        ``truth.melanin`` / ``truth.hemoglobin`` are the photo's estimated fractions plus the
        painted ones (``melanin_added``, ``hemoglobin_added``); the masks are what was painted.

    Notes
    -----
    The photo's own melanin and blood are estimated by inverting :func:`skin_linear_rgb` on
    chromaticity (nearest table node in ``(log R/G, log B/G)``) of the skin's colour averaged
    over :data:`STATE_SIGMA_MM` (:func:`_local_colour`): below a millimetre a pixel's
    chromaticity follows sensor noise, JPEG blocks and the shadows of pores as much as its
    pigments, and a ratio computed from it would print that detail into the photo as texture
    wherever a concern is painted (a real change of blood or melanin does not alter the relief).
    A painted pixel becomes ``photo × rgb(m + Δm, h + Δh) / rgb(m, h) × shading``, which keeps
    everything the model does not explain (lighting, texture, the camera's colour) and leaves
    unpainted pixels exactly as they were. Wrinkle curves are placed where they were drawn in the
    canonical frame and mapped back with the inverse of ``to_canonical``; spots, patches and pores
    are drawn directly in the image at their physical size.
    """
    levels = _levels(redness=redness, pigment=pigment, texture=texture, wrinkles=wrinkles)
    photo = np.asarray(rgb_u8_or_linear)
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, not shape {photo.shape}")
    linear = to_linear_float(photo) if photo.dtype == np.uint8 else photo.astype(np.float32)
    shape = (photo.shape[0], photo.shape[1])
    skin = np.asarray(skin, dtype=bool)
    if skin.shape != shape:
        raise ValueError(f"skin mask shape {skin.shape} does not match the image {shape}")
    if mm_per_px <= 0:
        raise ValueError("mm_per_px must be positive")
    rng = _streams(seed)

    melanin0, blood0 = optics.estimate_melanin_hemoglobin(_local_colour(linear, skin, mm_per_px))
    melanin0 = np.where(skin, melanin0, 0.0).astype(np.float32)
    blood0 = np.where(skin, blood0, 0.0).astype(np.float32)

    erythema = paint.sample_erythema(rng["redness"], shape, mm_per_px)
    pigment_params = paint.sample_pigment(rng["pigment"], shape, mm_per_px, skin)
    pores_params = paint.sample_pores(rng["texture"], shape, mm_per_px, skin)
    relief_params = paint.sample_relief(rng["texture"], shape, mm_per_px)
    wrinkle_params = wrinkle_paint.sample_face_wrinkles(rng["wrinkles"], mask_index)

    blood_added, red_area = paint.apply_erythema(erythema, levels["redness"], skin)
    melanin_added, spots = paint.apply_pigment(
        pigment_params, levels["pigment"], melanin0, mm_per_px, skin
    )
    pore_shading, pores = paint.apply_pores(pores_params, levels["texture"], shape, mm_per_px, skin)
    relief = paint.apply_relief(relief_params, paint.RELIEF_AMPLITUDE[levels["texture"]], skin)
    wrinkle_shading, wrinkle_mask = wrinkle_paint.apply_face_wrinkles(
        wrinkle_params,
        levels["wrinkles"],
        shape,
        np.asarray(to_canonical, dtype=np.float64),
        mm_per_px,
        skin,
    )
    shading = (pore_shading * relief * wrinkle_shading).astype(np.float32)

    melanin = np.clip(melanin0 + melanin_added, 0.0, optics.MELANIN_RANGE[1])
    blood = np.clip(blood0 + blood_added, 0.0, optics.HEMOGLOBIN_RANGE[1])
    out = linear.copy()
    painted = (melanin_added != 0) | (blood_added != 0) | (shading != 1.0)
    if painted.any():
        before = skin_linear_rgb(melanin0[painted], blood0[painted])
        after = skin_linear_rgb(melanin[painted], blood[painted])
        ratio = after / np.maximum(before, 1e-6) * shading[painted][:, None]
        out[painted] = linear[painted] * ratio
    truth = PhantomTruth(
        melanin=melanin.astype(np.float32),
        hemoglobin=blood.astype(np.float32),
        shading=shading,
        wrinkles=wrinkle_mask,
        spots=spots,
        pores=pores,
        red_area=red_area,
        skin=skin.copy(),
        mm_per_px=float(mm_per_px),
        levels=levels,
        melanin_added=melanin_added,
        hemoglobin_added=blood_added,
        wrinkle_mask_index=wrinkle_params.ffhq_index,
    )
    return Phantom(np.clip(out, 0.0, 1.0).astype(np.float32), truth)


#: Gaussian σ (mm) of the skin colour from which :func:`render_face` estimates the photo's own
#: pigments.
STATE_SIGMA_MM = 1.0


def _local_colour(
    linear: NDArray[np.float32], skin: NDArray[np.bool_], mm_per_px: float
) -> NDArray[np.float32]:
    """Linear RGB averaged over the skin within :data:`STATE_SIGMA_MM` (off skin: unchanged)."""
    sigma = STATE_SIGMA_MM / mm_per_px
    weight = skin.astype(np.float32)
    total = cv2.GaussianBlur(linear * weight[..., None], (0, 0), sigma)
    norm = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    local = np.where(norm > 1e-3, total / np.maximum(norm, 1e-3), linear)
    return np.asarray(local, dtype=np.float32)


def load_wrinkle_masks(
    indices: tuple[int, ...] | None = None,
) -> list[tuple[int, NDArray[np.bool_]]]:
    """The hand-drawn FFHQ wrinkle masks shipped with the package, in the canonical frame.

    Parameters
    ----------
    indices : tuple of int, optional
        FFHQ image numbers to load; all 674 when omitted (≈ 700 MB as full frames: prefer a
        subset where memory matters).

    Returns
    -------
    list of (int, ndarray of shape (1024, 1024), bool)
        ``(ffhq_index, mask)`` ascending by index; the mask is True on wrinkle pixels, placed
        where ``crop_limits.csv`` says it sits in the FFHQ-aligned 1024² image.

    Notes
    -----
    From vanijan/Wrinkle-Dataset-and-Wrinkle-Video-Evaluation (Apache-2.0), drawn by a student,
    not a dermatologist; provenance in ``skinscan/data/wrinkle_masks/README.md``.
    """
    return [(crop.ffhq_index, crop.full_frame()) for crop in load_crops(indices)]
