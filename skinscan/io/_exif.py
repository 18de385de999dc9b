"""Read EXIF into plain, JSON-safe mappings, with GPS kept apart and the orientation pulled out.

Parsing goes through Pillow's :class:`PIL.Image.Exif`, which reads the TIFF structure inside an
APP1 segment, an ``eXIf`` chunk, a HEIF ``Exif`` item or a whole TIFF/DNG file alike. A damaged
EXIF block never fails a load: whatever cannot be read is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image, TiffImagePlugin

__all__ = ["ExifSummary", "read_exif"]

ExifValue = str | int | float

_ORIENTATION = 0x0112
# Tags that describe how the file is laid out, point at other structures or hold binary blobs:
# meaningless once the pixels are decoded, and some (MakerNote, XMP) can hide location data.
_LEFT_OUT = frozenset(
    {
        0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0112, 0x0115, 0x0116, 0x0117, 0x011C,
        0x0140, 0x0142, 0x0143, 0x0144, 0x0145, 0x014A, 0x0152, 0x0153, 0x0201, 0x0202, 0x02BC,
        0x83BB, 0x8649, 0x8769, 0x8773, 0x8825, 0x927C, 0xA005, 0xC4A5, 0xC634, 0xEA1C,
    }
)  # fmt: skip
_MAX_TEXT = 256
_MAX_ITEMS = 16
_GPS_DEGREES = frozenset({"GPSLatitude", "GPSLongitude", "GPSDestLatitude", "GPSDestLongitude"})


@dataclass(frozen=True)
class ExifSummary:
    """What a loader needs from an EXIF block."""

    exif: dict[str, ExifValue] = field(default_factory=dict)
    gps: dict[str, ExifValue] | None = None
    orientation: int = 1


def read_exif(raw: bytes | None) -> ExifSummary:
    """Summarise an EXIF block.

    Parameters
    ----------
    raw : bytes or None
        A TIFF-structured block (``II*`` / ``MM*``), optionally preceded by ``Exif\\0\\0``; a
        whole TIFF or DNG file works too. None or empty gives an empty summary.

    Returns
    -------
    ExifSummary
        ``exif`` (IFD0 and the Exif IFD by tag name, without GPS, orientation and layout tags),
        ``gps`` (the GPS IFD, or None) and ``orientation`` (1–8; 1 when absent or invalid).
    """
    if not raw:
        return ExifSummary()
    try:
        exif = Image.Exif()
        exif.load(raw)
    except Exception:
        return ExifSummary()
    tags: dict[str, ExifValue] = {}
    orientation = 1
    for ifd_tag, ifd in (
        (None, lambda: exif),
        (ExifTags.IFD.Exif, lambda: exif.get_ifd(ExifTags.IFD.Exif)),
    ):
        try:
            items = list(ifd().items())
        except Exception:
            continue
        for tag, value in items:
            if ifd_tag is None and tag == _ORIENTATION:
                orientation = _orientation_value(value)
            if tag in _LEFT_OUT:
                continue
            name = ExifTags.TAGS.get(tag)
            plain = _plain(value)
            if name is not None and plain is not None:
                tags.setdefault(name, plain)
    return ExifSummary(exif=tags, gps=_gps(exif), orientation=orientation)


def _orientation_value(value: Any) -> int:
    try:
        number = int(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, IndexError):
        return 1
    return number if 1 <= number <= 8 else 1


def _gps(exif: Image.Exif) -> dict[str, ExifValue] | None:
    try:
        ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:
        return None
    gps: dict[str, ExifValue] = {}
    for tag, value in ifd.items():
        name = ExifTags.GPSTAGS.get(tag, f"GPSTag{tag}")
        plain: ExifValue | None
        if name in _GPS_DEGREES:
            plain = _degrees(value)
        elif name == "GPSTimeStamp":
            plain = _clock(value)
        elif name == "GPSVersionID" and isinstance(value, bytes):
            plain = ".".join(str(b) for b in value)
        else:
            plain = _plain(value)
        if plain is not None:
            gps[name] = plain
    return gps or None


def _degrees(value: Any) -> float | None:
    """Degrees, minutes, seconds → decimal degrees (EXIF 2.32, GPSLatitude)."""
    try:
        d, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60.0 + s / 3600.0
    return degrees if math.isfinite(degrees) else None


def _clock(value: Any) -> str | None:
    try:
        h, m, s = (float(v) for v in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(v) for v in (h, m, s)):
        return None
    return f"{int(h):02d}:{int(m):02d}:{s:05.2f}"


def _plain(value: Any) -> ExifValue | None:
    """A JSON-safe scalar for an EXIF value, or None to leave it out."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | TiffImagePlugin.IFDRational):
        try:
            number = float(value)
        except (ValueError, ZeroDivisionError):
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        text = value.replace("\x00", "").strip()
        return text[:_MAX_TEXT] if text.isprintable() and text else None
    if isinstance(value, bytes):
        if len(value) == 1:
            return value[0]
        if len(value) > _MAX_TEXT:
            return None
        try:
            return _plain(value.decode("ascii"))
        except UnicodeDecodeError:
            return None
    if isinstance(value, tuple) and 0 < len(value) <= _MAX_ITEMS:
        items = [_plain(v) for v in value]
        if any(v is None or isinstance(v, str) for v in items):
            return None
        return items[0] if len(items) == 1 else " ".join(_short(v) for v in items)
    return None


def _short(value: ExifValue | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
