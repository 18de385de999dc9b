"""Model input: one function turns an sRGB photo into the tensor every model reads.

Training (``skinscan.datasets``) and inference (``skinscan.models.runtime``) both call
:func:`to_input`, so a model never sees a differently prepared image than it was trained on.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "TEXTURE_SIGMA_PX", "texture_channel", "to_input"]

#: torchvision backbones' normalisation (ImageNet statistics of sRGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Scale of the texture channel's high-pass, in pixels of the model's input.
TEXTURE_SIGMA_PX = 3.0


def texture_channel(
    rgb_u8: NDArray[np.uint8], *, sigma_px: float = TEXTURE_SIGMA_PX
) -> NDArray[np.float32]:
    """Fine detail of the luminance: the texture map a wrinkle segmenter takes as a 4th channel.

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
        sRGB.
    sigma_px : float
        Gaussian scale of the removed low-pass.

    Returns
    -------
    ndarray of shape (H, W), float32
        ``(Y − G_σ * Y) / (3 · MAD)`` clipped to [−1, 1], where ``Y`` is luminance in [0, 1] and
        MAD the median absolute deviation of the high-pass (1.4826 · MAD ≈ SD for Gaussian noise):
        dark creases read negative, whatever the exposure.

    Notes
    -----
    The FFHQ-Wrinkle work (Moon et al., 2024) pretrains on texture maps and feeds them beside the
    RGB image; a high-pass of the luminance is the simplest such map and costs two blurs.
    """
    rgb = np.asarray(rgb_u8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 sRGB, not {rgb.dtype} {rgb.shape}")
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    detail = luma - cv2.GaussianBlur(luma, (0, 0), sigma_px)
    mad = float(np.median(np.abs(detail))) * 1.4826
    scale = 3.0 * max(mad, 1e-3)
    return np.clip(detail / scale, -1.0, 1.0).astype(np.float32)


def to_input(rgb_u8: NDArray[np.uint8], *, texture: bool = False) -> NDArray[np.float32]:
    """The model input of an sRGB image: ``float32 (C, H, W)``, C = 3 (+1 with ``texture``).

    Parameters
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
        sRGB at the model's input size.
    texture : bool
        Append :func:`texture_channel` as a fourth channel.

    Returns
    -------
    ndarray of shape (C, H, W), float32
        Channels 0-2: ``(rgb / 255 − IMAGENET_MEAN) / IMAGENET_STD``; channel 3: the texture map.

    Examples
    --------
    >>> x = to_input(np.zeros((8, 8, 3), np.uint8), texture=True)
    >>> x.shape, x.dtype
    ((4, 8, 8), dtype('float32'))
    """
    rgb = np.asarray(rgb_u8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 sRGB, not {rgb.dtype} {rgb.shape}")
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    planes = ((rgb.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1)
    if texture:
        planes = np.concatenate([planes, texture_channel(rgb)[None]], axis=0)
    return np.ascontiguousarray(planes, dtype=np.float32)
