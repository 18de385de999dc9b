"""ONNX export checked against PyTorch with onnxruntime."""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from skinscan.models._runners import onnx_session
from skinscan.models.architectures import unwrap_model

__all__ = ["EXPORT_ATOL", "INPUT_NAME", "export_onnx", "output_name"]

#: Largest max abs difference between PyTorch and onnxruntime an export may show.
EXPORT_ATOL = 1e-3
INPUT_NAME = "input"


def output_name(model: nn.Module) -> str:
    """The ONNX output's name: ``logits`` for a segmenter, ``severity`` for a regressor."""
    return "severity" if getattr(model, "arch", "") == "severity" else "logits"


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_size: tuple[int, int],
    in_channels: int,
    opset: int = 17,
    dynamo: bool = False,
    seed: int = 0,
) -> float:
    """Export ``model`` to ONNX and check it against PyTorch; return the max abs difference.

    Parameters
    ----------
    model : torch.nn.Module
        A :func:`~skinscan.models.build_model` network (unwrapped from ``torch.compile`` or DDP
        if needed); a CPU float32 copy in eval mode is exported, ``model`` itself is unchanged.
    path : path-like
        The ``.onnx`` file to write (replaced atomically).
    input_size : (int, int)
        Height and width of the check input (and of the trace).
    in_channels : int
        Input planes.
    opset : int
        ONNX operator set.
    dynamo : bool
        Use the ``torch.export``-based exporter instead of the TorchScript one (see Notes).
    seed : int
        Seed of the random check input.

    Returns
    -------
    float
        Max abs difference between PyTorch's and onnxruntime's (CPUExecutionProvider) outputs for
        one random ``(2, in_channels, *input_size)`` input: a batch of two, so the dynamic batch
        axis is exercised too.

    Raises
    ------
    ValueError
        If the difference exceeds :data:`EXPORT_ATOL` (the file is then not written), or for an
        opset the chosen exporter cannot produce.

    Notes
    -----
    The batch axis is dynamic; so are height and width (a U-Net runs at any multiple of 32, the
    severity regressor pools globally). With torch 2.15 the TorchScript exporter
    (``dynamo=False``) writes opset 17 directly, offline, in about 2 s for the default U-Net on two
    cores. The ``torch.export`` exporter (PyTorch's default since 2.9) implements opset ≥ 18 only:
    asked for 17 it fails to convert ``Resize``/``ReduceMean`` down and keeps 18, and it takes
    about 40 s here; it is offered for when the TorchScript exporter is removed.
    """
    height, width = (int(v) for v in input_size)
    if dynamo and opset < 18:
        raise ValueError(f"the torch.export-based exporter writes opset 18 or later, not {opset}")
    network = copy.deepcopy(unwrap_model(model)).to("cpu", torch.float32).eval()
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(1, in_channels, height, width, generator=generator)
    check = torch.randn(2, in_channels, height, width, generator=generator)
    target = Path(os.fspath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    os.close(handle)
    try:
        _export(network, example, Path(temporary), opset=opset, dynamo=dynamo)
        with torch.inference_mode():
            expected = network(check).numpy()
        session = onnx_session(temporary)
        actual = session.run(None, {session.get_inputs()[0].name: check.numpy()})[0]
        if actual.shape != expected.shape:
            raise ValueError(
                f"ONNX output shape {actual.shape} differs from PyTorch's {expected.shape}"
            )
        diff = float(np.max(np.abs(actual - expected)))
        if not diff <= EXPORT_ATOL:
            raise ValueError(
                f"ONNX export of {getattr(network, 'arch', 'model')} differs from PyTorch by "
                f"{diff:.3g} (> {EXPORT_ATOL:g}); not written"
            )
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return diff


def _export(
    network: nn.Module, example: torch.Tensor, path: Path, *, opset: int, dynamo: bool
) -> None:
    output = output_name(network)
    if dynamo:
        batch = torch.export.Dim("batch", max=4096)
        rows = 32 * torch.export.Dim("rows32", min=1, max=512)
        cols = 32 * torch.export.Dim("cols32", min=1, max=512)
        torch.onnx.export(
            network,
            (example,),
            os.fspath(path),
            dynamo=True,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[output],
            dynamic_shapes={"x": {0: batch, 2: rows, 3: cols}},
            external_data=False,
            verbose=False,
        )
        return
    spatial = {2: "height", 3: "width"}
    with warnings.catch_warnings():
        # The TorchScript exporter announces its deprecation on every call; the choice is
        # deliberate (see export_onnx's Notes).
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(
            network,
            (example,),
            os.fspath(path),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[output],
            dynamic_axes={
                INPUT_NAME: {0: "batch", **spatial},
                output: {0: "batch", **spatial} if output == "logits" else {0: "batch"},
            },
            do_constant_folding=True,
        )
