"""On a CUDA device: bf16 + channels_last + torch.compile training, GPU evaluation, benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from training_support import tiny_recipe

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_bf16_compiled_training_and_cuda_evaluation(tmp_path: Path, phantom_manifest: Path) -> None:
    from skinscan.training.evaluate import evaluate
    from skinscan.training.trainer import train

    recipe = tiny_recipe(
        tmp_path / "run",
        phantom_manifest,
        overrides=[
            "device=cuda",
            "precision=auto",
            "compile=true",
            "optim.steps=6",
            "export.bundle=true",
        ],
    )
    result = train(recipe)
    assert "cuda" in result.device
    assert all(np.isfinite(loss) for _, loss in result.losses)
    assert next(result.model.parameters()).is_cuda
    assert result.bundle is not None
    assert result.metrics is not None
    on_gpu = evaluate(result.bundle, phantom_manifest, device="cuda", split="val")
    on_cpu = evaluate(result.bundle, phantom_manifest, device="cpu", split="val")
    assert on_gpu.counts == on_cpu.counts
    # bf16 on the GPU, fp32 ONNX on the CPU: the same detections up to rounding at the threshold.
    for name in ("wrinkles/dice", "spots/dice"):
        a, b = on_gpu.overall[name], on_cpu.overall[name]
        assert np.isnan(a) == np.isnan(b)
        assert np.isnan(a) or abs(a - b) < 0.05


def test_bench_training_on_cuda(phantom_manifest: Path, tmp_path: Path) -> None:
    from skinscan.training.bench import bench_training

    recipe = tiny_recipe(
        tmp_path / "run", phantom_manifest, overrides=["device=cuda", "precision=auto"]
    )
    result = bench_training(recipe, seconds=1.0, device="cuda", inference_batch=8)
    assert result.precision == "bf16"
    for phase in (result.pipeline, result.synthetic, result.inference):
        assert phase.images_per_s > 0
        assert phase.steps >= 1
    assert result.pipeline_ratio > 0
