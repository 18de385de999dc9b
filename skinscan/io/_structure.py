"""Container-level checks that need no pixel decoding.

- JPEG: is there an End Of Image marker after the first scan? (ITU-T T.81, B.2)
- PNG: do the chunks run to ``IEND``, and where is the ``eXIf`` chunk? (PNG 3rd ed., 5.3, 11.3.3)
- ISO base media (HEIF): do the top-level boxes fit in the file, and which ``irot``/``imir``
  transforms belong to the primary item? (ISO/IEC 14496-12, 4.2; ISO/IEC 23008-12, 9.3)

Decoders are lenient about files cut short (libjpeg fills the missing rows with grey and carries
on), so completeness is established here, before decoding, and a cut file is refused as
``truncated`` rather than loaded with a grey band.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from ._orientation import orientation_of_transform

__all__ = [
    "heif_complete",
    "heif_orientation",
    "jpeg_bad_scan_marker",
    "jpeg_complete",
    "png_chunks",
]

_JPEG_SOS = 0xDA
_JPEG_EOI = b"\xff\xd9"
# Markers without a length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8, 0xD9})


def jpeg_complete(data: bytes) -> bool:
    """Whether a JPEG reaches an End Of Image marker after its first scan.

    Trailing bytes after EOI (some cameras append data) are allowed. An EOI inside an embedded
    EXIF thumbnail does not count: it lies before the first SOS. False means the file ends before
    that point; a stream that is malformed in other ways counts as complete and is left to the
    decoder to refuse.
    """
    pos = 2
    n = len(data)
    while True:
        while pos + 1 < n and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 2 > n:
            return False
        if data[pos] != 0xFF:
            # Garbage between segments: libjpeg skips to the next marker, so look for a scan.
            sos = data.find(b"\xff\xda", pos)
            return sos >= 0 and data.rfind(_JPEG_EOI) > sos
        marker = data[pos + 1]
        if marker == 0xD9:
            return True  # an image with no scan: complete, and for the decoder to refuse
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > n:
            return False
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker == _JPEG_SOS:
            return data.rfind(_JPEG_EOI) > pos + 2 + length
        pos += 2 + length


def _next_scan(data: bytes, pos: int) -> int | None:
    """Walk JPEG segments from ``pos``; the offset of the next SOS marker, or None (EOI, end)."""
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1  # fill byte
            continue
        if marker == 0xD9:
            return None
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker == _JPEG_SOS:
            return pos
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
    return None


def jpeg_bad_scan_marker(data: bytes) -> int | None:
    """The first impossible marker inside the compressed data, or None if there is none.

    In entropy-coded data a 0xFF byte is always followed by 0x00 (byte stuffing), a restart
    marker (0xD0–0xD7), another 0xFF (fill) or a real marker (0xC0–0xFE) that ends the scan
    (ITU-T T.81, B.1.1.5 and F.1.2.3). Anything in 0x01–0xBF means the data are corrupt: libjpeg
    only warns ("Corrupt JPEG data: extraneous bytes before marker") and decodes garbage. Only the
    scans are searched (segments are walked by their lengths, so an EXIF thumbnail, Huffman tables
    or data after EOI cannot trigger it). JPEG has no checksum: corruption that creates no such
    byte pair cannot be detected.
    """
    body = np.frombuffer(data, np.uint8)
    ff = np.flatnonzero(body[:-1] == 0xFF)
    following = body[ff + 1]
    ends_scan = (
        (following >= 0xC0) & (following != 0xFF) & ((following < 0xD0) | (following > 0xD7))
    )
    impossible = (following >= 0x01) & (following <= 0xBF)
    pos = _next_scan(data, 2)
    while pos is not None and pos + 4 <= len(data):
        (length,) = struct.unpack_from(">H", data, pos + 2)
        first = int(np.searchsorted(ff, pos + 2 + length))
        stops = np.flatnonzero(ends_scan[first:])
        last = first + int(stops[0]) if stops.size else ff.size
        bad = np.flatnonzero(impossible[first:last])
        if bad.size:
            return int(following[first + bad[0]])
        if not stops.size:
            return None
        pos = _next_scan(data, int(ff[last]))
    return None


def png_chunks(data: bytes) -> tuple[bool, bytes | None]:
    """Walk the chunks of a PNG.

    Returns
    -------
    complete : bool
        True when the chunk sequence reaches ``IEND`` inside the file.
    exif : bytes or None
        The payload of the ``eXIf`` chunk, wherever it lies (it may follow the image data).
    """
    pos = 8
    n = len(data)
    exif: bytes | None = None
    while pos + 12 <= n:
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > n:
            return False, exif
        if kind == b"IEND":
            return True, exif
        if kind == b"eXIf" and exif is None:
            exif = data[pos + 8 : pos + 8 + length]
        pos = end
    return False, exif


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, box_end)``; raise EOFError for a box past ``end``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise EOFError("box header cut off")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos  # runs to the end of the enclosing box
        if size < header:
            raise ValueError("malformed box size")
        if pos + size > end:
            raise EOFError("box runs past the end")
        yield kind, pos + header, pos + size
        pos += size
    if pos != end:
        raise EOFError("trailing partial box header")


def heif_complete(data: bytes) -> bool:
    """Whether every top-level box of an ISO base media file fits inside it."""
    try:
        for _ in _boxes(data, 0, len(data)):
            pass
    except EOFError:
        return False
    except (ValueError, struct.error):
        return True  # malformed rather than cut short; the decoder will say so
    return True


def heif_orientation(data: bytes) -> int:
    """The EXIF orientation equivalent to the primary item's ``irot``/``imir`` properties.

    libheif applies these transforms while decoding; this names what it applied. Returns 1
    when there are none or the boxes cannot be read.
    """
    try:
        return _heif_orientation(data)
    except (EOFError, ValueError, struct.error, IndexError):
        return 1


def _heif_orientation(data: bytes) -> int:
    meta = _child(data, 0, len(data), b"meta")
    if meta is None:
        return 1
    children = {kind: (start, end) for kind, start, end in _boxes(data, meta[0] + 4, meta[1])}
    if b"pitm" not in children or b"iprp" not in children:
        return 1
    pitm_start = children[b"pitm"][0]
    version = data[pitm_start]
    fmt = ">H" if version == 0 else ">I"
    (primary,) = struct.unpack_from(fmt, data, pitm_start + 4)
    iprp_start, iprp_end = children[b"iprp"]
    properties: list[tuple[bytes, int]] = []
    associations: list[int] = []
    for kind, start, end in _boxes(data, iprp_start, iprp_end):
        if kind == b"ipco":
            properties = [(k, s) for k, s, _ in _boxes(data, start, end)]
        elif kind == b"ipma":
            associations = _associations(data, start, primary) or associations
    steps: list[tuple[str, int]] = []
    for index in associations:
        if not 0 < index <= len(properties):
            continue
        kind, start = properties[index - 1]
        if kind == b"irot":
            steps.append(("rot", data[start] & 0x03))
        elif kind == b"imir":
            steps.append(("mirror", data[start] & 0x01))
    return orientation_of_transform(steps)


def _child(data: bytes, start: int, end: int, wanted: bytes) -> tuple[int, int] | None:
    for kind, box_start, box_end in _boxes(data, start, end):
        if kind == wanted:
            return box_start, box_end
    return None


def _associations(data: bytes, start: int, item: int) -> list[int]:
    """Property indices (1-based, in order) the ``ipma`` box gives to ``item``."""
    version = data[start]
    flags = int.from_bytes(data[start + 1 : start + 4], "big")
    (count,) = struct.unpack_from(">I", data, start + 4)
    pos = start + 8
    for _ in range(count):
        if version < 1:
            (item_id,) = struct.unpack_from(">H", data, pos)
            pos += 2
        else:
            (item_id,) = struct.unpack_from(">I", data, pos)
            pos += 4
        n = data[pos]
        pos += 1
        indices = []
        for _ in range(n):
            if flags & 1:
                (value,) = struct.unpack_from(">H", data, pos)
                pos += 2
                indices.append(value & 0x7FFF)
            else:
                indices.append(data[pos] & 0x7F)
                pos += 1
        if item_id == item:
            return indices
    return []
