"""Shared fixtures: real face photos that installed packages ship, written as real files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray


def _write_jpeg(path: Path, rgb: NDArray[np.uint8], quality: int = 95) -> Path:
    ok = cv2.imwrite(
        str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return path


@pytest.fixture(scope="session")
def astronaut() -> NDArray[np.uint8]:
    """scikit-image's astronaut (Eileen Collins, NASA, public domain): 512×512 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def grace_hopper() -> NDArray[np.uint8]:
    """matplotlib's Grace Hopper portrait (US Navy, public domain): 600×512 RGB."""
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB")).copy()


@pytest.fixture
def astronaut_jpeg(tmp_path: Path, astronaut: NDArray[np.uint8]) -> Path:
    return _write_jpeg(tmp_path / "astronaut.jpg", astronaut)


@pytest.fixture(scope="session")
def write_jpeg():
    return _write_jpeg
