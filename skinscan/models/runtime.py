"""Inference on photos: a bundle's model behind ``predict(rgb_u8)``, loaded once per process.

The CPU path is onnxruntime + numpy + OpenCV only (``import torch`` never happens), so that
``skinscan assess`` stays light; ``device="cuda"`` runs the PyTorch network in bf16 with
channels_last.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.models._bundle_io import METADATA_FILE, resolve_bundle
from skinscan.models._runners import OnnxRunner, Runner, TorchRunner
from skinscan.models.bundle import Bundle, load_bundle
from skinscan.models.preprocess import to_input

__all__ = ["ModelRuntime", "load_runtime", "sigmoid"]


def sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """Logistic function without overflow: ``½ (1 + tanh(x / 2))``."""
    return (0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float32)))).astype(np.float32)


def _resize(image: NDArray[Any], size_hw: tuple[int, int]) -> NDArray[Any]:
    """An ``(H, W[, C])`` array at ``size_hw``: area averaging to shrink, bilinear otherwise."""
    h, w = image.shape[:2]
    if (h, w) == size_hw:
        return image
    shrink = size_hw[0] <= h and size_hw[1] <= w
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (size_hw[1], size_hw[0]), interpolation=method))


class ModelRuntime:
    """A loaded bundle that turns sRGB photos into masks or severities.

    Build it with :func:`load_runtime` (cached per process), not directly.

    Attributes
    ----------
    bundle : Bundle
        The bundle's folder, metadata and config.
    runner : Runner
        Runs a prepared ``(N, C, H, W)`` float32 batch (onnxruntime or PyTorch).
    """

    def __init__(self, bundle: Bundle, runner: Runner) -> None:
        self.bundle = bundle
        self.runner = runner
        self.texture = bool(bundle.metadata["preprocessing"]["texture"])
        self.input_size = bundle.input_size
        self.output_names: tuple[str, ...] = tuple(bundle.metadata["output"]["names"])

    @property
    def metadata(self) -> dict[str, Any]:
        """The bundle's ``metadata.json``."""
        return self.bundle.metadata

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def task(self) -> str:
        """``segmentation`` or ``severity``."""
        return self.bundle.task

    def __repr__(self) -> str:
        return f"ModelRuntime({self.name} {self.version}, {self.task}, {self.runner.description})"

    def prepare(self, rgb_u8: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The model input of one photo: resized to the bundle's size, then ``to_input``."""
        rgb = np.asarray(rgb_u8)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
            raise ValueError(f"expected an (H, W, 3) uint8 sRGB photo, not {rgb.dtype} {rgb.shape}")
        return to_input(_resize(rgb, self.input_size), texture=self.texture)

    def predict(self, rgb_u8: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Masks or severities of one photo.

        Parameters
        ----------
        rgb_u8 : ndarray of shape (H, W, 3), uint8
            sRGB photo of any size (resized to the bundle's input size, so a standardised crop
            framed like the training photos gives the intended scale).

        Returns
        -------
        ndarray, float32
            segmentation: probabilities in [0, 1] of shape ``(K, H, W)`` at the photo's size, one
            plane per ``metadata["output"]["names"]`` (sigmoid of the logits, then bilinear
            resizing back); severity: ``(len(names),)`` in 0-100.
        """
        return self.predict_batch([rgb_u8])[0]

    def predict_batch(
        self, images: Sequence[NDArray[np.uint8]], *, batch_size: int = 8
    ) -> list[NDArray[np.float32]]:
        """:meth:`predict` of several photos (sizes may differ), ``batch_size`` per model run."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
        results: list[NDArray[np.float32]] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            batch = np.stack([self.prepare(image) for image in chunk])
            raw = self.runner(batch)
            for image, out in zip(chunk, raw, strict=True):
                results.append(self._finish(out, np.asarray(image).shape[:2]))
        return results

    def _finish(self, out: NDArray[np.float32], size_hw: tuple[int, ...]) -> NDArray[np.float32]:
        if self.task != "segmentation":
            return np.ascontiguousarray(out, np.float32)
        probability = sigmoid(out)  # (K, h, w)
        planes = [
            cv2.resize(p, (size_hw[1], size_hw[0]), interpolation=cv2.INTER_LINEAR)
            for p in probability
        ]
        return np.clip(np.stack(planes), 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _cached(
    folder: Path, stamp: tuple[int, int], device: str, engine: str, threads: int | None
) -> ModelRuntime:
    del stamp  # part of the cache key only: a bundle rewritten in place is loaded again
    bundle = load_bundle(folder)
    if engine == "onnxruntime":
        return ModelRuntime(bundle, OnnxRunner(bundle.onnx_path(), threads=threads))
    return ModelRuntime(bundle, TorchRunner(bundle.torch_model("cpu"), device))


def load_runtime(
    path_or_name: str | os.PathLike[str],
    *,
    device: str = "cpu",
    threads: int | None = None,
    engine: str | None = None,
) -> ModelRuntime:
    """Load a bundle for inference, once per process (later calls return the same object).

    Parameters
    ----------
    path_or_name : str or path-like
        A bundle folder, or the name of a bundle shipped as package data.
    device : str
        ``cpu``: onnxruntime (CPUExecutionProvider), no torch import. ``cuda`` or ``cuda:N``:
        the PyTorch network in bf16 autocast with channels_last.
    threads : int, optional
        onnxruntime intra-op threads (default ``min(2, cores)``).
    engine : {"onnxruntime", "torch"}, optional
        Override the engine: ``torch`` on the CPU runs the PyTorch network in float32 (a
        reference for the ONNX export). CUDA always uses torch.

    Raises
    ------
    BundleError
        Unknown, incomplete or altered bundle (``model.onnx`` or weights failing their sha256).
    ValueError
        Unknown device or engine.
    """
    chosen = engine or ("onnxruntime" if device == "cpu" else "torch")
    if chosen not in ("onnxruntime", "torch"):
        raise ValueError(f"engine must be 'onnxruntime' or 'torch', not {engine!r}")
    if not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")
    if chosen == "onnxruntime" and device != "cpu":
        raise ValueError("onnxruntime runs on the CPU here; use device='cpu' or engine='torch'")
    if chosen == "torch" and device != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available")
    folder = resolve_bundle(path_or_name)
    stat = (folder / METADATA_FILE).stat() if (folder / METADATA_FILE).exists() else None
    stamp = (stat.st_mtime_ns, stat.st_size) if stat else (0, 0)
    return _cached(folder, stamp, device, chosen, threads)
