"""``verify_bundle``: load a bundle and run one input through PyTorch and onnxruntime (MONAI's
``verify`` idea)."""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.models._bundle_io import BundleError
from skinscan.models._runners import OnnxRunner, default_threads
from skinscan.models.bundle import load_bundle
from skinscan.models.preprocess import to_input

__all__ = ["VERIFY_ATOL", "median_ms", "verify_bundle", "verify_input"]

#: Largest PyTorch-vs-onnxruntime max abs difference a bundle passes with.
VERIFY_ATOL = 1e-3


def verify_input(size_hw: tuple[int, int], *, texture: bool, seed: int = 0) -> NDArray[np.float32]:
    """A deterministic ``(1, C, H, W)`` model input: ``to_input`` of a seeded smooth photo.

    A skin-coloured gradient with noise and a few dark lines, so that the texture channel and the
    network see realistic values rather than white noise.
    """
    h, w = size_hw
    rng = np.random.default_rng(seed)
    xx = np.arange(w, dtype=np.float32)[None, :, None]
    base = np.array([196.0, 150.0, 128.0], np.float32)
    shade = 20.0 * (xx / max(w - 1, 1) - 0.5)
    photo = base + shade + rng.normal(0.0, 6.0, (h, w, 3)).astype(np.float32)
    for row in rng.integers(0, h, size=4):
        photo[row, :, :] -= 40.0
    return to_input(np.clip(photo, 0, 255).astype(np.uint8), texture=texture)[None]


def median_ms(run: Any, repeats: int, *, warmup: int = 1) -> float:
    """Median wall time in ms of ``run()`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return float(statistics.median(times))


def verify_bundle(
    path_or_name: str | os.PathLike[str], *, repeats: int = 5, threads: int | None = None
) -> dict[str, Any]:
    """Check a bundle end to end and report.

    Loads ``metadata.json`` and ``config.json``, builds the network from ``weights.safetensors``
    (strict, sha256-checked), runs :func:`verify_input` at the bundle's input size through PyTorch
    (float32, CPU) and through ``model.onnx`` on onnxruntime, and times the ONNX model.

    Parameters
    ----------
    path_or_name : str or path-like
        A bundle folder or a shipped bundle's name.
    repeats : int
        Timed ONNX runs (after one warm-up); the median is reported.
    threads : int, optional
        onnxruntime intra-op threads (default ``min(2, cores)``).

    Returns
    -------
    dict
        ``ok`` (bool), ``errors`` (list of str), ``name``, ``version``, ``task``, ``path``,
        ``input_shape``, ``output_shape`` (``torch`` and ``onnx``), ``max_abs_diff``,
        ``onnx_cpu_latency_ms``, ``threads``. A failed step leaves its fields None and says why
        in ``errors``; nothing is raised for a broken bundle.
    """
    report: dict[str, Any] = {
        "ok": False,
        "errors": [],
        "name": None,
        "version": None,
        "task": None,
        "path": os.fspath(path_or_name),
        "input_shape": None,
        "output_shape": {"torch": None, "onnx": None},
        "max_abs_diff": None,
        "onnx_cpu_latency_ms": None,
        "threads": int(threads or default_threads()),
    }
    errors: list[str] = report["errors"]
    try:
        bundle = load_bundle(path_or_name)
    except BundleError as exc:
        errors.append(str(exc))
        return report
    report.update(name=bundle.name, version=bundle.version, task=bundle.task, path=str(bundle.path))
    try:
        x = verify_input(
            bundle.input_size, texture=bool(bundle.metadata["preprocessing"]["texture"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        errors.append(f"{bundle.path}: bad preprocessing metadata ({exc})")
        return report
    report["input_shape"] = list(x.shape)
    expected = None
    try:
        import torch

        model = bundle.torch_model("cpu")
        with torch.inference_mode():
            expected = model(torch.from_numpy(x)).numpy()
        report["output_shape"]["torch"] = list(expected.shape)
    except (BundleError, RuntimeError, ValueError) as exc:
        errors.append(str(exc))
    try:
        runner = OnnxRunner(bundle.onnx_path(), threads=threads)
        actual = runner(x)
        report["output_shape"]["onnx"] = list(actual.shape)
        report["onnx_cpu_latency_ms"] = median_ms(lambda: runner(x), repeats)
    except BundleError as exc:
        errors.append(str(exc))
        actual = None
    except Exception as exc:  # onnxruntime raises its own exception types
        errors.append(f"{bundle.path}: onnxruntime cannot run model.onnx: {exc}")
        actual = None
    if expected is not None and actual is not None:
        if expected.shape != actual.shape:
            errors.append(f"output shapes differ: torch {expected.shape}, onnx {actual.shape}")
        else:
            diff = float(np.max(np.abs(expected - actual)))
            report["max_abs_diff"] = diff
            if not diff <= VERIFY_ATOL:
                errors.append(f"onnx output differs from torch by {diff:.3g} (> {VERIFY_ATOL:g})")
    names = bundle.metadata.get("output", {}).get("names") or []
    for kind, shape in report["output_shape"].items():
        if shape is not None and len(shape) > 1 and shape[1] != len(names):
            errors.append(f"{kind} output has {shape[1]} channels but metadata names {len(names)}")
        if shape is not None and bundle.task == "segmentation" and shape[2:] != list(x.shape[2:]):
            errors.append(f"{kind} output {shape} is not at the input's size {list(x.shape[2:])}")
    report["ok"] = not errors
    return report
