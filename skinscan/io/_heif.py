"""HEIC/HEIF through pillow-heif (libheif + libde265).

``pillow_heif.open_heif`` is used directly rather than through Pillow's plugin registry: it reads
the container without decoding (so the size is checked first), keeps 10/12-bit images as 16 bit
(the Pillow plugin reduces them to 8), and leaves Pillow's global registry untouched.

libheif applies the container's rotation and mirror properties (``irot``/``imir``) while decoding;
the EXIF orientation inside a HEIF only describes them and must not be applied a second time.
:func:`~skinscan.io._structure.heif_orientation` names the transform that was applied.
"""

from __future__ import annotations

import io

import numpy as np

from skinscan.errors import PhotoInputError

from ._common import Decoded, check_pixel_count, finish_pixels
from ._exif import read_exif
from ._structure import heif_complete, heif_orientation
from ._types import LoadLimits

__all__ = ["decode_heif"]


def decode_heif(data: bytes, limits: LoadLimits) -> Decoded:
    """Decode the primary image of a HEIF file (8 bit → uint8; 10/12 bit → uint16, shifted up)."""
    if not heif_complete(data):
        raise PhotoInputError("truncated", "the HEIF file ends inside one of its boxes")
    import pillow_heif  # imported on first use: it loads libheif

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        width, height = heif.size
    except Exception as exc:
        raise _heif_error(exc) from exc
    check_pixel_count(width, height, limits)
    try:
        pixels = np.asarray(heif)
        info = dict(heif.info)
    except Exception as exc:
        raise _heif_error(exc) from exc
    if pixels.shape[:2] != (height, width):
        raise PhotoInputError("decode_failed", "libheif decoded a different size than announced")
    exif = read_exif(info.get("exif"))
    return Decoded(
        finish_pixels(pixels),
        orientation=heif_orientation(data),
        exif=exif,
        icc_profile=info.get("icc_profile") or None,
    )


def _heif_error(exc: Exception) -> PhotoInputError:
    message = str(exc)
    if "unsupported" in message.lower() or "no decoder" in message.lower():
        return PhotoInputError("unsupported_format", f"this HEIF cannot be decoded ({message})")
    return PhotoInputError("decode_failed", f"the HEIF image cannot be decoded ({message})")
