"""Each documented PhotoInputError code is produced by the input it describes."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import io_samples
import numpy as np
import pytest
from PIL import Image

from skinscan.errors import PhotoInputError
from skinscan.io import LoadLimits, load_photo, photo_from_array


def _code(source: str | os.PathLike[str] | bytes, **kwargs: Any) -> str:
    with pytest.raises(PhotoInputError) as info:
        load_photo(source, **kwargs)
    return info.value.code


def test_not_found(tmp_path: Path) -> None:
    assert _code(tmp_path / "missing.jpg") == "not_found"
    assert _code(str(tmp_path)) == "not_found"  # a folder is not a photo file


def test_not_found_message_names_the_file_only(tmp_path: Path) -> None:
    with pytest.raises(PhotoInputError) as info:
        load_photo(tmp_path / "secret-folder" / "missing.jpg")
    assert info.value.source == "missing.jpg"
    assert "secret-folder" not in str(info.value)


def test_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert _code(path) == "empty"
    assert _code(b"") == "empty"


def test_file_too_large_is_decided_by_stat_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sparse = tmp_path / "huge.jpg"
    with open(sparse, "wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # sparse: takes no disk and no time
    real_open = open

    def refuse_to_open(*args: Any, **kwargs: Any) -> Any:
        if str(args[0]) == str(sparse):
            raise AssertionError("the file was opened although stat said it is too large")
        return real_open(*args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse_to_open)
    assert _code(sparse) == "file_too_large"


def test_file_too_large_with_own_limit(samples: dict[str, bytes]) -> None:
    data = samples["photo.jpg"]
    assert _code(data, limits=LoadLimits(max_bytes=len(data) - 1)) == "file_too_large"
    assert load_photo(data, limits=LoadLimits(max_bytes=len(data))).meta.format == "JPEG"


@pytest.mark.parametrize(
    "content",
    [b"hello, this is text\n" * 10, b"%PDF-1.7\n" + bytes(200), bytes(1000), b"\x89PNG"],
)
def test_not_an_image(content: bytes, tmp_path: Path) -> None:
    assert _code(content) == "not_an_image"
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    assert _code(path) == "not_an_image"


@pytest.mark.parametrize(
    ("fmt", "extension"), [("GIF", ".gif"), ("BMP", ".bmp"), ("WEBP", ".webp")]
)
def test_unsupported_format(fmt: str, extension: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(io_samples.quadrants(8, 8)).save(buffer, fmt)
    assert _code(buffer.getvalue()) == "unsupported_format"
    assert _code(buffer.getvalue(), name="picture" + extension) == "unsupported_format"


def test_extension_mismatch(tmp_path: Path, samples: dict[str, bytes]) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(samples["photo.png"])
    assert _code(path) == "extension_mismatch"
    assert _code(samples["photo.jpg"], name="upload.png") == "extension_mismatch"
    assert _code(samples["photo.heic"], name="IMG_1.JPG") == "extension_mismatch"
    assert _code(samples["photo.dcm"], name="scan.tif") == "extension_mismatch"


def test_unknown_or_missing_extension_is_fine(tmp_path: Path, samples: dict[str, bytes]) -> None:
    for name in ("upload.bin", "no_extension", ".hidden", "photo.JPEG.tmp"):
        path = tmp_path / name
        path.write_bytes(samples["photo.png"])
        assert load_photo(path).meta.format == "PNG"


def test_extension_case_is_ignored(samples: dict[str, bytes]) -> None:
    assert load_photo(samples["photo.jpg"], name="IMG_0001.JPG").meta.format == "JPEG"
    assert load_photo(samples["photo.heic"], name="IMG_0001.HEIC").meta.format == "HEIF"


def test_dng_and_tiff_extensions_are_interchangeable(samples: dict[str, bytes]) -> None:
    assert load_photo(samples["photo.dng"], name="capture.tif").meta.format == "RAW"


def test_tiff_magic_with_a_raw_extension_goes_to_libraw(samples: dict[str, bytes]) -> None:
    # A plain RGB TIFF named like a Nikon raw is handed to LibRaw, which refuses it.
    assert _code(samples["photo.tif"], name="DSC_0001.NEF") == "unsupported_format"


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png", "photo.tif", "photo.heic"])
def test_too_many_pixels_from_the_header(
    name: str, samples: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded although the header is over the limit")

    monkeypatch.setattr("skinscan.io._raster.cv2.imdecode", no_decoding)
    monkeypatch.setattr("skinscan.io._raster._tiff_uncompressed", no_decoding)
    assert _code(samples[name], limits=LoadLimits(max_pixels=100)) == "too_many_pixels"


@pytest.mark.parametrize("name", ["photo.dng", "photo.dcm", "photo_rle.dcm"])
def test_too_many_pixels_for_raw_and_dicom(name: str, samples: dict[str, bytes]) -> None:
    assert _code(samples[name], limits=LoadLimits(max_pixels=100)) == "too_many_pixels"


def test_truncated_jpeg(samples: dict[str, bytes]) -> None:
    data = samples["photo.jpg"]
    assert _code(data[: len(data) // 2]) == "truncated"
    assert _code(data[:-2]) == "truncated"  # only the End Of Image marker missing
    assert _code(data[:40]) == "truncated"  # inside the headers
    assert load_photo(data + b"\x00" * 100).meta.format == "JPEG"  # padding after EOI is fine


@pytest.mark.parametrize(
    "name", ["photo.png", "photo16.png", "photo.tif", "photo.heic", "photo.dng", "photo.dcm"]
)
def test_truncated_other_formats(name: str, samples: dict[str, bytes]) -> None:
    data = samples[name]
    assert _code(data[: len(data) // 2]) == "truncated"
    assert _code(data[: len(data) - 7]) == "truncated"


def test_decode_failed_for_corrupt_image_data() -> None:
    # A structurally complete PNG whose compressed data is not zlib.
    rgb = io_samples.noise(8, 8, seed=1)
    data = bytearray(io_samples.png(rgb))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    data[idat + 4 : idat + 4 + length] = (bytes(range(256)) * (length // 256 + 1))[:length]
    crc = zlib.crc32(bytes(data[idat : idat + 4 + length])) & 0xFFFFFFFF
    data[idat + 4 + length : idat + 8 + length] = struct.pack(">I", crc)
    assert _code(bytes(data)) == "decode_failed"


def _jpeg(rgb: np.ndarray, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def test_corrupt_jpeg_scan_is_refused_not_decoded_as_garbage() -> None:
    data = bytearray(_jpeg(io_samples.noise(64, 96, seed=5), quality=90))
    scan = data.find(b"\xff\xda")
    data[scan + 200 : scan + 202] = b"\xff\x44"  # an impossible marker inside the scan
    with pytest.raises(PhotoInputError) as info:
        load_photo(bytes(data))
    assert info.value.code == "decode_failed"
    assert "0x44" in info.value.message


@pytest.mark.parametrize("progressive", [False, True])
def test_valid_jpeg_layouts_are_not_mistaken_for_corruption(progressive: bool) -> None:
    # An EXIF block with an embedded thumbnail (whose own scan lies in APP1), Huffman tables
    # between progressive scans, and bytes after EOI all hold 0xFF xx pairs outside the scans.
    rgb = io_samples.noise(64, 96, seed=6)
    exif = Image.Exif()
    exif[0x010F] = "camera\xff\x12maker"
    data = _jpeg(rgb, exif=exif, progressive=progressive, optimize=True)
    data += b"\xff\x12 trailing bytes a camera appended"
    assert load_photo(data).pixels.shape == (64, 96, 3)


def test_decode_failed_for_a_zero_sized_header() -> None:
    data = bytearray(io_samples.png(io_samples.noise(4, 4)))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 8] = bytes(4)  # width 0
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    assert _code(bytes(data)) == "decode_failed"


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4, 4), np.uint8),  # RGBA
        np.zeros((4, 4, 1), np.uint8),
        np.zeros((4,), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros((4, 4, 3), np.int64),
        np.zeros((4, 4, 3), bool),
        np.full((4, 4, 3), 1.5, np.float32),
        np.full((4, 4, 3), -0.1, np.float64),
        np.full((4, 4, 3), np.nan, np.float32),
    ],
    ids=["rgba", "one-channel", "1d", "empty", "int64", "bool", "above-1", "negative", "nan"],
)
def test_bad_array(array: np.ndarray) -> None:
    with pytest.raises(PhotoInputError) as info:
        photo_from_array(array)
    assert info.value.code == "bad_array"


def test_bad_array_for_non_arrays() -> None:
    with pytest.raises(PhotoInputError) as info:
        photo_from_array([[1, 2, 3]])  # type: ignore[arg-type]
    assert info.value.code == "bad_array"


def test_errors_carry_the_file_name_and_one_line(tmp_path: Path, samples: dict[str, bytes]) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(samples["photo.jpg"][:300])
    with pytest.raises(PhotoInputError) as info:
        load_photo(path)
    assert info.value.source == "cut.jpg"
    assert "\n" not in info.value.one_line()
    assert str(info.value).startswith("cut.jpg: ")


def test_non_path_sources_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        load_photo(np.zeros((4, 4, 3), np.uint8))  # type: ignore[arg-type]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_not_found(tmp_path: Path, samples: dict[str, bytes]) -> None:
    path = tmp_path / "locked.png"
    path.write_bytes(samples["photo.png"])
    path.chmod(0)
    assert _code(path) == "not_found"
