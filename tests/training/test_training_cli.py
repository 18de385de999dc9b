"""The commands: train (and its refusals), bench-train's CPU smoke run, ``python -m``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from training_support import tiny_recipe
from typer.testing import CliRunner

from skinscan.training.cli import app


def _write(recipe_data: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(recipe_data), encoding="utf-8")
    return path


def test_train_command_writes_a_bundle(tmp_path: Path, phantom_manifest: Path) -> None:
    recipe = tiny_recipe(tmp_path / "run", phantom_manifest, overrides=["export.bundle=true"])
    path = _write(recipe.to_dict(), tmp_path / "tiny.yaml")
    runner = CliRunner()
    result = runner.invoke(
        app, ["train", str(path), "--set", "optim.steps=2", "--set", "export.onnx=false"]
    )
    assert result.exit_code == 0, result.output
    metadata = json.loads((tmp_path / "run" / "bundle" / "metadata.json").read_text())
    assert metadata["training"]["steps"] == 2
    assert metadata["metrics"]["task"] == "segmentation"
    assert metadata["metrics"]["by_skin_tone"]  # per skin-tone group
    assert "bundle:" in result.stderr
    again = runner.invoke(app, ["train", str(path)])
    assert again.exit_code == 2
    assert "--resume" in again.stderr


def test_train_command_names_the_bad_key(tmp_path: Path) -> None:
    data = tiny_recipe(tmp_path / "run").to_dict()
    data["optim"]["lrr"] = 0.1
    result = CliRunner().invoke(app, ["train", str(_write(data, tmp_path / "bad.yaml"))])
    assert result.exit_code == 2
    assert "unknown key optim.lrr" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_bench_train_runs_on_the_cpu(tmp_path: Path, phantom_manifest: Path) -> None:
    path = _write(tiny_recipe(tmp_path / "run", phantom_manifest).to_dict(), tmp_path / "r.yaml")
    args = [
        "bench-train",
        str(path),
        "--device",
        "cpu",
        "--seconds",
        "0.2",
        "--inference-batch",
        "1",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for phase in ("pipeline", "synthetic", "inference"):
        assert figures[phase]["images_per_s"] > 0
        assert figures[phase]["steps"] >= 1
        assert figures[phase]["gpu_utilisation_pct"] is None
    assert figures["inference_size"] == 512
    assert figures["pipeline_ratio"] > 0
    assert not (tmp_path / "run").exists()  # a benchmark writes nothing


def test_bench_train_needs_cuda_unless_told_cpu(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present: see the gpu-marked tests")
    path = _write(tiny_recipe(tmp_path / "run").to_dict(), tmp_path / "r.yaml")
    result = CliRunner().invoke(app, ["bench-train", str(path)])
    assert result.exit_code == 2
    assert "no CUDA device" in result.stderr
    assert "--device cpu" in result.stderr


def test_module_entry_point_lists_the_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "skinscan.training", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for command in ("train", "evaluate", "bench-train"):
        assert command in done.stdout
