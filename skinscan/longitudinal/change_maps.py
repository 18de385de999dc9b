"""Change maps: each concern's map at the second visit, aligned to the first, minus the first.

The concern maps are the haemoglobin above the person's baseline (redness), the melanin above the
local skin (pigment), the local RMS of fine relief (texture) and the ridge map (wrinkles), all in
the analysis copy's pixels. The second visit's map is warped into the first visit's frame with
the registration's similarity, and the difference is drawn over the first photo: red where the
concern grew, blue where it receded, transparent where nothing changed or outside the skin the
two visits share.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.longitudinal.compare import Comparison
from skinscan.maps import draw_label, write_png
from skinscan.measures import CONCERNS
from skinscan.standardise.standard import StandardPhoto

__all__ = ["change_maps", "change_overlay", "registration_check", "write_change_maps"]

#: Side of the checkerboard squares of :func:`registration_check`, as a share of the long side.
_CHECKER_FRACTION = 1.0 / 16.0


def _warp(image: NDArray[Any], matrix: NDArray[np.float64], shape: tuple[int, int]) -> NDArray[Any]:
    height, width = shape
    interpolation = cv2.INTER_NEAREST if image.dtype == np.uint8 else cv2.INTER_LINEAR
    return np.asarray(
        cv2.warpAffine(
            image,
            np.asarray(matrix, np.float64),
            (width, height),
            flags=interpolation,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
    )


def _skin_union(regions: dict[str, NDArray[np.bool_]], shape: tuple[int, int]) -> NDArray[np.bool_]:
    union = np.zeros(shape, bool)
    for mask in regions.values():
        union |= mask
    return union


class _Visit(NamedTuple):
    """What a change map needs of one visit."""

    standard: StandardPhoto
    maps: dict[str, NDArray[np.float32]]


def _parts(comparison: Comparison) -> tuple[_Visit, _Visit, NDArray[np.float64]]:
    before, after = comparison.before_assessment, comparison.after_assessment
    matrix = comparison.registration.matrix
    if (
        before is None
        or after is None
        or before.standard is None
        or after.standard is None
        or before.concerns is None
        or after.concerns is None
    ):
        raise ValueError(
            "change maps need both visits assessed from photos (saved assessments carry no image)"
        )
    if not comparison.ok or matrix is None:
        raise ValueError("the visits were not registered, so their maps cannot be aligned")
    visits = [
        _Visit(a.standard, {n: np.asarray(c.result.map, np.float32) for n, c in a.concerns.items()})
        for a in (before, after)
        if a.standard is not None and a.concerns is not None
    ]
    return visits[0], visits[1], np.asarray(matrix, np.float64)


def change_maps(comparison: Comparison) -> dict[str, NDArray[np.float32]]:
    """Aligned differences ``after − before`` of each concern's map, NaN off the shared skin.

    Parameters
    ----------
    comparison : Comparison
        From :func:`skinscan.compare` on two photos (or two :class:`Assessment` objects that still
        hold their images), with a successful registration.

    Returns
    -------
    dict of str to ndarray of shape (H, W), float32
        In the first visit's analysis-copy pixels and each map's own units.
    """
    before, after, matrix = _parts(comparison)
    shape = before.standard.rgb_u8.shape[:2]
    shared = _skin_union(before.standard.regions, shape) & (
        _warp(
            _skin_union(after.standard.regions, after.standard.rgb_u8.shape[:2]).view(np.uint8),
            matrix,
            shape,
        )
        > 0
    )
    out: dict[str, NDArray[np.float32]] = {}
    for name in CONCERNS:
        first = before.maps[name]
        second = _warp(after.maps[name], matrix, shape)
        out[name] = np.where(shared, second - first, np.nan).astype(np.float32)
    return out


def change_overlay(
    rgb_u8: NDArray[np.uint8], difference: NDArray[np.floating]
) -> NDArray[np.uint8]:
    """Draw a signed difference over the photo: red for a rise, blue for a fall.

    The scale is symmetric, set by the 99.5th percentile of ``|difference|`` on the shared skin,
    so that the strongest changes are opaque; the shared skin is outlined.
    """
    out: NDArray[np.floating[Any]] = rgb_u8.astype(np.float32)
    valid = np.isfinite(difference)
    values = np.abs(difference[valid])
    if values.size:
        scale = max(float(np.percentile(values, 99.5)), 1e-6)
        signed = np.where(valid, np.clip(difference / scale, -1.0, 1.0), 0.0).astype(np.float32)
        alpha = (0.85 * np.abs(signed))[..., None]
        colour = np.where(
            (signed > 0)[..., None],
            np.array([220.0, 30.0, 30.0], np.float32),
            np.array([30.0, 90.0, 230.0], np.float32),
        )
        out = (1.0 - alpha) * out + alpha * colour
    result = np.round(out).astype(np.uint8)
    contours, _ = cv2.findContours(
        valid.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    cv2.drawContours(result, contours, -1, (255, 255, 255), 1, cv2.LINE_AA)
    return result


def registration_check(comparison: Comparison) -> NDArray[np.uint8]:
    """A checkerboard of the first photo and the second one aligned to it.

    Where the registration is right, edges run straight across the squares' borders.
    """
    before, after, matrix = _parts(comparison)
    first = before.standard.rgb_u8
    second = _warp(after.standard.rgb_u8, matrix, first.shape[:2])
    side = max(8, round(max(first.shape[:2]) * _CHECKER_FRACTION))
    rows, cols = np.indices(first.shape[:2])
    board = ((rows // side + cols // side) % 2).astype(bool)
    return np.where(board[..., None], second, first)


def write_change_maps(comparison: Comparison, directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``change_<concern>.png`` and ``registration_check.png`` into ``directory``.

    Each change map is labelled with the severity change, its MDC95 and the verdict.
    """
    differences = change_maps(comparison)
    assert comparison.before_assessment is not None  # checked by change_maps
    assert comparison.before_assessment.standard is not None
    assert comparison.concerns is not None
    photo = comparison.before_assessment.standard.rgb_u8
    images = {"registration_check": registration_check(comparison)}
    for name, difference in differences.items():
        image = change_overlay(photo, difference)
        severity = comparison.concerns[name].severity
        mdc = "–" if severity.mdc95 is None else f"{severity.mdc95:.1f}"
        delta = "–" if severity.delta is None else f"{severity.delta:+.1f}"
        verdict = comparison.concerns[name].direction
        draw_label(image, f"{name}: {delta} (MDC95 {mdc}) {verdict}", (10, 24))
        images[f"change_{name}"] = image
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_png(folder / f"{name}.png", image) for name, image in images.items()]
