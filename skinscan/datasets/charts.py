"""Synthetic photographs of a ColorChecker Classic with an exactly known colour cast.

The chart is drawn from the reference linear sRGB values the calibration fits against, so a test
knows the true answer: a photo rendered with per-channel gains ``g`` and exposure ``k`` is corrected
perfectly by the diagonal matrix ``diag(1 / (k g))`` (up to 8-bit quantisation and clipping).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_to_srgb, to_linear_float
from skinscan.standardise.colour import COLORCHECKER_LINEAR_SRGB

__all__ = ["CHART_FRAME_COLOUR", "PATCH_FILL", "render_colorchecker"]

# Geometry in units of the patch pitch: patches fill 84% of it (black gaps between them) and the
# dark frame reaches half a pitch beyond the outer patches, roughly as on the printed chart.
PATCH_FILL = 0.84
_FRAME_MARGIN = 0.5
CHART_FRAME_COLOUR = (0.022, 0.022, 0.024)


def _coverage_1d(n: int, start: float, stop: float) -> NDArray[np.float32]:
    """Fraction of each of ``n`` unit pixels that lies inside ``[start, stop)``."""
    edges = np.arange(n, dtype=np.float64)
    return np.clip(np.minimum(edges + 1.0, stop) - np.maximum(edges, start), 0.0, 1.0).astype(
        np.float32
    )


def _chart_canvas(pitch: float) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The upright chart (linear RGB) and its alpha, area-sampled at a pitch of ``pitch`` px."""
    grid_w = 6 * pitch - (1 - PATCH_FILL) * pitch
    grid_h = 4 * pitch - (1 - PATCH_FILL) * pitch
    margin = _FRAME_MARGIN * pitch
    frame_w, frame_h = grid_w + 2 * margin, grid_h + 2 * margin
    pad = 2
    width, height = int(np.ceil(frame_w)) + 2 * pad, int(np.ceil(frame_h)) + 2 * pad
    x0, y0 = (width - frame_w) / 2, (height - frame_h) / 2
    alpha = np.outer(_coverage_1d(height, y0, y0 + frame_h), _coverage_1d(width, x0, x0 + frame_w))
    frame = np.asarray(CHART_FRAME_COLOUR, np.float32)
    canvas = alpha[..., None] * frame
    side = PATCH_FILL * pitch
    reference = COLORCHECKER_LINEAR_SRGB.astype(np.float32)
    for index in range(24):
        row, col = divmod(index, 6)
        px, py = x0 + margin + col * pitch, y0 + margin + row * pitch
        cover = np.outer(_coverage_1d(height, py, py + side), _coverage_1d(width, px, px + side))
        canvas += cover[..., None] * (np.clip(reference[index], 0.0, None) - frame)
    return canvas.astype(np.float32), alpha.astype(np.float32)


def render_colorchecker(
    *,
    gains: Sequence[float] = (1.0, 1.0, 1.0),
    exposure: float = 1.0,
    size: tuple[int, int] = (1200, 900),
    chart_fraction: float = 0.5,
    angle_deg: float = 0.0,
    background: Sequence[float] = (0.34, 0.32, 0.29),
    noise_sigma: float = 0.0,
    seed: int = 0,
    face: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Render a photo of a ColorChecker Classic under a known colour cast.

    Parameters
    ----------
    gains : sequence of 3 floats
        Per-channel linear gains of the illuminant/camera (the colour cast), applied to the whole
        scene, chart and face alike.
    exposure : float
        Overall linear gain.
    size : (width, height)
        Image size in pixels.
    chart_fraction : float
        Width of the chart's frame (before rotation) as a fraction of the image width.
    angle_deg : float
        Rotation of the chart, counter-clockwise in the image, about its centre.
    background : sequence of 3 floats
        Linear RGB of the backdrop; a gentle left-to-right shading is added to it.
    noise_sigma : float
        Standard deviation of Gaussian noise added to the sRGB-encoded values (in [0, 1] units),
        before 8-bit quantisation.
    seed : int
        Seed of the noise.
    face : ndarray of shape (h, w, 3), uint8 sRGB, optional
        A photo to place on the left, scaled to the image height; the chart sits to its right.

    Returns
    -------
    ndarray of shape (height, width, 3), uint8
        sRGB-encoded RGB. Dark skin is at the chart's top-left when ``angle_deg`` is 0.

    Examples
    --------
    >>> img = render_colorchecker(gains=(1.35, 1.0, 0.62), exposure=0.8, size=(640, 480))
    >>> img.shape, img.dtype
    ((480, 640, 3), dtype('uint8'))
    """
    width, height = (int(v) for v in size)
    gain = np.asarray(gains, np.float32).reshape(-1)
    if width < 16 or height < 16:
        raise ValueError(f"size must be at least 16 x 16, not {size}")
    if gain.shape != (3,) or np.any(gain < 0) or exposure < 0:
        raise ValueError("gains must be 3 non-negative numbers and exposure non-negative")
    if not 0.0 < chart_fraction <= 1.0:
        raise ValueError(f"chart_fraction must be in (0, 1], not {chart_fraction}")

    shading = np.linspace(0.85, 1.1, width, dtype=np.float32)[None, :, None]
    scene = np.broadcast_to(np.asarray(background, np.float32) * shading, (height, width, 3)).copy()

    centre_x = width / 2.0
    if face is not None:
        face_h = height
        face_w = max(1, round(face.shape[1] * height / face.shape[0]))
        face_w = min(face_w, width)
        resized = cv2.resize(
            np.ascontiguousarray(face[..., :3]), (face_w, face_h), interpolation=cv2.INTER_AREA
        )
        face_lin = to_linear_float(np.asarray(resized, np.uint8))
        scene[:, :face_w] = face_lin
        centre_x = face_w + (width - face_w) / 2.0

    pitch = chart_fraction * width / (6 - (1 - PATCH_FILL) + 2 * _FRAME_MARGIN)
    canvas, alpha = _chart_canvas(pitch)
    ch, cw = alpha.shape
    corners = np.array([[-cw / 2, -ch / 2], [cw / 2, -ch / 2], [cw / 2, ch / 2], [-cw / 2, ch / 2]])
    theta = np.radians(angle_deg)
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    half_extent = np.abs(corners @ rot.T).max(axis=0)
    centre_x = min(centre_x, width - half_extent[0])
    centre = np.array([centre_x, height / 2.0])
    affine = cv2.getRotationMatrix2D((cw / 2.0, ch / 2.0), angle_deg, 1.0)
    affine[:, 2] += centre - np.array([cw / 2.0, ch / 2.0])
    chart = cv2.warpAffine(canvas, affine, (width, height), flags=cv2.INTER_LINEAR)
    cover = cv2.warpAffine(alpha, affine, (width, height), flags=cv2.INTER_LINEAR)[..., None]
    scene = scene * (1.0 - cover) + chart

    scene *= np.float32(exposure) * gain
    encoded = linear_to_srgb(scene)
    if noise_sigma > 0:
        rng = np.random.default_rng(seed)
        encoded = encoded + rng.normal(0.0, noise_sigma, encoded.shape).astype(np.float32)
    return np.clip(np.round(encoded * 255.0), 0, 255).astype(np.uint8)
