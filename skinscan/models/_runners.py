"""What runs a prepared batch: onnxruntime on the CPU, or PyTorch (CUDA: bf16, channels_last).

Only :class:`TorchRunner` imports torch, and only when built, so the CPU path stays light.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["OnnxRunner", "Runner", "TorchRunner", "default_threads", "onnx_session"]


def default_threads() -> int:
    """``min(2, cores)``: two threads give most of the speed-up a model this size gets on a CPU,
    and one inference then leaves the rest of a small server to the service."""
    return min(2, os.cpu_count() or 1)


def onnx_session(path: str | os.PathLike[str], *, threads: int | None = None) -> Any:
    """An onnxruntime ``InferenceSession`` (CPUExecutionProvider, ``threads`` intra-op threads)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be at least 1, not {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or default_threads())
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


class Runner(Protocol):
    """Runs a float32 ``(N, C, H, W)`` batch and returns the raw float32 output."""

    description: str

    def __call__(self, batch: NDArray[np.float32]) -> NDArray[np.float32]: ...


class OnnxRunner:
    """onnxruntime on the CPU."""

    def __init__(self, onnx_path: Path, *, threads: int | None = None) -> None:
        self.session = onnx_session(onnx_path, threads=threads)
        self.input_name: str = self.session.get_inputs()[0].name
        options = self.session.get_session_options()
        self.description = f"onnxruntime CPU, {options.intra_op_num_threads} threads"

    def __call__(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})
        return np.asarray(out[0], dtype=np.float32)


class TorchRunner:
    """PyTorch: on CUDA in bf16 autocast with channels_last; on the CPU in float32.

    Parameters
    ----------
    model : torch.nn.Module
        The network, with its weights, in eval mode.
    device : str
        ``cuda``, ``cuda:N`` or ``cpu``.
    """

    def __init__(self, model: Any, device: str) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.autocast = self.device.type == "cuda"
        precision = "bf16 autocast" if self.autocast else "float32"
        self.description = f"torch {self.device}, {precision}, channels_last"

    def __call__(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        torch = self.torch
        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast),
        ):
            out = self.model(x)
        return out.float().cpu().numpy()
