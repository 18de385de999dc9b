"""Fixtures for the photo-loading tests: one small sample file of every supported format."""

from __future__ import annotations

import io_samples
import numpy as np
import pytest


@pytest.fixture(scope="session")
def samples() -> dict[str, bytes]:
    """Small valid files by name (the extension is the format's usual one)."""
    rgb = io_samples.noise(24, 32, seed=3)
    scene = np.full((32, 48, 3), 0.25)
    scene[:16] = (0.6, 0.2, 0.1)
    return {
        "photo.jpg": io_samples.jpeg(io_samples.smooth(48, 64), exif=io_samples.exif_block(6)),
        "photo.png": io_samples.png(rgb),
        "photo16.png": io_samples.png(io_samples.noise(24, 32, np.uint16, seed=4)),
        "photo.tif": io_samples.tiff(rgb, orientation=3),
        "photo_deflate.tif": io_samples.tiff(rgb, compression="zlib"),
        "photo.heic": io_samples.heic(io_samples.smooth(48, 64), orientation=6),
        "photo.dng": io_samples.dng(scene, orientation=8),
        "photo.dcm": io_samples.dicom(rgb),
        "photo_rle.dcm": io_samples.dicom(rgb, rle=True),
        "photo_jpeg.dcm": io_samples.dicom_jpeg(io_samples.smooth(48, 64)),
    }
