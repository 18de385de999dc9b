"""Decide an image's format from its first bytes, and check the file name agrees.

The content decides, never the extension: a PNG renamed ``.jpg`` is refused
(``extension_mismatch``) rather than guessed at, because a wrong extension is a sign of a mix-up
upstream (the wrong file, or a converter that did not convert).
"""

from __future__ import annotations

import struct

from ._tiff import TAG_DNG_VERSION, read_ifd0

__all__ = [
    "RAW_EXTENSIONS",
    "SUPPORTED",
    "extension_format",
    "sniff_format",
]

#: Formats :func:`~skinscan.io.load_photo` decodes.
SUPPORTED = frozenset({"JPEG", "PNG", "TIFF", "HEIF", "RAW", "DICOM"})

#: Camera raw extensions; files with TIFF magic and one of these go to LibRaw.
RAW_EXTENSIONS = frozenset(
    {
        ".3fr", ".ari", ".arw", ".bay", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff",
        ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf",
        ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
    }
)  # fmt: skip

_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys((".jpg", ".jpeg", ".jpe", ".jfif", ".jfi"), "JPEG"),
    ".png": "PNG",
    **dict.fromkeys((".tif", ".tiff"), "TIFF"),
    **dict.fromkeys((".heic", ".heif", ".hif", ".heics", ".heifs"), "HEIF"),
    **dict.fromkeys(RAW_EXTENSIONS, "RAW"),
    **dict.fromkeys((".dcm", ".dicom", ".dic"), "DICOM"),
    # known image formats that are not supported; named so that a mismatch is still caught
    ".gif": "GIF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".avif": "AVIF",
    **dict.fromkeys((".jp2", ".j2k", ".jpf", ".jpx"), "JPEG2000"),
    ".jxl": "JPEGXL",
    ".psd": "PSD",
}

# ISO base media file brands (ISO/IEC 23008-12 and 14496-12 registrations).
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_BMP_HEADER_SIZES = frozenset(struct.pack("<I", n) for n in (12, 40, 52, 56, 64, 108, 124))


def extension_format(name: str | None) -> str | None:
    """The format a file name's extension announces, or None when unknown or absent."""
    if not name:
        return None
    dot = name.rfind(".")
    return _EXTENSIONS.get(name[dot:].lower()) if dot > 0 else None


def extension_of(name: str | None) -> str:
    """The lower-case extension of ``name`` with its dot, or ``""``."""
    if not name:
        return ""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def sniff_format(head: bytes) -> str | None:
    """Name the image format from magic bytes.

    Parameters
    ----------
    head : bytes
        The start of the file. 132 bytes identify every format (DICOM's marker sits at offset
        128); pass the whole file to tell a DNG from a plain TIFF when its first IFD lies further
        in.

    Returns
    -------
    str or None
        ``"JPEG"``, ``"PNG"``, ``"TIFF"``, ``"HEIF"``, ``"RAW"`` or ``"DICOM"`` for the formats
        that load; ``"GIF"``, ``"BMP"``, ``"WEBP"``, ``"AVIF"``, ``"JPEG2000"``, ``"JPEGXL"`` or
        ``"PSD"`` for images that do not; None when the bytes are not a known image.

    Notes
    -----
    TIFF-based raws are ``"RAW"`` when recognisable from the content alone (a DNGVersion tag in
    the first IFD, Canon's ``CR`` marker); other TIFF-based raws (NEF, ARW, PEF…) read as
    ``"TIFF"`` and are routed to LibRaw by their extension.

    Examples
    --------
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
    'PNG'
    >>> sniff_format(b"hello") is None
    True
    """
    if not isinstance(head, bytes):
        head = bytes(head)
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "DICOM"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_kind(head)
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR") or head[:4] == b"IIU\x00":
        return "RAW"  # Olympus ORF, Panasonic RW2: TIFF variants with their own magic
    if head[:16] == b"FUJIFILMCCD-RAW " or head[:4] in (b"FOVb", b"\x00MRM"):
        return "RAW"  # Fujifilm RAF, Sigma X3F, Minolta MRW
    if head[:2] == b"II" and head[6:14] == b"HEAPCCDR":
        return "RAW"  # Canon CRW
    if head[4:8] == b"ftyp":
        return _ftyp_kind(head)
    return _other_kind(head)


def _tiff_kind(head: bytes) -> str:
    if head[:2] == b"II" and head[8:10] == b"CR":
        return "RAW"  # Canon CR2
    ifd = read_ifd0(head)
    if ifd is not None and TAG_DNG_VERSION in ifd:
        return "RAW"
    return "TIFF"


def _ftyp_kind(head: bytes) -> str | None:
    try:
        (box_size,) = struct.unpack(">I", head[:4])
    except struct.error:
        return None
    box_end = min(box_size if box_size >= 16 else 16, len(head), 4096)
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    brands = {major} | compatible
    if b"crx " in brands:
        return "RAW"  # Canon CR3
    if major in _AVIF_BRANDS:
        return "AVIF"
    if brands & _HEIF_BRANDS:
        return "HEIF"
    if brands & _AVIF_BRANDS:
        return "AVIF"
    if brands & _GENERIC_HEIF_BRANDS:
        return "HEIF"
    if major in (b"jxl ",):
        return "JPEGXL"
    if major in (b"jp2 ", b"jpx "):
        return "JPEG2000"
    return None


def _other_kind(head: bytes) -> str | None:
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM" and head[6:10] == bytes(4) and head[14:18] in _BMP_HEADER_SIZES:
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or head[:4] == b"\xff\x4f\xff\x51":
        return "JPEG2000"
    if head[:2] == b"\xff\x0a" or head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return "JPEGXL"
    if head[:4] == b"8BPS":
        return "PSD"
    return None
