"""write_atomic: the whole file or the old one, never half; the file's mode is kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skinscan.io import write_atomic


def test_writes_bytes_and_text_and_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    assert write_atomic(target, b"\x00\x01") == target
    assert target.read_bytes() == b"\x00\x01"
    write_atomic(target, "ΔE00 ≤ 1.5\n")
    assert target.read_text(encoding="utf-8") == "ΔE00 ≤ 1.5\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    target = tmp_path / "table.json"
    write_atomic(target, "{}")
    assert target.stat().st_mode & 0o777 == 0o644
    os.chmod(target, 0o640)
    write_atomic(target, "{}\n")
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
