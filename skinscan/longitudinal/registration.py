"""Register two visits of one patient: after-photo pixels → before-photo pixels, or a clear refusal.

A face pair is aligned in two steps: a least-squares similarity between the two sets of 68
landmarks, then an ECC refinement (Evangelidis & Psarakis 2008) on the band-passed skin texture
inside the face. Body-site pairs skip the landmark step. Before any pixels are compared, the pair
is checked: same capture protocol, a face in both (face protocols), head poses within the
protocol's tolerance, and the same person (face descriptors). Every refusal has a machine code
(:data:`REFUSAL_CODES`) and one sentence for a person; a refusal never carries a matrix or an
error figure.

Examples
--------
>>> from skinscan.longitudinal.registration import register
>>> result = register(before.standard, after.standard)  # doctest: +SKIP
>>> result.ok, result.method, round(result.error_mm, 2)  # doctest: +SKIP
(True, 'landmarks+ecc', 0.12)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.longitudinal._align import (
    WorkFrame,
    landmark_rms,
    landmark_similarity,
    refine_landmark_fit,
    same_view_start,
)
from skinscan.longitudinal.identity import FaceIdentifier, default_identifier, face_distance
from skinscan.standardise.protocol import CaptureProtocol, load_protocol
from skinscan.standardise.standard import StandardPhoto

__all__ = [
    "DEFAULT_MAX_ERROR_MM",
    "REFUSAL_CODES",
    "Registration",
    "pose_tolerance",
    "register",
    "register_records",
]

#: Every reason a registration can be refused, and what it means.
REFUSAL_CODES: dict[str, str] = {
    "different_protocol": "the photos were taken under different capture protocols (e.g. a face "
    "and a body site)",
    "no_face": "a face protocol, but no face was found in one of the photos",
    "pose_mismatch": "the head is turned or tilted differently by more than the tolerance",
    "different_person": "the face descriptors are too far apart to be the same person",
    "no_overlap": "after alignment, less than half of the before photo's skin area is in the "
    "after photo",
    "no_texture": "too little texture in the body-site area to align or to measure the alignment",
    "not_converged": "the alignment failed or its residual error exceeds the limit",
}

#: Largest acceptable residual error, in millimetres at the face (``error_mm``).
DEFAULT_MAX_ERROR_MM = 4.0
#: Without a scale (body-site photos), the limit is this fraction of the analysis copy's long side.
_MAX_ERROR_FRACTION = 0.01
#: How far (at any corner of the skin area) ECC may move the landmark solution before it is
#: distrusted: further than the landmarks' own uncertainty can explain.
_MAX_REFINEMENT_MM = 3.0
_MIN_OVERLAP = 0.5
# Pose tolerance when a protocol has no pose limits of its own (face-frontal's warn limits).
_FALLBACK_POSE_LIMITS = {"yaw": 12.0, "pitch": 15.0}


@dataclass(frozen=True, eq=False)  # holds an array: equality is identity
class Registration:
    """How the after photo maps onto the before photo, or why it cannot.

    Attributes
    ----------
    ok : bool
    reason : str or None
        A key of :data:`REFUSAL_CODES` when refused, else None.
    message : str
        One sentence for a person ("" when ok).
    method : str
        ``"landmarks+ecc"`` (landmark similarity refined by ECC), ``"landmarks"`` (ECC failed,
        moved too far or aligned worse: the landmark similarity is kept), ``"ecc"`` (body site:
        phase correlation then ECC), ``"pose-only"`` (:func:`register_records`: no pixels),
        ``"none"`` (refused before any method applied). A refusal names the method that was
        attempted or would have been.
    matrix : ndarray of shape (2, 3), float64, or None
        Similarity mapping after-analysis-copy pixel indices to before-analysis-copy pixel
        indices (``[x_b, y_b] = M @ [x_a, y_a, 1]``, the convention of ``cv2.warpAffine``:
        ``cv2.warpAffine(after_rgb, M, (W_b, H_b))`` draws the after photo over the before one).
    error_px : float or None
        Residual misalignment in before-analysis-copy pixels: the root mean square of the
        displacements that remain between the before photo and the registered after photo, measured
        by tracking skin-texture features (see :func:`register`, Notes).
    error_mm : float or None
        ``error_px`` × the before photo's mm per pixel (None without a scale).
    pose_difference_deg : dict of str to float, or None
        ``{"yaw", "pitch", "roll"}``, after − before, degrees.
    identity_distance : float or None
        Face-descriptor distance (:mod:`skinscan.longitudinal.identity`); None when not computed.
    """

    ok: bool
    reason: str | None
    message: str
    method: str
    matrix: NDArray[np.float64] | None
    error_px: float | None
    error_mm: float | None
    pose_difference_deg: dict[str, float] | None
    identity_distance: float | None

    @classmethod
    def refused(
        cls,
        reason: str,
        message: str,
        *,
        method: str = "none",
        pose_difference_deg: dict[str, float] | None = None,
        identity_distance: float | None = None,
    ) -> Registration:
        """A refusal: no matrix, no error figure.

        Parameters
        ----------
        reason : str
            Machine code (:data:`REFUSAL_CODES`, or a caller's own, e.g. a quality-gate refusal
            decided before registration was attempted).
        message : str
            One sentence for a person.
        method : str, default "none"
            What was attempted (``"none"``: nothing).
        """
        return cls(
            False, reason, message, method, None, None, None, pose_difference_deg, identity_distance
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the ``registration`` object of ``skinscan.comparison/1``)."""
        return {
            "ok": self.ok,
            "error_px": _rounded(self.error_px, 3),
            "error_mm": _rounded(self.error_mm, 4),
            "method": self.method,
            "reason": self.reason,
            "message": self.message,
            "pose_difference_deg": None
            if self.pose_difference_deg is None
            else {k: round(v, 2) for k, v in self.pose_difference_deg.items()},
            "identity_distance": _rounded(self.identity_distance, 4),
            "matrix": None
            if self.matrix is None
            else [[float(v) for v in row] for row in self.matrix],
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _refuse(
    reason: str,
    message: str,
    method: str,
    *,
    pose: dict[str, float] | None = None,
    identity: float | None = None,
) -> Registration:
    return Registration.refused(
        reason, message, method=method, pose_difference_deg=pose, identity_distance=identity
    )


def pose_tolerance(
    protocol: CaptureProtocol, max_pose_difference_deg: float | None = None
) -> dict[str, float]:
    """Largest accepted |after − before| for yaw and pitch, in degrees.

    The protocol's ``warn`` limits for ``pose_yaw`` and ``pose_pitch`` (12° and 15° for
    ``face-frontal``): a pose change the quality gate would already flag on a single photo makes
    the two photos show the skin from different angles. ``max_pose_difference_deg`` replaces both.
    Roll is not limited: it is a rotation in the image plane, which the similarity undoes.
    """
    if max_pose_difference_deg is not None:
        if max_pose_difference_deg <= 0:
            raise ValueError(
                f"max_pose_difference_deg must be positive, not {max_pose_difference_deg}"
            )
        return {"yaw": float(max_pose_difference_deg), "pitch": float(max_pose_difference_deg)}
    out = {}
    for axis, fallback in _FALLBACK_POSE_LIMITS.items():
        limit = protocol.limits.get(f"pose_{axis}")
        value = None if limit is None else (limit.warn if limit.warn is not None else limit.reject)
        out[axis] = fallback if value is None else float(value)
    return out


def _pose_check(
    before: Mapping[str, float], after: Mapping[str, float], tolerance: Mapping[str, float]
) -> tuple[dict[str, float], str | None]:
    difference = {
        axis: float(after[axis]) - float(before[axis]) for axis in ("yaw", "pitch", "roll")
    }
    directions = {
        "yaw": ("turned", "towards the patient's left", "towards the patient's right"),
        "pitch": ("tilted", "up (chin raised)", "down (chin lowered)"),
    }
    for axis, (verb, positive, negative) in directions.items():
        delta = difference[axis]
        if abs(delta) > tolerance[axis]:
            return difference, (
                f"The head is {verb} {abs(delta):.1f}° further "
                f"{positive if delta > 0 else negative} in the after photo than in the before "
                f"photo ({axis} tolerance {tolerance[axis]:g}°); retake it in the same pose."
            )
    return difference, None


def register(
    before: StandardPhoto,
    after: StandardPhoto,
    *,
    max_pose_difference_deg: float | None = None,
    max_identity_distance: float | None = None,
    max_error_mm: float = DEFAULT_MAX_ERROR_MM,
    refine: bool = True,
    identifier: FaceIdentifier | None = None,
) -> Registration:
    """Map the after photo onto the before photo, or refuse with a reason.

    Parameters
    ----------
    before, after : StandardPhoto
        Two visits (:func:`skinscan.standardise.standard.standardise`). All coordinates are
        analysis-copy pixels.
    max_pose_difference_deg : float, optional
        Largest |Δyaw| and |Δpitch|; default :func:`pose_tolerance` of the before protocol.
    max_identity_distance : float, optional
        Largest face-descriptor distance; default the identifier's threshold (0.6 for dlib's).
        ``float("inf")`` skips the identity check.
    max_error_mm : float, default 4.0
        Refuse (``not_converged``) when the residual error exceeds it. Without a scale (body
        sites): 1 % of the before analysis copy's long side, in pixels.
    refine : bool, default True
        Refine the landmark similarity with ECC (face photos); False keeps the landmark fit.
    identifier : FaceIdentifier, optional
        Default :func:`skinscan.longitudinal.identity.default_identifier`.

    Returns
    -------
    Registration

    Notes
    -----
    Checks, in order: same protocol name (``different_protocol``); for a face protocol, a face in
    both (``no_face``); |Δyaw|, |Δpitch| within tolerance (``pose_mismatch``); descriptor distance
    within ``max_identity_distance`` (``different_person``).

    **Landmark similarity.** ``x_b ≈ s R x_a + t`` fitted by least squares (Umeyama 1991) to
    landmarks 17-47 (brows, nose, eyes; the jaw contour slides with pose and the mouth with
    expression). Points whose residual exceeds 2.5 × the median are dropped and the fit repeated.

    **ECC refinement.** Both photos are resampled into a work frame: the before photo's skin
    regions' bounding box, long side ≤ 512 px; the after photo through the landmark similarity.
    The texture compared is luminance minus its Gaussian blur (σ = 8 work px), which removes
    shading and lighting changes and keeps pores, lines, spots and feature edges. ECC maximises
    the enhanced correlation coefficient (Evangelidis & Psarakis 2008, "Parametric image
    alignment using enhanced correlation coefficient maximization", IEEE TPAMI 30(10))

        ρ(p) = ⟨î_b, î_a(W(p))⟩ / (‖î_b‖ ‖î_a(W(p))‖),

    î = the zero-mean texture inside the union of both faces' skin regions (dilated by 1/64 of
    the frame's width), over an affine ``W(p)`` (``cv2.findTransformECC``, ``MOTION_AFFINE``,
    Gaussian pre-filter 5 px), coarse to fine over a pyramid whose coarsest level is ≥ 64 px on
    its short side, each level band-passed on its own. The affine is projected onto the closest
    similarity (least squares over the mask's pixels), composed with the landmark similarity, and
    kept only if ECC converged, moved no corner of the skin area's box by more than 3 mm, and left
    a residual error no larger than the landmark fit's (else ``method="landmarks"``).

    **Error figure.** Up to 300 corners (Shi-Tomasi) of the before texture inside the compared
    area, at least one tracking reach (40 work px) inside the after photo, are tracked into the
    registered after texture by pyramidal Lucas-Kanade (21 px window, 2 levels), forward and
    back. Tracks that do not return within 0.5 work px, and mistracks (displaced by more than
    1 work px + 5 × the median displacement: a hair, a lash, a glint), are dropped.
    ``error_px`` = RMS length of the remaining displacements, in before pixels: 0 for a perfect
    alignment of identical skin; it grows with any global misalignment (which moves most
    features, and so the median) and with non-rigid change (expression, a turned head). With
    fewer than 12 tracks, face pairs fall back to the RMS landmark residual of the final
    similarity; body sites are refused (``no_texture``).

    **Body sites** (no landmarks): the same field of view is assumed, then a translation by
    phase correlation at the coarsest pyramid level, then ECC as above (a coarse level that fails
    is skipped; the finest must converge). This assumes both photos were framed alike (scale
    within ~10 %, rotation within ~10°).
    """
    protocol = before.protocol
    if before.protocol.name != after.protocol.name:
        return _refuse(
            "different_protocol",
            f"The before photo was taken as {before.protocol.name!r} and the after photo as "
            f"{after.protocol.name!r}; only photos of the same protocol can be compared.",
            "none",
        )
    if protocol.subject != "face":
        return _register_site(before, after, max_error_mm=max_error_mm)
    method = "landmarks+ecc" if refine else "landmarks"
    if before.face is None or after.face is None:
        which = "before" if before.face is None else "after"
        if before.face is None and after.face is None:
            which = "before or the after"
        return _refuse("no_face", f"No face was found in the {which} photo.", method)

    tolerance = pose_tolerance(protocol, max_pose_difference_deg)
    pose_b, pose_a = before.face.pose, after.face.pose
    difference, problem = _pose_check(
        {"yaw": pose_b.yaw, "pitch": pose_b.pitch, "roll": pose_b.roll},
        {"yaw": pose_a.yaw, "pitch": pose_a.pitch, "roll": pose_a.roll},
        tolerance,
    )
    if problem is not None:
        return _refuse("pose_mismatch", problem, method, pose=difference)

    landmarks_b = before.face.detection.landmarks
    landmarks_a = after.face.detection.landmarks
    chosen = default_identifier() if identifier is None else identifier
    limit = chosen.threshold if max_identity_distance is None else max_identity_distance
    distance: float | None = None
    if np.isfinite(limit):
        distance = face_distance(
            before.rgb_u8, landmarks_b, after.rgb_u8, landmarks_a, identifier=chosen
        )
        if distance > limit:
            return _refuse(
                "different_person",
                f"The faces do not look like the same person (descriptor distance "
                f"{distance:.2f}, same-person limit {limit:g}).",
                method,
                pose=difference,
                identity=distance,
            )

    landmark_fit = landmark_similarity(landmarks_a, landmarks_b)
    mm_per_px = float(before.face.mm_per_px)
    frame = WorkFrame.build(before, after, landmark_fit)
    if frame.overlap < _MIN_OVERLAP:
        return _refuse(
            "no_overlap",
            f"Only {frame.overlap:.0%} of the before photo's skin is in the after photo.",
            method,
            pose=difference,
            identity=distance,
        )
    if refine:
        matrix, error, refined = refine_landmark_fit(
            frame, landmark_fit, mm_per_px=mm_per_px, max_move_mm=_MAX_REFINEMENT_MM
        )
        method = "landmarks+ecc" if refined else "landmarks"
    else:
        matrix, error = landmark_fit, frame.residual_px(landmark_fit)
    if error is None:
        error = landmark_rms(matrix, landmarks_a, landmarks_b)
    return _accept_or_refuse(
        matrix, error, mm_per_px, max_error_mm, before, method, difference, distance
    )


def _accept_or_refuse(
    matrix: NDArray[np.float64],
    error_px: float,
    mm_per_px: float | None,
    max_error_mm: float,
    before: StandardPhoto,
    method: str,
    pose: dict[str, float] | None,
    identity: float | None,
) -> Registration:
    error_mm = None if mm_per_px is None else error_px * mm_per_px
    if error_mm is not None:
        if error_mm > max_error_mm:
            return _refuse(
                "not_converged",
                f"The photos could not be aligned closely enough: residual error {error_mm:.1f} mm "
                f"(limit {max_error_mm:g} mm).",
                method,
                pose=pose,
                identity=identity,
            )
    else:
        limit_px = _MAX_ERROR_FRACTION * max(before.rgb_u8.shape[:2])
        if error_px > limit_px:
            return _refuse(
                "not_converged",
                f"The photos could not be aligned closely enough: residual error {error_px:.1f} px "
                f"(limit {limit_px:.0f} px).",
                method,
                pose=pose,
                identity=identity,
            )
    return Registration(True, None, "", method, matrix, float(error_px), error_mm, pose, identity)


def _register_site(
    before: StandardPhoto, after: StandardPhoto, *, max_error_mm: float
) -> Registration:
    """Body sites: same framing assumed; translation by phase correlation, then ECC."""
    method = "ecc"
    frame, init = same_view_start(before, after)
    if frame.overlap < _MIN_OVERLAP:
        return _refuse(
            "no_overlap",
            f"Only {frame.overlap:.0%} of the before photo's site is in the after photo.",
            method,
        )
    matrix = frame.ecc(init)
    if matrix is None:
        return _refuse("not_converged", "The body-site photos could not be aligned.", method)
    error = frame.residual_px(matrix)
    if error is None:
        return _refuse(
            "no_texture",
            "The site has too little visible texture to align the photos or to check the result.",
            method,
        )
    return _accept_or_refuse(matrix, error, None, max_error_mm, before, method, None, None)


def register_records(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    max_pose_difference_deg: float | None = None,
    protocol: CaptureProtocol | str = "face-frontal",
) -> Registration:
    """Check that two saved assessments can be compared, without their pixels.

    Parameters
    ----------
    before, after : mapping
        ``skinscan.assessment/1`` records (``Assessment.to_dict()``).
    max_pose_difference_deg : float, optional
        Largest |Δyaw| and |Δpitch|; default :func:`pose_tolerance` of ``protocol``.
    protocol : CaptureProtocol or str, default "face-frontal"
        Where the pose tolerance comes from (records do not name their protocol).

    Returns
    -------
    Registration
        ``method="pose-only"``; ``matrix`` and the error figures are always None. Refusals:
        ``no_face`` (one record's quality gate found no face in a face photo),
        ``different_protocol`` (a face and a body site), ``pose_mismatch``.

    Raises
    ------
    ValueError
        A record is not ``skinscan.assessment/1``.
    """
    for name, record in (("before", before), ("after", after)):
        if record.get("schema") != "skinscan.assessment/1":
            raise ValueError(
                f"the {name} record is not skinscan.assessment/1: {record.get('schema')!r}"
            )
    method = "pose-only"
    faces = [record.get("face") or {} for record in (before, after)]
    found = [bool(face.get("found")) for face in faces]
    if found[0] != found[1]:
        missing = before if not found[0] else after
        which = "before" if not found[0] else "after"
        issues = (missing.get("quality") or {}).get("issues") or []
        if any(issue.get("code") == "no_face" for issue in issues):
            return _refuse("no_face", f"No face was found in the {which} photo.", method)
        return _refuse(
            "different_protocol",
            f"The {which} photo shows a body site and the other a face: they cannot be compared.",
            method,
        )
    if not found[0]:
        return Registration(True, None, "", method, None, None, None, None, None)
    chosen = load_protocol(protocol) if isinstance(protocol, str) else protocol
    difference, problem = _pose_check(
        faces[0]["pose_deg"], faces[1]["pose_deg"], pose_tolerance(chosen, max_pose_difference_deg)
    )
    if problem is not None:
        return _refuse("pose_mismatch", problem, method, pose=difference)
    return Registration(True, None, "", method, None, None, None, difference, None)
