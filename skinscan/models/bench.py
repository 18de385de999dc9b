"""Inference benchmarks of a bundle (``skinscan bench``): CPU latency and GPU throughput."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import numpy as np

from skinscan.models._runners import OnnxRunner, default_threads
from skinscan.models.bundle import load_bundle
from skinscan.models.verify import median_ms, verify_input

__all__ = ["bench_cpu_inference", "bench_gpu_inference"]


def bench_cpu_inference(
    path_or_name: str | os.PathLike[str],
    *,
    size: int = 512,
    repeats: int = 10,
    threads: int | None = None,
) -> dict[str, Any]:
    """Median CPU latency of one ``size``² image: onnxruntime, and PyTorch as a reference.

    Both engines run the same input in the same process with the same thread count, so their
    ratio holds across machines even where the absolute figures do not.

    Parameters
    ----------
    path_or_name : str or path-like
        A bundle folder or a shipped bundle's name.
    size : int
        Side of the square input (a multiple of 32).
    repeats : int
        Timed runs of each engine (after two warm-ups).
    threads : int, optional
        Threads of both engines (default ``min(2, cores)``).

    Returns
    -------
    dict
        ``name``, ``version``, ``size``, ``threads``, ``onnxruntime_ms`` (model only),
        ``predict_ms`` (:meth:`ModelRuntime.predict` on a ``size``² photo, with preparation and
        resizing), ``torch_ms`` (float32, eager), ``torch_over_onnxruntime``, ``cpu``.
    """
    import torch

    from skinscan.models._runners import TorchRunner
    from skinscan.models.runtime import ModelRuntime

    if size < 32 or size % 32:
        raise ValueError(f"size must be a positive multiple of 32, not {size!r}")
    bundle = load_bundle(path_or_name)
    count = int(threads or default_threads())
    texture = bool(bundle.metadata["preprocessing"]["texture"])
    x = verify_input((size, size), texture=texture)
    onnx = OnnxRunner(bundle.onnx_path(), threads=count)
    onnx_ms = median_ms(lambda: onnx(x), repeats, warmup=2)
    photo = np.full((size, size, 3), 180, np.uint8)
    runtime = ModelRuntime(bundle, onnx)
    predict_ms = median_ms(lambda: runtime.predict(photo), repeats, warmup=1)
    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        reference = TorchRunner(bundle.torch_model("cpu"), "cpu")
        torch_ms = median_ms(lambda: reference(x), repeats, warmup=2)
    finally:
        torch.set_num_threads(saved)
    return {
        "name": bundle.name,
        "version": bundle.version,
        "size": size,
        "threads": count,
        "onnxruntime_ms": round(onnx_ms, 2),
        "predict_ms": round(predict_ms, 2),
        "torch_ms": round(torch_ms, 2),
        "torch_over_onnxruntime": round(torch_ms / onnx_ms, 3),
        "cpu": platform.processor() or platform.machine(),
    }


def bench_gpu_inference(
    path_or_name: str | os.PathLike[str],
    *,
    size: int = 512,
    batch: int = 64,
    seconds: float = 10.0,
    compile: bool = False,
) -> dict[str, Any]:
    """Throughput of batched inference on CUDA: images/s in bf16 autocast with channels_last.

    Parameters
    ----------
    path_or_name : str or path-like
        A bundle folder or a shipped bundle's name.
    size : int
        Side of the square input (a multiple of 32).
    batch : int
        Images per forward pass.
    seconds : float
        Length of the timed loop (after a warm-up of 5 batches).
    compile : bool
        Run the network through ``torch.compile`` first (longer warm-up, often faster).

    Returns
    -------
    dict
        ``name``, ``version``, ``size``, ``batch``, ``images_per_s``, ``batches``,
        ``seconds``, ``dtype`` (``bfloat16``), ``device`` (the GPU's name), ``compiled``.

    Raises
    ------
    RuntimeError
        Without a CUDA device.
    """
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("bench_gpu_inference needs a CUDA device, and none is available")
    if size < 32 or size % 32 or batch < 1 or seconds <= 0:
        raise ValueError("size must be a multiple of 32, batch ≥ 1 and seconds > 0")
    bundle = load_bundle(path_or_name)
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    model = bundle.torch_model("cpu").to(device, memory_format=torch.channels_last).eval()
    network = torch.compile(model) if compile else model
    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(batch, bundle.in_channels, size, size, device=device, generator=generator)
    x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            network(x)

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    batches = 0
    start = time.perf_counter()
    while True:
        step()
        batches += 1
        if batches % 4 == 0:
            torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
    return {
        "name": bundle.name,
        "version": bundle.version,
        "size": size,
        "batch": batch,
        "images_per_s": round(batches * batch / elapsed, 1),
        "batches": batches,
        "seconds": round(elapsed, 3),
        "dtype": "bfloat16",
        "device": torch.cuda.get_device_name(device),
        "compiled": bool(compile),
    }
