"""Every supported format decodes, with real codecs, to the pixels that were written."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import io_samples
import numpy as np
import pytest
from PIL import Image
from pydicom.pixels import convert_color_space

from skinscan.io import Photo, load_photo


def _mean_abs_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


def _check_contract(photo: Photo, fmt: str, dtype: type) -> None:
    pixels = photo.pixels
    assert pixels.ndim == 3
    assert pixels.shape[2] == 3
    assert pixels.dtype == dtype
    assert pixels.flags.c_contiguous
    assert not pixels.flags.writeable
    assert photo.meta.format == fmt
    assert (photo.meta.height, photo.meta.width) == pixels.shape[:2]
    assert photo.meta.bit_depth == (8 if dtype == np.uint8 else 16)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("size", [(1, 1), (17, 23), (64, 48)])
def test_png_round_trip_is_exact(dtype: type, size: tuple[int, int]) -> None:
    rgb = io_samples.noise(*size, dtype, seed=size[0])
    photo = load_photo(io_samples.png(rgb))
    _check_contract(photo, "PNG", dtype)
    np.testing.assert_array_equal(photo.pixels, rgb)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_round_trip_is_exact(dtype: type, compression: str | None) -> None:
    rgb = io_samples.noise(21, 34, dtype, seed=7)
    photo = load_photo(io_samples.tiff(rgb, compression=compression))
    _check_contract(photo, "TIFF", dtype)
    np.testing.assert_array_equal(photo.pixels, rgb)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_lzw_tiff_from_opencv_is_exact(dtype: type) -> None:
    rgb = io_samples.noise(19, 30, dtype, seed=8)
    ok, encoded = cv2.imencode(".tiff", np.ascontiguousarray(rgb[:, :, ::-1]))  # LZW by default
    assert ok
    photo = load_photo(encoded.tobytes())
    np.testing.assert_array_equal(photo.pixels, rgb)


@pytest.mark.parametrize("compression", ["tiff_lzw", "packbits", "tiff_adobe_deflate", "jpeg"])
def test_8_bit_tiff_from_pillow_decodes(compression: str) -> None:
    rgb = io_samples.smooth(40, 52)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "TIFF", compression=compression)
    photo = load_photo(buffer.getvalue(), name="scan.tiff")
    if compression == "jpeg":
        assert _mean_abs_error(photo.pixels, rgb) < 2.5
    else:
        np.testing.assert_array_equal(photo.pixels, rgb)


def test_grey_images_become_three_equal_channels() -> None:
    grey8 = io_samples.noise(20, 30, seed=1)[:, :, 0]
    grey16 = io_samples.noise(20, 30, np.uint16, seed=2)[:, :, 0]
    for data, expected in [
        (io_samples.png(grey8), grey8),
        (io_samples.png(grey16), grey16),
        (io_samples.tiff(grey8), grey8),
        (io_samples.tiff(grey16, compression="zlib"), grey16),
    ]:
        photo = load_photo(data)
        assert photo.pixels.dtype == expected.dtype
        for channel in range(3):
            np.testing.assert_array_equal(photo.pixels[:, :, channel], expected)


def test_alpha_is_dropped_and_palette_expanded() -> None:
    rgba = np.dstack([io_samples.noise(16, 16, seed=5), np.full((16, 16), 7, np.uint8)])
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG")
    np.testing.assert_array_equal(load_photo(buffer.getvalue()).pixels, rgba[:, :, :3])

    palette = Image.fromarray(io_samples.quadrants(16, 16)).convert("P")
    buffer = io.BytesIO()
    palette.save(buffer, "PNG")
    expected = np.asarray(palette.convert("RGB"))
    np.testing.assert_array_equal(load_photo(buffer.getvalue()).pixels, expected)


@pytest.mark.parametrize("quality", [75, 95])
def test_jpeg_is_close(quality: int) -> None:
    rgb = io_samples.smooth()
    photo = load_photo(io_samples.jpeg(rgb, quality=quality))
    _check_contract(photo, "JPEG", np.uint8)
    assert _mean_abs_error(photo.pixels, rgb) < 2.5
    assert photo.transfer == "srgb"


def test_heic_8_bit_is_close() -> None:
    rgb = io_samples.smooth()
    photo = load_photo(io_samples.heic(rgb), name="IMG_0001.HEIC")
    _check_contract(photo, "HEIF", np.uint8)
    assert _mean_abs_error(photo.pixels, rgb) < 3.0


def test_heic_10_bit_comes_back_as_16_bit() -> None:
    rgb16 = io_samples.smooth().astype(np.uint16) * 257
    photo = load_photo(io_samples.heic(rgb16))
    _check_contract(photo, "HEIF", np.uint16)
    assert _mean_abs_error(photo.pixels, rgb16) < 3.0 * 257


def test_dicom_rgb_and_rle_are_exact() -> None:
    rgb = io_samples.noise(30, 40, seed=9)
    for data in (io_samples.dicom(rgb), io_samples.dicom(rgb, rle=True)):
        photo = load_photo(data, name="image.dcm")
        _check_contract(photo, "DICOM", np.uint8)
        np.testing.assert_array_equal(photo.pixels, rgb)
        assert photo.meta.exif == {}
        assert photo.meta.gps is None


def test_dicom_jpeg_baseline_is_close() -> None:
    rgb = io_samples.smooth(48, 64)
    photo = load_photo(io_samples.dicom_jpeg(rgb))
    _check_contract(photo, "DICOM", np.uint8)
    assert _mean_abs_error(photo.pixels, rgb) < 2.5


def test_dicom_ybr_full_is_converted_to_rgb() -> None:
    rgb = io_samples.smooth(30, 40)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    photo = load_photo(io_samples.dicom(ybr, photometric="YBR_FULL"))
    assert np.abs(photo.pixels.astype(int) - rgb).max() <= 2


def test_dicom_monochrome_is_replicated_and_scaled() -> None:
    grey = io_samples.noise(12, 14, seed=10)[:, :, 0]
    photo = load_photo(io_samples.dicom(grey, photometric="MONOCHROME2"))
    np.testing.assert_array_equal(photo.pixels, np.dstack([grey] * 3))

    inverted = load_photo(io_samples.dicom(grey, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(inverted.pixels[:, :, 0], 255 - grey)

    twelve_bit = (grey.astype(np.uint16) * 16).astype(np.uint16)  # 0..4080 of 4095
    photo16 = load_photo(io_samples.dicom(twelve_bit, photometric="MONOCHROME2", bits_stored=12))
    assert photo16.pixels.dtype == np.uint16
    expected = np.round(twelve_bit.astype(np.float64) * 65535 / 4095)
    np.testing.assert_allclose(photo16.pixels[:, :, 1], expected, atol=1)


def test_dng_is_demosaiced_by_libraw_to_linear_srgb() -> None:
    scene = np.empty((64, 96, 3))
    scene[:, :48] = (0.6, 0.2, 0.1)
    scene[:, 48:] = (0.1, 0.3, 0.7)
    photo = load_photo(io_samples.dng(scene), name="capture.DNG")
    _check_contract(photo, "RAW", np.uint16)
    assert photo.transfer == "linear"
    assert photo.meta.exif["Make"] == "skinscan"
    # Flat interiors come back as the scene, in linear light (LibRaw rounds through 12 bits).
    left = photo.pixels[8:-8, 8:40].reshape(-1, 3).mean(axis=0) / 65535
    right = photo.pixels[8:-8, 56:-8].reshape(-1, 3).mean(axis=0) / 65535
    np.testing.assert_allclose(left, (0.6, 0.2, 0.1), atol=0.01)
    np.testing.assert_allclose(right, (0.1, 0.3, 0.7), atol=0.01)


def test_sha256_is_of_the_file_bytes(tmp_path: Path, samples: dict[str, bytes]) -> None:
    for name, data in samples.items():
        path = tmp_path / name
        path.write_bytes(data)
        from_path = load_photo(path)
        from_bytes = load_photo(data)
        assert from_path.meta.sha256 == hashlib.sha256(data).hexdigest()
        assert from_bytes.meta.sha256 == from_path.meta.sha256
        assert from_path.meta.file_size == len(data)
        assert from_path.meta.source_name == name
        assert from_bytes.meta.source_name is None


def test_source_name_never_carries_folders(tmp_path: Path, samples: dict[str, bytes]) -> None:
    folder = tmp_path / "patients" / "jane-doe"
    folder.mkdir(parents=True)
    path = folder / "visit.png"
    path.write_bytes(samples["photo.png"])
    assert load_photo(str(path)).meta.source_name == "visit.png"
    upload = load_photo(samples["photo.png"], name="C:\\Users\\jane\\visit 2.png")
    assert upload.meta.source_name == "visit 2.png"


def test_to_dict_is_the_photo_object_of_the_json(samples: dict[str, bytes]) -> None:
    photo = load_photo(samples["photo.jpg"])
    assert photo.meta.to_dict() == {
        "sha256": hashlib.sha256(samples["photo.jpg"]).hexdigest(),
        "width": 48,  # stored 64×48 with orientation 6: upright it is 48 wide
        "height": 64,
        "format": "JPEG",
    }


def test_to_float_is_unit_range_in_the_same_encoding() -> None:
    rgb16 = io_samples.noise(8, 9, np.uint16, seed=11)
    photo = load_photo(io_samples.png(rgb16))
    values = photo.to_float()
    assert values.dtype == np.float32
    assert values.shape == rgb16.shape
    np.testing.assert_allclose(values, rgb16 / 65535, rtol=1e-6)
    assert values.min() >= 0.0
    assert values.max() <= 1.0
