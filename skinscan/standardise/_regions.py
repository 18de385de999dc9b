"""Anatomical face regions from the 68 landmarks, clipped to skin.

Left and right are the **patient's**: in an unmirrored frontal photo the patient's right side is
on the image's left, where iBUG points 0-7, 17-21, 31-32, 36-41 and 48 lie. Every polygon below is
written for the patient's right side with iBUG indices and a lateral direction of ``-u``; the
patient's left side uses the mirrored indices (:data:`MIRROR`) and ``+u``.

Offsets are in units of the inter-eye distance (``FaceFrame``), from typical adult proportions.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.standardise._geometry import MIRROR, FaceFrame, fill_polygon, stroke_polyline
from skinscan.standardise._skin import lab8
from skinscan.standardise._skin import skin_mask as _skin_mask

__all__ = [
    "REGION_NAMES",
    "exclusion_mask",
    "face_hull_mask",
    "face_hull_polygon",
    "region_masks",
    "region_polygons",
    "site_mask",
]

REGION_NAMES: tuple[str, ...] = (
    "forehead",
    "glabella",
    "periorbital_left",
    "periorbital_right",
    "undereye_left",
    "undereye_right",
    "cheek_left",
    "cheek_right",
    "nose",
    "nasolabial_left",
    "nasolabial_right",
    "perioral",
    "chin",
)

# Where polygons overlap, the earlier region keeps the pixel: small, specific zones before the
# large ones that surround them.
PRIORITY: tuple[str, ...] = (
    "nose",
    "glabella",
    "undereye_left",
    "undereye_right",
    "periorbital_left",
    "periorbital_right",
    "nasolabial_left",
    "nasolabial_right",
    "perioral",
    "chin",
    "cheek_left",
    "cheek_right",
    "forehead",
)

# Forehead height above the brows as a fraction of the eye-to-mouth distance, from the brow's
# outer end (17) to its inner end (21): the forehead's top is rounded, and the skin test removes
# whatever hair lies below this line.
_FOREHEAD_RISE = np.array([0.55, 0.75, 0.88, 0.95, 0.98])
_EYE_MARGIN = 0.06  # eyelid margin and lashes around the 6-point eye outline
_BROW_MARGIN = 0.05
_LIP_MARGIN = 0.03
_NASOLABIAL_WIDTH = 0.16
_NOSTRIL_DARKNESS = 0.72  # nostril = darker than this fraction of the nose-tip's median L*
_NOSTRIL_MARGIN = 0.03
# Non-skin holes enclosed by skin up to this size (side of the equivalent square, in inter-eye
# distances) are skin features to be measured: moles, dark spots, wrinkle shadows, pores.
_MAX_HOLE = 0.3
# Skin-coloured islands smaller than this are noise: specks in hair, reflections on glasses.
_MIN_ISLAND = 0.1
# Skin-coloured structures narrower than this (inter-eye distances; about 2 mm) are not skin:
# strands and highlights of hair, which hole filling would otherwise join into solid "skin".
_MIN_WIDTH = 0.03


Polygon = NDArray[np.float64]


def _sided(points: NDArray[np.float64], side: int) -> Callable[[int], NDArray[np.float64]]:
    """Point accessor for one side: ``side = -1`` the patient's right, ``+1`` the patient's left."""
    if side < 0:
        return lambda i: points[i]
    return lambda i: points[MIRROR[i]]


def _forehead_top(points: NDArray[np.float64], frame: FaceFrame) -> Polygon:
    eye_to_mouth = abs(frame.v_of((points[48] + points[54]) / 2.0))
    rise = np.concatenate([_FOREHEAD_RISE, _FOREHEAD_RISE[::-1]]) * eye_to_mouth
    return np.stack([points[17 + k] + frame.vec(0.0, -rise[k]) for k in range(10)])


def face_hull_polygon(landmarks: NDArray[np.floating]) -> Polygon:
    """Convex hull of the jaw line (0-16) and the forehead's top; (K, 2) float64, image coords."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), not {points.shape}")
    frame = FaceFrame.from_landmarks(points)
    candidates = np.vstack([points[0:17], _forehead_top(points, frame)])
    hull = cv2.convexHull(candidates.astype(np.float32))
    return hull.reshape(-1, 2).astype(np.float64)


