"""Which pixels are skin, by colour: a generic CIELAB rule, or a colour model fitted to one face.

Both rules work on OpenCV's 8-bit CIELAB (sRGB decoding and D65, as :mod:`skinscan.colour_space`;
quantised to within 1 unit, ample for masks). Each rule is a condition on (a*, b*) plus a range of
L* that may depend on (a*, b*), so it is tabulated once over the 256 × 256 (a*, b*) codes as "the
highest L* code accepted" (0 = rejected); classifying a pixel is then one table lookup and two
comparisons, about 10× faster than evaluating hue angles per pixel.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.standardise._geometry import FaceFrame, fill_disc, stroke_polyline

__all__ = [
    "SkinColourModel",
    "fit_skin_model",
    "lab8",
    "lightness_code",
    "skin_mask",
    "skin_sample_mask",
]

# Generic rule, in CIELAB (D65). Photographed skin of every Fitzpatrick type sits in one wedge of
# hue angles, red-orange to yellow-orange, with moderate chroma; what varies most across skin
# tones is L* (about 25 for very dark to 80+ for very light skin) and the ITA angle, not the hue
# (Chardon, Cretois & Hourseau 1991, Int J Cosmet Sci 13; Del Bino & Bernerd 2013, Br J Dermatol
# 169 s3). The ranges are deliberately wide in L* and chroma so the rule holds from very light to
# very dark skin; it rejects greys (hair, shadows, clothing), blues, greens and purples.
GENERIC_HUE_DEG = (10.0, 88.0)
# Minimum chroma rises with L*: near-whites (paper, teeth, fabric) are faintly warm too, while
# light skin keeps its chroma well above this line.
GENERIC_MIN_CHROMA = (4.0, 0.06)  # C* >= 4 + 0.06·L*
GENERIC_MAX_CHROMA = 60.0
GENERIC_LIGHTNESS = (10.0, 97.0)
# A pixel whose darkest channel is this bright is a specular highlight or clipped: its colour is
# the light source's, not the skin's.
SPECULAR_MIN_U8 = 250

# Per-face model, in polar CIELAB (lightness, chroma, hue angle). Within one face, shading and
# exposure move skin colour mostly along chroma and lightness at a nearly constant hue, so a
# Gaussian in (a*, b*) comes out elongated along the chroma axis and, at any radius wide enough
# for lesions, swallows near-greys and pale golds. Hue, chroma ratio and lightness are bounded
# separately instead, each from robust (median / MAD) statistics of the sample and each with a
# floor: red patches (hue towards red, chroma up) and brown spots (darker, hue slightly up) must
# stay inside the mask.
_HUE_TOWARDS_RED = (4.0, 20.0)  # (robust SDs, minimum degrees) allowed below the median hue
_HUE_TOWARDS_YELLOW = (2.5, 10.0)  # ... and above it
_CHROMA_RATIO = (0.4, 2.2)  # chroma allowed, as a fraction of the median chroma
_MIN_CHROMA = 4.0  # below this the hue angle is noise
_MIN_HUE_CHROMA = 6.0  # a face sample with a lower median chroma gets no hue test at all ...
_GREY_MAX_CHROMA = 12.0  # ... only a chroma ceiling of at least this
_DARK_FRACTION = 0.45  # darker than this fraction of the face's median L* is hair/nostril/shadow
_DARK_SDS = (4.5, 4.0)  # ... or than the median minus this many robust SDs (with an SD floor)
_MIN_SAMPLES = 50

_L_PER_CODE = 100.0 / 255.0


def lab8(rgb_u8: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """sRGB uint8 → OpenCV 8-bit CIELAB: ``L*·255/100``, ``a* + 128``, ``b* + 128``."""
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb_u8), cv2.COLOR_RGB2Lab), np.uint8)


def lightness_code(lightness: float) -> int:
    """The smallest 8-bit L code whose L* is at least ``lightness``."""
    return int(np.clip(np.ceil(lightness / _L_PER_CODE - 1e-9), 0, 255))


def _ab_grid() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # Index a_code + 256·b_code: the byte order of an (a, b) pair read as little-endian uint16.
    codes = np.arange(256, dtype=np.float64) - 128.0
    b, a = np.meshgrid(codes, codes, indexing="ij")
    return a.ravel(), b.ravel()


def _ab_index(lab: NDArray[np.uint8]) -> NDArray[np.uint16]:
    if sys.byteorder != "little":  # pragma: no cover - x86 and ARM are little-endian
        pair = lab[..., 1].astype(np.uint16) | (lab[..., 2].astype(np.uint16) << 8)
        return np.asarray(pair, dtype=np.uint16)
    pairs = np.ascontiguousarray(lab[..., 1:3])
    return pairs.view(np.uint16)[..., 0]


def _specular(rgb_u8: NDArray[np.uint8]) -> NDArray[np.bool_]:
    lower = (SPECULAR_MIN_U8,) * 3
    return cv2.inRange(np.ascontiguousarray(rgb_u8), lower, (255, 255, 255)).astype(bool)


def _classify(
    lab: NDArray[np.uint8], rgb_u8: NDArray[np.uint8], upper: NDArray[np.uint8], lower: int
) -> NDArray[np.bool_]:
    lightness = lab[..., 0]
    keep = (lightness >= max(lower, 1)) & (lightness <= upper[_ab_index(lab)])
    return np.asarray(keep & ~_specular(rgb_u8))


@lru_cache(maxsize=1)
def _generic_upper() -> NDArray[np.uint8]:
    a, b = _ab_grid()
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a))
    ok = (hue >= GENERIC_HUE_DEG[0]) & (hue <= GENERIC_HUE_DEG[1]) & (chroma <= GENERIC_MAX_CHROMA)
    # C >= c0 + c1·L  <=>  L <= (C - c0) / c1
    l_max = np.minimum((chroma - GENERIC_MIN_CHROMA[0]) / GENERIC_MIN_CHROMA[1], 97.0)
    codes = np.floor(l_max / _L_PER_CODE + 1e-9)
    ok &= l_max >= GENERIC_LIGHTNESS[0]
    upper = np.where(ok, np.clip(codes, 0, 255), 0).astype(np.uint8)
    upper.flags.writeable = False
    return upper


def generic_skin(lab: NDArray[np.uint8], rgb_u8: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """The skin-tone-independent rule: hue, chroma and lightness inside wide ranges."""
    return _classify(lab, rgb_u8, _generic_upper(), lightness_code(GENERIC_LIGHTNESS[0]))


@dataclass(frozen=True)
class SkinColourModel:
    """One face's skin colour: accepted ranges of hue angle (degrees), chroma and L*."""

    hue_range: tuple[float, float]
    chroma_range: tuple[float, float]
    min_lightness: float

    def ab_table(self) -> NDArray[np.uint8]:
        """255 for the (a*, b*) codes the model accepts, 0 elsewhere (see the module notes)."""
        a, b = _ab_grid()
        chroma = np.hypot(a, b)
        centre = 0.5 * (self.hue_range[0] + self.hue_range[1])
        half = 0.5 * (self.hue_range[1] - self.hue_range[0])
        # Hue relative to the range's centre, wrapped to (-180, 180]: no range straddles ±180.
        hue = (np.degrees(np.arctan2(b, a)) - centre + 180.0) % 360.0 - 180.0
        ok = (np.abs(hue) <= half) & (chroma >= self.chroma_range[0])
        ok &= chroma <= self.chroma_range[1]
        return np.where(ok, 255, 0).astype(np.uint8)

    def contains(self, lab: NDArray[np.uint8], rgb_u8: NDArray[np.uint8]) -> NDArray[np.bool_]:
        """Pixels (8-bit Lab and RGB of the same shape) inside all three ranges, not specular."""
        return _classify(lab, rgb_u8, self.ab_table(), lightness_code(self.min_lightness))


