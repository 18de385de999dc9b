"""A minimal reader for the first IFD of a TIFF (classic or BigTIFF) file.

Just enough structure to answer, without decoding anything: how large is the image, is this a DNG,
are all strips or tiles present, and where is the Orientation value stored. Every function returns
``None``/``False`` on malformed input instead of raising.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TAG_DNG_VERSION",
    "TAG_ICC_PROFILE",
    "TAG_ORIENTATION",
    "TAG_STRIP_BYTE_COUNTS",
    "TAG_TILE_BYTE_COUNTS",
    "Ifd",
    "ifd0_cut_off",
    "read_ifd0",
]

TAG_WIDTH = 256
TAG_HEIGHT = 257
TAG_ORIENTATION = 274
TAG_STRIP_OFFSETS = 273
TAG_STRIP_BYTE_COUNTS = 279
TAG_TILE_OFFSETS = 324
TAG_TILE_BYTE_COUNTS = 325
TAG_SUB_IFDS = 330
TAG_ICC_PROFILE = 34675
TAG_DNG_VERSION = 50706

# TIFF 6.0 / BigTIFF field types -> (size in bytes, struct code for integer types)
_TYPES: dict[int, tuple[int, str]] = {
    1: (1, "B"),  # BYTE
    2: (1, ""),  # ASCII
    3: (2, "H"),  # SHORT
    4: (4, "I"),  # LONG
    5: (8, ""),  # RATIONAL
    6: (1, "b"),  # SBYTE
    7: (1, ""),  # UNDEFINED
    8: (2, "h"),  # SSHORT
    9: (4, "i"),  # SLONG
    10: (8, ""),  # SRATIONAL
    11: (4, ""),  # FLOAT
    12: (8, ""),  # DOUBLE
    13: (4, "I"),  # IFD
    16: (8, "Q"),  # LONG8
    17: (8, "q"),  # SLONG8
    18: (8, "Q"),  # IFD8
}
_MAX_ENTRIES = 4096
_MAX_SUB_IFDS = 16


@dataclass(frozen=True)
class _Entry:
    type: int
    count: int
    offset: int  # absolute position of the value bytes (inline or pointed to)


@dataclass(frozen=True)
class Ifd:
    """The entries of one IFD, with the byte order needed to read their values."""

    order: str  # "<" or ">"
    entries: dict[int, _Entry]
    data: bytes
    big: bool = False  # BigTIFF

    def __contains__(self, tag: int) -> bool:
        return tag in self.entries

    def ints(self, tag: int) -> np.ndarray | None:
        """The integer values of ``tag`` as int64, or None when absent, non-integer or cut off."""
        entry = self.entries.get(tag)
        if entry is None:
            return None
        size, code = _TYPES[entry.type]
        end = entry.offset + size * entry.count
        if not code or end > len(self.data):
            return None
        dtype = np.dtype(self.order + code)
        values = np.frombuffer(self.data, dtype=dtype, count=entry.count, offset=entry.offset)
        return values.astype(np.int64)

    def first_int(self, tag: int) -> int | None:
        """The first integer value of ``tag``, or None."""
        values = self.ints(tag)
        return int(values[0]) if values is not None and values.size else None

    def raw(self, tag: int) -> bytes | None:
        """The value bytes of ``tag`` as stored, or None when absent or cut off."""
        entry = self.entries.get(tag)
        if entry is None:
            return None
        end = entry.offset + _TYPES[entry.type][0] * entry.count
        return self.data[entry.offset : end] if end <= len(self.data) else None

    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` as stored (before orientation), or None."""
        width, height = self.first_int(TAG_WIDTH), self.first_int(TAG_HEIGHT)
        return None if width is None or height is None else (width, height)

    def data_complete(self) -> bool:
        """Whether every strip or tile of this IFD lies inside the file."""
        for offsets_tag, counts_tag in (
            (TAG_STRIP_OFFSETS, TAG_STRIP_BYTE_COUNTS),
            (TAG_TILE_OFFSETS, TAG_TILE_BYTE_COUNTS),
        ):
            offsets, counts = self.ints(offsets_tag), self.ints(counts_tag)
            if offsets is None:
                if offsets_tag in self.entries:
                    return False  # the offsets array itself is cut off
                continue
            if counts is None or counts.size != offsets.size:
                return False
            return bool(offsets.size == 0 or int((offsets + counts).max()) <= len(self.data))
        return False

    def sub_ifds(self) -> list[Ifd]:
        """The IFDs listed in SubIFDs (where DNG and most raws keep the full-size raw data)."""
        offsets = self.ints(TAG_SUB_IFDS)
        found = []
        for offset in [] if offsets is None else offsets[:_MAX_SUB_IFDS].tolist():
            try:
                ifd = _read_ifd(self.data, self.order, self.big, int(offset))
            except (struct.error, KeyError, ValueError, IndexError):
                ifd = None
            if ifd is not None:
                found.append(ifd)
        return found

    def with_orientation_reset(self) -> bytearray | None:
        """A copy of the file whose Orientation tag reads 1, or None when it cannot be patched.

        Some decoders (libtiff's RGBA interface inside OpenCV) apply the TIFF orientation whatever
        they are told; resetting the tag lets the loader apply it once, the same way for every
        format.
        """
        entry = self.entries.get(TAG_ORIENTATION)
        if entry is None or entry.type != 3 or entry.count != 1:
            return None
        if entry.offset + 2 > len(self.data):
            return None
        patched = bytearray(self.data)
        struct.pack_into(self.order + "H", patched, entry.offset, 1)
        return patched


