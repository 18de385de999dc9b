"""What a training run returns (public through ``skinscan.training.trainer``)."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from skinscan.training._table import MetricTable

__all__ = ["TrainResult", "device_name"]


@dataclass
class TrainResult:
    """What a training run produced (the same on every process, files aside).

    Attributes
    ----------
    output : Path
        The run's folder (``recipe.output_dir``).
    steps : int
        Optimiser steps taken in total (including those before a resume).
    losses : list of (int, float)
        ``(step, mean training loss over the logging interval ending there)``.
    metrics : MetricTable or None
        Validation metrics of the exported weights (None without a validation set).
    best_step : int or None
        Step of the exported weights' evaluation.
    bundle : Path or None
        The exported bundle's folder (rank 0; None on other ranks or with ``export.bundle``
        false).
    checkpoint : Path
        The last checkpoint.
    duration_s : float
        Wall time of this call.
    images_per_s : float
        Training images per second over all processes, this call's steps only.
    device : str
        Where it ran, in words.
    world_size : int
        Processes.
    model : torch.nn.Module
        The network after the last step (unwrapped from DDP and ``torch.compile``), on its
        device.
    """

    output: Path
    steps: int
    losses: list[tuple[int, float]]
    metrics: MetricTable | None
    best_step: int | None
    bundle: Path | None
    checkpoint: Path
    duration_s: float
    images_per_s: float
    device: str
    world_size: int
    model: nn.Module = field(repr=False)


def device_name(device: torch.device) -> str:
    """The device in words: the GPU's name, or the CPU's architecture and threads."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"
