"""The quality gate: is this photo fit to be measured?

Each check yields a value; the capture protocol gives a warn limit and a reject limit per check.
A photo with any ``reject`` issue is not measured (the CLI exits 3); ``warn`` issues are reported
beside the scores.

Checks and their values
-----------------------
blur
    Variance of the Laplacian (Pech-Pacheco et al. 2000) of 8-bit luminance inside eroded skin,
    measured after resampling the face to 0.25 mm/px when the photo is finer than that, so the
    value does not grow with the camera's resolution. Lower is blurrier.
underexposed / overexposed
    Median CIELAB L* of skin in the photo as captured (before calibration). The limits are wide
    enough for very dark and very light skin under correct exposure (L* of skin spans ~25–80).
clipping
    Percentage of the face area (or the site) with a channel at 255, or a skin pixel with a
    channel at 0 (pupils, nostrils and dark hair are black by nature and do not count).
glare
    Percentage of the face area (or the site) that is specular highlight: bright (V ≥ 0.94) and
    nearly colourless (HSV saturation ≤ 0.12).
face_too_small
    Inter-pupil distance in pixels of the original photo.
pose_yaw / pose_pitch / pose_roll
    Absolute head rotation in degrees from the landmarks (``cv2.solvePnP``).
skin_area
    Percentage of the face hull (face) or of the site (body-site) that passed the skin test.
no_face / multiple_faces
    A face protocol found no face (reject), or more than one (warn; the largest is used).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_srgb_to_lab, to_linear_float
from skinscan.standardise.protocol import CHECK_DIRECTIONS, CaptureProtocol

__all__ = ["QualityIssue", "QualityReport", "check_quality", "laplacian_variance"]

BLUR_TARGET_MM_PER_PX = 0.25
GLARE_MIN_VALUE = 0.94
GLARE_MAX_SATURATION = 0.12

_MESSAGES = {
    "blur": "skin detail is blurred (variance of Laplacian {value:.1f}, limit {limit:.1f})",
    "underexposed": "photo is too dark (skin median L* {value:.1f}, limit {limit:.1f})",
    "overexposed": "photo is too bright (skin median L* {value:.1f}, limit {limit:.1f})",
    "clipping": "{value:.1f}% of the skin area is clipped (limit {limit:.1f}%)",
    "glare": "{value:.1f}% of the skin area is specular glare (limit {limit:.1f}%)",
    "face_too_small": "face is too small (inter-pupil distance {value:.0f} px, limit {limit:.0f})",
    "pose_yaw": "head is turned sideways by {value:.1f}° (limit {limit:.1f}°)",
    "pose_pitch": "head is tilted up or down by {value:.1f}° (limit {limit:.1f}°)",
    "pose_roll": "head is tilted in the image plane by {value:.1f}° (limit {limit:.1f}°)",
    "skin_area": "only {value:.1f}% of the expected area is skin (limit {limit:.1f}%)",
}


@dataclass(frozen=True)
class QualityIssue:
    """One failed check: machine code, level, the measured value and the limit it crossed."""

    code: str
    level: Literal["warn", "reject"]
    value: float | None
    limit: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level,
            "value": None if self.value is None else round(float(self.value), 3),
            "limit": None if self.limit is None else float(self.limit),
            "message": self.message,
        }


@dataclass(frozen=True)
class QualityReport:
    """All issues found, and every check's value (also those that passed)."""

    issues: tuple[QualityIssue, ...]
    values: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(issue.level == "reject" for issue in self.issues)

    def codes(self) -> list[str]:
        return [issue.code for issue in self.issues]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "issues": [issue.to_dict() for issue in self.issues]}


def laplacian_variance(gray: NDArray[np.floating], mask: NDArray[np.bool_]) -> float:
    """Variance of the 3×3 Laplacian of ``gray`` over ``mask`` (eroded so mask edges don't count).

    Parameters
    ----------
    gray : ndarray of shape (H, W), float32, luminance in 0–255
    mask : ndarray of shape (H, W), bool
    """
    lap = cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F, ksize=1)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if inner.sum() < 50:
        inner = mask
    if inner.sum() < 50:
        return float("nan")
    return float(lap[inner].var())


