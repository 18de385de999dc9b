"""The painted changes of the phantom: erythema, pigment spots and mottling, pores, fine relief.

Each concern has a ``sample_*`` function that draws every random quantity once, independently of
the ladder level, and an ``apply_*`` function that turns those parameters and a level (0-4) into
maps. Levels therefore nest: the spots, patches and pores of level ``k`` are a subset of those of
level ``k + 1``, grown, so each ladder is monotone in its ground truth by construction.
Wrinkles are in :mod:`skinscan.datasets._phantom_wrinkles`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ERYTHEMA_AREA_FRACTION",
    "ERYTHEMA_BLOOD_ADDED",
    "MOTTLING_AMPLITUDE",
    "PORE_DENSITY_PER_CM2",
    "PORE_SIZE_FACTOR",
    "RELIEF_AMPLITUDE",
    "SPOT_DENSITY_PER_CM2",
    "SPOT_SIZE_FACTOR",
    "Erythema",
    "Pigment",
    "Pores",
    "Relief",
    "apply_erythema",
    "apply_pigment",
    "apply_pores",
    "apply_relief",
    "sample_erythema",
    "sample_pigment",
    "sample_pores",
    "sample_relief",
    "smooth_noise",
]

FloatMap = NDArray[np.float32]
BoolMap = NDArray[np.bool_]

# Ladders, index = level 0..4.
#: Fraction of the skin covered by erythema patches (half-strength contour).
ERYTHEMA_AREA_FRACTION = (0.0, 0.06, 0.14, 0.25, 0.40)
#: Dermal blood volume fraction added at the centre of a patch.
ERYTHEMA_BLOOD_ADDED = (0.0, 0.015, 0.025, 0.04, 0.06)
#: Lentigines per cm² of skin, their size factor (× a base radius of 0.8-1.3 mm) and strength.
SPOT_DENSITY_PER_CM2 = (0.0, 0.2, 0.45, 0.8, 1.3)
SPOT_SIZE_FACTOR = (0.0, 1.0, 1.2, 1.45, 1.7)
_SPOT_STRENGTH = (0.0, 0.8, 0.9, 1.0, 1.1)
#: Relative melanin mottling (SD of a field with ~1.2 mm grain) added by the pigment ladder.
MOTTLING_AMPLITUDE = (0.0, 0.03, 0.06, 0.10, 0.15)
#: Visible pores per cm² and their size factor (× a base radius of 0.08-0.14 mm).
PORE_DENSITY_PER_CM2 = (0.0, 10.0, 25.0, 45.0, 70.0)
PORE_SIZE_FACTOR = (0.0, 1.0, 1.25, 1.5, 1.8)
_PORE_DEPTH = (0.0, 0.12, 0.17, 0.22, 0.28)
#: SD of log-shading of the fine relief (band 0.1-0.5 mm) added by the texture ladder.
RELIEF_AMPLITUDE = (0.0, 0.015, 0.03, 0.045, 0.065)

_ERYTHEMA_GRAIN_MM = 4.0
_MOTTLING_GRAIN_MM = 1.2
_SPOT_EDGE_GRAIN_MM = 0.4
_RELIEF_BAND_MM = (0.1, 0.5)
_MM2_PER_CM2 = 100.0


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> FloatMap:
    """White Gaussian noise low-passed with a Gaussian of ``sigma_px``, rescaled to unit SD.

    Large kernels are applied on a grid coarsened by up to 8× and resized back (bilinear), which
    changes nothing visible at that grain and keeps a 1024² field under ~20 ms.
    """
    factor = int(np.clip(sigma_px // 4, 1, 8))
    small = (max(shape[0] // factor, 1), max(shape[1] // factor, 1))
    noise = rng.standard_normal(small).astype(np.float32)
    sigma = max(sigma_px / factor, 0.3)
    field = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    if factor > 1:
        field = cv2.resize(field, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    field -= field.mean()
    return (field / max(float(field.std()), 1e-12)).astype(np.float32)


def _region(shape: tuple[int, int], skin: BoolMap | None) -> BoolMap:
    return np.ones(shape, dtype=bool) if skin is None else skin


def _area_cm2(region: BoolMap, mm_per_px: float) -> float:
    return float(region.sum()) * mm_per_px * mm_per_px / _MM2_PER_CM2


def _count(density_per_cm2: float, area_cm2: float) -> int:
    if density_per_cm2 <= 0:
        return 0
    return max(1, round(density_per_cm2 * area_cm2))


def _positions(rng: np.random.Generator, region: BoolMap, count: int) -> NDArray[np.float64]:
    """``count`` uniformly drawn ``(x, y)`` positions inside ``region`` (sub-pixel jitter)."""
    rows, cols = np.nonzero(region)
    if rows.size == 0:
        return np.zeros((0, 2))
    pick = rng.integers(0, rows.size, size=count)
    jitter = rng.uniform(-0.5, 0.5, size=(count, 2))
    return np.stack([cols[pick], rows[pick]], axis=1) + jitter


# --- redness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erythema:
    """Sampled erythema: a smooth unit-SD field whose upper tail becomes the patches."""

    field: FloatMap
    baseline: FloatMap


def sample_erythema(rng: np.random.Generator, shape: tuple[int, int], mm_per_px: float) -> Erythema:
    field = smooth_noise(rng, shape, _ERYTHEMA_GRAIN_MM / mm_per_px)
    baseline = smooth_noise(rng, shape, 2.0 * _ERYTHEMA_GRAIN_MM / mm_per_px)
    return Erythema(field, baseline)


def apply_erythema(params: Erythema, level: int, skin: BoolMap | None) -> tuple[FloatMap, BoolMap]:
    """Added blood fraction and the patch mask (where at least half the peak was added).

    The patch strength follows a smoothstep of the field across ±0.3 SD of the threshold that
    leaves ``ERYTHEMA_AREA_FRACTION[level]`` of the skin above it.
    """
    region = _region(params.field.shape, skin)
    if level == 0 or not region.any():
        return np.zeros_like(params.field), np.zeros(params.field.shape, dtype=bool)
    threshold = float(np.quantile(params.field[region], 1.0 - ERYTHEMA_AREA_FRACTION[level]))
    x = np.clip((params.field - threshold) / 0.6 + 0.5, 0.0, 1.0)
    strength = x * x * (3.0 - 2.0 * x)
    added = (ERYTHEMA_BLOOD_ADDED[level] * strength * region).astype(np.float32)
    return added, (params.field >= threshold) & region


# --- pigment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pigment:
    """Sampled lentigines (position, shape, strength) and mottling fields."""

    centres: NDArray[np.float64]
    radius_mm: NDArray[np.float64]
    aspect: NDArray[np.float64]
    angle: NDArray[np.float64]
    strength: NDArray[np.float64]
    edge: FloatMap
    mottling: FloatMap
    baseline: FloatMap
    area_cm2: float


def sample_pigment(
    rng: np.random.Generator, shape: tuple[int, int], mm_per_px: float, skin: BoolMap | None
) -> Pigment:
    region = _region(shape, skin)
    area = _area_cm2(region, mm_per_px)
    count = _count(SPOT_DENSITY_PER_CM2[-1], area)
    return Pigment(
        centres=_positions(rng, region, count),
        radius_mm=rng.uniform(0.8, 1.3, count),
        aspect=rng.uniform(0.6, 1.0, count),
        angle=rng.uniform(0.0, np.pi, count),
        strength=rng.uniform(0.85, 1.15, count),
        edge=smooth_noise(rng, shape, _SPOT_EDGE_GRAIN_MM / mm_per_px),
        mottling=smooth_noise(rng, shape, _MOTTLING_GRAIN_MM / mm_per_px),
        baseline=smooth_noise(rng, shape, 3.0 * _MOTTLING_GRAIN_MM / mm_per_px),
        area_cm2=area,
    )


def apply_pigment(
    params: Pigment,
    level: int,
    base_melanin: FloatMap,
    mm_per_px: float,
    skin: BoolMap | None,
) -> tuple[FloatMap, BoolMap]:
    """Added melanin (mottling + spots) and the spot mask.

    Notes
    -----
    A spot adds ``s · (0.02 + 0.7 · m)`` to the local melanin fraction ``m``, which darkens it by
    roughly 8-14 L* units on every tone; its outline is an ellipse whose radius is modulated by
    ±15 % (fine noise field), with a soft rim of 30 % of the radius; the mask is the half-strength
    contour.
    """
    shape = base_melanin.shape
    region = _region(shape, skin)
    added = (base_melanin * MOTTLING_AMPLITUDE[level] * params.mottling).astype(np.float32)
    spots = np.zeros(shape, dtype=bool)
    spot_added = np.zeros(shape, dtype=np.float32)
    count = min(_count(SPOT_DENSITY_PER_CM2[level], params.area_cm2), len(params.radius_mm))
    for i in range(count):
        radius = params.radius_mm[i] * SPOT_SIZE_FACTOR[level] / mm_per_px
        reach = int(np.ceil(radius * 1.4)) + 1
        cx, cy = params.centres[i]
        x0, x1 = max(int(cx) - reach, 0), min(int(cx) + reach + 1, shape[1])
        y0, y1 = max(int(cy) - reach, 0), min(int(cy) + reach + 1, shape[0])
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        c, s = np.cos(params.angle[i]), np.sin(params.angle[i])
        u = ((xx - cx) * c + (yy - cy) * s) / radius
        v = (-(xx - cx) * s + (yy - cy) * c) / (radius * params.aspect[i])
        rho = np.sqrt(u * u + v * v) * (1.0 + 0.15 * params.edge[y0:y1, x0:x1])
        profile = np.clip((1.15 - rho) / 0.3, 0.0, 1.0)
        amount = _SPOT_STRENGTH[level] * params.strength[i]
        local = profile * amount * (0.02 + 0.7 * base_melanin[y0:y1, x0:x1])
        window = spot_added[y0:y1, x0:x1]
        np.maximum(window, local, out=window)
        spots[y0:y1, x0:x1] |= profile >= 0.5
    added = np.where(region, added + spot_added, 0.0).astype(np.float32)
    return added, spots & region


# --- texture ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pores:
    """Sampled pores: centre, base radius and depth jitter."""

    centres: NDArray[np.float64]
    radius_mm: NDArray[np.float64]
    depth: NDArray[np.float64]
    area_cm2: float


def sample_pores(
    rng: np.random.Generator, shape: tuple[int, int], mm_per_px: float, skin: BoolMap | None
) -> Pores:
    region = _region(shape, skin)
    area = _area_cm2(region, mm_per_px)
    count = _count(PORE_DENSITY_PER_CM2[-1], area)
    return Pores(
        centres=_positions(rng, region, count),
        radius_mm=rng.uniform(0.08, 0.14, count),
        depth=rng.uniform(0.8, 1.2, count),
        area_cm2=area,
    )


def apply_pores(
    params: Pores, level: int, shape: tuple[int, int], mm_per_px: float, skin: BoolMap | None
) -> tuple[FloatMap, BoolMap]:
    """Pore shading (1 = none) and the pore mask (the drawn discs).

    Each pore is a disc darkened by ``_PORE_DEPTH[level]`` × jitter, softened with a Gaussian of
    0.04 mm so that its rim is a gradient, not a step.
    """
    count = min(_count(PORE_DENSITY_PER_CM2[level], params.area_cm2), len(params.radius_mm))
    darkening = np.zeros(shape, dtype=np.float32)
    mask = np.zeros(shape, dtype=np.uint8)
    centres = np.rint(params.centres[:count] * 16.0).astype(np.int64)
    radii = np.rint(params.radius_mm[:count] * PORE_SIZE_FACTOR[level] / mm_per_px * 16.0)
    # A pore smaller than a pixel darkens that pixel only by the share of it that it covers.
    coverage = np.minimum(1.0, np.pi * (radii / 16.0) ** 2)
    for i in range(count):
        centre = (int(centres[i, 0]), int(centres[i, 1]))
        radius = int(radii[i])
        depth = float(_PORE_DEPTH[level] * params.depth[i] * coverage[i])
        cv2.circle(darkening, centre, radius, depth, thickness=-1, shift=4)
        cv2.circle(mask, centre, radius, 1, thickness=-1, shift=4)
    softened = (
        cv2.GaussianBlur(darkening, (0, 0), max(0.04 / mm_per_px, 0.3)) if count else darkening
    )
    region = _region(shape, skin)
    shading = np.where(region, 1.0 - softened, 1.0).astype(np.float32)
    return shading, (mask > 0) & region


@dataclass(frozen=True)
class Relief:
    """Sampled fine relief: band-limited noise of unit SD (less where pixels are too coarse)."""

    field: FloatMap


def sample_relief(rng: np.random.Generator, shape: tuple[int, int], mm_per_px: float) -> Relief:
    noise = rng.standard_normal(shape).astype(np.float32)
    fine = cv2.GaussianBlur(noise, (0, 0), max(_RELIEF_BAND_MM[0] / mm_per_px, 0.3))
    coarse = cv2.GaussianBlur(noise, (0, 0), _RELIEF_BAND_MM[1] / mm_per_px)
    band = fine - coarse
    # Coarse pixels average the relief out: below ~2 px per coarse sigma its contrast fades.
    visible = min(1.0, _RELIEF_BAND_MM[1] / mm_per_px / 2.0)
    return Relief((band * visible / max(float(band.std()), 1e-12)).astype(np.float32))


def apply_relief(params: Relief, amplitude: float, skin: BoolMap | None) -> FloatMap:
    """Relief shading ``exp(amplitude · field)`` on skin, 1 elsewhere."""
    shading = np.exp(amplitude * params.field).astype(np.float32)
    return shading if skin is None else np.where(skin, shading, 1.0).astype(np.float32)
