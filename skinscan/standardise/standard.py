"""``standardise``: a loaded photo → the calibrated, located, quality-checked analysis copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_to_srgb, linear_to_srgb_u8, to_linear_float
from skinscan.io import Photo
from skinscan.standardise.colour import Calibration, calibrate
from skinscan.standardise.face import (
    FaceGeometry,
    Landmarker,
    analyse_face,
    face_hull_mask,
    region_masks,
    site_mask,
    skin_mask,
)
from skinscan.standardise.protocol import CaptureProtocol, load_protocol
from skinscan.standardise.quality import QualityReport, check_quality

__all__ = ["MeasurementView", "StandardPhoto", "analysis_copy", "standardise"]

#: Scale the measures want: skin texture, pores and fine wrinkles are 0.1–1 mm across.
MEASURE_MM_PER_PX = 0.1


@dataclass(frozen=True)
class MeasurementView:
    """The skin to measure, cut from the full-resolution photo at the scale the measures need.

    Attributes
    ----------
    linear : ndarray of shape (h, w, 3), float32
        Calibrated linear sRGB of the crop.
    regions : dict of str to ndarray of shape (h, w), bool
    mm_per_px : float or None
        Scale of ``linear`` (None when the photo has no known scale).
    box : tuple of int
        ``(x0, y0, x1, y1)`` of the crop in analysis-copy pixels.
    """

    linear: NDArray[np.float32]
    regions: dict[str, NDArray[np.bool_]]
    mm_per_px: float | None
    box: tuple[int, int, int, int]

    def to_analysis(
        self, image: NDArray[np.floating], shape: tuple[int, ...]
    ) -> NDArray[np.float32]:
        """Place a map of the crop into an analysis-copy-sized canvas (0 outside the crop)."""
        x0, y0, x1, y1 = self.box
        canvas = np.zeros(shape[:2], np.float32)
        canvas[y0:y1, x0:x1] = cv2.resize(
            np.asarray(image, np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA
        )
        return canvas


@dataclass(frozen=True)
class StandardPhoto:
    """A photo made ready to measure.

    All arrays are in the coordinates of the *analysis copy*: the photo resampled so that its long
    side is at most ``protocol.analysis_max_side`` (``scale`` = analysis px per original px).

    Attributes
    ----------
    photo : Photo
        The photo as loaded (full resolution, as captured).
    protocol : CaptureProtocol
    scale : float
    rgb_u8 : ndarray of shape (H, W, 3), uint8
        Analysis copy, sRGB-encoded, as captured (for detectors and overlays).
    analysis_pixels : ndarray of shape (H, W, 3), uint8 or uint16
        Analysis copy at the photo's own depth and encoding; :attr:`linear` is made from it.
    skin : ndarray of shape (H, W), bool
    regions : dict of str to ndarray of shape (H, W), bool
        The 13 facial regions, or ``{"site": …}`` for a body-site photo.
    face : FaceGeometry or None
    calibration : Calibration
    quality : QualityReport
    """

    photo: Photo
    protocol: CaptureProtocol
    scale: float
    rgb_u8: NDArray[np.uint8]
    analysis_pixels: NDArray[Any]
    skin: NDArray[np.bool_]
    regions: dict[str, NDArray[np.bool_]]
    face: FaceGeometry | None
    calibration: Calibration
    quality: QualityReport
    timings_ms: dict[str, float] = field(default_factory=dict)

    @cached_property
    def linear(self) -> NDArray[np.float32]:
        """Analysis copy in calibrated linear sRGB, [0, 1] (values above 1 are kept).

        Made on first use: face photos are measured on a finer crop of the full photo
        (:meth:`measurement_view`), so only overlays and body-site measures need this.
        """
        transfer = self.photo.transfer
        return self.calibration.apply(to_linear_float(self.analysis_pixels, transfer=transfer))

    @property
    def mm_per_px(self) -> float | None:
        """Millimetres per pixel of the analysis copy (None when unknown)."""
        return None if self.face is None else float(self.face.mm_per_px)

    def face_dict(self) -> dict[str, Any]:
        """The ``face`` object of ``skinscan.assessment/1`` (scale in original-photo pixels)."""
        if self.face is None:
            return {"found": False, "pose_deg": None, "mm_per_px": None}
        out = self.face.to_dict()
        out["mm_per_px"] = round(float(self.face.mm_per_px) * self.scale, 5)
        return out

    def measurement_view(self, mm_per_px: float = MEASURE_MM_PER_PX) -> MeasurementView:
        """The regions' bounding box, cut from the full photo and resampled to ``mm_per_px``.

        The analysis copy of a 12-megapixel face photo is ~0.15–0.2 mm/px, too coarse for pores
        and fine lines; the full photo is finer than needed. Only the crop is converted, so the
        cost follows the skin area, not the sensor size. Without a known scale (body-site
        photos) the analysis copy itself is measured.
        """
        union = np.zeros(self.rgb_u8.shape[:2], bool)
        for mask in self.regions.values():
            union |= mask
        h, w = self.rgb_u8.shape[:2]
        if not union.any():
            return MeasurementView(self.linear, dict(self.regions), self.mm_per_px, (0, 0, w, h))
        ys, xs = np.nonzero(union)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        x0, y0, x1, y1 = box
        analysis_mm = self.mm_per_px
        if analysis_mm is None or analysis_mm <= mm_per_px * 1.05:
            # Already fine enough (or no scale to aim for): measure the analysis copy.
            regions = {name: m[y0:y1, x0:x1] for name, m in self.regions.items()}
            return MeasurementView(self.linear[y0:y1, x0:x1], regions, analysis_mm, box)
        original_mm = analysis_mm * self.scale
        factor = min(1.0, original_mm / mm_per_px)  # output px per original px
        inv = 1.0 / self.scale
        ox0, oy0 = int(np.floor(x0 * inv)), int(np.floor(y0 * inv))
        ox1 = min(self.photo.pixels.shape[1], int(np.ceil(x1 * inv)))
        oy1 = min(self.photo.pixels.shape[0], int(np.ceil(y1 * inv)))
        crop = _resample(self.photo.pixels[oy0:oy1, ox0:ox1], factor)
        linear = self.calibration.apply(to_linear_float(crop, transfer=self.photo.transfer))
        size = (crop.shape[1], crop.shape[0])
        regions = {
            name: cv2.resize(
                m[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST
            ).astype(bool)
            for name, m in self.regions.items()
        }
        return MeasurementView(linear, regions, original_mm / factor, box)

    def linear_at(self, scale: float) -> NDArray[np.float32]:
        """The photo at ``scale`` (px per original px) in calibrated linear sRGB.

        For measures that need more detail than the analysis copy holds; computed on demand.
        """
        pixels = _resample(self.photo.pixels, scale)
        return self.calibration.apply(to_linear_float(pixels, transfer=self.photo.transfer))


def _resample(pixels: NDArray[Any], scale: float) -> NDArray[Any]:
    if scale >= 1.0:
        return pixels
    h, w = pixels.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def analysis_copy(photo: Photo, max_side: int) -> tuple[float, NDArray[Any], NDArray[np.uint8]]:
    """Resample to the analysis size; return (scale, native-depth pixels, sRGB uint8 pixels)."""
    h, w = photo.pixels.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    pixels = _resample(photo.pixels, scale)
    if photo.transfer == "linear":
        encoded = linear_to_srgb(to_linear_float(pixels, transfer="linear"))
        rgb_u8 = np.round(encoded * 255.0).astype(np.uint8)
    elif pixels.dtype == np.uint16:
        rgb_u8 = (pixels >> 8).astype(np.uint8)
    else:
        rgb_u8 = np.ascontiguousarray(pixels, dtype=np.uint8)
    return scale, pixels, rgb_u8


def standardise(
    photo: Photo,
    *,
    protocol: CaptureProtocol | str | None = None,
    site: NDArray[np.bool_] | None = None,
    landmarker: Landmarker | None = None,
) -> StandardPhoto:
    """Quality-check, calibrate and locate a photo.

    Parameters
    ----------
    photo : Photo
        As returned by :func:`skinscan.io.load_photo`.
    protocol : CaptureProtocol or str, optional
        A protocol or the name/path of one. ``None`` chooses ``face-frontal`` when a face is found
        and ``body-site`` otherwise.
    site : ndarray of shape (H, W), bool, optional
        For body-site photos, the area to assess, at the photo's full resolution; default: the
        whole frame (minus a colour chart, if one is found).
    landmarker : Landmarker, optional
        Face detector and landmarker; default: the bundled 68-point model.

    Returns
    -------
    StandardPhoto
    """
    import time

    clock = time.perf_counter
    timings: dict[str, float] = {}
    t0 = clock()
    chosen = load_protocol(protocol) if isinstance(protocol, str) else protocol
    max_side = chosen.analysis_max_side if chosen is not None else 1600
    scale, pixels, rgb_u8 = analysis_copy(photo, max_side)
    timings["resample"] = (clock() - t0) * 1e3

    t0 = clock()
    face = None
    if chosen is None or chosen.subject == "face":
        face = analyse_face(rgb_u8, landmarker=landmarker)
    if chosen is None:
        chosen = load_protocol("face-frontal" if face is not None else "body-site")
    if chosen.subject != "face":
        face = None
    timings["face"] = (clock() - t0) * 1e3

    landmarks = None if face is None else face.detection.landmarks
    raw_skin: list[NDArray[np.bool_]] = []

    def skin_of_photo() -> NDArray[np.bool_]:
        # The skin on the colours as photographed: what the grey-world fallback keeps out.
        if not raw_skin:
            started = clock()
            raw_skin.append(skin_mask(rgb_u8, landmarks=landmarks))
            timings["skin"] = timings.get("skin", 0.0) + (clock() - started) * 1e3
        return raw_skin[0]

    t0 = clock()
    calibration = calibrate(pixels, transfer=photo.transfer, skin_mask=skin_of_photo)
    timings["calibration"] = (clock() - t0) * 1e3 - timings.get("skin", 0.0)

    if landmarks is not None and calibration.method == "chart":
        # The face's skin colour model judges hue and chroma: found on the calibrated colours,
        # the mask does not move with the camera's white balance and exposure.
        t0 = clock()
        skin = skin_mask(_calibrated_u8(pixels, photo.transfer, calibration), landmarks=landmarks)
        timings["skin"] = timings.get("skin", 0.0) + (clock() - t0) * 1e3
    else:
        skin = skin_of_photo()

    t0 = clock()
    chart = _chart_mask(calibration, rgb_u8.shape[:2])
    if face is not None and landmarks is not None:
        regions = region_masks(rgb_u8, landmarks, skin=skin)
        area = face_hull_mask(rgb_u8.shape[:2], landmarks)
    else:
        user = None if site is None else _resample_mask(site, rgb_u8.shape[:2])
        area = site_mask(rgb_u8.shape[:2], user_mask=user, exclude=chart)
        regions = {"site": area & skin}
    timings["regions"] = (clock() - t0) * 1e3

    t0 = clock()
    quality = check_quality(
        rgb_u8,
        protocol=chosen,
        skin=skin,
        area=area,
        mm_per_px=None if face is None else face.mm_per_px,
        face_found=face is not None,
        n_faces=0 if face is None else face.n_faces,
        interpupil_px_original=None if face is None else face.interpupil_px / scale,
        pose_deg=None if face is None else (face.pose.yaw, face.pose.pitch, face.pose.roll),
    )
    timings["quality"] = (clock() - t0) * 1e3
    return StandardPhoto(
        photo=photo,
        protocol=chosen,
        scale=scale,
        rgb_u8=rgb_u8,
        analysis_pixels=pixels,
        skin=skin,
        regions=regions,
        face=face,
        calibration=calibration,
        quality=quality,
        timings_ms=timings,
    )


def _calibrated_u8(
    pixels: NDArray[Any], transfer: str, calibration: Calibration
) -> NDArray[np.uint8]:
    """The analysis copy after colour calibration, as 8-bit sRGB (what the skin mask reads)."""
    return linear_to_srgb_u8(calibration.apply(to_linear_float(pixels, transfer=transfer)))


def _chart_mask(calibration: Calibration, shape: tuple[int, ...]) -> NDArray[np.bool_] | None:
    if calibration.chart is None:
        return None
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(calibration.chart.corners).astype(np.int32), 1)
    # The chart's frame lies outside the patch-grid corners: grow by a tenth of its size.
    side = float(np.linalg.norm(calibration.chart.corners[0] - calibration.chart.corners[2]))
    k = max(3, int(side * 0.1)) | 1
    return cv2.dilate(mask, np.ones((k, k), np.uint8)).astype(bool)


def _resample_mask(mask: NDArray[np.bool_], shape: tuple[int, ...]) -> NDArray[np.bool_]:
    h, w = shape[:2]
    if mask.shape[:2] == (h, w):
        return mask.astype(bool)
    resized = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    return resized.astype(bool)
