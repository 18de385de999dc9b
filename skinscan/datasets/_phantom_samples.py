"""Training samples drawn from the phantom: random patches, and concerns painted on real faces.

Every random choice of sample ``index`` comes from ``default_rng([seed, kind, index])`` alone, so
a sample is the same whichever process renders it and whatever was rendered before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_srgb_to_lab, linear_to_srgb
from skinscan.datasets.phantom import LADDER_LEVELS, SKIN_TONES, render_face, render_patch
from skinscan.models.contract import tone_group

__all__ = [
    "CONCERN_ORDER",
    "HEMOGLOBIN_RANGE",
    "MASK_BLOCK",
    "PATCH_MM_PER_PX",
    "FaceSource",
    "RenderedSample",
    "face_sample",
    "ita_deg",
    "patch_sample",
    "shipped_faces",
]

CONCERN_ORDER = ("redness", "pigment", "texture", "wrinkles")
#: Pixel size of phantom patches, mm (log-uniform): from a close-up at the measures' working
#: grid (0.1 mm) to a whole face at 512² (~0.35 mm).
PATCH_MM_PER_PX = (0.08, 0.35)
#: Baseline dermal blood fraction of patches (uniform), around the phantom's 2 % default.
HEMOGLOBIN_RANGE = (0.012, 0.035)
#: Melanin of a patch: a tone preset times exp(±this), so tones fill the gaps between presets.
_MELANIN_JITTER = 0.12
_PATCH, _FACE, _MASK = 0, 1, 2
#: Consecutive samples, in blocks of this many, take their wrinkle curves from the same
#: hand-drawn mask: extracting a mask's curves costs ~170 ms and the phantom caches 64 masks, so
#: a worker rendering a block pays it once, not per sample. Each sample still places, orients and
#: chooses its curves at random; 674 masks over a set of n samples means a new mask every block.
MASK_BLOCK = 16
#: The phantom's own rule: a patch needs a mask with at least this many curves.
_MIN_CURVES = 4


@dataclass(frozen=True)
class RenderedSample:
    """One rendered training image with its truth.

    ``rgb_u8`` is ``(H, W, 3) uint8`` sRGB; ``masks`` hold ``wrinkles`` and ``spots`` as
    ``(H, W) bool``; ``levels`` the ladder level 0-4 of each concern; ``labels`` what a manifest
    keeps besides (kind, levels, tone, scale).
    """

    rgb_u8: NDArray[np.uint8]
    masks: dict[str, NDArray[np.bool_]]
    levels: dict[str, int]
    skin_tone: str
    ita_deg: float
    mm_per_px: float
    labels: dict[str, Any] = field(default_factory=dict)


def ita_deg(linear_rgb: NDArray[np.floating], skin: NDArray[np.bool_] | None = None) -> float:
    """ITA° = atan2(L* − 50, b*) of the mean L* and b* over ``skin`` (all pixels when None).

    The pigment measure's definition (Chardon et al. 1991), on every other pixel.
    """
    rgb = np.asarray(linear_rgb, dtype=np.float32)[::2, ::2]
    lab = linear_srgb_to_lab(rgb)
    if skin is not None:
        lab = lab[np.asarray(skin)[::2, ::2]]
    lab = lab.reshape(-1, 3)
    if lab.shape[0] == 0:
        return float("nan")
    return float(np.degrees(np.arctan2(lab[:, 0].mean() - 50.0, lab[:, 2].mean())))


def _mask_index(index: int, seed: int) -> int:
    """FFHQ index of the wrinkle mask of sample ``index`` (shared by its block)."""
    from skinscan.datasets._wrinkle_curves import mask_curves, mask_indices

    candidates = mask_indices()
    rng = np.random.default_rng([seed, _MASK, index // MASK_BLOCK])
    pick = int(candidates[0])
    for _ in range(32):
        pick = int(candidates[rng.integers(len(candidates))])
        if len(mask_curves(pick)) >= _MIN_CURVES:
            break
    return pick


def _levels(rng: np.random.Generator) -> dict[str, int]:
    drawn = rng.integers(0, LADDER_LEVELS, size=len(CONCERN_ORDER))
    return {name: int(level) for name, level in zip(CONCERN_ORDER, drawn, strict=True)}


def patch_sample(
    index: int,
    *,
    size: int,
    seed: int = 0,
    tones: tuple[str, ...] | None = None,
) -> RenderedSample:
    """Render phantom patch ``index``: random tone, scale, blood and ladder levels.

    Parameters
    ----------
    index : int
    size : int
        Side of the square patch, px.
    seed : int
    tones : tuple of str, optional
        Tone presets (keys of :data:`~skinscan.datasets.phantom.SKIN_TONES`) to draw from; all
        seven, very light to very dark, when omitted.

    Notes
    -----
    Tone: a preset drawn uniformly, its melanin fraction times ``exp(U(−0.12, 0.12))``. Scale:
    log-uniform over :data:`PATCH_MM_PER_PX`. Blood: uniform over :data:`HEMOGLOBIN_RANGE`.
    Levels: each concern uniformly 0-4, independently. The skin-tone group is that of the
    rendered image's ITA°, not of the preset.
    """
    presets = tuple(SKIN_TONES) if tones is None else tones
    for tone in presets:
        if tone not in SKIN_TONES:
            raise ValueError(f"unknown tone {tone!r}; choose from {', '.join(SKIN_TONES)}")
    rng = np.random.default_rng([seed, _PATCH, index])
    preset = presets[int(rng.integers(len(presets)))]
    melanin = SKIN_TONES[preset] * float(np.exp(rng.uniform(-_MELANIN_JITTER, _MELANIN_JITTER)))
    low, high = np.log(PATCH_MM_PER_PX)
    mm_per_px = float(np.exp(rng.uniform(low, high)))
    hemoglobin = float(rng.uniform(*HEMOGLOBIN_RANGE))
    levels = _levels(rng)
    render_seed = int(rng.integers(2**31))
    phantom = render_patch(
        size=(size, size),
        mm_per_px=mm_per_px,
        tone=melanin,
        hemoglobin=hemoglobin,
        seed=render_seed,
        mask_index=_mask_index(index, seed),
        **levels,
    )
    ita = ita_deg(phantom.linear_rgb)
    return RenderedSample(
        rgb_u8=phantom.srgb_u8(),
        masks={"wrinkles": phantom.truth.wrinkles, "spots": phantom.truth.spots},
        levels=levels,
        skin_tone=tone_group(ita),
        ita_deg=ita,
        mm_per_px=mm_per_px,
        labels={
            "kind": "phantom-patch",
            "levels": levels,
            "tone_preset": preset,
            "melanin": round(melanin, 5),
            "hemoglobin": round(hemoglobin, 5),
            "mm_per_px": round(mm_per_px, 5),
            "ita_deg": round(ita, 2),
            "render_seed": render_seed,
            "wrinkle_mask": phantom.truth.wrinkle_mask_index,
        },
    )


@dataclass(frozen=True)
class FaceSource:
    """A real face photo prepared for painting: the photo, its canonical alignment and skin.

    ``box`` is ``(x0, y0, x1, y1)`` of the face hull in the photo's pixels.
    """

    name: str
    rgb_u8: NDArray[np.uint8]
    to_canonical: NDArray[np.float64]
    skin: NDArray[np.bool_]
    mm_per_px: float
    box: tuple[int, int, int, int]


def shipped_faces() -> list[FaceSource]:
    """The real face photos installed packages ship (:func:`skinscan.validation.sample_faces`),
    located and masked once.

    Raises
    ------
    ValueError
        No face is found in one of them.
    """
    from skinscan.standardise.face import analyse_face, face_hull_mask, skin_mask
    from skinscan.validation import sample_faces

    sources = []
    for name, rgb in sample_faces().items():
        geometry = analyse_face(rgb)
        if geometry is None:
            raise ValueError(f"no face found in the sample face {name!r}")
        landmarks = geometry.detection.landmarks
        hull = face_hull_mask(rgb.shape[:2], landmarks)
        skin = skin_mask(rgb, landmarks=landmarks) & hull
        ys, xs = np.nonzero(hull)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        sources.append(
            FaceSource(name, rgb, geometry.to_canonical, skin, float(geometry.mm_per_px), box)
        )
    return sources


def _crop_window(
    rng: np.random.Generator, box: tuple[int, int, int, int], shape: tuple[int, int]
) -> tuple[int, int, int]:
    """A square ``(x0, y0, side)`` around the face: 0.55-1.35 × its larger side, centre jittered
    by up to a fifth of the face, shifted to lie inside the photo."""
    x0, y0, x1, y1 = box
    face_side = max(x1 - x0, y1 - y0)
    side = min(int(face_side * rng.uniform(0.55, 1.35)), shape[0], shape[1])
    cx = (x0 + x1) / 2 + rng.uniform(-0.2, 0.2) * (x1 - x0)
    cy = (y0 + y1) / 2 + rng.uniform(-0.2, 0.2) * (y1 - y0)
    left = int(np.clip(round(cx - side / 2), 0, shape[1] - side))
    top = int(np.clip(round(cy - side / 2), 0, shape[0] - side))
    return left, top, side


def _downsample(image: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    return np.asarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA), np.float32)


def face_sample(index: int, face: FaceSource, *, size: int, seed: int = 0) -> RenderedSample:
    """Paint random ladder levels on a square crop around a real face; render at ``size``².

    Notes
    -----
    The crop (:func:`_crop_window`) is resampled to twice ``size`` (area averaging), painted there
    with :func:`~skinscan.datasets.phantom.render_face` (alignment and scale carried through the
    crop and resampling), then averaged down to ``size``; a mask pixel is on where at least a
    quarter of it was painted. The masks are what was painted: the person's own wrinkles and
    spots are not in them.
    """
    rng = np.random.default_rng([seed, _FACE, index])
    left, top, side = _crop_window(rng, face.box, face.rgb_u8.shape[:2])
    levels = _levels(rng)
    render_seed = int(rng.integers(2**31))
    work = 2 * size
    scale = work / side  # output px per photo px
    crop = face.rgb_u8[top : top + side, left : left + side]
    rgb = np.asarray(cv2.resize(crop, (work, work), interpolation=cv2.INTER_AREA), np.uint8)
    skin = cv2.resize(
        face.skin[top : top + side, left : left + side].view(np.uint8),
        (work, work),
        interpolation=cv2.INTER_NEAREST,
    ).astype(bool)
    # Output pixel centre u maps to photo x = (u + 0.5) / scale − 0.5 + left (cv2.resize).
    linear_part = face.to_canonical[:, :2]
    offset = np.array([left + 0.5 / scale - 0.5, top + 0.5 / scale - 0.5])
    to_canonical = np.hstack(
        [linear_part / scale, (linear_part @ offset + face.to_canonical[:, 2])[:, None]]
    )
    mm_per_px = face.mm_per_px / scale
    painted = render_face(
        rgb,
        to_canonical=to_canonical,
        skin=skin,
        mm_per_px=mm_per_px,
        seed=render_seed,
        mask_index=_mask_index(index, seed),
        **levels,
    )
    linear = _downsample(painted.linear_rgb, size)
    masks = {
        name: _downsample(plane.astype(np.float32), size) >= 0.25
        for name, plane in (("wrinkles", painted.truth.wrinkles), ("spots", painted.truth.spots))
    }
    small_skin = _downsample(skin.astype(np.float32), size) >= 0.5
    ita = ita_deg(linear, small_skin)
    encoded = np.clip(linear_to_srgb(linear) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return RenderedSample(
        rgb_u8=encoded,
        masks=masks,
        levels=levels,
        skin_tone=tone_group(ita),
        ita_deg=ita,
        mm_per_px=mm_per_px * 2.0,
        labels={
            "kind": "phantom-face",
            "face": face.name,
            "painted_levels": levels,
            "crop": [left, top, side],
            "mm_per_px": round(mm_per_px * 2.0, 5),
            "ita_deg": round(ita, 2),
            "render_seed": render_seed,
            "wrinkle_mask": painted.truth.wrinkle_mask_index,
        },
    )
