"""Head pose from 68 landmarks: PnP against a generic 3D face, as yaw / pitch / roll in degrees."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["Pose", "estimate_pose"]

# Anthropometric 3D face model of the ISR, University of Coimbra (P. Martins & J. Batista,
# "Accurate single view model-based head pose estimation", IEEE FG 2008; distributed as
# glAnthropometric3DModel.cpp), in cm, for these iBUG-68 points: brow ends, eye corners, nostril
# corners, mouth corners, lower lip centre, chin. As published, x points to the image's left, y up,
# z out of the face. Negating all three axes gives a frame that coincides with OpenCV's camera
# frame (x right, y down, z away from the camera) for a face looking straight into the lens, so the
# frontal pose is the identity rotation.
_MODEL_INDICES = np.array([17, 21, 22, 26, 36, 39, 42, 45, 31, 35, 48, 54, 57, 8])
_MODEL_POINTS_CM = -np.array(
    [
        [6.825897, 6.760612, 4.402142],
        [1.330353, 7.122144, 6.903745],
        [-1.330353, 7.122144, 6.903745],
        [-6.825897, 6.760612, 4.402142],
        [5.311432, 5.485328, 3.987654],
        [1.789930, 5.393625, 4.413414],
        [-1.789930, 5.393625, 4.413414],
        [-5.311432, 5.485328, 3.987654],
        [2.005628, 1.409845, 6.165652],
        [-2.005628, 1.409845, 6.165652],
        [2.774015, -2.080775, 5.048531],
        [-2.774015, -2.080775, 5.048531],
        [0.000000, -3.116408, 6.097667],
        [0.000000, -7.415691, 4.070434],
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Pose:
    """Head orientation relative to the camera, in degrees; ``Pose(0, 0, 0)`` faces the lens.

    Attributes
    ----------
    yaw : float
        Turn about the vertical axis; **positive = face turned towards the patient's left**
        (the nose moves towards the image's right in an unmirrored photo).
    pitch : float
        Nod about the horizontal axis; **positive = chin up** (the nose moves up in the image).
    roll : float
        In-plane tilt; **positive = head tilted clockwise in the image** as displayed.
    """

    yaw: float
    pitch: float
    roll: float


def estimate_pose(landmarks: NDArray[np.floating], image_size: tuple[int, int]) -> Pose:
    """Estimate head pose by fitting a generic 3D face to 14 of the 68 landmarks.

    Parameters
    ----------
    landmarks : ndarray of shape (68, 2), float
        iBUG 68-point ``(x, y)`` in pixels of the image analysed.
    image_size : tuple of int
        ``(height, width)`` of that image.

    Returns
    -------
    Pose
        Yaw, pitch, roll in degrees, each in (-180, 180].

    Notes
    -----
    ``cv2.solvePnP`` (iterative Levenberg-Marquardt) with a pinhole camera whose principal point is
    the image centre and whose focal length equals the image's long side, i.e. a field of view of
    about 53° across the long side (a 35 mm-equivalent focal length of ~36 mm); crops and longer
    lenses make the true perspective weaker than assumed. The model is an average adult face, so
    individual anatomy and expression (a smile lifts the mouth corners) bias pitch by several
    degrees; compare poses of the same person rather than reading them as absolute truth.

    The pose is measured against the **line of sight** from the camera to the face, not against
    the optical axis: a face looking into the lens near the top of a wide-angle frame is frontal
    (0, 0, 0), although it is tilted relative to the optical axis by the angle at which the camera
    sees it. This also makes the angles nearly independent of the assumed focal length: for the
    test photos, halving or quadrupling it moves them by about 4° at most.

    The rotation ``R`` (model → line-of-sight frame) is decomposed as
    ``R = Rz(roll) · Ry(-yaw) · Rx(-pitch)`` about the axes x right, y down, z away from the
    camera; the signs make the documented conventions hold.

    Examples
    --------
    >>> pose = estimate_pose(geometry.detection.landmarks, rgb.shape[:2])  # doctest: +SKIP
    >>> abs(pose.yaw) < 15  # doctest: +SKIP
    True
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), not {points.shape}")
    height, width = int(image_size[0]), int(image_size[1])
    if height <= 0 or width <= 0:
        raise ValueError(f"image_size must be positive (height, width), not {image_size}")
    focal = float(max(height, width))
    camera = np.array(
        [[focal, 0.0, (width - 1) / 2.0], [0.0, focal, (height - 1) / 2.0], [0.0, 0.0, 1.0]]
    )
    image_points = np.ascontiguousarray(points[_MODEL_INDICES])
    # Start from a frontal face in front of the camera at a distance consistent with its size, so
    # the iterative solver cannot settle on the mirror solution behind the camera.
    eye_span_px = float(np.linalg.norm(image_points[7] - image_points[4]))
    eye_span_cm = float(np.linalg.norm(_MODEL_POINTS_CM[7] - _MODEL_POINTS_CM[4]))
    distance_cm = focal * eye_span_cm / max(eye_span_px, 1e-6)
    centre = image_points.mean(axis=0)
    t0 = np.array(
        [
            (centre[0] - camera[0, 2]) * distance_cm / focal,
            (centre[1] - camera[1, 2]) * distance_cm / focal,
            distance_cm,
        ]
    )
    ok, rvec, tvec = cv2.solvePnP(
        _MODEL_POINTS_CM,
        image_points,
        camera,
        None,
        rvec=np.zeros((3, 1)),
        tvec=t0.reshape(3, 1),
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:  # pragma: no cover - the iterative solver reports success for 14 points
        raise RuntimeError("head pose estimation failed")
    rotation, _ = cv2.Rodrigues(rvec)
    face_centre = rotation @ _MODEL_POINTS_CM.mean(axis=0) + tvec.ravel()
    return _pose_from_rotation(_towards_axis(face_centre).T @ rotation)


def _towards_axis(direction: NDArray[np.float64]) -> NDArray[np.float64]:
    """The smallest rotation taking the optical axis (0, 0, 1) onto ``direction``."""
    d = direction / np.linalg.norm(direction)
    axis = np.cross([0.0, 0.0, 1.0], d)
    sin_angle = float(np.linalg.norm(axis))
    if sin_angle < 1e-12:
        return np.eye(3)
    cross = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    # Rodrigues' formula with the unnormalised axis: I + K + K² (1 - cos) / sin².
    return np.eye(3) + cross + cross @ cross * ((1.0 - float(d[2])) / sin_angle**2)


def _pose_from_rotation(rotation: NDArray[np.float64]) -> Pose:
    # R = Rz(g) Ry(b) Rx(a): R[2,0] = -sin b, R[2,1] = cos b sin a, R[2,2] = cos b cos a,
    # R[1,0] = sin g cos b, R[0,0] = cos g cos b.
    sin_b = -float(np.clip(rotation[2, 0], -1.0, 1.0))
    about_y = math.asin(sin_b)
    about_x = math.atan2(rotation[2, 1], rotation[2, 2])
    about_z = math.atan2(rotation[1, 0], rotation[0, 0])
    # About +y (down), a positive angle swings the nose (-z) towards -x, the patient's right: yaw
    # towards the patient's left is the negative. About +x, a positive angle swings the nose
    # down (+y): chin up is the negative. About +z (into the scene) a positive angle turns x
    # towards y, clockwise on a y-down display: roll keeps the sign.
    return Pose(
        yaw=-math.degrees(about_y),
        pitch=-math.degrees(about_x),
        roll=math.degrees(about_z),
    )
