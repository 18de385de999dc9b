"""Metadata is kept apart from the pixels, and stored copies carry none of it."""

from __future__ import annotations

import io
import json

import io_samples
import numpy as np
import pytest
from PIL import Image

from skinscan.io import encode_clean, load_photo, photo_from_array

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="52,22.2N"/></rdf:RDF></x:xmpmeta>'
)


@pytest.fixture(scope="module")
def geotagged_jpeg() -> bytes:
    """A JPEG with EXIF (camera, exposure, GPS), XMP carrying GPS, and an ICC profile."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.fromarray(io_samples.smooth(48, 64)).save(
        out, "JPEG", quality=95, exif=io_samples.exif_block(gps=True), icc_profile=icc, xmp=XMP
    )
    return out.getvalue()


def test_exif_and_gps_are_separate_and_json_safe(geotagged_jpeg: bytes) -> None:
    meta = load_photo(geotagged_jpeg).meta
    assert meta.exif["Make"] == "Canon"
    assert meta.exif["Model"] == "EOS Test"
    assert meta.exif["ExposureTime"] == pytest.approx(1 / 125)
    assert not any(key.startswith("GPS") for key in meta.exif)
    assert meta.gps is not None
    assert meta.gps["GPSLatitudeRef"] == "N"
    assert meta.gps["GPSLatitude"] == pytest.approx(52 + 22 / 60 + 12 / 3600)
    assert meta.gps["GPSLongitude"] == pytest.approx(4 + 53 / 60 + 42 / 3600)
    json.dumps(dict(meta.exif))
    json.dumps(dict(meta.gps))
    assert meta.icc_profile is not None
    assert meta.icc_profile[36:40] == b"acsp"  # the ICC profile file signature


def test_no_gps_means_none() -> None:
    meta = load_photo(io_samples.jpeg(io_samples.smooth(), exif=io_samples.exif_block())).meta
    assert meta.gps is None
    assert meta.exif["Make"] == "Canon"


def test_metadata_is_read_only(geotagged_jpeg: bytes) -> None:
    photo = load_photo(geotagged_jpeg)
    with pytest.raises(TypeError):
        photo.meta.exif["Make"] = "changed"  # type: ignore[index]
    with pytest.raises(ValueError, match="read-only"):
        photo.pixels[0, 0, 0] = 0


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_encode_clean_writes_no_metadata(geotagged_jpeg: bytes, fmt: str) -> None:
    photo = load_photo(geotagged_jpeg)
    clean = encode_clean(photo, format=fmt)
    for marker in (b"Exif", b"GPS", b"xmpmeta", b"ICC_PROFILE", b"Canon", b"iCCP", b"eXIf"):
        assert marker not in clean
    reopened = Image.open(io.BytesIO(clean))
    assert reopened.format == fmt
    assert len(reopened.getexif()) == 0 or set(reopened.getexif()) <= _TIFF_STRUCTURE_TAGS
    assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp"} & set(reopened.info)
    assert reopened.size == (photo.meta.width, photo.meta.height)


# Tags any TIFF needs to describe its own pixels; none of them is capture metadata.
_TIFF_STRUCTURE_TAGS = {
    *(256, 257, 258, 259, 262, 273, 274, 277, 278, 279, 282, 283, 284, 296, 317),
    *(322, 323, 324, 325, 338, 339),
}


def test_encode_clean_png_keeps_pixels_and_bit_depth() -> None:
    for dtype in (np.uint8, np.uint16):
        rgb = io_samples.noise(20, 30, dtype, seed=3)
        photo = load_photo(io_samples.png(rgb, exif=None))
        again = load_photo(encode_clean(photo, format="PNG"))
        assert again.pixels.dtype == dtype
        np.testing.assert_array_equal(again.pixels, rgb)


def test_encode_clean_png_of_a_rotated_photo_is_upright_without_a_tag() -> None:
    upright = io_samples.noise(12, 20, seed=5)
    stored = io_samples.stored_for(6, upright)
    photo = load_photo(io_samples.png(stored, exif=io_samples.exif_block(6, gps=True)))
    again = load_photo(encode_clean(photo))
    np.testing.assert_array_equal(again.pixels, upright)
    assert again.meta.orientation == 1
    assert again.meta.gps is None


def test_encode_clean_tiff_16_bit_is_lossless() -> None:
    rgb = io_samples.noise(16, 24, np.uint16, seed=6)
    again = load_photo(encode_clean(photo_from_array(rgb), format="TIFF"))
    np.testing.assert_array_equal(again.pixels, rgb)


def test_encode_clean_jpeg_of_16_bit_is_8_bit_and_close() -> None:
    rgb16 = io_samples.smooth().astype(np.uint16) * 257
    again = load_photo(encode_clean(photo_from_array(rgb16), format="jpeg", quality=98))
    assert again.pixels.dtype == np.uint8
    assert np.abs(again.pixels.astype(int) - rgb16 // 257).mean() < 1.5


def test_encode_clean_refuses_bad_arguments() -> None:
    photo = photo_from_array(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="format"):
        encode_clean(photo, format="GIF")
    with pytest.raises(ValueError, match="quality"):
        encode_clean(photo, format="JPEG", quality=0)
