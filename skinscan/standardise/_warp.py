"""2-D affine helpers: apply, invert, and resample through a similarity without aliasing."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["apply_transform", "invert_transform", "warp_similarity"]


def apply_transform(
    transform: NDArray[np.floating], points: NDArray[np.floating]
) -> NDArray[np.float64]:
    """Apply a (2, 3) affine transform to points of shape (N, 2); returns (N, 2) float64."""
    m = np.asarray(transform, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def invert_transform(transform: NDArray[np.floating]) -> NDArray[np.float64]:
    """Inverse of a (2, 3) affine transform, as (2, 3) float64."""
    m = np.asarray(transform, dtype=np.float64)
    inverse = np.linalg.inv(m[:, :2])
    return np.hstack([inverse, (-inverse @ m[:, 2])[:, None]])


def warp_similarity(
    image: NDArray[Any],
    transform: NDArray[np.floating],
    size: tuple[int, int],
    *,
    nearest: bool = False,
    border: int = cv2.BORDER_CONSTANT,
) -> NDArray[Any]:
    """Resample ``image`` so that output pixel ``q`` shows input pixel ``transform⁻¹(q)``.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
    transform : ndarray of shape (2, 3)
        Input pixel indices → output pixel indices (pixel centres at integers).
    size : tuple of int
        ``(width, height)`` of the output.
    nearest : bool
        Nearest-neighbour sampling (for label images and masks) instead of bilinear.
    border : int
        OpenCV border mode for output pixels that fall outside the input.

    Notes
    -----
    When the transform shrinks by 2× or more (and ``nearest`` is false), the part of the input
    that lands in the output is first reduced by the largest integer factor that keeps the rest
    of the warp a shrink of less than 2×, with area averaging, so the bilinear warp never skips
    input pixels (aliasing).
    """
    matrix = np.asarray(transform, dtype=np.float64)
    out_w, out_h = int(size[0]), int(size[1])
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
    shrink = math.floor(1.0 / scale) if scale > 0 and not nearest else 1
    if shrink < 2:
        # warpAffine reads only the input pixels it samples: no need to crop first.
        return np.asarray(
            cv2.warpAffine(image, matrix, (out_w, out_h), flags=flags, borderMode=border)
        )
    height, width = image.shape[:2]
    corners = np.array([[-1, -1], [out_w, -1], [-1, out_h], [out_w, out_h]], dtype=np.float64)
    source = apply_transform(invert_transform(matrix), corners)
    margin = 2 * shrink
    x0 = min(max(math.floor(source[:, 0].min()) - margin, 0), width - 1)
    y0 = min(max(math.floor(source[:, 1].min()) - margin, 0), height - 1)
    x1 = max(min(math.ceil(source[:, 0].max()) + margin + 1, width), x0 + 1)
    y1 = max(min(math.ceil(source[:, 1].max()) + margin + 1, height), y0 + 1)
    crop = image[y0:y1, x0:x1]
    # Crop pixel (i, j) is input pixel (i + x0, j + y0).
    matrix = np.hstack([matrix[:, :2], (matrix[:, :2] @ [x0, y0] + matrix[:, 2])[:, None]])
    crop_h, crop_w = crop.shape[:2]
    small_size = (max(1, round(crop_w / shrink)), max(1, round(crop_h / shrink)))
    small = cv2.resize(crop, small_size, interpolation=cv2.INTER_AREA)
    factors = np.array([crop_w / small_size[0], crop_h / small_size[1]])
    # Small pixel i has its centre at crop index (i + 0.5)·f - 0.5.
    offset = matrix[:, :2] @ ((factors - 1.0) / 2.0) + matrix[:, 2]
    matrix = np.hstack([matrix[:, :2] * factors, offset[:, None]])
    return np.asarray(cv2.warpAffine(small, matrix, (out_w, out_h), flags=flags, borderMode=border))
