"""A human-readable overlay of the face regions (for ``--maps``)."""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["draw_regions"]

# Colour-blind-friendly qualitative palette (Okabe & Ito 2008), extended with lighter variants,
# cycled over region names in order of appearance.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (255, 205, 120),
    (150, 215, 250),
    (100, 215, 180),
    (120, 170, 230),
    (250, 160, 110),
    (235, 180, 215),
)
_ALPHA = 0.38


def draw_regions(
    rgb_u8: NDArray[np.uint8],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    landmarks: NDArray[np.floating] | None = None,
) -> NDArray[np.uint8]:
    """Overlay region fills, outlines, names and landmark dots on a copy of the photo.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
    regions : mapping of str to ndarray of shape (H, W), bool
    landmarks : ndarray of shape (68, 2), optional
        Drawn as small dots when given.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        Ready to save as PNG.
    """
    image = np.asarray(rgb_u8)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    out = image.astype(np.float32)
    outlines = []
    scale = max(height, width) / 1000.0
    line = max(1, round(1.5 * scale))
    for k, (name, mask) in enumerate(regions.items()):
        region = np.asarray(mask, dtype=bool)
        if region.shape != (height, width):
            raise ValueError(
                f"region {name!r} has shape {region.shape}, expected {(height, width)}"
            )
        if not region.any():
            continue
        colour = np.array(_PALETTE[k % len(_PALETTE)], dtype=np.float32)
        out[region] = (1.0 - _ALPHA) * out[region] + _ALPHA * colour
        contours, _ = cv2.findContours(
            region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        outlines.append((name, colour, contours))
    canvas = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    for _, colour, contours in outlines:
        cv2.drawContours(canvas, contours, -1, tuple(float(c) for c in colour), line, cv2.LINE_AA)
    if landmarks is not None:
        radius = max(1, round(2 * scale))
        for x, y in np.asarray(landmarks, dtype=np.float64).reshape(-1, 2):
            cv2.circle(canvas, (round(x), round(y)), radius, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(canvas, (round(x), round(y)), radius, (0, 0, 0), 1, cv2.LINE_AA)
    font_scale = max(0.3, 0.45 * scale)
    thickness = max(1, round(scale))
    legend: list[tuple[str, NDArray[np.float32]]] = []
    for name, colour, contours in outlines:
        (text_w, text_h), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        x, y, box_w, box_h = cv2.boundingRect(max(contours, key=cv2.contourArea))
        if text_w > 1.2 * box_w or text_h > box_h:
            # Too small to carry its name legibly (a small face in a large frame): the legend
            # names it instead, so labels never pile up over the face.
            legend.append((name, colour))
            continue
        _text(
            canvas,
            name,
            (round(x + (box_w - text_w) / 2), round(y + (box_h + text_h) / 2)),
            font_scale,
            thickness,
        )
    _legend(canvas, legend, font_scale, thickness)
    return canvas


def _text(
    canvas: NDArray[np.uint8], text: str, org: tuple[int, int], font_scale: float, thickness: int
) -> None:
    for colour, extra in (((0, 0, 0), 2), ((255, 255, 255), 0)):
        cv2.putText(
            canvas,
            text,
            org,
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            colour,
            thickness + extra,
            cv2.LINE_AA,
        )


def _legend(
    canvas: NDArray[np.uint8],
    entries: list[tuple[str, NDArray[np.float32]]],
    font_scale: float,
    thickness: int,
) -> None:
    """Colour swatches and names down the top-left corner."""
    if not entries:
        return
    (_, text_h), _ = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    step = int(text_h * 1.8) + 2
    for row, (name, colour) in enumerate(entries):
        top = 6 + row * step
        cv2.rectangle(
            canvas, (6, top), (6 + text_h, top + text_h), tuple(float(c) for c in colour), -1
        )
        _text(canvas, name, (12 + text_h, top + text_h), font_scale, thickness)