def fit_skin_model(samples_lab8: NDArray[np.uint8]) -> SkinColourModel | None:
    """Robust skin colour ranges from 8-bit CIELAB samples of shape (N, 3); ``None`` if too few.

    Medians and MADs (x 1.4826, the normal-consistent scale) of hue, chroma and L*, so beard,
    shadow or lash pixels in the sample do not drag the model. The yellow hue bound takes the
    spread of the yellow side of the sample only (:func:`_upper_sd`): erythema in the sample
    widens the red side, and must not open the yellow bound towards blond hair (with the MAD,
    erythema painted at ladder level 4 grew the sample face's mask by a third, fringe
    included). When the sample is nearly grey
    (median chroma below 6: a greyscale, underexposed or desaturated photo) its hue is noise and
    the model bounds only L* and chroma.

    The 8-bit codes are first spread over their bins (:func:`_dequantise`): a median or MAD of
    whole codes jumps by a code (0.4 L*) at a time, and the L* floor (median − 4.5 MAD-SDs) by
    2–3 L* with it, which moved a tenth of a face's skin in and out of the mask between two
    captures of the same face.
    """
    raw = np.asarray(samples_lab8, dtype=np.float64).reshape(-1, 3)
    if len(raw) < _MIN_SAMPLES:
        return None
    raw = np.column_stack([_dequantise(raw[:, k]) for k in range(3)])
    samples = np.column_stack([raw[:, 0] * _L_PER_CODE, raw[:, 1] - 128.0, raw[:, 2] - 128.0])
    chroma = np.hypot(samples[:, 1], samples[:, 2])
    coloured = chroma >= _MIN_CHROMA
    if coloured.sum() < _MIN_SAMPLES or float(np.median(chroma)) < _MIN_HUE_CHROMA:
        # A greyscale, badly underexposed or strongly desaturated photo: the hue is noise, so
        # only lightness and a chroma ceiling separate skin from hair and background.
        return SkinColourModel(
            hue_range=(-180.0, 180.0),
            chroma_range=(0.0, max(_GREY_MAX_CHROMA, _CHROMA_RATIO[1] * float(np.median(chroma)))),
            min_lightness=_lightness_floor(samples[:, 0]),
        )
    samples, chroma = samples[coloured], chroma[coloured]
    hue = np.degrees(np.arctan2(samples[:, 2], samples[:, 1]))
    # Median hue around the mean direction, so the statistics never straddle ±180°.
    direction = float(np.degrees(np.arctan2(samples[:, 2].sum(), samples[:, 1].sum())))
    offset = (hue - direction + 180.0) % 360.0 - 180.0
    offset_median = float(np.median(offset))
    hue_median = direction + offset_median
    chroma_median = float(np.median(chroma))
    hue_sd = 1.4826 * float(np.median(np.abs(offset - offset_median)))
    below = max(_HUE_TOWARDS_RED[0] * hue_sd, _HUE_TOWARDS_RED[1])
    # The yellow bound from the spread of the yellow side only: erythema in the sample widens
    # the red side (red patches stay skin) but not the yellow side, towards hair.
    above = max(_HUE_TOWARDS_YELLOW[0] * _upper_sd(offset), _HUE_TOWARDS_YELLOW[1])
    return SkinColourModel(
        hue_range=(hue_median - below, hue_median + above),
        chroma_range=(
            max(_MIN_CHROMA, _CHROMA_RATIO[0] * chroma_median),
            _CHROMA_RATIO[1] * chroma_median,
        ),
        min_lightness=_lightness_floor(samples[:, 0]),
    )


