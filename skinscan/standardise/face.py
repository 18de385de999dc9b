"""Face geometry for standardisation: landmarks, pose, scale, canonical frame and skin regions.

Conventions used throughout:

- Images are ``ndarray of shape (H, W, 3), uint8, sRGB``; points are ``(x, y)`` pixel indices
  (pixel ``(i, j)`` has its centre at ``(i, j)``) of the image passed in.
- Landmarks are the iBUG 300-W 68-point set. **Left/right are the patient's** (anatomical
  convention): in an unmirrored frontal photo the patient's left is on the image's right. dlib's
  points 36-41 (the image-left eye) are therefore the patient's *right* eye, and
  ``cheek_right`` lies on the image's left.
- Landmarks come from a :class:`Landmarker`; the default, :class:`DlibLandmarker`, is trained on
  data licensed for non-commercial use only (``models/dlib-68-landmarks/MODEL_CARD.md``).

Examples
--------
>>> geometry = analyse_face(rgb)  # doctest: +SKIP
>>> masks = region_masks(rgb, geometry.detection.landmarks)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.standardise import _draw, _regions, _skin
from skinscan.standardise._canonical import (
    CANONICAL_SIZE,
    canonical_transform,
    warp_to_canonical,
)
from skinscan.standardise._landmarks import (
    DlibLandmarker,
    FaceDetection,
    Landmarker,
    default_landmarker,
)
from skinscan.standardise._pose import Pose, estimate_pose
from skinscan.standardise._regions import REGION_NAMES

__all__ = [
    "ADULT_MEAN_IPD_MM",
    "CANONICAL_SIZE",
    "IPD_RELATIVE_SD",
    "REGION_NAMES",
    "DlibLandmarker",
    "FaceDetection",
    "FaceGeometry",
    "Landmarker",
    "Pose",
    "analyse_face",
    "canonical_transform",
    "default_landmarker",
    "draw_regions",
    "estimate_pose",
    "face_hull_mask",
    "face_not_found",
    "facial_skin",
    "region_masks",
    "site_mask",
    "skin_mask",
    "warp_to_canonical",
]

# Adult mean inter-pupillary distance and its between-person spread: Dodgson (2004), "Variation
# and extrema of human interpupillary distance", Proc. SPIE 5291 (mean ≈ 63 mm, SD ≈ 3.5-3.7 mm).
ADULT_MEAN_IPD_MM = 63.0
IPD_RELATIVE_SD = 0.06
# Beyond this yaw the cos() correction is too steep to trust; the quality gate rejects such poses.
_MAX_YAW_FOR_SCALE_DEG = 60.0
_RELATIVE_SCORE = 0.5


@dataclass(frozen=True)
class FaceGeometry:
    """Everything standardisation learns about the (largest) face in a photo.

    Attributes
    ----------
    detection : FaceDetection
        Box, 68 landmarks and detector score, in the analysed image's pixel coordinates.
    n_faces : int
        Number of faces found: detections scoring at least half the best detection's score
        (weaker ones are treated as false alarms). The largest of them is described here.
    pose : Pose
        Yaw, pitch, roll in degrees (conventions in :class:`Pose`).
    interpupil_px : float
        Distance between the two eye centres (means of points 36-41 and 42-47) in pixels, as
        projected in the image (not corrected for yaw).
    mm_per_px : float
        Physical size of one pixel at the face, from :data:`ADULT_MEAN_IPD_MM` and the
        yaw-corrected inter-pupillary distance. Uncertain by about ±6 % (1 SD) from person to
        person; use a ruler or calibration target when absolute size matters.
    scale_method : str
        How ``mm_per_px`` was obtained: ``"interpupil"``.
    to_canonical : ndarray of shape (2, 3), float64
        Similarity from image pixels to the FFHQ-aligned 1024 × 1024 frame
        (:func:`canonical_transform`).
    """

    detection: FaceDetection
    n_faces: int
    pose: Pose
    interpupil_px: float
    mm_per_px: float
    scale_method: str
    to_canonical: NDArray[np.float64]

    def to_dict(self) -> dict[str, Any]:
        """The ``face`` object of ``skinscan.assessment/1``.

        Returns
        -------
        dict
            ``{"found": True, "pose_deg": {"yaw", "pitch", "roll"}, "mm_per_px": float}``.
        """
        return {
            "found": True,
            "pose_deg": {
                "yaw": round(self.pose.yaw, 2),
                "pitch": round(self.pose.pitch, 2),
                "roll": round(self.pose.roll, 2),
            },
            "mm_per_px": round(self.mm_per_px, 6),
        }


def face_not_found() -> dict[str, Any]:
    """The ``face`` object of ``skinscan.assessment/1`` when no face was found."""
    return {"found": False, "pose_deg": None, "mm_per_px": None}


def _interpupil_px(landmarks: NDArray[np.float64]) -> float:
    # The mean of the six eyelid points approximates the pupil for a gaze straight ahead.
    return float(np.hypot(*(landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0))))


def analyse_face(
    rgb_u8: NDArray[np.uint8], *, landmarker: Landmarker | None = None
) -> FaceGeometry | None:
    """Find the largest face and measure its pose, scale and canonical alignment.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8, sRGB
    landmarker : Landmarker, optional
        Defaults to :func:`default_landmarker` (loaded once per process).

    Returns
    -------
    FaceGeometry or None
        ``None`` when no face is found.

    Notes
    -----
    The face analysed is the largest of the detections scoring at least half as high as the
    best one, so a weak false alarm that happens to be large does not win over a clear face.

    Scale: ``mm_per_px = 63 mm / (IPD_px / cos(yaw))``. The projected inter-pupillary distance
    shortens with ``cos(yaw)`` when the head turns; pitch and roll do not shorten it (roll rotates
    it in the image plane, pitch moves the eyes along the face's vertical). ``|yaw|`` is capped at
    60° for the correction.
    """
    finder = default_landmarker() if landmarker is None else landmarker
    detections = finder.detect(rgb_u8)
    if not detections:
        return None
    # A sliding-window detector also returns weak hits on face-like texture (patches, folds);
    # only detections at least half as confident as the best one count as faces.
    best = max(d.score for d in detections)
    faces = [d for d in detections if d.score >= _RELATIVE_SCORE * best]
    face = max(faces, key=lambda d: d.area)
    landmarks = np.asarray(face.landmarks, dtype=np.float64)
    height, width = np.asarray(rgb_u8).shape[:2]
    pose = estimate_pose(landmarks, (height, width))
    ipd_px = _interpupil_px(landmarks)
    yaw = min(abs(pose.yaw), _MAX_YAW_FOR_SCALE_DEG)
    frontal_ipd_px = ipd_px / math.cos(math.radians(yaw))
    mm_per_px = ADULT_MEAN_IPD_MM / max(frontal_ipd_px, 1e-6)
    return FaceGeometry(
        detection=face,
        n_faces=len(faces),
        pose=pose,
        interpupil_px=ipd_px,
        mm_per_px=mm_per_px,
        scale_method="interpupil",
        to_canonical=canonical_transform(landmarks),
    )


def skin_mask(
    rgb_u8: NDArray[np.uint8], *, landmarks: NDArray[np.floating] | None = None
) -> NDArray[np.bool_]:
    """Pixels whose colour is skin.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8, sRGB
        Preferably colour-calibrated: both rules read CIELAB (D65).
    landmarks : ndarray of shape (68, 2), optional
        With landmarks, a colour model is fitted to this face.

    Returns
    -------
    ndarray of shape (H, W), bool

    Notes
    -----
    **With landmarks:** the skin colour is sampled on both mid-cheeks and the nasal bridge, and
    robust ranges (median ± multiples of the MAD, with floors) are set in polar CIELAB: hue angle
    from 4 SD (at least 20°) towards red to 2.5 SD (at least 10°) towards yellow, chroma from
    0.4× to 2.2× the median, L* above max(45 % of the median, median − 4.5 SD). Shading moves
    skin along chroma and lightness at nearly constant hue, which an (a*, b*) Gaussian would turn
    into a long ellipse reaching greys and pale golds; separate ranges avoid that while keeping
    red patches (hue towards red) and brown spots (darker) inside. Hair, nostrils and deep
    shadow fall below the L* floor. When the sample is nearly grey (median chroma below 6: a
    greyscale, badly underexposed or desaturated photo) the hue test is dropped and only L* and
    a chroma ceiling apply. Pixels whose darkest channel is ≥ 250 (specular highlights,
    clipping: the lamp's colour, not the skin's) are never skin.

    **Without landmarks:** a skin-tone-independent rule: CIELAB hue angle 10-88°, chroma from
    4 + 0.06·L* to 60, L* 10-97, not specular. Skin of every Fitzpatrick type shares this hue
    wedge and differs mainly in L* (Chardon et al. 1991; Del Bino & Bernerd 2013), so there is no
    light-skin YCrCb box here; the price is that skin-coloured surroundings (wood, beige walls,
    blond hair) pass too.

    Both rules are tabulated over OpenCV's 8-bit CIELAB codes, so a 1600 × 1200 photo takes
    about 20-35 ms.
    """
    return _skin.skin_mask(rgb_u8, landmarks=landmarks)


def region_masks(
    rgb_u8: NDArray[np.uint8],
    landmarks: NDArray[np.floating],
    *,
    skin: NDArray[np.bool_] | None = None,
) -> dict[str, NDArray[np.bool_]]:
    """The 13 anatomical face regions, as disjoint skin masks.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8, sRGB
    landmarks : ndarray of shape (68, 2)
        iBUG 68 points in this image's pixels (e.g. ``geometry.detection.landmarks``).
    skin : ndarray of shape (H, W), bool, optional
        A skin mask already computed for this image (``skin_mask(rgb_u8, landmarks=...)``);
        computed inside the face's bounding box when omitted.

    Returns
    -------
    dict of str to ndarray of shape (H, W), bool
        Keys :data:`REGION_NAMES` in that order; left/right are the patient's.

    Notes
    -----
    Each region is an anatomical polygon drawn from the landmarks (offsets in units of the
    inter-eye distance) ∩ the face hull (convex hull of jaw points 0-16 and the forehead's top)
    ∩ :func:`skin_mask` with the face's colour model, minus the eyes (outlines 36-41 and 42-47
    grown by 0.06 inter-eye distances), the brows (bands under points 17-21 and 22-26, grown),
    the lips (outer outline 48-59, grown) and the nostrils (pixels darker than 72 % of the nose
    tip's median L* in the lower nose). Non-skin holes enclosed by skin smaller than
    (0.3 inter-eye distances)² are kept: they are moles, dark spots and wrinkle shadows, i.e. what
    the measures are after. Skin islands smaller than (0.1 inter-eye distances)² are dropped
    (specks in hair, glints on glasses). Overlaps go to the region earlier in
    ``nose, glabella, undereye, periorbital, nasolabial, perioral, chin, cheek, forehead``.

    - forehead: above the brows, up to 0.55-0.98 × the eye-to-mouth distance (rounded top);
      the hairline is removed by the skin test;
    - glabella: between the inner brow ends (21, 22) down to the nasal root (27);
    - periorbital: lateral to the outer eye corner (36 / 45) to the face contour, from the
      brow's tail to 0.3 below the eye corner (the crow's-feet zone);
    - undereye: below the lower lid down to the level of point 29;
    - cheek: below that level, between the nose/nasolabial line and the jaw (1-4), down to the
      mouth corners;
    - nose: bridge and tip (27-35 with the alae); nasolabial: bands from the nose wing (31 / 35)
      to beside the mouth corner (48 / 54);
    - perioral: a ring around the lips from the nose base (31-35) to 45 % of the way from the
      lower lip (57) to the chin (8); chin: below it to the jaw contour (6-10).
    """
    return _regions.region_masks(rgb_u8, landmarks, skin=skin)


def facial_skin(rgb_u8: NDArray[np.uint8], landmarks: NDArray[np.floating]) -> NDArray[np.bool_]:
    """The skin of the face that the regions cover: the union of :func:`region_masks`.

    Hair (strands included), eyes, brows, lips and nostrils are not in it. It is where synthetic
    concerns are painted on a real face (:func:`skinscan.datasets.phantom.render_face`): erythema
    or spots painted on a fringe or on the lips would be unphysical, and would change which skin
    is measured along with the concern.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8, sRGB
    landmarks : ndarray of shape (68, 2)

    Returns
    -------
    ndarray of shape (H, W), bool
    """
    union = np.zeros(np.asarray(rgb_u8).shape[:2], dtype=bool)
    for mask in region_masks(rgb_u8, landmarks).values():
        union |= mask
    return union


def face_hull_mask(shape: tuple[int, ...], landmarks: NDArray[np.floating]) -> NDArray[np.bool_]:
    """The face area every region lies in: the convex hull of the jaw line and forehead top.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the image (extra trailing dimensions are ignored).
    landmarks : ndarray of shape (68, 2)

    Returns
    -------
    ndarray of shape (H, W), bool
        Convex hull of points 0-16 and of the brows (17-26) raised to the forehead's top
        (0.55-0.98 eye-to-mouth distances, see :func:`region_masks`); not clipped to skin.
    """
    return _regions.face_hull_mask(shape, landmarks)


def site_mask(
    shape: tuple[int, ...],
    *,
    user_mask: NDArray[np.bool_] | None = None,
    exclude: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """The single region ``site`` of a body-site (non-face) photo.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the photo (extra trailing dimensions are ignored).
    user_mask : ndarray of shape (H, W), bool, optional
        The area the user outlined; the whole frame when omitted.
    exclude : ndarray of shape (H, W), bool, optional
        Pixels to leave out, e.g. a colour chart or ruler.

    Returns
    -------
    ndarray of shape (H, W), bool
    """
    return _regions.site_mask(shape, user_mask=user_mask, exclude=exclude)


def draw_regions(
    rgb_u8: NDArray[np.uint8],
    regions: Mapping[str, NDArray[np.bool_]],
    *,
    landmarks: NDArray[np.floating] | None = None,
) -> NDArray[np.uint8]:
    """Overlay region fills (alpha-blended), outlines, names and landmark dots.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
    regions : mapping of str to ndarray of shape (H, W), bool
        E.g. the output of :func:`region_masks` or ``{"site": site_mask(...)}``.
    landmarks : ndarray of shape (68, 2), optional

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        A new image, ready to save as PNG.
    """
    return _draw.draw_regions(rgb_u8, regions, landmarks=landmarks)
