"""ColorChecker detection: candidate grids → which 24 cells, which way round → checked patches.

Geometry comes from :mod:`._chart_grid` (grids of near-square patches) or, failing that, from
OpenCV's ``mcc`` detector (:mod:`._chart_mcc`). Either gives candidate homographies from chart
coordinates (patch (row, col) at x = col, y = row) to the image. Each is scored by how well a 3 x 3
matrix maps its 24 sampled colours onto the reference (CIEDE2000), so orientation and mirroring
are settled by the patch colours themselves, and the best one must then pass checks that a random
grid of squares (tiles, a shirt, a keyboard) fails: a neutral row that is neutral and ordered
white → black, chromatic patches that are chromatic, and a good fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_srgb_to_lab, to_linear_float
from skinscan.standardise._ccm import fit_matrix, patch_errors, predict
from skinscan.standardise._chart_grid import Lattice, find_lattices
from skinscan.standardise._colorchecker import (
    CHART_COLS,
    CHART_ROWS,
    COLORCHECKER_LINEAR_SRGB,
    NEUTRAL_PATCHES,
)

__all__ = [
    "ChartDetection",
    "detect_chart",
    "patch_sample_points",
    "robust_patch_means",
    "shared_colour_mask",
]

_WORK_LONG_SIDE = 800
_MAX_UPSCALE = 3.0
_MIN_SUPPORT = 8
_MAX_FIT_DE00 = 10.0
_MAX_FIT_DE00_STRONG = 15.0
_STRONG_SUPPORT = 18
_MAX_WINDOWS = 8
_INNER = 0.7  # sample the central 70% of each patch side, i.e. about half its area

_CHART_XY = np.stack(
    np.meshgrid(np.arange(CHART_COLS, dtype=np.float64), np.arange(CHART_ROWS, dtype=np.float64)),
    axis=-1,
).reshape(-1, 2)
_CHROMATIC_PATCHES = np.arange(18)


@dataclass(frozen=True, eq=False)
class ChartDetection:
    """A ColorChecker Classic found in an image.

    Attributes
    ----------
    corners : ndarray of shape (4, 2), float
        Outer corners of the patch grid in image pixels (x, y), ordered TL, TR, BR, BL in the
        chart's own frame: *dark skin* is at TL and the neutral row runs along the bottom.
    patch_centres : ndarray of shape (24, 2), float
        Row-major ColorChecker order (dark skin … black).
    patch_rgb : ndarray of shape (24, 3), float32
        Robust mean of the inner half (by area) of each patch, as encoded in the image, in [0, 1].
    patch_polygons : ndarray of shape (24, 4, 2), float
        Each patch's corners (TL, TR, BR, BL), for overlays.
    method : str
        ``"grid"`` (the square-grid finder) or ``"mcc"`` (OpenCV's detector).
    confidence : float
        In [0, 1]: falls with the chart-fit error and with the share of patches not seen as squares.
    """

    corners: NDArray[np.float64]
    patch_centres: NDArray[np.float64]
    patch_rgb: NDArray[np.float32]
    patch_polygons: NDArray[np.float64]
    method: str
    confidence: float


def _project(homography: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    pts = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1) @ homography.T
    return np.asarray(pts[..., :2] / pts[..., 2:3])


def patch_sample_points(polygons: NDArray[np.float64], *, per_side: int) -> NDArray[np.float64]:
    """Sample points on the central 70% (by side) of each patch quad, shape (n, per_side², 2).

    Bilinear interpolation inside each quad: exact for an affine view, and within a small fraction
    of a pixel for the perspective of one patch.
    """
    t = (np.linspace(-_INNER, _INNER, per_side) + 1.0) / 2.0
    s, r = np.meshgrid(t, t)
    s, r = s.ravel()[None, :, None], r.ravel()[None, :, None]
    tl, tr, br, bl = (polygons[:, k][:, None, :] for k in range(4))
    top = tl + (tr - tl) * s
    bottom = bl + (br - bl) * s
    return np.asarray(top + (bottom - top) * r)


def shared_colour_mask(samples_u8: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Samples whose colour turns up in many patches: glare or marks drawn over the chart.

    The 24 patches differ from one another, so a colour seen in a third of them is not a patch
    colour but something on top of them: specular glare (the colour of the light) or annotation
    marks. Colours are compared in bins of 16 levels per channel.

    Parameters
    ----------
    samples_u8 : ndarray of shape (n_patches, n_samples, 3), uint8

    Returns
    -------
    ndarray of shape (n_patches, n_samples), bool
        True where the sample should be ignored.
    """
    n_patches = samples_u8.shape[0]
    q = samples_u8.astype(np.intp) >> 4
    bins = (q[..., 0] << 8) | (q[..., 1] << 4) | q[..., 2]
    present = np.zeros((n_patches, 4096), bool)
    present[np.arange(n_patches)[:, None], bins] = True
    shared = present.sum(axis=0) >= max(3, n_patches // 3)
    mask = shared[bins]
    # Never drop most of a patch: then the "shared" colour is the patch's own.
    mask[mask.mean(axis=1) > 0.7] = False
    return np.asarray(mask)


def robust_patch_means(
    samples: NDArray[np.float64], ignore: NDArray[np.bool_] | None = None
) -> NDArray[np.float64]:
    """Mean of each patch's samples after dropping outliers (glare, dust, printed markers).

    Samples flagged in ``ignore`` are dropped first; of the rest, those farther (L1) from the patch
    median than 2.5 times their median distance are dropped.

    Parameters
    ----------
    samples : ndarray of shape (n_patches, n_samples, 3)
    ignore : ndarray of shape (n_patches, n_samples), bool, optional
    """
    valid = np.ones(samples.shape[:2], bool) if ignore is None else ~ignore
    masked = np.where(valid[..., None], samples, np.nan)
    median = np.nanmedian(masked, axis=1, keepdims=True)
    dist = np.abs(samples - median).sum(axis=-1)
    spread = np.nanmedian(np.where(valid, dist, np.nan), axis=1, keepdims=True)
    keep = (valid & (dist <= np.maximum(2.5 * spread, 1e-3)))[..., None]
    return np.asarray((samples * keep).sum(axis=1) / np.maximum(keep.sum(axis=1), 1))


def _sample(
    image: NDArray[np.uint8], polygons: NDArray[np.float64], per_side: int
) -> NDArray[np.float64] | None:
    """Robust encoded means (n, 3) in [0, 1], or None when a patch lies mostly outside."""
    h, w = image.shape[:2]
    pts = patch_sample_points(polygons, per_side=per_side)
    inside = (
        (pts[..., 0] >= 0) & (pts[..., 0] <= w - 1) & (pts[..., 1] >= 0) & (pts[..., 1] <= h - 1)
    )
    if inside.mean(axis=1).min() < 0.5:
        return None
    x = np.clip(np.round(pts[..., 0]), 0, w - 1).astype(np.intp)
    y = np.clip(np.round(pts[..., 1]), 0, h - 1).astype(np.intp)
    values = image[y, x]
    return robust_patch_means(values.astype(np.float64) / 255.0, shared_colour_mask(values))


def _polygons(homography: NDArray[np.float64], fill: float) -> NDArray[np.float64]:
    half = fill / 2.0
    offsets = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    return _project(homography, _CHART_XY[:, None, :] + offsets[None])


@dataclass(frozen=True)
class _Scored:
    homography: NDArray[np.float64]
    fill: float
    support: int
    fit_de00: float
    method: str


def _check(encoded: NDArray[np.float64], *, strong_geometry: bool) -> float | None:
    """Mean 3 x 3-fit CIEDE2000 of 24 sampled patches, or None if they cannot be a ColorChecker.

    ``strong_geometry`` (most of the 24 squares seen in a regular 4 x 6 lattice) is evidence in
    its own right, so the colour checks are relaxed for it: marks or glare over small patches can
    then still be found, and report their poor fit, instead of being missed.
    """
    measured = to_linear_float(encoded.astype(np.float32)).astype(np.float64)
    reference = COLORCHECKER_LINEAR_SRGB
    neutral = measured[NEUTRAL_PATCHES]
    luminance = neutral @ np.array([0.2126729, 0.7151522, 0.0721750])
    # White → black must darken step by step. The end patches may merge with their neighbours
    # (a tone curve that rolls off the highlights, crushed shadows, flare), the mid-greys may not.
    slack = 1.2 if strong_geometry else 1.03
    if np.any(luminance[1:] > slack * luminance[:-1]) or np.any(np.diff(luminance[1:5]) >= 0):
        return None
    if luminance[0] < 4.0 * luminance[4]:
        return None
    gains = fit_matrix(neutral, reference[NEUTRAL_PATCHES], "diagonal")
    lab = linear_srgb_to_lab(measured @ gains)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    chromatic = float(np.mean(chroma[_CHROMATIC_PATCHES]))
    neutral_ratio = 0.5 if strong_geometry else 0.3
    if chromatic < 12.0 or float(np.mean(chroma[NEUTRAL_PATCHES[:5]])) > neutral_ratio * chromatic:
        return None
    matrix = fit_matrix(measured, reference, "linear3x3")
    fit = float(np.mean(patch_errors(predict(measured, matrix, "linear3x3"), reference)))
    return fit if fit <= (_MAX_FIT_DE00_STRONG if strong_geometry else _MAX_FIT_DE00) else None


def _orientations(transposed: bool) -> list[NDArray[np.float64]]:
    """The 4 affine maps chart (x, y) → window cells that keep a window's shape (incl. mirrors)."""
    maps = []
    for flip_a in (False, True):
        for flip_b in (False, True):
            a = np.eye(3)
            if transposed:
                a[:2, :2] = [[0.0, 1.0], [1.0, 0.0]]
            if flip_a:
                a[0] = -a[0]
                a[0, 2] = CHART_ROWS - 1 if transposed else CHART_COLS - 1
            if flip_b:
                a[1] = -a[1]
                a[1, 2] = CHART_COLS - 1 if transposed else CHART_ROWS - 1
            maps.append(a)
    return maps


def _lattice_hypotheses(lattice: Lattice) -> list[tuple[NDArray[np.float64], int]]:
    """Chart → image homographies for every 6 x 4 window that holds enough found squares."""
    cells = lattice.cells
    lo, hi = cells.min(axis=0), cells.max(axis=0)
    extent = hi - lo + 1
    # One stray square beside the chart is tolerated; a larger grid (tiles, a checkerboard,
    # a keyboard) is not a ColorChecker and would only cost time.
    if extent.max() > CHART_COLS + 1 or extent.min() > CHART_ROWS + 1:
        return []
    windows: list[tuple[int, int, bool, int]] = []
    for transposed in (False, True):
        size_u, size_v = (CHART_ROWS, CHART_COLS) if transposed else (CHART_COLS, CHART_ROWS)
        for ou in range(min(lo[0], hi[0] - size_u + 1), max(lo[0], hi[0] - size_u + 1) + 1):
            for ov in range(min(lo[1], hi[1] - size_v + 1), max(lo[1], hi[1] - size_v + 1) + 1):
                inside = (
                    (cells[:, 0] >= ou)
                    & (cells[:, 0] < ou + size_u)
                    & (cells[:, 1] >= ov)
                    & (cells[:, 1] < ov + size_v)
                )
                windows.append((ou, ov, transposed, int(inside.sum())))
    windows.sort(key=lambda window: -window[3])
    best = windows[0][3] if windows else 0
    out = []
    for ou, ov, transposed, count in windows[:_MAX_WINDOWS]:
        if count < max(_MIN_SUPPORT, 0.8 * best):
            continue
        shift = np.array([[1.0, 0.0, ou], [0.0, 1.0, ov], [0.0, 0.0, 1.0]])
        for chart_to_cells in _orientations(transposed):
            out.append((lattice.homography @ shift @ chart_to_cells, count))
    return out


def _best(
    work: NDArray[np.uint8],
    candidates: list[tuple[NDArray[np.float64], int]],
    fill: float,
    method: str,
) -> _Scored | None:
    """The candidate whose sampled colours best fit the reference, if it passes the checks."""
    best: _Scored | None = None
    for homography, support in candidates:
        polygons = _polygons(homography, fill)
        encoded = _sample(work, polygons, per_side=5)
        if encoded is None:
            continue
        fit = _check(encoded, strong_geometry=support >= _STRONG_SUPPORT)
        if fit is not None and (best is None or fit < best.fit_de00):
            best = _Scored(homography, fill, support, fit, method)
    return best


def _to_uint8(rgb: NDArray[np.generic]) -> NDArray[np.uint8] | None:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] < 3 or min(arr.shape[:2]) < 24:
        return None
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:
        return np.ascontiguousarray((arr >> 8).astype(np.uint8))
    if np.issubdtype(arr.dtype, np.floating):
        clean = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return np.round(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)
    return None


def detect_chart(rgb_u8: NDArray[np.uint8], *, use_mcc: bool = False) -> ChartDetection | None:
    """Find a ColorChecker Classic (24 patches) and measure its patches.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
        sRGB-encoded, RGB order. Any size; other dtypes are converted, anything unusable gives None.
    use_mcc : bool
        Fall back on OpenCV's ``mcc`` detector when the grid finder finds nothing.

    Returns
    -------
    ChartDetection or None
        None when no chart passes the checks: detection never raises on image content.

    Notes
    -----
    Runs on a copy resampled to 800 px on the long side (small photos are enlarged up to 3x),
    then maps the chart back and samples the patches on the image as given. Patches of about
    8 px or more on that copy are found (a chart about 8% of the width of a 4:3 photo).

    Examples
    --------
    >>> from skinscan.datasets.charts import render_colorchecker
    >>> chart = detect_chart(render_colorchecker(gains=(1.3, 1.0, 0.7), angle_deg=90))
    >>> chart.method, chart.patch_centres.shape
    ('grid', (24, 2))
    """
    try:
        return _detect(rgb_u8, use_mcc=use_mcc)
    except (cv2.error, np.linalg.LinAlgError):
        return None


def _detect(rgb_u8: NDArray[np.uint8], *, use_mcc: bool) -> ChartDetection | None:
    image = _to_uint8(rgb_u8)
    if image is None or int(image.max()) - int(image.min()) < 32:
        return None
    h, w = image.shape[:2]
    scale = min(_MAX_UPSCALE, _WORK_LONG_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    work = image
    if scale != 1:
        work = np.asarray(cv2.resize(image, size, interpolation=interp), np.uint8)
    # work = scale * (full + 0.5) - 0.5, the pixel-centre convention of cv2.resize.
    sx, sy = size[0] / w, size[1] / h
    full_from_work = np.linalg.inv(
        np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    )

    found: list[_Scored] = []
    for lattice in find_lattices(work)[:4]:
        scored = _best(work, _lattice_hypotheses(lattice), lattice.fill, "grid")
        if scored is not None:
            found.append(scored)
    if not found and use_mcc:
        from skinscan.standardise._chart_mcc import mcc_candidates

        for candidates, fill in mcc_candidates(work):
            scored = _best(work, candidates, fill, "mcc")
            if scored is not None:
                found.append(scored)
    if not found:
        return None
    chosen = min(found, key=lambda s: s.fit_de00)
    homography = full_from_work @ chosen.homography
    polygons = _polygons(homography, chosen.fill)
    side_px = float(np.median(np.hypot(*(polygons[:, 1] - polygons[:, 0]).T)))
    per_side = int(np.clip(round(side_px * _INNER), 4, 12))
    encoded = _sample(image, polygons, per_side)
    if encoded is None:
        return None
    half = chosen.fill / 2.0
    grid = np.array(
        [
            [-half, -half],
            [CHART_COLS - 1 + half, -half],
            [CHART_COLS - 1 + half, CHART_ROWS - 1 + half],
            [-half, CHART_ROWS - 1 + half],
        ]
    )
    confidence = float(
        np.clip(1.0 - chosen.fit_de00 / _MAX_FIT_DE00_STRONG, 0.0, 1.0)
        * min(1.0, chosen.support / 16)
    )
    return ChartDetection(
        corners=_project(homography, grid),
        patch_centres=_project(homography, _CHART_XY),
        patch_rgb=encoded.astype(np.float32),
        patch_polygons=polygons,
        method=chosen.method,
        confidence=confidence,
    )
