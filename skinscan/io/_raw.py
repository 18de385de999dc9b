"""Camera RAW and DNG through rawpy (LibRaw), to linear 16-bit sRGB.

Rendering settings are fixed so that values stay proportional to scene light, which is what the
measurements need: gamma (1, 1), no automatic brightening, the camera's as-shot white balance,
sRGB primaries, 16 bits. LibRaw's ``adjust_maximum_thr`` is set to 0: by default LibRaw lowers
the white level to the brightest value actually present whenever that exceeds 75 % of the
nominal one, which rescales a photo by an amount that depends on its content (a bright patch
in view would make the skin darker), so the file's own WhiteLevel is kept. LibRaw applies the
file's orientation itself (``sizes.flip``); the equivalent EXIF value is recorded.
"""

from __future__ import annotations

import io

from skinscan.errors import PhotoInputError

from ._common import Decoded, check_pixel_count, finish_pixels
from ._exif import read_exif
from ._orientation import LIBRAW_FLIP_TO_ORIENTATION
from ._tiff import read_ifd0
from ._types import LoadLimits

__all__ = ["decode_raw"]


def decode_raw(data: bytes, limits: LoadLimits) -> Decoded:
    """Demosaic a camera raw file to linear sRGB, uint16, ``transfer="linear"``."""
    import rawpy  # imported on first use: it loads LibRaw

    if _tiff_data_missing(data):
        raise PhotoInputError("truncated", "the raw file ends before its image data does")
    try:
        raw = rawpy.imread(io.BytesIO(data))
    except Exception as exc:
        raise _raw_error(exc) from exc
    with raw:
        try:
            sizes = raw.sizes
        except Exception as exc:
            raise _raw_error(exc) from exc
        # The sensor area is decoded (unpacked) before the output is cropped from it.
        check_pixel_count(sizes.width, sizes.height, limits)
        check_pixel_count(sizes.raw_width, sizes.raw_height, limits)
        try:
            pixels = raw.postprocess(
                gamma=(1, 1),
                no_auto_bright=True,
                output_bps=16,
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                adjust_maximum_thr=0.0,
            )
        except Exception as exc:
            raise _raw_error(exc) from exc
        orientation = LIBRAW_FLIP_TO_ORIENTATION.get(int(sizes.flip), 1)
    exif = read_exif(data) if data[:2] in (b"II", b"MM") else read_exif(None)
    return Decoded(finish_pixels(pixels), orientation=orientation, transfer="linear", exif=exif)


def _tiff_data_missing(data: bytes) -> bool:
    """For TIFF-structured raws (DNG, NEF, ARW…): does an image strip or tile lie past the end?

    LibRaw reads a raw cut short in its last strips without complaint, so this is checked first.
    """
    ifd0 = read_ifd0(data)
    if ifd0 is None:
        return False  # not TIFF-structured (or unreadable): LibRaw decides
    for ifd in [ifd0, *ifd0.sub_ifds()]:
        has_data = any(tag in ifd for tag in (273, 324))
        if has_data and not ifd.data_complete():
            return True
    return False


def _raw_error(exc: Exception) -> PhotoInputError:
    """LibRaw's exception classes (matched by name: rawpy is imported lazily) → input errors."""
    name = type(exc).__name__
    first = exc.args[0] if exc.args else exc
    message = first.decode("ascii", "replace") if isinstance(first, bytes) else str(first)
    if name == "LibRawIOError":
        return PhotoInputError("truncated", f"the raw file ends too early ({message})")
    if name in ("LibRawFileUnsupportedError", "NotSupportedError", "LibRawNotImplementedError"):
        return PhotoInputError("unsupported_format", f"LibRaw cannot read this file ({message})")
    if name == "LibRawTooBigError":
        return PhotoInputError("too_many_pixels", f"LibRaw refused the raw file ({message})")
    return PhotoInputError("decode_failed", f"the raw file cannot be decoded ({message})")
