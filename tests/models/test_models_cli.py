"""``skinscan models`` commands through Typer's runner; verify and bench reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from skinscan.models import bench_cpu_inference, bench_gpu_inference, verify_bundle
from skinscan.models.cli import app

runner = CliRunner()


def test_list_runs() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert "skinscan models" in result.output or "No model bundles installed" in result.output


def test_info_prints_metadata_json(seg_bundle: Path) -> None:
    result = runner.invoke(app, ["info", str(seg_bundle)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["name"] == "tiny-seg"
    assert info["path"] == str(seg_bundle.resolve())
    assert info["onnx"]["opset"] == 17


def test_info_of_unknown_bundle_fails() -> None:
    result = runner.invoke(app, ["info", "no-such-bundle"])
    assert result.exit_code == 1
    assert "no model bundle named or at 'no-such-bundle'" in result.output


def test_verify_passes_on_a_good_bundle(seg_bundle: Path) -> None:
    result = runner.invoke(app, ["verify", str(seg_bundle), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["output_shape"] == {"torch": [1, 2, 64, 96], "onnx": [1, 2, 64, 96]}
    assert report["max_abs_diff"] < 1e-4
    assert report["onnx_cpu_latency_ms"] > 0
    plain = runner.invoke(app, ["verify", str(seg_bundle)])
    assert plain.exit_code == 0
    assert "OK" in plain.output


def test_verify_fails_on_an_altered_bundle(seg_bundle: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(seg_bundle, tmp_path / "b"))
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(folder)])
    assert result.exit_code == 1
    assert "weights.safetensors: sha256" in result.output
    report = verify_bundle(folder)
    assert report["ok"] is False
    assert report["output_shape"]["onnx"] == [1, 2, 64, 96]  # the ONNX side still ran
    assert report["max_abs_diff"] is None


def test_verify_reports_a_missing_bundle() -> None:
    report = verify_bundle("/nonexistent/bundle")
    assert report["ok"] is False
    assert "no model bundle" in report["errors"][0]


def test_bench_cpu_inference_reports_both_engines(sev_bundle: Path) -> None:
    result = bench_cpu_inference(sev_bundle, size=64, repeats=2, threads=1)
    assert result["name"] == "tiny-sev"
    assert result["size"] == 64
    assert result["threads"] == 1
    assert result["onnxruntime_ms"] > 0
    assert result["predict_ms"] > 0
    assert result["torch_ms"] > 0
    with pytest.raises(ValueError, match="multiple of 32"):
        bench_cpu_inference(sev_bundle, size=100)


def test_bench_gpu_inference_needs_cuda(sev_bundle: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present: see the gpu-marked test")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        bench_gpu_inference(sev_bundle)


@pytest.mark.gpu
def test_bench_gpu_inference(seg_bundle: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    result = bench_gpu_inference(seg_bundle, size=64, batch=8, seconds=0.5)
    assert result["images_per_s"] > 0
    assert result["dtype"] == "bfloat16"
