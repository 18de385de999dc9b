"""Image and mask files of the training sets, and seeded hash splits.

Masks are 8-bit grayscale PNGs. A binary mask may be stored as 0/255 (the usual) or 0/1; a pixel
is *on* when it reaches half of the file's full scale (≥ 128, or ≥ 1 for a 0/1 file), so a soft
map (a texture map used as a weak label) is binarised at half scale.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "hash_split",
    "hash_unit",
    "read_mask",
    "read_rgb",
    "write_mask_png",
    "write_rgb_png",
]


def _decode(path: Path, flags: int) -> NDArray[np.uint8]:
    # np.fromfile + imdecode reads any path the OS accepts (cv2.imread fails on some non-ASCII
    # names) and lets us say which file was unreadable.
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise OSError(f"cannot read {path}: {error.strerror or error}") from error
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise OSError(f"cannot decode {path}: not an image OpenCV reads")
    # Without IMREAD_ANYDEPTH OpenCV already returns 8 bits per channel.
    return np.asarray(image, dtype=np.uint8)


def read_rgb(path: str | Path) -> NDArray[np.uint8]:
    """An image file as ``ndarray of shape (H, W, 3), uint8`` sRGB (EXIF orientation applied)."""
    bgr = _decode(Path(path), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def read_mask(path: str | Path) -> NDArray[np.bool_]:
    """A mask file as ``ndarray of shape (H, W), bool``: on where it reaches half its full scale.

    A file whose largest value is 1 is read as a 0/1 mask; any other as 0-255.
    """
    gray = _decode(Path(path), cv2.IMREAD_GRAYSCALE)
    if gray.ndim == 3:
        gray = gray[..., 0]
    threshold = 1 if int(gray.max(initial=0)) <= 1 else 128
    return np.asarray(gray >= threshold)


def write_rgb_png(path: Path, rgb_u8: NDArray[np.uint8]) -> Path:
    """Write ``(H, W, 3) uint8`` sRGB as PNG (folders created); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path.name}")
    encoded.tofile(path)
    return path


def write_mask_png(path: Path, mask: NDArray[np.bool_]) -> Path:
    """Write a boolean ``(H, W)`` mask as an 8-bit PNG of 0/255 (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".png", np.where(mask, 255, 0).astype(np.uint8))
    if not ok:
        raise OSError(f"could not encode {path.name}")
    encoded.tofile(path)
    return path


def hash_unit(key: str, seed: int = 0) -> float:
    """A number in [0, 1) fixed by ``key`` and ``seed`` (SHA-256), the same on every machine."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def hash_split(key: str, *, seed: int = 0, val_fraction: float = 0.1) -> str:
    """``"val"`` for a seeded-hash share ``val_fraction`` of keys, ``"train"`` for the rest.

    A key's split never depends on which other keys exist, so adding samples leaves the split of
    the old ones unchanged.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1], not {val_fraction}")
    return "val" if hash_unit(key, seed) < val_fraction else "train"
