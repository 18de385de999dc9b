"""All eight EXIF orientations come out upright, whichever component applies them."""

from __future__ import annotations

import io_samples
import numpy as np
import pytest

from skinscan.io import load_photo
from skinscan.io._orientation import upright_copy, upright_view

ORIENTATIONS = list(range(1, 9))


def _quadrant_means(pixels: np.ndarray) -> np.ndarray:
    """Mean colour of the centre of each quadrant (away from the codec's edges)."""
    h, w = pixels.shape[:2]
    centres = [
        (h // 4, w // 4),
        (h // 4, 3 * w // 4),
        (3 * h // 4, w // 4),
        (3 * h // 4, 3 * w // 4),
    ]
    dy, dx = max(h // 10, 1), max(w // 10, 1)
    return np.array(
        [pixels[y - dy : y + dy, x - dx : x + dx].reshape(-1, 3).mean(axis=0) for y, x in centres]
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_reference_agrees_with_pillow(dtype: type) -> None:
    """The test's truth (Pillow's transposes), the loader's views and its OpenCV path agree."""
    for shape in [(1, 1), (1, 5), (5, 1), (5, 7)]:
        image = io_samples.noise(*shape, dtype, seed=1)
        for orientation in ORIENTATIONS:
            truth = io_samples.upright_truth(orientation, image)
            np.testing.assert_array_equal(upright_view(image, orientation), truth)
            copied = upright_copy(image, orientation)
            np.testing.assert_array_equal(copied, truth)
            assert copied.flags.c_contiguous
        stored = io_samples.stored_for(orientation, image)
        np.testing.assert_array_equal(upright_view(stored, orientation), image)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_png_exif_orientation_is_applied_exactly(orientation: int) -> None:
    upright = io_samples.noise(18, 26, seed=orientation)
    stored = io_samples.stored_for(orientation, upright)
    photo = load_photo(io_samples.png(stored, exif=io_samples.exif_block(orientation)))
    np.testing.assert_array_equal(photo.pixels, upright)
    assert photo.meta.orientation == orientation
    assert "Orientation" not in photo.meta.exif  # applied; not to be applied again downstream
    assert photo.pixels.flags.c_contiguous


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_jpeg_exif_orientation_is_applied(orientation: int) -> None:
    upright = io_samples.quadrants(64, 96)
    stored = io_samples.stored_for(orientation, upright)
    photo = load_photo(io_samples.jpeg(stored, exif=io_samples.exif_block(orientation)))
    assert photo.pixels.shape == upright.shape
    np.testing.assert_allclose(_quadrant_means(photo.pixels), _quadrant_means(upright), atol=6)
    assert photo.meta.orientation == orientation
    assert (photo.meta.width, photo.meta.height) == (96, 64)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_tiff_orientation_tag_is_applied_exactly(orientation: int, dtype: type) -> None:
    upright = io_samples.noise(14, 22, dtype, seed=orientation)
    stored = io_samples.stored_for(orientation, upright)
    for compression in (None, "zlib"):  # tifffile's path and OpenCV's path
        photo = load_photo(
            io_samples.tiff(stored, orientation=orientation, compression=compression)
        )
        np.testing.assert_array_equal(photo.pixels, upright)
        assert photo.meta.orientation == orientation


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_heic_container_transforms_are_applied_once(orientation: int) -> None:
    upright = io_samples.quadrants(64, 96)
    stored = io_samples.stored_for(orientation, upright)
    photo = load_photo(io_samples.heic(stored, orientation=orientation))
    assert photo.pixels.shape == upright.shape
    np.testing.assert_allclose(_quadrant_means(photo.pixels), _quadrant_means(upright), atol=6)
    assert photo.meta.orientation == orientation


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_dng_orientation_is_applied_by_libraw(orientation: int) -> None:
    upright = io_samples.quadrants(64, 96).astype(np.float64) / 255
    stored = io_samples.stored_for(orientation, upright)
    photo = load_photo(io_samples.dng(stored, orientation=orientation))
    assert photo.pixels.shape == upright.shape
    got = _quadrant_means(photo.pixels) / 65535
    np.testing.assert_allclose(got, _quadrant_means(upright), atol=0.02)
    assert photo.meta.orientation == orientation


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_pillow_fallback_applies_orientation_once(
    orientation: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When OpenCV refuses a file, Pillow decodes it; the orientation is still applied once."""
    monkeypatch.setattr("skinscan.io._raster._cv_decode", lambda *args: None)
    upright = io_samples.noise(14, 22, seed=orientation)
    stored = io_samples.stored_for(orientation, upright)
    for data in (
        io_samples.tiff(stored, orientation=orientation, compression="zlib"),
        io_samples.png(stored, exif=io_samples.exif_block(orientation)),
    ):
        photo = load_photo(data)
        np.testing.assert_array_equal(photo.pixels, upright)
        assert photo.meta.orientation == orientation
