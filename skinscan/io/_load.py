"""``load_photo``: bytes in, :class:`Photo` out, or a :class:`PhotoInputError` — nothing else."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from types import MappingProxyType

from skinscan.errors import PhotoInputError

from ._common import Decoded
from ._dicom import decode_dicom
from ._heif import decode_heif
from ._raster import decode_jpeg, decode_png, decode_tiff
from ._raw import decode_raw
from ._sniff import RAW_EXTENSIONS, SUPPORTED, extension_format, extension_of, sniff_format
from ._types import LoadLimits, Photo, PhotoMetadata

__all__ = ["load_photo"]

_DECODERS: dict[str, Callable[[bytes, LoadLimits], Decoded]] = {
    "JPEG": decode_jpeg,
    "PNG": decode_png,
    "TIFF": decode_tiff,
    "HEIF": decode_heif,
    "RAW": decode_raw,
    "DICOM": decode_dicom,
}


def load_photo(
    source: str | os.PathLike[str] | bytes,
    *,
    limits: LoadLimits = LoadLimits(),  # noqa: B008 - frozen, so a shared default is safe
    name: str | None = None,
) -> Photo:
    """Read a photo file into upright RGB pixels, with its metadata kept apart.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A path, or the file's bytes (an upload).
    limits : LoadLimits, optional
        File-size and pixel-count limits, both checked before decoding.
    name : str, optional
        The file name to report and to check the extension of; defaults to the path's name.
        Useful for uploads (bytes) and for files saved under temporary names. Folders are
        stripped.

    Returns
    -------
    Photo
        ``pixels`` (H, W, 3) uint8/uint16, upright, RGB, read-only; ``transfer`` ``"linear"`` for
        camera raw, else ``"srgb"``; ``meta`` with the SHA-256 of the file bytes.

    Raises
    ------
    PhotoInputError
        For every unusable input, with ``code``: ``not_found`` (missing or unreadable path),
        ``empty``, ``file_too_large``, ``not_an_image``, ``unsupported_format`` (an image format
        that is not loaded, e.g. GIF), ``extension_mismatch`` (the name's extension announces a
        different format than the content), ``too_many_pixels``, ``truncated`` or
        ``decode_failed``. No other exception escapes for any input bytes.

    Notes
    -----
    The format is decided by the content (:func:`sniff_format`). A TIFF-structured file whose
    name has a camera raw extension (``.nef``, ``.arw``, ``.dng`` …) is read by LibRaw. The file
    is read once; the hash is taken over those bytes. Grey images are replicated to three
    channels and alpha channels are dropped (not composited).

    Examples
    --------
    >>> photo = load_photo("visit.jpg")  # doctest: +SKIP
    >>> photo.meta.to_dict()  # doctest: +SKIP
    {'sha256': '…', 'width': 4000, 'height': 3000, 'format': 'JPEG'}
    """
    data, file_name = _read(source, limits, name)
    try:
        return _load(data, limits, file_name)
    except PhotoInputError as exc:
        if exc.source is None and file_name is not None:
            raise PhotoInputError(exc.code, exc.message, source=file_name) from exc
        raise
    except Exception as exc:  # a decoder failing in a way not foreseen: still an input problem
        message = f"the image cannot be decoded ({type(exc).__name__}: {exc})"
        raise PhotoInputError("decode_failed", message, source=file_name) from exc


def _load(data: bytes, limits: LoadLimits, file_name: str | None) -> Photo:
    content = sniff_format(data)
    if content is None:
        raise PhotoInputError("not_an_image", "the content is not an image format skinscan knows")
    announced = extension_format(file_name)
    if content == "TIFF" and extension_of(file_name) in RAW_EXTENSIONS:
        content = "RAW"  # NEF, ARW, PEF and most other raws are TIFF-structured
    elif announced is not None and content != announced and not _tiff_family(content, announced):
        raise PhotoInputError(
            "extension_mismatch",
            f"the content is {content} but the extension says {announced}; rename or re-export",
        )
    if content not in SUPPORTED:
        raise PhotoInputError("unsupported_format", f"{content} images are not supported")
    decoded = _DECODERS[content](data, limits)
    pixels = decoded.pixels
    height, width = pixels.shape[:2]
    meta = PhotoMetadata(
        sha256=hashlib.sha256(data).hexdigest(),
        format=content,
        width=int(width),
        height=int(height),
        bit_depth=8 if pixels.dtype.itemsize == 1 else 16,
        orientation=decoded.orientation,
        file_size=len(data),
        source_name=file_name,
        exif=MappingProxyType(decoded.exif.exif),
        gps=MappingProxyType(decoded.exif.gps) if decoded.exif.gps is not None else None,
        icc_profile=decoded.icc_profile,
    )
    return Photo(pixels=pixels, transfer=decoded.transfer, meta=meta)


def _tiff_family(content: str, announced: str) -> bool:
    """A DNG is a TIFF: either name is acceptable for either content."""
    return {content, announced} == {"TIFF", "RAW"}


def _read(
    source: str | os.PathLike[str] | bytes, limits: LoadLimits, name: str | None
) -> tuple[bytes, str | None]:
    """The file's bytes (read once, size checked first) and the bare file name to report."""
    if isinstance(source, bytes | bytearray | memoryview):
        file_name = _base_name(name)
        if len(source) > limits.max_bytes:
            raise _too_large(len(source), limits, file_name)
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if not isinstance(path, str):
            raise TypeError("load_photo takes a str path, an os.PathLike[str] or bytes")
        file_name = _base_name(name if name is not None else path)
        data = _read_file(path, limits, file_name)
    else:
        raise TypeError(
            f"load_photo takes a path or bytes, not {type(source).__name__}; "
            "use photo_from_array for arrays"
        )
    if not data:
        raise PhotoInputError("empty", "the file is empty", source=file_name)
    return data, file_name


def _read_file(path: str, limits: LoadLimits, file_name: str | None) -> bytes:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PhotoInputError("not_found", "no such file", source=file_name) from None
    except OSError as exc:
        message = f"cannot be opened ({exc.strerror})"
        raise PhotoInputError("not_found", message, source=file_name) from None
    if not stat.S_ISREG(info.st_mode):
        raise PhotoInputError("not_found", "not a regular file", source=file_name)
    if info.st_size > limits.max_bytes:
        raise _too_large(info.st_size, limits, file_name)
    try:
        with open(path, "rb") as handle:
            # Ask for what stat announced (plus one byte to notice a file that grew since): a
            # read of max_bytes would reserve that much memory for every photo.
            data = handle.read(min(info.st_size, limits.max_bytes) + 1)
            if len(data) > info.st_size:
                data += handle.read(limits.max_bytes + 1 - len(data))
    except OSError as exc:
        message = f"cannot be read ({exc.strerror})"
        raise PhotoInputError("not_found", message, source=file_name) from None
    if len(data) > limits.max_bytes:
        raise _too_large(len(data), limits, file_name)
    return data


def _too_large(size: int, limits: LoadLimits, file_name: str | None) -> PhotoInputError:
    return PhotoInputError(
        "file_too_large",
        f"the file is {size / 2**20:.1f} MiB, more than the limit of "
        f"{limits.max_bytes / 2**20:.1f} MiB",
        source=file_name,
    )


def _base_name(name: str | None) -> str | None:
    """The last path component, for both / and \\ separators (uploads come from any OS)."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base or None
