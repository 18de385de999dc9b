"""The ColorChecker Classic (24 patches): reference colours and layout.

The reference is colour-science's ``"ColorChecker24 - After November 2014"`` (X-Rite's published
CIE xyY under D50), converted to XYZ, adapted to D65 with the Bradford transform and expressed in
linear sRGB, without clipping: the *cyan* patch lies just outside the sRGB gamut (R < 0). Stored as
numbers so that the runtime path never imports colour-science; a test recomputes them with it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CHART_COLS",
    "CHART_ROWS",
    "COLORCHECKER_LINEAR_SRGB",
    "COLORCHECKER_NAMES",
    "NEUTRAL_PATCHES",
]

CHART_ROWS = 4
CHART_COLS = 6

COLORCHECKER_NAMES: tuple[str, ...] = (
    "dark skin",
    "light skin",
    "blue sky",
    "foliage",
    "blue flower",
    "bluish green",
    "orange",
    "purplish blue",
    "moderate red",
    "purple",
    "yellow green",
    "orange yellow",
    "blue",
    "green",
    "red",
    "yellow",
    "magenta",
    "cyan",
    "white 9.5 (.05 D)",
    "neutral 8 (.23 D)",
    "neutral 6.5 (.44 D)",
    "neutral 5 (.70 D)",
    "neutral 3.5 (1.05 D)",
    "black 2 (1.5 D)",
)

# Row-major, dark skin first, black last; linear sRGB (D65), Bradford-adapted from D50.
COLORCHECKER_LINEAR_SRGB = np.array(
    [
        [0.17368344, 0.07879315, 0.05285583],
        [0.55978364, 0.27744724, 0.21089160],
        [0.10420115, 0.18891520, 0.32893013],
        [0.10574358, 0.15075416, 0.05083714],
        [0.22743860, 0.21240808, 0.42644644],
        [0.11529258, 0.50744140, 0.41112854],
        [0.74590259, 0.20214298, 0.02986815],
        [0.05874184, 0.10118167, 0.38774802],
        [0.56013013, 0.08015323, 0.11458605],
        [0.10916728, 0.04200047, 0.13813722],
        [0.33275032, 0.49738559, 0.04259624],
        [0.77103673, 0.35791839, 0.02044911],
        [0.02095551, 0.04753365, 0.28412911],
        [0.04606223, 0.29204799, 0.06147859],
        [0.44617064, 0.03640582, 0.04055108],
        [0.84168430, 0.57440756, 0.00466223],
        [0.52234157, 0.07781690, 0.28931307],
        [-0.04391767, 0.23366164, 0.37718957],
        [0.87952864, 0.88502787, 0.83424725],
        [0.58449346, 0.59216842, 0.58447835],
        [0.35769356, 0.36707716, 0.36526625],
        [0.19009392, 0.19086626, 0.18981351],
        [0.08592936, 0.08873532, 0.08980398],
        [0.03135424, 0.03149586, 0.03232258],
    ],
    dtype=np.float64,
)
COLORCHECKER_LINEAR_SRGB.setflags(write=False)

# The bottom row, white to black.
NEUTRAL_PATCHES = np.arange(18, 24)
