"""A face-aligned coordinate frame built from the 68 landmarks, and polygon rasterising helpers.

Offsets are expressed in units of the inter-eye distance (between the means of points 36-41 and
42-47) along the eye line (``u``, towards the image's right for an upright face) and across it
(``v``, downwards), so polygons drawn with them follow the face's size and in-plane rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["MIRROR", "FaceFrame", "fill_disc", "fill_polygon", "stroke_polyline"]

# iBUG 68 index of each point's left-right counterpart (a mirror image swaps them).
MIRROR = np.array(
    [
        *range(16, -1, -1),  # jaw
        *range(26, 16, -1),  # brows
        *(27, 28, 29, 30),  # nose bridge
        *(35, 34, 33, 32, 31),  # nose base
        *(45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40),  # eyes
        *(54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55),  # outer lips
        *(64, 63, 62, 61, 60, 67, 66, 65),  # inner lips
    ]
)

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class FaceFrame:
    """Face-aligned axes from landmarks (all vectors in image pixels).

    Attributes
    ----------
    origin : ndarray of shape (2,)
        Midpoint between the eye centres.
    u_axis, v_axis : ndarray of shape (2,)
        Unit vectors along the eye line (image-left eye → image-right eye) and perpendicular to
        it, pointing towards the mouth.
    unit : float
        Inter-eye distance in pixels (the length of one frame unit).
    """

    origin: NDArray[np.float64]
    u_axis: NDArray[np.float64]
    v_axis: NDArray[np.float64]
    unit: float

    @classmethod
    def from_landmarks(cls, landmarks: NDArray[np.floating]) -> FaceFrame:
        points = np.asarray(landmarks, dtype=np.float64)
        eye_image_left = points[36:42].mean(axis=0)
        eye_image_right = points[42:48].mean(axis=0)
        across = eye_image_right - eye_image_left
        unit = float(np.hypot(*across))
        if unit < 1e-6:
            raise ValueError("degenerate landmarks: both eyes at the same place")
        u_axis = across / unit
        v_axis = np.array([-u_axis[1], u_axis[0]])
        # Keep v pointing from the eyes to the mouth even for an upside-down face.
        mouth = (points[48] + points[54]) / 2.0
        if float(np.dot(mouth - (eye_image_left + eye_image_right) / 2.0, v_axis)) < 0:
            v_axis = -v_axis
        return cls((eye_image_left + eye_image_right) / 2.0, u_axis, v_axis, unit)

    def vec(self, du: float, dv: float) -> NDArray[np.float64]:
        """A displacement of ``du`` units along the eye line and ``dv`` units down the face."""
        return (du * self.u_axis + dv * self.v_axis) * self.unit

    def v_of(self, point: NDArray[np.floating]) -> float:
        """How far below the eye line ``point`` lies, in frame units."""
        return float(np.dot(np.asarray(point) - self.origin, self.v_axis)) / self.unit

    def at_level(self, point: NDArray[np.floating], v: float) -> NDArray[np.float64]:
        """``point`` slid along the face's vertical to the level ``v`` (frame units)."""
        return np.asarray(point, dtype=np.float64) + self.vec(0.0, v - self.v_of(point))


def _fixed(points: NDArray[np.floating], offset: NDArray[np.floating]) -> NDArray[np.int32]:
    shifted = (np.asarray(points, dtype=np.float64) - offset) * _ONE
    return np.round(shifted).astype(np.int32).reshape(-1, 1, 2)


def fill_polygon(
    canvas: NDArray[np.uint8],
    points: NDArray[np.floating],
    value: int,
    *,
    offset: NDArray[np.floating] | None = None,
    grow_px: float = 0.0,
) -> None:
    """Fill a polygon (and, with ``grow_px``, everything within that distance of it) in place.

    Growing by stroking the outline with a round pen of diameter ``2·grow_px`` is an exact
    dilation by a disc, at the cost of one line draw instead of a morphological filter.
    ``offset`` (x, y) is subtracted from the points first (canvas = a crop).
    """
    origin = np.zeros(2) if offset is None else np.asarray(offset, dtype=np.float64)
    poly = _fixed(points, origin)
    cv2.fillPoly(canvas, [poly], int(value), lineType=cv2.LINE_8, shift=_SHIFT)
    if grow_px > 0:
        thickness = max(1, round(2 * grow_px))
        cv2.polylines(canvas, [poly], True, int(value), thickness, cv2.LINE_8, _SHIFT)


def stroke_polyline(
    canvas: NDArray[np.uint8],
    points: NDArray[np.floating],
    value: int,
    width_px: float,
    *,
    offset: NDArray[np.floating] | None = None,
) -> None:
    """Draw an open polyline ``width_px`` wide (round ends) in place."""
    origin = np.zeros(2) if offset is None else np.asarray(offset, dtype=np.float64)
    poly = _fixed(points, origin)
    cv2.polylines(canvas, [poly], False, int(value), max(1, round(width_px)), cv2.LINE_8, _SHIFT)


def fill_disc(
    canvas: NDArray[np.uint8],
    centre: NDArray[np.floating],
    radius_px: float,
    value: int,
    *,
    offset: NDArray[np.floating] | None = None,
) -> None:
    """Fill a disc in place (``offset`` as in :func:`fill_polygon`)."""
    origin = np.zeros(2) if offset is None else np.asarray(offset, dtype=np.float64)
    x, y = np.round((np.asarray(centre, dtype=np.float64) - origin) * _ONE).astype(int)
    radius = max(1, round(radius_px * _ONE))
    cv2.circle(canvas, (int(x), int(y)), radius, int(value), -1, cv2.LINE_8, _SHIFT)
