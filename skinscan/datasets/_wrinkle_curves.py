"""Wrinkle centre lines taken from the 674 hand-drawn FFHQ wrinkle masks shipped as package data.

A mask is skeletonised (Zhang & Suen thinning, ``skimage.morphology.skeletonize``); each
8-connected piece of the skeleton longer than a few millimetres is one *curve*, kept as its pixel
positions in the 1024 × 1024 FFHQ-aligned frame and the 8-neighbour links between them, so that
it can be redrawn at any scale, rotation and offset without gaps.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CANONICAL_MM_PER_PX",
    "WrinkleCurve",
    "WrinkleMaskCrop",
    "draw_curves",
    "load_crops",
    "mask_curves",
    "mask_indices",
]

#: Approximate size of a canonical-frame pixel at the face: the FFHQ alignment maps an adult
#: eye-to-mouth distance (~70 mm) to ~284 px, and the inter-pupillary distance (63 mm) to
#: ~250 px.
CANONICAL_MM_PER_PX = 0.25
#: Skeleton pieces shorter than this (canonical px, ≈ 5 mm) are specks, not wrinkles.
_MIN_CURVE_PX = 20


@dataclass(frozen=True)
class WrinkleMaskCrop:
    """One hand-drawn mask as stored: the crop and where it sits in the 1024² FFHQ frame.

    Attributes
    ----------
    ffhq_index : int
    top, left : int
        Row and column of the crop's first pixel in the 1024 × 1024 frame (``min_h``, ``min_w``
        of ``crop_limits.csv``; the maxima are exclusive).
    crop : ndarray of shape (h, w), bool
        True on wrinkle pixels.
    """

    ffhq_index: int
    top: int
    left: int
    crop: NDArray[np.bool_]

    def full_frame(self, size: int = 1024) -> NDArray[np.bool_]:
        """The mask placed in the ``size`` × ``size`` canonical frame."""
        frame = np.zeros((size, size), dtype=bool)
        h, w = self.crop.shape
        frame[self.top : self.top + h, self.left : self.left + w] = self.crop[
            : size - self.top, : size - self.left
        ]
        return frame


@dataclass(frozen=True)
class WrinkleCurve:
    """A wrinkle centre line in the canonical frame.

    Attributes
    ----------
    points : ndarray of shape (N, 2), float64
        ``(x, y)`` canonical pixel positions of the skeleton pixels.
    links : ndarray of shape (M, 2), int
        Index pairs of 8-neighbouring points (the segments to draw).
    along : ndarray of shape (N,), float64
        Position of each point along the curve's principal axis, scaled to [0, 1].
    length_px : float
        Sum of the link lengths (canonical px).
    """

    points: NDArray[np.float64]
    links: NDArray[np.intp]
    along: NDArray[np.float64]
    length_px: float

    def central_links(self, fraction: float) -> NDArray[np.intp]:
        """Links whose both ends lie in the central ``fraction`` of the curve's extent."""
        low, high = 0.5 - fraction / 2.0, 0.5 + fraction / 2.0
        keep = (self.along >= low) & (self.along <= high)
        return self.links[keep[self.links[:, 0]] & keep[self.links[:, 1]]]


def _resource(name: str) -> Traversable:
    return resources.files("skinscan") / "data" / "wrinkle_masks" / name


def _read_limits() -> dict[int, tuple[int, int]]:
    text = _resource("crop_limits.csv").read_text("utf-8")
    rows = csv.DictReader(text.splitlines())
    return {int(r["ffhq_image"]): (int(r["min_h"]), int(r["min_w"])) for r in rows}


def _read_mask(name: str) -> NDArray[np.bool_]:
    data = _resource(name).read_bytes()
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"cannot decode wrinkle mask {name}")
    return np.asarray(image > 127)


@lru_cache(maxsize=1)
def mask_indices() -> tuple[int, ...]:
    """FFHQ indices of the shipped masks, ascending."""
    return tuple(sorted(_read_limits()))


def load_crops(indices: tuple[int, ...] | None = None) -> list[WrinkleMaskCrop]:
    """Read the shipped masks (all, or those of the given FFHQ indices) as crops."""
    limits = _read_limits()
    wanted = mask_indices() if indices is None else indices
    crops = []
    for index in wanted:
        if index not in limits:
            raise KeyError(f"no wrinkle mask for FFHQ image {index}")
        top, left = limits[index]
        crops.append(WrinkleMaskCrop(index, top, left, _read_mask(f"final{index:05d}.png")))
    return crops


def _curve_from_pixels(rows: NDArray[np.intp], cols: NDArray[np.intp]) -> WrinkleCurve:
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    lookup = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(rows, cols, strict=True))}
    links = []
    # Forward half of the 8-neighbourhood: every link is found once.
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
        for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
            j = lookup.get((int(r) + dr, int(c) + dc))
            if j is not None:
                links.append((i, j))
    link_array = np.asarray(links, dtype=np.intp).reshape(-1, 2)
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projection = centred @ vt[0]
    span = max(float(projection.max() - projection.min()), 1e-9)
    along = (projection - projection.min()) / span
    steps = points[link_array[:, 1]] - points[link_array[:, 0]]
    length = float(np.hypot(steps[:, 0], steps[:, 1]).sum())
    return WrinkleCurve(points, link_array, along, length)


@lru_cache(maxsize=64)
def mask_curves(ffhq_index: int) -> tuple[WrinkleCurve, ...]:
    """The wrinkle curves of one mask, in canonical pixels, longest first."""
    from skimage.morphology import skeletonize

    (crop,) = load_crops((ffhq_index,))
    skeleton = skeletonize(crop.crop).astype(np.uint8)
    count, labels = cv2.connectedComponents(skeleton, connectivity=8)
    curves = []
    for label in range(1, count):
        rows, cols = np.nonzero(labels == label)
        if rows.size < _MIN_CURVE_PX:
            continue
        curves.append(_curve_from_pixels(rows + crop.top, cols + crop.left))
    curves.sort(key=lambda curve: -curve.length_px)
    return tuple(curves)


def draw_curves(
    shape: tuple[int, int],
    segments: list[NDArray[np.float64]],
) -> NDArray[np.uint8]:
    """Rasterise line segments (each an array of shape (M, 2, 2) of ``(x, y)`` ends) as 1s.

    Drawn with 4-bit sub-pixel precision and 8-connected lines, one pixel wide.
    """
    canvas = np.zeros(shape, dtype=np.uint8)
    for pieces in segments:
        if pieces.size == 0:
            continue
        fixed = np.rint(pieces * 16.0).astype(np.int32)
        cv2.polylines(canvas, list(fixed), isClosed=False, color=1, thickness=1, shift=4)
    return canvas
