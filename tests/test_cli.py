"""`skinscan assess` through the installed entry point: JSON contract, exit codes, maps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from skinscan.standardise.face import REGION_NAMES

CONCERN_MEASURES = {
    "redness": {"a_star", "erythema_index", "red_area_pct"},
    "pigment": {"ita_deg", "melanin_index", "spot_count", "spot_area_pct"},
    "texture": {"roughness", "pore_density_per_cm2"},
    "wrinkles": {"length_mm_per_cm2", "area_pct", "depth_proxy"},
}


def _skinscan() -> list[str]:
    exe = shutil.which("skinscan", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "skinscan.cli"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*_skinscan(), *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )


def test_assess_json_has_the_contract_shape(astronaut_jpeg: Path) -> None:
    proc = run("assess", astronaut_jpeg, "--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert list(record) == [
        "schema",
        "photo",
        "quality",
        "calibration",
        "face",
        "concerns",
        "models",
        "timings_ms",
    ]
    assert record["schema"] == "skinscan.assessment/1"
    assert set(record["photo"]) == {"sha256", "width", "height", "format"}
    assert record["photo"]["format"] == "JPEG"
    assert (record["photo"]["width"], record["photo"]["height"]) == (512, 512)
    assert set(record["quality"]) == {"ok", "issues"}
    for issue in record["quality"]["issues"]:
        assert set(issue) == {"code", "level", "value", "limit", "message"}
        assert issue["level"] in ("warn", "reject")
    assert set(record["calibration"]) == {"method", "delta_e00"}
    assert record["calibration"]["method"] in ("chart", "gray", "none")
    face = record["face"]
    assert face["found"] is True
    assert set(face["pose_deg"]) == {"yaw", "pitch", "roll"}
    assert 0.05 < face["mm_per_px"] < 2.0
    assert set(record["concerns"]) == set(CONCERN_MEASURES)
    for name, concern in record["concerns"].items():
        # The contract's keys, plus which produced the score and (with trained models loaded)
        # the learned score, its agreement and the classical score beside it.
        assert {"severity", "grade", "measures", "regions", "source"} <= set(concern)
        assert set(concern) <= {"severity", "grade", "measures", "regions", "source"} | {
            "learned",
            "classical",
        }
        assert concern["source"] in ("classical", "learned")
        assert 0.0 <= concern["severity"] <= 100.0
        assert concern["grade"] == min(4, int(concern["severity"] // 20))
        assert CONCERN_MEASURES[name] <= set(concern["measures"])
        assert set(concern["regions"]) <= set(REGION_NAMES)
        assert len(concern["regions"]) >= 10
        for region in concern["regions"].values():
            assert set(region) == {"severity", "measures"}
            assert set(region["measures"]) == set(concern["measures"])
    assert all(
        isinstance(m["name"], str) and isinstance(m["version"], str) for m in record["models"]
    )
    assert set(record["timings_ms"]) == {"load", "standardise", "measure", "total"}


def test_truncated_jpeg_exits_2_with_one_line(astronaut_jpeg: Path, tmp_path: Path) -> None:
    data = astronaut_jpeg.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    proc = run("assess", cut, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cut.jpg" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty.jpg"),
        (b"%PDF-1.4 not a photo" * 20, "doc.png"),
        (b"\x89PNG\r\n\x1a\n", "short.png"),
    ],
)
def test_bad_inputs_exit_2(content: bytes, name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    proc = run("assess", path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_file_and_unknown_protocol_exit_2(astronaut_jpeg: Path, tmp_path: Path) -> None:
    assert run("assess", tmp_path / "nope.jpg").returncode == 2
    proc = run("assess", astronaut_jpeg, "--protocol", "no-such")
    assert proc.returncode == 2
    assert "unknown protocol" in proc.stderr


def test_rejected_photo_exits_3_with_json(
    astronaut: np.ndarray, tmp_path: Path, write_jpeg
) -> None:
    dark = write_jpeg(tmp_path / "dark.jpg", (astronaut.astype(np.float32) * 0.1).astype(np.uint8))
    proc = run("assess", dark, "--json", "--protocol", "face-frontal")
    assert proc.returncode == 3
    record = json.loads(proc.stdout)
    assert record["quality"]["ok"] is False
    assert record["concerns"] is None
    assert any(i["level"] == "reject" for i in record["quality"]["issues"])


def test_maps_are_written(astronaut_jpeg: Path, tmp_path: Path) -> None:
    out = tmp_path / "maps"
    proc = run("assess", astronaut_jpeg, "--maps", out)
    assert proc.returncode == 0, proc.stderr
    names = {p.stem for p in out.glob("*.png")}
    assert {"regions", "calibration", "redness", "pigment", "texture", "wrinkles"} <= names
    regions = cv2.imread(str(out / "regions.png"))
    assert regions.shape == (512, 512, 3)


def test_human_readable_report(astronaut_jpeg: Path) -> None:
    proc = run("assess", astronaut_jpeg)
    assert proc.returncode == 0, proc.stderr
    for word in ("quality", "calibration", "redness", "wrinkles"):
        assert word in proc.stdout


def test_corrupt_png_gives_our_line_only(astronaut: np.ndarray, tmp_path: Path) -> None:
    # libpng prints its own "IDAT: CRC error" on file descriptor 2; the user must see one line.
    ok, encoded = cv2.imencode(".png", astronaut)
    assert ok
    data = bytearray(encoded.tobytes())
    data[data.find(b"IDAT") + 500] ^= 0xFF
    path = tmp_path / "crc.png"
    path.write_bytes(bytes(data))
    proc = run("assess", path, "--json")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("skinscan: error: crc.png")
