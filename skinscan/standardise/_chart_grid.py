"""Find grids of square patches: the geometric half of the ColorChecker detector.

A ColorChecker is a 4 x 6 lattice of flat, near-square patches separated by dark gaps. The finder
thresholds the image against its local mean at two window sizes, keeps the outlines that are
near-square, groups those of similar size whose centres are one lattice step
apart along the squares' own axes, gives each square integer lattice coordinates by walking the
group, and fits a homography from lattice coordinates to the image. It knows nothing of colours;
the caller decides which 24 lattice cells, in which orientation, are the chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["Lattice", "find_lattices"]

_MIN_SQUARES = 6
_MAX_CANDIDATES = 600


@dataclass(frozen=True)
class Lattice:
    """A grid of squares: lattice (u, v) → image homography and the cells that were seen.

    Attributes
    ----------
    homography : ndarray of shape (3, 3)
        Maps lattice coordinates (integer at square centres) to image pixels.
    cells : ndarray of shape (n, 2), int
        The (u, v) of the squares found.
    fill : float
        Side of a square as a fraction of the lattice pitch.
    pitch_px : float
        Median pitch in pixels.
    """

    homography: NDArray[np.float64]
    cells: NDArray[np.int64]
    fill: float
    pitch_px: float


def _square_candidates(
    value: NDArray[np.uint8], *, min_side: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Centres (n, 2), sides (n,) and axis angles (n,, radians mod pi/2) of near-square blobs."""
    long_side = max(value.shape)
    opening = np.ones((3, 3), np.uint8)
    found: list[tuple[float, float, float, float]] = []
    for fraction in (0.02, 0.06):
        block = max(3, int(long_side * fraction) | 1)
        # "On" where brighter than the neighbourhood: patch rims against the dark gaps. Holes
        # (RETR_LIST) add patch interiors and patches darker than a light frame. The opening
        # removes specks: on noise or fine texture they would be tens of thousands of contours.
        binary = cv2.adaptiveThreshold(
            value, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, -4
        )
        binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, opening)
        contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            if len(contour) < 4:
                continue
            area = cv2.contourArea(contour)
            if area < min_side * min_side:
                continue
            (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
            if w <= 0 or h <= 0 or max(w, h) > 1.6 * min(w, h) or area < 0.75 * w * h:
                continue
            if area < 0.9 * cv2.contourArea(cv2.convexHull(contour)):
                continue
            found.append((cx, cy, float(np.sqrt(area)), np.radians(angle) % (np.pi / 2)))
    if not found:
        empty = np.zeros((0,), np.float64)
        return np.zeros((0, 2), np.float64), empty, empty
    arr = np.asarray(found, np.float64)
    # Several thresholds (and a patch's inner rim) find the same patch: keep the largest.
    arr = arr[np.argsort(-arr[:, 2])]
    keep: list[int] = []
    for i in range(len(arr)):
        if len(keep) >= _MAX_CANDIDATES:
            break
        if keep:
            kept = arr[keep]
            near = np.hypot(kept[:, 0] - arr[i, 0], kept[:, 1] - arr[i, 1]) < 0.35 * arr[i, 2]
            if (near & (kept[:, 2] < 2.0 * arr[i, 2])).any():
                continue
        keep.append(i)
    arr = arr[keep]
    return arr[:, :2], arr[:, 2], arr[:, 3]


def _angle_gap(a: NDArray[np.float64], b: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Distance between axis angles modulo 90 degrees, in radians."""
    d = np.abs(a - b) % (np.pi / 2)
    return np.asarray(np.minimum(d, np.pi / 2 - d))


def _neighbour_steps(
    centres: NDArray[np.float64], sides: NDArray[np.float64], angles: NDArray[np.float64]
) -> tuple[list[list[tuple[int, NDArray[np.float64]]]], NDArray[np.float64]]:
    """Each square's aligned neighbours (with displacements) and its own pitch estimate.

    Candidate sides are unreliable on small, marked-up patches, so the links are loose in size
    and distance; the pitch of a square is the distance to its nearest aligned neighbour, and the
    walk turns each displacement into a whole number of pitches.
    """
    delta = centres[None, :, :] - centres[:, None, :]
    dist = np.hypot(delta[..., 0], delta[..., 1])
    mean_side = (sides[:, None] + sides[None, :]) / 2
    ratio = sides[:, None] / sides[None, :]
    heading = np.arctan2(delta[..., 1], delta[..., 0]) % (np.pi / 2)
    ok = (
        (dist > 1.05 * mean_side)
        & (dist < 2.7 * mean_side)
        & (ratio > 0.45)
        & (ratio < 2.2)
        & (_angle_gap(angles[:, None], angles[None, :]) < np.radians(14))
        & (_angle_gap(heading, angles[:, None]) < np.radians(14))
    )
    pitch = np.where(ok, dist, np.inf).min(axis=1)
    return [
        [(int(j), delta[i, j]) for j in np.flatnonzero(ok[i])] for i in range(len(centres))
    ], pitch


def _walk(
    start: int,
    neighbours: list[list[tuple[int, NDArray[np.float64]]]],
    angles: NDArray[np.float64],
    pitch: NDArray[np.float64],
    seen: set[int],
) -> dict[int, tuple[int, int]]:
    """Breadth-first integer (u, v) coordinates over one connected group of squares."""
    axis = {start: float(angles[start])}
    coords = {start: (0, 0)}
    taken = {(0, 0)}
    queue = [start]
    while queue:
        i = queue.pop(0)
        u_axis = np.array([np.cos(axis[i]), np.sin(axis[i])])
        v_axis = np.array([-u_axis[1], u_axis[0]])
        for j, d in neighbours[i]:
            if j in coords or j in seen:
                continue
            local = min(pitch[i], pitch[j])
            if max(pitch[i], pitch[j]) > 1.35 * local:
                continue
            du, dv = float(d @ u_axis) / local, float(d @ v_axis) / local
            step_u, step_v = round(du), round(dv)
            if (step_u == 0) == (step_v == 0) or abs(du - step_u) + abs(dv - step_v) > 0.3:
                continue
            cell = (coords[i][0] + step_u, coords[i][1] + step_v)
            if cell in taken:
                continue
            # Carry the axis frame on: the neighbour's angle, turned by the multiple of 90 degrees
            # that brings it closest to ours (rect angles are only defined modulo 90).
            turns = np.round((axis[i] - angles[j]) / (np.pi / 2))
            axis[j] = float(angles[j] + turns * np.pi / 2)
            coords[j] = cell
            taken.add(cell)
            queue.append(j)
    return coords


def find_lattices(rgb: NDArray[np.uint8], *, min_side: float = 5.0) -> list[Lattice]:
    """Grids of near-square patches in an RGB image.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), uint8
    min_side : float
        Smallest patch side considered, in pixels.

    Returns
    -------
    list of Lattice
        Largest first; each has at least six squares.
    """
    value = np.asarray(cv2.max(cv2.max(rgb[..., 0], rgb[..., 1]), rgb[..., 2]), np.uint8)
    centres, sides, angles = _square_candidates(value, min_side=min_side)
    if len(centres) < _MIN_SQUARES:
        return []
    neighbours, pitches = _neighbour_steps(centres, sides, angles)
    seen: set[int] = set()
    lattices: list[Lattice] = []
    order = np.argsort([-len(nb) for nb in neighbours])
    for start in order:
        if start in seen or len(neighbours[start]) == 0:
            continue
        coords = _walk(int(start), neighbours, angles, pitches, seen)
        seen.update(coords)
        if len(coords) < _MIN_SQUARES:
            continue
        members = np.fromiter(coords.keys(), np.int64)
        cells = np.array([coords[m] for m in members], np.int64)
        if np.ptp(cells[:, 0]) == 0 or np.ptp(cells[:, 1]) == 0:
            continue
        pitch = float(np.median(pitches[members]))
        homography, inliers = cv2.findHomography(
            cells.astype(np.float64), centres[members], cv2.RANSAC, 0.2 * pitch
        )
        if homography is None:
            continue
        keep = inliers.ravel().astype(bool)
        if keep.sum() < _MIN_SQUARES:
            continue
        cells, members = cells[keep], members[keep]
        unit = homography @ np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
        unit = unit[:2] / unit[2]
        pitch = float(np.mean(np.hypot(*(unit[:, 1:] - unit[:, :1]))))
        fill = float(np.clip(np.median(sides[members]) / pitch, 0.4, 0.95))
        lattices.append(Lattice(np.asarray(homography, np.float64), cells, fill, pitch))
    lattices.sort(key=lambda lat: -len(lat.cells))
    return lattices