def face_hull_mask(shape: tuple[int, ...], landmarks: NDArray[np.floating]) -> NDArray[np.bool_]:
    """The face hull (:func:`face_hull_polygon`) rasterised: bool of shape ``shape[:2]``."""
    canvas = np.zeros((int(shape[0]), int(shape[1])), dtype=np.uint8)
    fill_polygon(canvas, face_hull_polygon(landmarks), 1)
    return canvas.astype(bool)


def region_polygons(landmarks: NDArray[np.floating]) -> dict[str, list[Polygon]]:
    """The anatomical polygons of the 13 regions before clipping, in image coordinates.

    Returns a dict ``name → list of (K, 2) float64 polygons`` (filled); the nasolabial bands are
    returned as their centre lines (2 points) and drawn :data:`_NASOLABIAL_WIDTH` wide.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), not {points.shape}")
    f = FaceFrame.from_landmarks(points)
    v_29 = f.v_of(points[29])
    chin_gap = points[8] - points[57]
    polys: dict[str, list[Polygon]] = {}

    brows = points[17:27]
    polys["forehead"] = [np.vstack([brows, _forehead_top(points, f)[::-1]])]
    polys["glabella"] = [
        np.stack(
            [
                points[21] + f.vec(0.0, -0.25),
                points[22] + f.vec(0.0, -0.25),
                points[22] + f.vec(0.0, 0.04),
                points[27] + f.vec(0.10, 0.0),
                points[27] + f.vec(-0.10, 0.0),
                points[21] + f.vec(0.0, 0.04),
            ]
        )
    ]
    polys["nose"] = [
        np.stack(
            [
                points[27] + f.vec(-0.09, 0.0),
                points[29] + f.vec(-0.15, 0.0),
                points[31] + f.vec(-0.10, -0.10),
                points[31] + f.vec(-0.04, 0.02),
                *points[32:35],
                points[35] + f.vec(0.04, 0.02),
                points[35] + f.vec(0.10, -0.10),
                points[29] + f.vec(0.15, 0.0),
                points[27] + f.vec(0.09, 0.0),
            ]
        )
    ]
    lower_lip_to_chin = points[57] + 0.45 * chin_gap
    polys["perioral"] = [
        np.stack(
            [
                points[31] + f.vec(-0.02, 0.0),
                *points[32:35],
                points[35] + f.vec(0.02, 0.0),
                points[54] + f.vec(0.12, -0.06),
                points[54] + f.vec(0.10, 0.16),
                lower_lip_to_chin + f.vec(0.18, 0.0),
                lower_lip_to_chin + f.vec(-0.18, 0.0),
                points[48] + f.vec(-0.10, 0.16),
                points[48] + f.vec(-0.12, -0.06),
            ]
        )
    ]
    polys["chin"] = [
        np.stack(
            [
                *points[6:11],
                points[54] + f.vec(0.02, 0.20),
                points[48] + f.vec(-0.02, 0.20),
            ]
        )
    ]
    for side, suffix in ((-1, "right"), (1, "left")):
        p = _sided(points, side)
        s = float(side)
        polys[f"periorbital_{suffix}"] = [
            np.stack(
                [
                    p(17) + f.vec(0.0, 0.12),
                    p(36) + f.vec(s * 0.05, -0.10),
                    p(36) + f.vec(s * 0.05, 0.30),
                    p(36) + f.vec(s * 0.75, 0.30),
                    p(17) + f.vec(s * 0.45, 0.12),
                ]
            )
        ]
        polys[f"undereye_{suffix}"] = [
            np.stack(
                [
                    p(36) + f.vec(s * 0.05, 0.0),
                    p(41),
                    p(40),
                    p(39),
                    f.at_level(p(39) + f.vec(s * 0.02, 0.0), v_29),
                    f.at_level(p(36) + f.vec(s * 0.05, 0.0), v_29),
                ]
            )
        ]
        polys[f"cheek_{suffix}"] = [
            np.stack(
                [
                    f.at_level(p(29) + f.vec(s * 0.15, 0.0), v_29),
                    f.at_level(p(36) + f.vec(s * 0.80, 0.0), v_29),
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(48) + f.vec(s * 0.16, 0.0),
                    p(31) + f.vec(s * 0.12, -0.05),
                ]
            )
        ]
        polys[f"nasolabial_{suffix}"] = [
            np.stack([p(31) + f.vec(s * 0.13, -0.06), p(48) + f.vec(s * 0.10, 0.02)])
        ]
    return polys


def exclusion_mask(
    shape: tuple[int, int],
    landmarks: NDArray[np.floating],
    lab: NDArray[np.uint8],
    *,
    offset: NDArray[np.floating],
) -> NDArray[np.bool_]:
    """Eyes, brows, lips and nostrils (grown by small margins); ``True`` = not a region pixel.

    ``lab`` is the 8-bit CIELAB crop (:func:`lab8`) matching ``shape``, whose corner is at
    ``offset`` (x, y).
    """
    points = np.asarray(landmarks, dtype=np.float64)
    f = FaceFrame.from_landmarks(points)
    canvas = np.zeros(shape, dtype=np.uint8)
    for eye in (points[36:42], points[42:48]):
        fill_polygon(canvas, eye, 1, offset=offset, grow_px=_EYE_MARGIN * f.unit)
    for brow in (points[17:22], points[22:27]):
        # The five brow points run along the brow's upper edge; the band reaches its lower edge.
        band = np.vstack([brow, (brow + f.vec(0.0, 0.10))[::-1]])
        fill_polygon(canvas, band, 1, offset=offset, grow_px=_BROW_MARGIN * f.unit)
    fill_polygon(canvas, points[48:60], 1, offset=offset, grow_px=_LIP_MARGIN * f.unit)

    zone = np.zeros(shape, dtype=np.uint8)
    nostril_zone = np.stack(
        [
            points[31] + f.vec(-0.06, 0.03),
            points[31] + f.vec(-0.02, -0.12),
            (points[30] + points[33]) / 2.0,
            points[35] + f.vec(0.02, -0.12),
            points[35] + f.vec(0.06, 0.03),
            points[33] + f.vec(0.0, 0.04),
        ]
    )
    fill_polygon(zone, nostril_zone, 1, offset=offset)
    tip = np.zeros(shape, dtype=np.uint8)
    fill_polygon(tip, np.stack([points[29], points[31], points[30], points[35]]), 1, offset=offset)
    lightness = lab[..., 0]  # L* code, proportional to L*
    tip_lightness = lightness[tip.astype(bool)]
    excluded = canvas.astype(bool)
    if tip_lightness.size:
        dark = lightness < _NOSTRIL_DARKNESS * float(np.median(tip_lightness))
        nostrils = (dark & zone.astype(bool)).astype(np.uint8)
        margin = max(1, round(_NOSTRIL_MARGIN * f.unit))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        excluded |= cv2.dilate(nostrils, kernel).astype(bool)
    return excluded


def _fill_small_holes(mask: NDArray[np.bool_], max_area: float) -> NDArray[np.bool_]:
    """``mask`` with its enclosed holes of at most ``max_area`` pixels filled."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    height, width = mask.shape
    x, y, w, h, area = (stats[:, k] for k in range(5))
    enclosed = (x > 0) & (y > 0) & (x + w < width) & (y + h < height)
    fill = enclosed & (area <= max_area)
    fill[0] = False  # label 0 is the skin itself
    return mask | fill[labels]