def read_ifd0(data: bytes) -> Ifd | None:
    """Parse the first IFD of TIFF bytes; None if ``data`` is not a well-formed TIFF header."""
    try:
        return _read_ifd0(data)
    except (struct.error, KeyError, ValueError, IndexError):
        return None


def ifd0_cut_off(data: bytes) -> bool:
    """Whether the first IFD runs past the end of ``data`` (a file cut inside its header)."""
    try:
        _read_ifd0(data)
    except struct.error:
        return True
    except (KeyError, ValueError, IndexError):
        return False
    return False


def _read_ifd0(data: bytes) -> Ifd | None:
    if data[:2] == b"II":
        order = "<"
    elif data[:2] == b"MM":
        order = ">"
    else:
        return None
    (magic,) = struct.unpack_from(order + "H", data, 2)
    if magic == 42:
        (ifd_offset,) = struct.unpack_from(order + "I", data, 4)
    elif magic == 43:
        (ifd_offset,) = struct.unpack_from(order + "Q", data, 8)
    else:
        return None
    return _read_ifd(data, order, magic == 43, ifd_offset)


def _read_ifd(data: bytes, order: str, big: bool, ifd_offset: int) -> Ifd | None:
    count_fmt, entry_size, inline_size, value_fmt = ("Q", 20, 8, "Q") if big else ("H", 12, 4, "I")
    (n_entries,) = struct.unpack_from(order + count_fmt, data, ifd_offset)
    if not 0 < n_entries <= _MAX_ENTRIES:
        return None
    first = ifd_offset + struct.calcsize(count_fmt)
    entries: dict[int, _Entry] = {}
    for i in range(n_entries):
        pos = first + i * entry_size
        tag, type_ = struct.unpack_from(order + "HH", data, pos)
        if type_ not in _TYPES:
            continue  # unknown types are to be skipped (TIFF 6.0, section 2)
        count, value = struct.unpack_from(order + value_fmt + value_fmt, data, pos + 4)
        inline = _TYPES[type_][0] * count <= inline_size
        offset = pos + 4 + struct.calcsize(value_fmt) if inline else value
        entries.setdefault(tag, _Entry(type_, count, offset))
    return Ifd(order, entries, data, big)
