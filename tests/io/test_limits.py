"""A decompression bomb is refused from its header: fast and without the memory to decode it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import io_samples
import pytest

from skinscan.errors import PhotoInputError
from skinscan.io import LoadLimits, load_photo

_CHILD = """
import json, sys, time
from skinscan.bench import peak_rss_mb
from skinscan.errors import PhotoInputError
from skinscan.io import load_photo
before = peak_rss_mb()
start = time.perf_counter()
try:
    load_photo(sys.argv[1])
    code = None
except PhotoInputError as exc:
    code = exc.code
seconds = time.perf_counter() - start
after = peak_rss_mb()  # this process's own high-water mark, not one inherited through exec
print(json.dumps({"code": code, "seconds": seconds, "rss_mb": after, "rss_before_mb": before}))
"""


@pytest.fixture(scope="module")
def bomb_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(io_samples.giant_png(40_000, 40_000))
    return path


def test_bomb_png_is_small_on_disk(bomb_png: Path) -> None:
    assert bomb_png.stat().st_size < 1_000_000  # 1.6 gigapixels in well under a megabyte


def test_40k_png_is_refused_fast_and_lean(bomb_png: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(bomb_png)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"40k×40k PNG refusal: {report}")
    assert report["code"] == "too_many_pixels"
    assert report["seconds"] < 2.0
    assert report["rss_mb"] < 200.0


def test_limit_is_inclusive() -> None:
    data = io_samples.png(io_samples.noise(10, 10))
    assert load_photo(data, limits=LoadLimits(max_pixels=100)).meta.width == 10
    with pytest.raises(PhotoInputError) as info:
        load_photo(data, limits=LoadLimits(max_pixels=99))
    assert info.value.code == "too_many_pixels"


def test_pillow_bomb_ceiling_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only LoadLimits decides: Pillow's process-wide MAX_IMAGE_PIXELS neither refuses nor warns."""
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    photo = load_photo(io_samples.jpeg(io_samples.smooth(32, 32)))
    assert photo.meta.width == 32