def _open(mask: NDArray[np.bool_], width: float) -> NDArray[np.bool_]:
    """``mask`` opened with a disc ``width`` pixels across (unchanged below 3 px)."""
    size = round(width)
    if size < 3:
        return mask
    size += 1 - size % 2
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return np.asarray(cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, disc) > 0)


def _drop_small_islands(mask: NDArray[np.bool_], min_area: float) -> NDArray[np.bool_]:
    """``mask`` without its connected pieces smaller than ``min_area`` pixels."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return np.asarray(keep[labels])


def _roi(shape: tuple[int, int], polygon: Polygon, margin: float) -> tuple[int, int, int, int]:
    height, width = shape
    x0 = int(np.clip(np.floor(polygon[:, 0].min() - margin), 0, width))
    y0 = int(np.clip(np.floor(polygon[:, 1].min() - margin), 0, height))
    x1 = int(np.clip(np.ceil(polygon[:, 0].max() + margin) + 1, 0, width))
    y1 = int(np.clip(np.ceil(polygon[:, 1].max() + margin) + 1, 0, height))
    return x0, y0, x1, y1


def region_masks(
    rgb_u8: NDArray[np.uint8],
    landmarks: NDArray[np.floating],
    *,
    skin: NDArray[np.bool_] | None = None,
) -> dict[str, NDArray[np.bool_]]:
    """Implementation of :func:`skinscan.standardise.face.region_masks` (see there)."""
    image = np.asarray(rgb_u8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    if skin is not None and np.shape(skin) != image.shape[:2]:
        raise ValueError(f"skin has shape {np.shape(skin)}, expected {image.shape[:2]}")
    points = np.asarray(landmarks, dtype=np.float64)
    polygons = region_polygons(points)
    hull = face_hull_polygon(points)
    height, width = image.shape[:2]
    x0, y0, x1, y1 = _roi((height, width), hull, 2.0)
    masks = {name: np.zeros((height, width), dtype=bool) for name in REGION_NAMES}
    if x1 <= x0 or y1 <= y0:
        return masks
    offset = np.array([x0, y0], dtype=np.float64)
    crop = image[y0:y1, x0:x1]
    lab = lab8(crop)
    shape = crop.shape[:2]
    unit = FaceFrame.from_landmarks(points).unit

    labels = np.zeros(shape, dtype=np.uint8)
    for name in reversed(PRIORITY):
        value = REGION_NAMES.index(name) + 1
        for poly in polygons[name]:
            if name.startswith("nasolabial"):
                stroke_polyline(labels, poly, value, _NASOLABIAL_WIDTH * unit, offset=offset)
            else:
                fill_polygon(labels, poly, value, offset=offset)
    inside = np.zeros(shape, dtype=np.uint8)
    fill_polygon(inside, hull, 1, offset=offset)
    if skin is None:
        skin_crop = _skin_mask(crop, landmarks=points, lab=lab, offset=offset)
    else:
        skin_crop = np.asarray(skin, dtype=bool)[y0:y1, x0:x1]
    solid = _open(skin_crop, _MIN_WIDTH * unit)
    keep = inside.astype(bool) & _fill_small_holes(solid, (_MAX_HOLE * unit) ** 2)
    keep &= ~exclusion_mask(shape, points, lab, offset=offset)
    keep = _drop_small_islands(keep, (_MIN_ISLAND * unit) ** 2)
    labels[~keep] = 0
    for index, name in enumerate(REGION_NAMES, start=1):
        masks[name][y0:y1, x0:x1] = labels == index
    return masks


def site_mask(
    shape: tuple[int, ...],
    *,
    user_mask: NDArray[np.bool_] | None = None,
    exclude: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Implementation of :func:`skinscan.standardise.face.site_mask` (see there)."""
    if len(shape) < 2:
        raise ValueError(f"shape must be (height, width), not {shape}")
    height, width = int(shape[0]), int(shape[1])
    if user_mask is None:
        mask = np.ones((height, width), dtype=bool)
    else:
        mask = np.asarray(user_mask)
        if mask.shape != (height, width):
            raise ValueError(f"user_mask has shape {mask.shape}, expected {(height, width)}")
        mask = mask.astype(bool, copy=True)
    if exclude is not None:
        excluded = np.asarray(exclude)
        if excluded.shape != (height, width):
            raise ValueError(f"exclude has shape {excluded.shape}, expected {(height, width)}")
        mask &= ~excluded.astype(bool)
    return mask
