"""What the per-format decoders share: their result type, the limit check and array tidying."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from skinscan.errors import PhotoInputError

from ._exif import ExifSummary
from ._orientation import upright_copy
from ._types import LoadLimits, Transfer

__all__ = ["Decoded", "check_pixel_count", "finish_pixels", "pil_to_array", "three_channels"]


@dataclass
class Decoded:
    """A decoder's output: upright RGB pixels and the metadata found next to them."""

    pixels: np.ndarray  # (H, W, 3) uint8/uint16, C-contiguous, upright
    orientation: int = 1
    transfer: Transfer = "srgb"
    exif: ExifSummary = field(default_factory=ExifSummary)
    icc_profile: bytes | None = None


def check_pixel_count(width: int, height: int, limits: LoadLimits) -> None:
    """Refuse an image whose header announces too many (or no) pixels, before decoding it."""
    if width <= 0 or height <= 0:
        raise PhotoInputError("decode_failed", f"the header gives an image of {width}×{height}")
    if width * height > limits.max_pixels:
        raise PhotoInputError(
            "too_many_pixels",
            f"the image is {width}×{height} = {width * height / 1e6:.1f} megapixels, more than the "
            f"limit of {limits.max_pixels / 1e6:.1f}; downsample it before uploading",
        )


def three_channels(pixels: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) → (H, W, 3); alpha is dropped, not composited.

    Dropping (rather than compositing on white) keeps the colour of every pixel as captured; a
    clinical photo has no meaningful transparency, and a mask-like alpha would only invent colour.
    """
    if pixels.ndim == 2:
        return np.broadcast_to(pixels[:, :, None], (*pixels.shape, 3))
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return np.broadcast_to(pixels, (*pixels.shape[:2], 3))
    if pixels.ndim == 3 and pixels.shape[2] == 2:  # grey + alpha
        return np.broadcast_to(pixels[:, :, :1], (*pixels.shape[:2], 3))
    if pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        return pixels[:, :, :3]
    raise PhotoInputError("unsupported_format", f"images of shape {pixels.shape} are not supported")


def finish_pixels(pixels: np.ndarray, orientation: int = 1) -> np.ndarray:
    """Bring freshly decoded pixels to the :class:`~skinscan.io.Photo` contract.

    Three channels, upright, native-endian uint8/uint16, C-contiguous and read-only. No copy when
    the decoder's array already qualifies, one to rotate or flip it, two in the rare case of a
    rotated grey or channel-reversed array. ``pixels`` must not be shared with anyone else, since
    it may become the photo's own array.
    """
    if pixels.dtype.kind != "u" or pixels.dtype.itemsize not in (1, 2):
        raise PhotoInputError(
            "unsupported_format", f"{pixels.dtype} samples are not supported (8 or 16 bit only)"
        )
    native = np.dtype(np.uint8) if pixels.dtype.itemsize == 1 else np.dtype(np.uint16)
    packed = np.ascontiguousarray(three_channels(pixels), dtype=native)  # no copy if already
    out = upright_copy(packed, orientation)
    out.flags.writeable = False
    return out


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Decode a Pillow image to an (H, W) or (H, W, 3) uint8/uint16 array."""
    mode = image.mode
    if mode in ("RGB", "L"):
        return np.asarray(image)
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16, copy=False)
    if mode in ("I", "F"):
        raise PhotoInputError(
            "unsupported_format", f"{mode} (32-bit) images are not supported (8 or 16 bit only)"
        )
    return np.asarray(image.convert("RGB"))
