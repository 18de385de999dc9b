"""Format sniffing from magic bytes, and photos made from in-memory arrays."""

from __future__ import annotations

import hashlib
import io

import io_samples
import numpy as np
import pytest
from PIL import Image

from skinscan.io import Photo, PhotoMetadata, photo_from_array, sniff_format


def test_sniff_every_supported_sample(samples: dict[str, bytes]) -> None:
    expected = {
        "photo.jpg": "JPEG",
        "photo.png": "PNG",
        "photo16.png": "PNG",
        "photo.tif": "TIFF",
        "photo_deflate.tif": "TIFF",
        "photo.heic": "HEIF",
        "photo.dng": "RAW",  # told from TIFF by its DNGVersion tag
        "photo.dcm": "DICOM",
        "photo_rle.dcm": "DICOM",
        "photo_jpeg.dcm": "DICOM",
    }
    for name, data in samples.items():
        assert sniff_format(data) == expected[name], name
        if name != "photo.dng":
            assert sniff_format(data[:132]) == expected[name], name


@pytest.mark.parametrize(("fmt", "name"), [("GIF", "GIF"), ("BMP", "BMP"), ("WEBP", "WEBP")])
def test_sniff_names_unsupported_images(fmt: str, name: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(io_samples.quadrants(8, 8)).save(buffer, fmt)
    assert sniff_format(buffer.getvalue()) == name


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "AVIF"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "HEIF"),
        (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom", "RAW"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", None),  # an MP4 video
        (b"II*\x00\x10\x00\x00\x00CR\x02\x00", "RAW"),  # Canon CR2
        (b"IIRO\x08\x00\x00\x00", "RAW"),  # Olympus ORF
        (b"FUJIFILMCCD-RAW 0201", "RAW"),
        (b"%PDF-1.7", None),
        (b"BM is not enough for a bitmap", None),
        (b"", None),
    ],
)
def test_sniff_magic(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_photo_from_array_keeps_integers(dtype: type) -> None:
    rgb = io_samples.noise(6, 9, dtype, seed=1)
    photo = photo_from_array(rgb)
    np.testing.assert_array_equal(photo.pixels, rgb)
    assert photo.meta.format == "ARRAY"
    assert photo.meta.bit_depth == np.dtype(dtype).itemsize * 8
    assert photo.meta.sha256 == hashlib.sha256(rgb.tobytes()).hexdigest()
    assert photo.meta.file_size == rgb.nbytes
    assert (photo.meta.width, photo.meta.height) == (9, 6)


def test_photo_from_array_copies_the_input() -> None:
    rgb = io_samples.noise(4, 4, seed=2)
    photo = photo_from_array(rgb)
    rgb[:] = 0
    assert photo.pixels.any()
    assert not photo.pixels.flags.writeable


def test_photo_from_array_float_becomes_16_bit() -> None:
    values = np.linspace(0, 1, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    photo = photo_from_array(values, transfer="linear")
    assert photo.pixels.dtype == np.uint16
    assert photo.transfer == "linear"
    np.testing.assert_allclose(photo.to_float(), values, atol=1 / 65535)


def test_photo_from_array_grey_and_non_contiguous() -> None:
    grey = io_samples.noise(5, 7, seed=3)[:, :, 0]
    photo = photo_from_array(grey)
    assert photo.pixels.shape == (5, 7, 3)
    view = io_samples.noise(10, 14, seed=4)[::2, ::2]
    from_view = photo_from_array(view)
    np.testing.assert_array_equal(from_view.pixels, view)
    assert from_view.pixels.flags.c_contiguous
    assert from_view.meta.sha256 == hashlib.sha256(np.ascontiguousarray(view).tobytes()).hexdigest()


def test_photo_from_array_refuses_unknown_transfer() -> None:
    with pytest.raises(ValueError, match="transfer"):
        photo_from_array(np.zeros((2, 2, 3), np.uint8), transfer="gamma22")


def test_photo_checks_its_own_contract() -> None:
    meta = photo_from_array(np.zeros((2, 2, 3), np.uint8)).meta
    with pytest.raises(ValueError, match="shape"):
        Photo(pixels=np.zeros((2, 2), np.uint8), transfer="srgb", meta=meta)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        Photo(pixels=np.zeros((2, 2, 3), np.float32), transfer="srgb", meta=meta)
    assert isinstance(meta, PhotoMetadata)
