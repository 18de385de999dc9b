"""Colour calibration: from the camera's colours to linear sRGB (D65) that can be measured.

With a ColorChecker Classic in the frame, :func:`calibrate` fits a colour-correction model from the
24 patches as photographed to their reference values, in linear sRGB and to the *absolute*
reference, so white balance and exposure are corrected together (the white patch lands on its
reference luminance). Without one, it falls back on a shades-of-grey white balance over the
non-skin pixels, or leaves the colours alone when there are too few of them.

The reference (:data:`COLORCHECKER_LINEAR_SRGB`) and the CIEDE2000 used for the reported errors
are computed in-house (see :mod:`skinscan.colour_space`); colour-science is not imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_to_srgb, to_linear_float
from skinscan.standardise._ccm import (
    MODELS,
    apply_matrix,
    fit_matrix,
    loo_errors,
    neutral_patches,
    patch_errors,
    predict,
)
from skinscan.standardise._chart_detect import (
    ChartDetection,
    detect_chart,
    patch_sample_points,
    robust_patch_means,
    shared_colour_mask,
)
from skinscan.standardise._colorchecker import COLORCHECKER_LINEAR_SRGB, COLORCHECKER_NAMES

__all__ = [
    "COLORCHECKER_LINEAR_SRGB",
    "COLORCHECKER_NAMES",
    "MAX_CHART_DE00",
    "MIN_GREY_FRACTION",
    "MIN_GREY_PIXELS",
    "Calibration",
    "ChartDetection",
    "calibrate",
    "detect_chart",
    "fit_correction",
    "gray_balance",
]

# A chart whose best fit is worse than this is not trusted (occluded, glare, marked-up patches):
# its correction could distort colours more than it fixes them.
MAX_CHART_DE00 = 10.0
# The grey fallback needs this many usable non-skin pixels (fraction of the frame, and count).
MIN_GREY_FRACTION = 0.05
MIN_GREY_PIXELS = 2000
# Gains further apart than this mean the scene is not grey on average (a green wall): leave it.
_MAX_GAIN_RATIO = 4.0
_BLACK_LEVEL = 8
_GREY_MAX_PIXELS = 400_000
# A more complex model must beat a simpler one by these factors in leave-one-out error to be
# chosen: the root-polynomial (9 more coefficients) by 10%, the tone curve (2 more) by 3%. Both
# are well above the LOO differences that 8-bit quantisation makes on a rendered chart.
_RP_MARGIN = 0.9
_TONE_MARGIN = 0.97
# The tone curve is only offered with this many neutral patches, so that every leave-one-out
# refit still has three to fit its two parameters to.
_MIN_TONE_NEUTRALS = 4
_CLIP_LEVEL = 250


@dataclass(frozen=True, eq=False)
class Calibration:
    """A colour correction and how well it fits.

    Attributes
    ----------
    method : {"chart", "gray", "none"}
    delta_e00 : float or None
        Mean CIEDE2000 over the chart patches after correction (CIELAB, D65); chart only.
    delta_e00_loo : float or None
        Leave-one-out mean CIEDE2000: each patch predicted by the model fitted without it.
    delta_e00_max : float or None
        Worst patch after correction.
    model : str
        ``"identity"``, ``"diagonal"``, ``"linear3x3"``, ``"root-polynomial2"``,
        ``"tone+linear3x3"`` or ``"tone+root-polynomial2"``.
    matrix : ndarray of shape (k, 3)
        Everything needed to re-apply the model (``matrix.tolist()`` and ``model`` serialise it).
        Coefficients with ``corrected = terms(rgb) @ matrix``; ``terms`` is (R, G, B) for the
        3-term models (so a diagonal model is ``diag(gains)``) and (R, G, B, √RG, √GB, √RB) for
        root-polynomial degree 2. The ``"tone+"`` models have one more row, the last,
        ``(a, g, Y0)``: ``corrected = a * max(Y, Y0) ** (g - 1) * (terms(rgb) @ matrix[:-1])``
        with ``Y = rgb @ (0.2126729, 0.7151522, 0.0721750)``, i.e. the tone curve ``a * Y ** g``
        (linear below ``Y0``) applied to luminance, chromaticity kept, before the base model.
    chart : ChartDetection or None
        The chart found, also when its fit was rejected (then ``method`` is not ``"chart"``).
    """

    method: Literal["chart", "gray", "none"]
    delta_e00: float | None
    delta_e00_loo: float | None
    delta_e00_max: float | None
    model: str
    matrix: NDArray[np.float64]
    chart: ChartDetection | None = None

    @classmethod
    def identity(cls) -> Calibration:
        """No correction (``method="none"``)."""
        return cls("none", None, None, None, "identity", np.eye(3))

    def apply(self, linear_rgb: NDArray[np.floating]) -> NDArray[np.float32]:
        """Correct linear RGB of shape (..., 3); float32 out, not clipped.

        Values above 1 are kept so that later steps can decide how to treat highlights.
        """
        return apply_matrix(linear_rgb, self.matrix, self.model)

    def to_dict(self) -> dict[str, Any]:
        """The ``calibration`` object of ``skinscan.assessment/1``."""

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(float(value), 3)

        return {
            "method": self.method,
            "delta_e00": rounded(self.delta_e00),
            "delta_e00_loo": rounded(self.delta_e00_loo),
            "delta_e00_max": rounded(self.delta_e00_max),
            "model": self.model,
        }


def fit_correction(
    measured_linear: NDArray[np.floating],
    reference_linear: NDArray[np.floating] = COLORCHECKER_LINEAR_SRGB,
    *,
    model: str = "auto",
) -> Calibration:
    """Fit a colour-correction model from measured to reference patch colours.

    Parameters
    ----------
    measured_linear : ndarray of shape (n, 3)
        Patch colours as photographed, linear RGB.
    reference_linear : ndarray of shape (n, 3)
        What they should be, linear sRGB (D65); default the 24 ColorChecker patches.
    model : {"auto", "identity", "diagonal", "linear3x3", "root-polynomial2", "tone+linear3x3", \
"tone+root-polynomial2"}
        ``"auto"`` fits a 3 x 3 matrix and a root-polynomial, each with and without a tone curve,
        and keeps the one with the lowest leave-one-out error after a handicap for complexity:
        the root-polynomial (18 coefficients, needs 12 patches or more) must be at least 10%
        better, the tone curve (needs 4 neutral patches) at least 3% better, than the simpler
        model. This guards against memorising 24 patches, and lets the plain matrix win ties.

    Returns
    -------
    Calibration
        ``method="chart"``, ``chart=None``.

    Notes
    -----
    Weighted least squares in linear RGB, each patch weighted by (Y + 0.02)^(-2/3) so residuals
    count roughly as they do in L*. Root-polynomial degree 2 uses the terms
    (R, G, B, √RG, √GB, √RB), which all scale with exposure, so the correction holds when the
    exposure changes (Finlayson, Mackiewicz & Hurlbert 2015, "Color correction using
    root-polynomial regression", IEEE Trans. Image Process. 24(5)). Errors are CIEDE2000 in
    CIELAB (D65).

    The tone curve undoes a camera's rendering curve, which a JPEG applies on top of the sRGB
    encoding and no linear-RGB model can remove: ``Y_ref = a * Y ** g`` is fitted by least
    squares in log-log to the neutral patches (reference chroma below 6), ``g`` clipped to
    [0.4, 2.5], and applied to each colour as the scalar ``a * Y ** (g - 1)``, so hue and
    saturation are left to the matrix. The leave-one-out error refits the curve too.

    Examples
    --------
    >>> cal = fit_correction(COLORCHECKER_LINEAR_SRGB * [0.5, 0.8, 1.2], model="linear3x3")
    >>> round(cal.delta_e00, 6)
    0.0
    """
    measured = np.asarray(measured_linear, np.float64)
    reference = np.asarray(reference_linear, np.float64)
    if measured.ndim != 2 or measured.shape[1] != 3 or measured.shape != reference.shape:
        raise ValueError(
            f"measured and reference must both be (n, 3), got {measured.shape}, {reference.shape}"
        )
    if len(measured) < 4 or not np.all(np.isfinite(measured)):
        raise ValueError("need at least 4 patches with finite values")
    neutrals = int(np.count_nonzero(neutral_patches(reference)))
    if model == "auto":
        bases = ["linear3x3"] + (["root-polynomial2"] if len(measured) >= 12 else [])
        tones = [""] + (["tone+"] if neutrals >= _MIN_TONE_NEUTRALS else [])
        candidates = [tone + base for base in bases for tone in tones]
    elif model in MODELS:
        if model.startswith("tone+") and neutrals < 3:
            raise ValueError(f"model {model!r} needs at least 3 neutral patches, got {neutrals}")
        candidates = [model]
    else:
        raise ValueError(f"model must be 'auto' or one of {MODELS}, not {model!r}")
    best: tuple[float, str, NDArray[np.float64], NDArray[np.float64], float] | None = None
    for name in candidates:  # simplest first: on a tie the earlier one stays
        matrix = fit_matrix(measured, reference, name)
        errors = patch_errors(predict(measured, matrix, name), reference)
        loo = float(np.mean(loo_errors(measured, reference, name)))
        handicapped = loo / _complexity_margin(name)
        if best is None or handicapped < best[0]:
            best = (handicapped, name, matrix, errors, loo)
    assert best is not None
    _, name, matrix, errors, loo = best
    return Calibration(
        method="chart",
        delta_e00=float(np.mean(errors)),
        delta_e00_loo=loo,
        delta_e00_max=float(np.max(errors)),
        model=name,
        matrix=matrix,
    )


def _complexity_margin(model: str) -> float:
    """Factor by which ``model``'s LOO error must undercut the plain 3 x 3 matrix's to win."""
    margin = _RP_MARGIN if model.endswith("root-polynomial2") else 1.0
    return margin * (_TONE_MARGIN if model.startswith("tone+") else 1.0)


def _chart_patches(
    image: NDArray[Any], encoded: NDArray[np.uint8], chart: ChartDetection, transfer: str
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Linear patch colours read from ``image`` itself (full bit depth) and which are unclipped."""
    h, w = image.shape[:2]
    side = float(np.median(np.hypot(*(chart.patch_polygons[:, 1] - chart.patch_polygons[:, 0]).T)))
    points = patch_sample_points(chart.patch_polygons, per_side=int(np.clip(side * 0.7, 4, 12)))
    # The encoded copy flags clipping and overlaid marks; the values come from the photo itself.
    x = np.clip(np.round(points[..., 0]), 0, w - 1).astype(np.intp)
    y = np.clip(np.round(points[..., 1]), 0, h - 1).astype(np.intp)
    samples_u8 = encoded[y, x]
    ignore = shared_colour_mask(samples_u8)
    linear = to_linear_float(image[y, x], transfer=transfer).astype(np.float64)
    clipped = ((samples_u8 >= _CLIP_LEVEL).any(axis=-1) & ~ignore).mean(axis=1) > 0.25
    return robust_patch_means(linear, ignore), ~clipped


def calibrate(
    image: NDArray[Any],
    *,
    transfer: str = "srgb",
    skin_mask: NDArray[np.bool_] | Callable[[], NDArray[np.bool_]] | None = None,
    exclude_mask: NDArray[np.bool_] | None = None,
    detect: bool = True,
    model: str = "auto",
) -> Calibration:
    """Calibrate a photo's colours: by a ColorChecker when one is found, else by the scene.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8, uint16 or float
        The analysis-resolution photo, encoded per ``transfer``.
    transfer : {"srgb", "linear"}
    skin_mask : ndarray of shape (H, W), bool, or a function returning one, optional
        Skin pixels: never used for the white balance. Only the fallback needs it: a function
        is called only when no usable chart is found.
    exclude_mask : ndarray of shape (H, W), bool, optional
        Other pixels to keep out of the white balance (hair, clothing the user marked, …).
    detect : bool
        Look for a chart. False goes straight to the fallback.
    model : str
        Passed to :func:`fit_correction`.

    Returns
    -------
    Calibration
        ``"chart"``: fitted to the chart (patches clipped in the photo are left out of the fit
        and of the reported errors). ``"gray"``: shades-of-grey gains on the non-skin pixels
        (also when a chart was found but fitted worse than ``MAX_CHART_DE00``; ``chart`` is then
        kept so callers can mask it). ``"none"``: identity.

    Notes
    -----
    The fallback deliberately refuses to balance on skin: skin is not grey on average, so
    pulling it towards grey would remove the very redness and pigment being measured. When fewer
    than 5% of the frame (or 2000 pixels) are usable non-skin pixels, or they are nearly all
    clipped or black, the colours are left as captured (``"none"``). See :func:`gray_balance`.
    """
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError(f"image must be (H, W, 3), got shape {pixels.shape}")
    if not (pixels.dtype in (np.uint8, np.uint16) or np.issubdtype(pixels.dtype, np.floating)):
        raise ValueError(f"image must be uint8, uint16 or float, got {pixels.dtype}")
    pixels = pixels[..., :3]
    for mask in (None if callable(skin_mask) else skin_mask, exclude_mask):
        if mask is not None and np.shape(mask) != pixels.shape[:2]:
            raise ValueError(f"mask of shape {np.shape(mask)} does not match image {pixels.shape}")
    encoded = to_encoded_u8(pixels, transfer)
    chart = detect_chart(encoded) if detect else None
    if chart is not None:
        measured, usable = _chart_patches(pixels, encoded, chart, transfer)
        if usable.sum() >= 12:
            fitted = fit_correction(measured[usable], COLORCHECKER_LINEAR_SRGB[usable], model=model)
            if fitted.delta_e00 is not None and fitted.delta_e00 <= MAX_CHART_DE00:
                return replace(fitted, chart=chart)
        exclude_mask = _with_chart(exclude_mask, chart, pixels.shape[:2])
    if callable(skin_mask):
        skin_mask = skin_mask()
        if np.shape(skin_mask) != pixels.shape[:2]:
            raise ValueError(f"skin mask of shape {np.shape(skin_mask)} does not match the image")
    fallback = _grey_calibration(pixels, encoded, transfer, skin_mask, exclude_mask)
    return replace(fallback, chart=chart)


def gray_balance(
    linear_rgb: NDArray[np.floating], mask: NDArray[np.bool_], *, p: float = 6.0
) -> NDArray[np.float64]:
    """Shades-of-grey white-balance gains that keep luminance.

    Parameters
    ----------
    linear_rgb : ndarray of shape (H, W, 3), float, linear RGB
    mask : ndarray of shape (H, W), bool
        The pixels to estimate from (True = use). Leave out skin, clipped and black pixels.
    p : float
        Minkowski norm: 1 is grey-world, infinity is max-RGB (white patch).

    Returns
    -------
    ndarray of shape (3,)
        Gains ``g`` with ``g * e`` neutral and of the same luminance as ``e``, the estimated
        illuminant colour; multiply linear RGB by them.

    Notes
    -----
    The illuminant is estimated per channel as the Minkowski p-mean of the pixels,
    ``e_c = (mean(I_c ** p)) ** (1/p)``; p = 6 performed best on natural scenes in Finlayson &
    Trezzi (2004), "Shades of gray and colour constancy", Proc. IS&T/SID 12th Color Imaging
    Conference, 37-41. The gains are ``g_c = Y(e) / e_c`` with ``Y`` the sRGB luminance.

    Examples
    --------
    A grey scene under a reddish light comes back grey (gains times the cast are equal):

    >>> cast = np.array([1.2, 1.0, 0.5])
    >>> scene = np.full((4, 4, 3), 0.2) * cast
    >>> np.round(gray_balance(scene, np.ones((4, 4), bool)) * cast, 4)
    array([1.0064, 1.0064, 1.0064])
    """
    rgb = np.asarray(linear_rgb)
    selected = np.asarray(mask, bool)
    if rgb.shape[-1:] != (3,) or selected.shape != rgb.shape[:-1]:
        raise ValueError(f"mask {selected.shape} does not match image {rgb.shape}")
    if p <= 0:
        raise ValueError(f"p must be positive, not {p}")
    values = np.asarray(rgb[selected], np.float32)
    if len(values) == 0:
        raise ValueError("the mask selects no pixels")
    np.maximum(values, 0.0, out=values)
    estimate = np.mean(np.power(values, np.float32(p)), axis=0, dtype=np.float64) ** (1.0 / p)
    if np.any(estimate <= 0):
        raise ValueError("a channel is zero on every selected pixel")
    luminance = float(estimate @ np.array([0.2126729, 0.7151522, 0.0721750]))
    return np.asarray(luminance / estimate)


def to_encoded_u8(pixels: NDArray[Any], transfer: str) -> NDArray[np.uint8]:
    """The photo as 8-bit sRGB (for detection and for finding clipped pixels)."""
    if transfer not in ("srgb", "linear"):
        raise ValueError(f"transfer must be 'srgb' or 'linear', not {transfer!r}")
    if transfer == "linear":
        return np.round(linear_to_srgb(to_linear_float(pixels, transfer="linear")) * 255.0).astype(
            np.uint8
        )
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    clean = np.nan_to_num(np.asarray(pixels, np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)


def _grey_calibration(
    pixels: NDArray[Any],
    encoded: NDArray[np.uint8],
    transfer: str,
    skin_mask: NDArray[np.bool_] | None,
    exclude_mask: NDArray[np.bool_] | None,
) -> Calibration:
    """Shades-of-grey on usable non-skin pixels, or identity when there are too few."""
    h, w = encoded.shape[:2]
    # A global statistic: a regular subsample of at most ~400k pixels estimates it as well.
    step = max(1, int(np.ceil(np.sqrt(h * w / _GREY_MAX_PIXELS))))
    sub = encoded[::step, ::step]
    brightest = np.maximum(np.maximum(sub[..., 0], sub[..., 1]), sub[..., 2])
    usable = (brightest < _CLIP_LEVEL) & (brightest > _BLACK_LEVEL)
    for mask in (skin_mask, exclude_mask):
        if mask is not None:
            usable &= ~np.asarray(mask, bool)[::step, ::step]
    count = int(usable.sum()) * step * step
    if count < MIN_GREY_FRACTION * h * w or count < MIN_GREY_PIXELS:
        return Calibration.identity()
    linear = to_linear_float(np.ascontiguousarray(pixels[::step, ::step]), transfer=transfer)
    try:
        gains = gray_balance(linear, usable)
    except ValueError:
        return Calibration.identity()
    if not np.all(np.isfinite(gains)) or gains.max() > _MAX_GAIN_RATIO * gains.min():
        return Calibration.identity()
    return Calibration("gray", None, None, None, "diagonal", np.diag(gains))


def _with_chart(
    exclude: NDArray[np.bool_] | None, chart: ChartDetection, shape: tuple[int, ...]
) -> NDArray[np.bool_]:
    mask = np.zeros(shape[:2], np.uint8)
    centre = chart.corners.mean(axis=0)
    grown = centre + 1.25 * (chart.corners - centre)  # the frame around the patches
    cv2.fillConvexPoly(mask, np.round(grown).astype(np.int32), 1)
    out = mask.astype(bool)
    return out if exclude is None else out | np.asarray(exclude, bool)
