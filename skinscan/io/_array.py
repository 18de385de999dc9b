"""``photo_from_array``: wrap an in-memory RGB (or grey) array as a :class:`Photo`."""

from __future__ import annotations

import hashlib
from types import MappingProxyType
from typing import Any

import numpy as np

from skinscan.errors import PhotoInputError

from ._common import finish_pixels
from ._types import Photo, PhotoMetadata

__all__ = ["photo_from_array"]


def photo_from_array(rgb: np.ndarray, *, transfer: str = "srgb") -> Photo:
    """Make a :class:`Photo` from an array already in memory.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) or (H, W)
        uint8, uint16, or float in [0, 1] (floats are stored as uint16, rounded). A 2-D array is
        grey and is replicated to three channels. The array is copied; later changes to it do
        not reach the photo.
    transfer : {"srgb", "linear"}
        How the values encode light.

    Returns
    -------
    Photo
        ``meta.format`` is ``"ARRAY"``, ``meta.sha256`` the hash of the array's bytes (C order,
        as handed over), ``meta.file_size`` their count; orientation 1, no EXIF, GPS or ICC.

    Raises
    ------
    PhotoInputError
        ``bad_array`` for any other shape or dtype, an empty array, or floats that are not finite
        or fall outside [0, 1].
    ValueError
        When ``transfer`` is neither ``"srgb"`` nor ``"linear"``.

    Examples
    --------
    >>> import numpy as np
    >>> photo = photo_from_array(np.zeros((4, 6), np.uint8))
    >>> photo.pixels.shape, photo.meta.format
    ((4, 6, 3), 'ARRAY')
    """
    if transfer not in ("srgb", "linear"):
        raise ValueError(f"transfer must be 'srgb' or 'linear', not {transfer!r}")
    array = _validated(rgb)
    contiguous = np.ascontiguousarray(array)
    digest = hashlib.sha256(contiguous.data).hexdigest()
    if array.dtype.kind == "f":
        scaled = np.multiply(array, np.float32(65535.0), dtype=np.float32)
        pixels = np.rint(scaled, out=scaled).astype(np.uint16)
    else:
        pixels = np.array(array, dtype=np.uint8 if array.dtype.itemsize == 1 else np.uint16)
    pixels = finish_pixels(pixels)
    height, width = pixels.shape[:2]
    meta = PhotoMetadata(
        sha256=digest,
        format="ARRAY",
        width=int(width),
        height=int(height),
        bit_depth=8 if pixels.dtype == np.uint8 else 16,
        orientation=1,
        file_size=int(contiguous.nbytes),
        source_name=None,
        exif=MappingProxyType({}),
        gps=None,
        icc_profile=None,
    )
    return Photo(pixels=pixels, transfer="linear" if transfer == "linear" else "srgb", meta=meta)


def _validated(rgb: Any) -> np.ndarray:
    if not isinstance(rgb, np.ndarray):
        raise PhotoInputError("bad_array", f"expected a numpy array, not {type(rgb).__name__}")
    if rgb.ndim not in (2, 3) or (rgb.ndim == 3 and rgb.shape[2] != 3):
        raise PhotoInputError(
            "bad_array", f"expected shape (H, W, 3) or (H, W), not {tuple(rgb.shape)}"
        )
    if rgb.size == 0:
        raise PhotoInputError("bad_array", f"the array is empty (shape {tuple(rgb.shape)})")
    kind, size = rgb.dtype.kind, rgb.dtype.itemsize
    if kind == "u" and size in (1, 2):
        return rgb
    if kind == "f":
        if not np.all(np.isfinite(rgb)):
            raise PhotoInputError("bad_array", "the array holds NaN or infinite values")
        low, high = float(rgb.min()), float(rgb.max())
        if low < 0.0 or high > 1.0:
            raise PhotoInputError(
                "bad_array", f"float values must lie in [0, 1]; found [{low:g}, {high:g}]"
            )
        return rgb
    raise PhotoInputError(
        "bad_array", f"expected uint8, uint16 or float in [0, 1], not {rgb.dtype}"
    )
