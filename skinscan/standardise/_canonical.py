"""The canonical face frame: FFHQ's 1024 × 1024 alignment as a 2-D similarity transform."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.standardise._warp import apply_transform, invert_transform, warp_similarity

__all__ = [
    "CANONICAL_SIZE",
    "apply_transform",
    "canonical_transform",
    "invert_transform",
    "warp_to_canonical",
]

CANONICAL_SIZE = 1024


def canonical_transform(landmarks: NDArray[np.floating]) -> NDArray[np.float64]:
    """Similarity mapping image pixels into the FFHQ-aligned 1024 × 1024 frame.

    Parameters
    ----------
    landmarks : ndarray of shape (68, 2), float
        iBUG 68-point ``(x, y)`` in pixels.

    Returns
    -------
    ndarray of shape (2, 3), float64
        ``M`` with ``[u, v] = M @ [x, y, 1]``: rotation, uniform scale and translation only.
        Pixel indices on both sides (pixel ``(i, j)`` has its centre at ``(i, j)``), the
        convention of ``cv2.warpAffine``.

    Notes
    -----
    The recipe of the FFHQ dataset's alignment script (Karras, Laine & Aila 2019, "A style-based
    generator architecture for generative adversarial networks"; ``recreate_aligned_images`` in
    ``download_ffhq.py`` of NVlabs/ffhq-dataset):

    - ``eye_left``, ``eye_right`` = means of points 36-41 and 42-47; ``eye_avg`` their midpoint;
      ``eye_to_eye = eye_right - eye_left``;
    - ``mouth_avg`` = midpoint of the mouth corners 48 and 54; ``eye_to_mouth = mouth_avg -
      eye_avg``;
    - ``x = eye_to_eye - rot90(eye_to_mouth)``, normalised, then scaled to
      ``max(2·|eye_to_eye|, 1.8·|eye_to_mouth|)``; ``y = rot90(x)``;
    - ``c = eye_avg + 0.1·eye_to_mouth``; the crop is the square ``c ± x ± y``, resampled to
      1024 px (the script renders 4096 px through PIL's QUAD transform at ``quad + 0.5`` and
      downsamples, which puts output pixel ``k`` at ``(k + 0.5)/1024`` of the quad side).

    Consequences (checked by the tests): the eyes are level, symmetric about ``u = 511.5`` and
    ``|eye_to_eye|`` long, where the eye term wins ``256`` px apart; where the mouth term wins
    (most adult faces) the eyes sit on ``v ≈ 483`` and the mouth centre on ``v ≈ 767``.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), not {points.shape}")
    eye_left = points[36:42].mean(axis=0)
    eye_right = points[42:48].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (points[48] + points[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1.0, 1.0]
    norm = float(np.hypot(*x))
    if norm < 1e-9:
        raise ValueError("degenerate landmarks: eyes and mouth coincide")
    x_unit = x / norm
    half_side = max(float(np.hypot(*eye_to_eye)) * 2.0, float(np.hypot(*eye_to_mouth)) * 1.8)
    y_unit = np.flipud(x_unit) * [-1.0, 1.0]
    centre = eye_avg + eye_to_mouth * 0.1
    top_left = centre - (x_unit + y_unit) * half_side

    scale = CANONICAL_SIZE / (2.0 * half_side)
    rotation = np.stack([x_unit, y_unit]) * scale
    return np.hstack([rotation, (-rotation @ top_left - 0.5)[:, None]])


def warp_to_canonical(
    image: NDArray[Any],
    to_canonical: NDArray[np.floating],
    *,
    size: int = CANONICAL_SIZE,
) -> NDArray[Any]:
    """Resample an image or mask into the canonical frame.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        Any dtype cv2 can warp; ``bool`` masks are warped with nearest-neighbour sampling and come
        back as ``bool``, everything else bilinearly in its own dtype (after area-averaging when
        the warp shrinks by more than 2×, as the FFHQ script does).
    to_canonical : ndarray of shape (2, 3)
        From :func:`canonical_transform` (defined for the 1024 frame).
    size : int, default 1024
        Output side; other sizes are the same frame rescaled (``size=256`` is the 1024 frame
        shrunk 4×, pixel centres matched).

    Returns
    -------
    ndarray of shape (size, size) or (size, size, C)
        Pixels outside the source image are 0 (``False`` for masks).
    """
    if size <= 0:
        raise ValueError(f"size must be positive, not {size}")
    matrix = _rescaled(np.asarray(to_canonical, dtype=np.float64), size / CANONICAL_SIZE)
    source = np.asarray(image)
    if source.dtype == np.bool_:
        warped = warp_similarity(source.view(np.uint8), matrix, (size, size), nearest=True)
        return warped.astype(bool)
    return warp_similarity(source, matrix, (size, size))


def _rescaled(matrix: NDArray[np.float64], factor: float) -> NDArray[np.float64]:
    if factor == 1.0:
        return matrix
    # Output index k' relates to the 1024 index k by (k' + 0.5) = factor·(k + 0.5).
    out = matrix * factor
    out[:, 2] += 0.5 * factor - 0.5
    return out
