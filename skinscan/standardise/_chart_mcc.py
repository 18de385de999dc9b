"""OpenCV ``mcc`` as a second source of chart candidates for :mod:`._chart_detect`.

``cv2.mcc``'s defaults assume a large chart (its contour-area and image-size limits reject the
small, JPEG-compressed charts of ordinary photos), so the limits are loosened here. Its detection
gives only the chart's outline; which corner is which is left to the colour scoring, like the grid
finder's candidates. The optional DNN detector is not used (it needs downloaded weights).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.standardise._colorchecker import CHART_COLS, CHART_ROWS

__all__ = ["mcc_candidates"]

_MCC_LONG_SIDE = 640
_FILL = 0.8


def _params() -> cv2.mcc.DetectorParametersMCC:
    params = cv2.mcc.DetectorParametersMCC()
    params.minImageSize = 200
    params.minContoursAreaRate = 0.0002
    params.minContoursArea = 30.0
    params.minContourLengthAllowed = 20
    params.minInterContourDistance = 10
    params.minInterCheckerDistance = 100
    params.adaptiveThreshWinSizeMin = 7
    params.adaptiveThreshWinSizeMax = 55
    params.adaptiveThreshWinSizeStep = 16
    return params


def _dihedral() -> list[NDArray[np.float64]]:
    """The 8 symmetries of the unit square, as 3 x 3 affine maps."""
    maps = []
    for swap in (False, True):
        for flip_a in (False, True):
            for flip_b in (False, True):
                m = np.eye(3)
                if swap:
                    m[:2, :2] = [[0.0, 1.0], [1.0, 0.0]]
                if flip_a:
                    m[0] = [-m[0, 0], -m[0, 1], 1.0]
                if flip_b:
                    m[1] = [-m[1, 0], -m[1, 1], 1.0]
                maps.append(m)
    return maps


def mcc_candidates(
    rgb: NDArray[np.uint8],
) -> list[tuple[list[tuple[NDArray[np.float64], int]], float]]:
    """Chart → image homographies (8 orientations each) for the charts ``mcc`` reports.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), uint8

    Returns
    -------
    list of (candidates, fill)
        ``candidates`` is a list of (homography, support); ``support`` is 16, i.e. the chart's
        squares were not individually confirmed.
    """
    h, w = rgb.shape[:2]
    scale = min(1.0, _MCC_LONG_SIDE / max(h, w))
    small = rgb
    if scale < 1.0:
        size = (round(w * scale), round(h * scale))
        small = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8)
    detector = cv2.mcc.CCheckerDetector.create()
    detector.setDetectionParams(_params())
    detector.setColorChartType(cv2.mcc.MCC24)
    try:
        if not detector.process(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), 2):
            return []
        checkers = detector.getListColorChecker()
    except cv2.error:
        return []
    # Chart (x, y) → unit square: the box is taken to run half a pitch beyond the patch centres.
    to_unit = np.array(
        [
            [1.0 / CHART_COLS, 0.0, 0.5 / CHART_COLS],
            [0.0, 1.0 / CHART_ROWS, 0.5 / CHART_ROWS],
            [0.0, 0.0, 1.0],
        ]
    )
    unit = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], np.float32)
    out = []
    for checker in checkers:
        box = np.asarray(checker.getBox(), np.float32).reshape(4, 2) / np.float32(scale)
        box_h = cv2.getPerspectiveTransform(unit, box)
        if box_h is None or not np.all(np.isfinite(box_h)):
            continue
        out.append(([(box_h @ d @ to_unit, 16) for d in _dihedral()], _FILL))
    return out
