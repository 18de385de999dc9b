"""DICOM photographs (VL Photographic Image and other single-image objects) through pydicom.

The header is read with ``stop_before_pixels=True`` to check Rows × Columns before any pixel data
is touched; then only the first frame is decoded. pydicom converts YBR_* photometric
interpretations to RGB; PALETTE COLOR goes through its lookup table; MONOCHROME1 (where low values
are white) is inverted, and monochrome images are replicated to three channels. Samples stored in
fewer than 16 bits of a 16-bit word are scaled to the full 16-bit range.

No DICOM attribute is copied into :class:`~skinscan.io.PhotoMetadata` except the ICC profile: the
patient module must not leak into a photo's metadata.
"""

from __future__ import annotations

import io
import struct

import numpy as np

from skinscan.errors import PhotoInputError

from ._common import Decoded, check_pixel_count, finish_pixels
from ._types import LoadLimits

__all__ = ["decode_dicom"]

# (7FE0,0010) OB, undefined length: explicit VR little endian, as encapsulation requires.
_ENCAPSULATED_PIXEL_DATA = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"
_ITEM = b"\xfe\xff\x00\xe0"
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0"

_COLOUR_PHOTOMETRIC = frozenset(
    {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420", "PALETTE COLOR"}
)


def decode_dicom(data: bytes, limits: LoadLimits) -> Decoded:
    """Decode the first frame of a DICOM file's pixel data to RGB."""
    import pydicom  # imported on first use
    from pydicom.pixels import apply_color_lut, pixel_array

    try:
        header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        rows, columns = int(header.get("Rows", 0) or 0), int(header.get("Columns", 0) or 0)
    except Exception as exc:
        raise PhotoInputError("decode_failed", f"the DICOM header cannot be read ({exc})") from exc
    if not rows or not columns:
        if "SOPClassUID" not in header:  # not even the SOP Common module: cut short
            raise PhotoInputError("truncated", "the DICOM file ends inside its header")
        raise PhotoInputError("not_an_image", "the DICOM object holds no image (no Rows/Columns)")
    check_pixel_count(columns, rows, limits)
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:
        raise PhotoInputError("truncated", f"the DICOM file cannot be read ({exc})") from exc
    if "PixelData" not in dataset:
        if "FloatPixelData" in dataset or "DoubleFloatPixelData" in dataset:
            raise PhotoInputError("unsupported_format", "float DICOM pixel data is not supported")
        raise PhotoInputError("truncated", "the DICOM file ends before its pixel data")
    photometric = str(dataset.get("PhotometricInterpretation", "")).strip()
    bits_allocated = int(dataset.get("BitsAllocated", 0) or 0)
    bits_stored = int(dataset.get("BitsStored", bits_allocated) or bits_allocated)
    if bits_allocated not in (8, 16) or not 0 < bits_stored <= bits_allocated:
        raise PhotoInputError(
            "unsupported_format", f"{bits_allocated}-bit DICOM pixel data is not supported"
        )
    if int(dataset.get("PixelRepresentation", 0) or 0) != 0:
        raise PhotoInputError("unsupported_format", "signed DICOM pixel data is not supported")
    if not photometric.startswith("MONOCHROME") and photometric not in _COLOUR_PHOTOMETRIC:
        raise PhotoInputError("unsupported_format", f"DICOM {photometric!r} is not supported")
    _check_length(data, dataset, rows, columns, bits_allocated)
    try:
        pixels = pixel_array(dataset, index=0)
        if photometric == "PALETTE COLOR":
            pixels = apply_color_lut(pixels, dataset)
            bits_stored = 8 if pixels.dtype == np.uint8 else 16
    except PhotoInputError:
        raise
    except Exception as exc:
        message = f"the DICOM pixel data cannot be decoded ({exc})"
        raise PhotoInputError("decode_failed", message) from exc
    if pixels.shape[:2] != (rows, columns):
        raise PhotoInputError("decode_failed", "the DICOM pixel data does not match Rows/Columns")
    pixels = _full_range(pixels, bits_stored, invert=photometric == "MONOCHROME1")
    icc = dataset.get("ICCProfile")
    return Decoded(finish_pixels(pixels), icc_profile=bytes(icc) if icc else None)


def _check_length(
    data: bytes, dataset: object, rows: int, columns: int, bits_allocated: int
) -> None:
    """Native pixel data must hold one whole frame; encapsulated data must reach its delimiter."""
    meta = getattr(dataset, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None)
    if syntax is None:
        return
    if getattr(syntax, "is_compressed", True):
        if not _encapsulated_complete(data):
            raise PhotoInputError("truncated", "the DICOM pixel data ends before its delimiter")
        return
    samples = int(getattr(dataset, "SamplesPerPixel", 1) or 1)
    expected = rows * columns * samples * bits_allocated // 8
    if len(getattr(dataset, "PixelData", b"")) < expected:
        raise PhotoInputError("truncated", "the DICOM pixel data is shorter than one frame")


def _encapsulated_complete(data: bytes) -> bool:
    """Walk the fragment items of encapsulated Pixel Data (PS3.5, A.4) to the Sequence
    Delimitation Item. pydicom accepts a stream cut inside the delimiter with only a log line."""
    start = data.find(_ENCAPSULATED_PIXEL_DATA)
    if start < 0:
        return True  # laid out some other way: pydicom decides
    pos = start + len(_ENCAPSULATED_PIXEL_DATA)
    while pos + 8 <= len(data):
        tag, length = struct.unpack_from("<4sI", data, pos)
        if tag == _SEQUENCE_DELIMITER:
            return True
        if tag != _ITEM:
            return True  # malformed rather than cut short: the decoder will refuse it
        pos += 8 + length
    return False


def _full_range(pixels: np.ndarray, bits_stored: int, *, invert: bool) -> np.ndarray:
    """uint8 stays; 16-bit words with ``bits_stored`` < 16 are scaled to 0…65535."""
    if pixels.dtype.kind not in "ui":
        raise PhotoInputError("unsupported_format", f"DICOM {pixels.dtype} data is not supported")
    if pixels.dtype.itemsize == 1:
        out = pixels.astype(np.uint8, copy=False)
        return np.subtract(255, out, dtype=np.uint8) if invert else out
    top = (1 << bits_stored) - 1
    values = np.clip(pixels, 0, top).astype(np.uint32)
    if invert:
        values = top - values
    if bits_stored == 16:
        return values.astype(np.uint16)
    return ((values * 65535 + top // 2) // top).astype(np.uint16)
