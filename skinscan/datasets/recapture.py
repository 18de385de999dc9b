"""Simulated re-photographing of the same skin: the perturbations a second capture brings.

A clinic photographs a patient twice in one sitting; the two photos differ by exposure, white
balance, a small shift and rotation, and JPEG compression. Repeatability studies (how much a
measure moves when nothing about the skin changed) need many such pairs; these functions make
them from one linear-light scene, with the perturbation drawn separately from its application so
a study can log, replay and vary it.

Defaults follow the capture tolerances of a standardised clinical set-up: exposure ±8 %, white
balance ±6 % per channel, shift up to 2 % of the frame, rotation ±2°, JPEG quality 88–95, and a
fresh draw of sensor noise (σ 1–2 of 255) for every capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_to_srgb

__all__ = ["RecaptureParams", "apply_recapture", "sample_recapture"]


@dataclass(frozen=True)
class RecaptureParams:
    """One re-capture: what changed between the reference photo and this one."""

    exposure: float
    white_balance: tuple[float, float, float]
    shift_frac: tuple[float, float]
    rotation_deg: float
    jpeg_quality: int
    noise_sigma: float = 0.0
    noise_seed: int = 0


def sample_recapture(
    rng: np.random.Generator,
    *,
    exposure: float = 0.08,
    white_balance: float = 0.06,
    shift: float = 0.02,
    rotation_deg: float = 2.0,
    jpeg_quality: tuple[int, int] = (88, 95),
    noise_sigma: tuple[float, float] = (1.0, 2.0),
) -> RecaptureParams:
    """Draw a re-capture uniformly within the given tolerances (± each value)."""
    return RecaptureParams(
        exposure=float(1.0 + rng.uniform(-exposure, exposure)),
        white_balance=tuple(float(g) for g in 1.0 + rng.uniform(-white_balance, white_balance, 3)),  # type: ignore[arg-type]
        shift_frac=(float(rng.uniform(-shift, shift)), float(rng.uniform(-shift, shift))),
        rotation_deg=float(rng.uniform(-rotation_deg, rotation_deg)),
        jpeg_quality=int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1)),
        noise_sigma=float(rng.uniform(*noise_sigma)),
        noise_seed=int(rng.integers(2**31)),
    )


def apply_recapture(scene_linear: NDArray[np.floating], params: RecaptureParams) -> bytes:
    """Photograph ``scene_linear`` again under ``params``; return the JPEG file's bytes.

    Parameters
    ----------
    scene_linear : ndarray of shape (H, W, 3), float
        The scene in linear sRGB, [0, 1].
    params : RecaptureParams

    Returns
    -------
    bytes
        A JPEG (sRGB-encoded, 8-bit) as a camera would write it.
    """
    scene = np.asarray(scene_linear, np.float32)
    h, w = scene.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), params.rotation_deg, 1.0)
    matrix[:, 2] += (params.shift_frac[0] * w, params.shift_frac[1] * h)
    moved = cv2.warpAffine(
        scene, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    gains = np.float32(params.exposure) * np.asarray(params.white_balance, np.float32)
    encoded = linear_to_srgb(moved * gains) * np.float32(255.0)
    if params.noise_sigma > 0:
        noise = np.random.default_rng(params.noise_seed).normal(
            0.0, params.noise_sigma, encoded.shape
        )
        encoded += noise.astype(np.float32)
    encoded = np.clip(np.round(encoded), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(
        ".jpg",
        cv2.cvtColor(encoded, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality],
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()