def _dequantise(codes: NDArray[np.float64]) -> NDArray[np.float64]:
    """Integer codes spread evenly over their bins ``[c − ½, c + ½)``, in rank order.

    The ``n`` samples of code ``c`` become ``c − ½ + (k + ½) / n``, ``k = 0 … n − 1`` (in their
    order in the sample): deterministic, the mean of each code is kept, and quantiles of the
    result move continuously with the sample (the grouped-data median of a histogram, applied to
    every quantile).
    """
    order = np.argsort(codes, kind="stable")
    ranked = codes[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    lengths = np.diff(np.r_[starts, ranked.size])
    within = np.arange(ranked.size) - np.repeat(starts, lengths)
    spread = np.empty_like(ranked)
    spread[order] = ranked + (within + 0.5) / np.repeat(lengths, lengths) - 0.5
    return spread


#: z(0.9) − z(0.6) of the standard normal.
_UPPER_Z = 1.2815516 - 0.2533471


def _upper_sd(values: NDArray[np.float64]) -> float:
    """``(Q90 − Q60) / (z90 − z60)``: a normal-consistent spread of the upper side of a sample.

    Lesions on the lower side (red patches, on the hue axis) do not widen it, and, unlike a MAD
    taken on one side of the median, samples moving across the median do not move it.
    """
    q60, q90 = np.quantile(values, [0.6, 0.9])
    return float(q90 - q60) / _UPPER_Z


def _lightness_floor(lightness: NDArray[np.float64]) -> float:
    median = float(np.median(lightness))
    sd = max(1.4826 * float(np.median(np.abs(lightness - median))), _DARK_SDS[1])
    return max(_DARK_FRACTION * median, median - _DARK_SDS[0] * sd)


def skin_sample_mask(
    shape: tuple[int, int], landmarks: NDArray[np.floating], *, offset: NDArray[np.floating]
) -> NDArray[np.bool_]:
    """Where to sample a face's skin colour: both mid-cheeks and the nasal bridge.

    ``shape`` is that of the canvas, whose top-left corner sits at ``offset`` (x, y) in the image.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    frame = FaceFrame.from_landmarks(points)
    canvas = np.zeros(shape, dtype=np.uint8)
    radius = 0.13 * frame.unit
    for side, ala in ((-1.0, 31), (1.0, 35)):
        # Mid-cheek: lateral to the nose wing, a little above it.
        centre = points[ala] + frame.vec(side * 0.32, -0.12)
        fill_disc(canvas, centre, radius, 1, offset=offset)
    bridge = np.stack([points[28], points[29]])
    stroke_polyline(canvas, bridge, 1, 0.12 * frame.unit, offset=offset)
    return canvas.astype(bool)


def skin_mask(
    rgb_u8: NDArray[np.uint8],
    *,
    landmarks: NDArray[np.floating] | None = None,
    lab: NDArray[np.uint8] | None = None,
    offset: NDArray[np.floating] | None = None,
) -> NDArray[np.bool_]:
    """Implementation of :func:`skinscan.standardise.face.skin_mask` (see there).

    ``lab`` (:func:`lab8` of ``rgb_u8``, if already computed) and ``offset`` (x, y of the crop's
    corner in the coordinates the landmarks use) let region code work on a crop around the face.
    """
    image = np.asarray(rgb_u8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    lab_image = lab8(image) if lab is None else lab
    if landmarks is None:
        return generic_skin(lab_image, image)
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), not {points.shape}")
    origin = np.zeros(2) if offset is None else np.asarray(offset, dtype=np.float64)
    sample = skin_sample_mask(image.shape[:2], points, offset=origin)
    sample &= ~_specular(image)
    model = fit_skin_model(lab_image[sample])
    if model is None:
        return generic_skin(lab_image, image)
    return model.contains(lab_image, image)
