"""The plain data of loading: :class:`Photo`, :class:`PhotoMetadata` and :class:`LoadLimits`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["FORMATS", "LoadLimits", "Photo", "PhotoMetadata", "Transfer"]

Transfer = Literal["srgb", "linear"]

#: The values :attr:`PhotoMetadata.format` takes.
FORMATS = ("JPEG", "PNG", "TIFF", "HEIF", "RAW", "DICOM", "ARRAY")

ExifValue = str | int | float


@dataclass(frozen=True)
class LoadLimits:
    """What :func:`~skinscan.io.load_photo` agrees to read.

    Both limits are checked before any pixel is decoded: the file size with ``stat`` before the
    file is read, the pixel count from the image header.

    Parameters
    ----------
    max_pixels : int
        Largest width × height accepted (default 100 megapixels).
    max_bytes : int
        Largest file accepted, in bytes (default 256 MiB).
    """

    max_pixels: int = 100_000_000
    max_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class PhotoMetadata:
    """Everything known about a photo apart from its pixels.

    Parameters
    ----------
    sha256 : str
        Hex SHA-256 of the file bytes (for arrays: of the array bytes as handed over).
    format : str
        One of ``"JPEG"``, ``"PNG"``, ``"TIFF"``, ``"HEIF"``, ``"RAW"``, ``"DICOM"``, ``"ARRAY"``;
        decided by the content, never by the file name.
    width, height : int
        Size of the upright image (after the orientation was applied).
    bit_depth : int
        8 or 16: the bits per channel of :attr:`Photo.pixels`.
    orientation : int
        The EXIF orientation (1–8) that was applied to make the pixels upright; 1 if none.
    file_size : int
        Bytes in the file (for arrays: bytes in the array).
    source_name : str or None
        The file name only, never its folders.
    exif : Mapping[str, str | int | float]
        EXIF tags by name, JSON-safe, *without* GPS and without ``Orientation`` (already applied,
        see ``orientation``). Image-structure tags (strip offsets and the like), maker notes and
        binary blobs are left out.
    gps : Mapping[str, str | int | float] or None
        The GPS tags, kept apart so that nothing downstream stores them by accident; latitudes and
        longitudes are decimal degrees (their ``Ref`` tags give the hemisphere). None when absent.
    icc_profile : bytes or None
        The embedded ICC profile, as found.
    """

    sha256: str
    format: str
    width: int
    height: int
    bit_depth: int
    orientation: int
    file_size: int
    source_name: str | None
    exif: Mapping[str, ExifValue]
    gps: Mapping[str, ExifValue] | None
    icc_profile: bytes | None

    def to_dict(self) -> dict[str, Any]:
        """The ``photo`` object of the ``skinscan.assessment/1`` JSON.

        Returns
        -------
        dict
            ``{"sha256": …, "width": …, "height": …, "format": …}``.
        """
        return {
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "format": self.format,
        }


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo: upright RGB pixels plus the metadata kept apart from them.

    Parameters
    ----------
    pixels : ndarray of shape (H, W, 3), uint8 or uint16
        C-contiguous, upright (orientation applied), RGB order. Read-only: a photo is a record of
        what was captured, and its ``sha256`` must keep describing it.
    transfer : {"srgb", "linear"}
        How the values encode light: ``"linear"`` for camera RAW decodes, ``"srgb"`` otherwise.
    meta : PhotoMetadata
        Hash, format, size and the EXIF/GPS/ICC metadata.

    Notes
    -----
    Equality is identity (arrays have no single truth value); compare ``meta.sha256`` or the
    pixels themselves.
    """

    pixels: np.ndarray
    transfer: Transfer
    meta: PhotoMetadata

    def __post_init__(self) -> None:
        pixels = self.pixels
        if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError("Photo.pixels must be an ndarray of shape (H, W, 3)")
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"Photo.pixels must be uint8 or uint16, not {pixels.dtype}")
        if self.transfer not in ("srgb", "linear"):
            raise ValueError(f"transfer must be 'srgb' or 'linear', not {self.transfer!r}")

    def to_float(self) -> np.ndarray:
        """The pixels as float32 in [0, 1], in the same encoding (``transfer``).

        Returns
        -------
        ndarray of shape (H, W, 3), float32
            ``pixels / 255`` or ``pixels / 65535``; a new array.

        Examples
        --------
        >>> import numpy as np
        >>> from skinscan.io import photo_from_array
        >>> photo_from_array(np.full((2, 2, 3), 255, np.uint8)).to_float().max()
        np.float32(1.0)
        """
        scale = np.float32(1.0 / np.iinfo(self.pixels.dtype).max)
        return np.multiply(self.pixels, scale, dtype=np.float32)
