"""Damaged input of every kind ends in a PhotoInputError or a valid Photo — never anything else."""

from __future__ import annotations

import numpy as np
import pytest

from skinscan.errors import PhotoInputError
from skinscan.io import Photo, load_photo

# Damaged files make Pillow and pydicom warn as they read them; the outcome is what is tested.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CODES = {
    "not_found",
    "empty",
    "truncated",
    "not_an_image",
    "unsupported_format",
    "extension_mismatch",
    "too_many_pixels",
    "file_too_large",
    "decode_failed",
}
MAGICS = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"\x00\x00\x00\x18ftypheic",
    b"\x00\x00\x00\x18ftypmif1",
    b"\x00" * 128 + b"DICM",
    b"IIRO",
    b"FUJIFILMCCD-RAW ",
]


def _load_or_refuse(data: bytes, name: str | None = None) -> str:
    """Load; return ``"ok"`` or the error code, failing on anything else."""
    try:
        photo = load_photo(data, name=name)
    except PhotoInputError as exc:
        code = exc.code
    else:
        code = "ok"
    if code != "ok":
        assert code in CODES
        return code
    assert isinstance(photo, Photo)
    assert photo.pixels.ndim == 3
    assert photo.pixels.shape[2] == 3
    assert photo.pixels.dtype in (np.uint8, np.uint16)
    assert photo.pixels.flags.c_contiguous
    assert (photo.meta.height, photo.meta.width) == photo.pixels.shape[:2]
    return "ok"


def test_random_bytes() -> None:
    rng = np.random.default_rng(2024)
    for size in (1, 2, 7, 64, 500, 5000):
        for name in (None, "x.jpg", "x.png", "x.tif", "x.heic", "x.dng", "x.dcm"):
            data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            _load_or_refuse(data, name)


@pytest.mark.parametrize("magic", MAGICS, ids=lambda m: repr(m[:8]))
def test_random_bytes_behind_each_magic(magic: bytes) -> None:
    rng = np.random.default_rng(len(magic))
    for size in (0, 10, 200, 3000):
        for _ in range(3):
            tail = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            assert _load_or_refuse(magic + tail) != "ok" or size > 0


def test_every_sample_truncated_at_many_points(samples: dict[str, bytes]) -> None:
    for name, data in samples.items():
        assert _load_or_refuse(data, name) == "ok"
        cuts = sorted({1, 2, 4, 8, 16, 64, 128, 200, *np.linspace(1, len(data) - 1, 12, dtype=int)})
        for cut in cuts:
            code = _load_or_refuse(data[:cut], name)
            assert code != "ok", f"{name} cut at {cut}/{len(data)} loaded"


def test_bit_flips_and_byte_noise(samples: dict[str, bytes]) -> None:
    rng = np.random.default_rng(7)
    outcomes: dict[str, set[str]] = {}
    for name, data in samples.items():
        for trial in range(30):
            damaged = bytearray(data)
            for _ in range(int(rng.integers(1, 6))):
                position = int(rng.integers(len(damaged)))
                if trial % 2:
                    damaged[position] ^= 1 << int(rng.integers(8))
                else:
                    damaged[position] = int(rng.integers(256))
            outcomes.setdefault(name, set()).add(_load_or_refuse(bytes(damaged), name))
    assert all(outcomes.values())


def test_flips_in_headers(samples: dict[str, bytes]) -> None:
    """Headers are where sizes, offsets and counts live: flip every bit of the first bytes."""
    for name in ("photo.png", "photo.tif", "photo.jpg", "photo.dcm"):
        data = samples[name]
        for position in range(0, min(len(data), 160), 3):
            for bit in (0, 5, 7):
                damaged = bytearray(data)
                damaged[position] ^= 1 << bit
                _load_or_refuse(bytes(damaged), name)