def _judge(code: str, value: float | None, protocol: CaptureProtocol) -> QualityIssue | None:
    limit = protocol.limits.get(code)
    if limit is None or value is None or not np.isfinite(value):
        return None
    below = CHECK_DIRECTIONS[code] == "min"
    for level, bound in (("reject", limit.reject), ("warn", limit.warn)):
        if bound is None:
            continue
        crossed = value < bound if below else value > bound
        if crossed:
            message = _MESSAGES[code].format(value=value, limit=bound)
            return QualityIssue(code, level, float(value), float(bound), message)  # type: ignore[arg-type]
    return None


def check_quality(
    rgb_u8: NDArray[np.uint8],
    *,
    protocol: CaptureProtocol,
    skin: NDArray[np.bool_],
    area: NDArray[np.bool_],
    mm_per_px: float | None = None,
    face_found: bool | None = None,
    n_faces: int = 0,
    interpupil_px_original: float | None = None,
    pose_deg: tuple[float, float, float] | None = None,
) -> QualityReport:
    """Run every check of ``protocol`` on an analysis image.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
        Analysis copy of the photo, sRGB-encoded, as captured (not calibrated).
    protocol : CaptureProtocol
    skin : ndarray of shape (H, W), bool
        Pixels that passed the skin test.
    area : ndarray of shape (H, W), bool
        Where skin is expected: the face hull, or the site.
    mm_per_px : float, optional
        Scale of ``rgb_u8``; used to measure blur at a fixed physical scale.
    face_found, n_faces, interpupil_px_original, pose_deg
        Face results (``pose_deg`` is yaw, pitch, roll); ignored by body-site protocols.

    Returns
    -------
    QualityReport
    """
    values: dict[str, float] = {}
    issues: list[QualityIssue] = []
    if protocol.subject == "face":
        if not face_found:
            issues.append(
                QualityIssue(
                    "no_face", "reject", None, None, "no face found in a face protocol photo"
                )
            )
        else:
            if n_faces > 1:
                issues.append(
                    QualityIssue(
                        "multiple_faces",
                        "warn",
                        float(n_faces),
                        1.0,
                        f"{n_faces} faces found; the largest is assessed",
                    )
                )
            if interpupil_px_original is not None:
                values["face_too_small"] = interpupil_px_original
            if pose_deg is not None:
                for name, angle in zip(
                    ("pose_yaw", "pose_pitch", "pose_roll"), pose_deg, strict=True
                ):
                    values[name] = abs(angle)

    area_px = int(area.sum())
    skin_in_area = skin & area
    if area_px > 0:
        values["skin_area"] = 100.0 * float(skin_in_area.sum()) / area_px
        pixels = rgb_u8[area]
        # Blown highlights anywhere in the face area; crushed shadows only where the pixel is
        # skin (pupils, nostrils and dark hair are black by nature).
        blown = (pixels >= 255).any(axis=1)
        crushed = (pixels <= 0).any(axis=1) & skin[area]
        values["clipping"] = 100.0 * float((blown | crushed).mean())
        values["glare"] = _glare_pct(pixels)
    if skin_in_area.sum() >= 50:
        skin_lab = linear_srgb_to_lab(to_linear_float(rgb_u8[skin_in_area]))
        median_l = float(np.median(skin_lab[:, 0]))
        values["underexposed"] = median_l
        values["overexposed"] = median_l
        values["blur"] = _blur_value(rgb_u8, skin_in_area, mm_per_px)

    for code in CHECK_DIRECTIONS:
        issue = _judge(code, values.get(code), protocol)
        if issue is not None:
            issues.append(issue)
    return QualityReport(tuple(issues), values)


def _glare_pct(pixels: NDArray[np.uint8]) -> float:
    rgb = pixels.astype(np.float32) / 255.0
    v = rgb.max(axis=1)
    s = np.where(v > 0, (v - rgb.min(axis=1)) / np.maximum(v, 1e-6), 0.0)
    return 100.0 * float(((v >= GLARE_MIN_VALUE) & (s <= GLARE_MAX_SATURATION)).mean())


def _blur_value(
    rgb_u8: NDArray[np.uint8], skin: NDArray[np.bool_], mm_per_px: float | None
) -> float:
    ys, xs = np.nonzero(skin)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = rgb_u8[y0:y1, x0:x1]
    mask = skin[y0:y1, x0:x1]
    gray: NDArray[np.float32] = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if mm_per_px is not None and mm_per_px < BLUR_TARGET_MM_PER_PX:
        factor = mm_per_px / BLUR_TARGET_MM_PER_PX
        size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return laplacian_variance(gray, mask)
