"""Photo loading: any supported file in, upright RGB pixels and separate metadata out.

``load_photo`` reads JPEG, PNG, TIFF (8/16 bit), HEIC/HEIF, camera RAW/DNG and DICOM photographs.
The format is decided by the content, limits are checked before decoding, EXIF orientation is
applied, and metadata (EXIF, GPS, ICC) is kept apart from the pixels so that stored copies
(``encode_clean``) carry none of it. Every unusable input raises
:class:`skinscan.errors.PhotoInputError` with a machine ``code``.

Examples
--------
>>> from skinscan.io import load_photo, encode_clean
>>> photo = load_photo("visit.heic")  # doctest: +SKIP
>>> photo.pixels.shape, photo.transfer, photo.meta.orientation  # doctest: +SKIP
((3024, 4032, 3), 'srgb', 6)
>>> png_bytes = encode_clean(photo)  # doctest: +SKIP
"""

from __future__ import annotations

from ._array import photo_from_array
from ._atomic import write_atomic
from ._encode import encode_clean
from ._load import load_photo
from ._sniff import sniff_format
from ._types import LoadLimits, Photo, PhotoMetadata

__all__ = [
    "LoadLimits",
    "Photo",
    "PhotoMetadata",
    "encode_clean",
    "load_photo",
    "photo_from_array",
    "sniff_format",
    "write_atomic",
]
