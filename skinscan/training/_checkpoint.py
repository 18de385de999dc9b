"""Checkpoints: everything a run needs to continue exactly where it stopped, written atomically.

A checkpoint holds the network's weights, the optimiser's and scheduler's states, the step and
epoch, every process's random generator states, the recipe, and the best evaluation so far.
It is written to a temporary file and renamed over ``last.pt``
(:func:`skinscan.io.write_atomic`): a crash while writing leaves the previous checkpoint.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skinscan.io import write_atomic

__all__ = [
    "BEST_NAME",
    "CHECKPOINT_DIR",
    "LAST_NAME",
    "load_checkpoint",
    "restore_rng_state",
    "rng_state",
    "save_checkpoint",
]

CHECKPOINT_DIR = "checkpoints"
LAST_NAME = "last.pt"
BEST_NAME = "best.pt"
#: Format of the checkpoint dict; a different one is refused on resume.
FORMAT = "skinscan.checkpoint/1"


def rng_state() -> dict[str, Any]:
    """This process's generator states: Python, numpy, torch CPU and (if any) CUDA."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - the global generator is what is saved
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, plain containers) atomically with ``torch.save``."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    return write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Raises
    ------
    ValueError
        Not a skinscan checkpoint.
    """
    # The file holds numpy and Python generator states, not only tensors, so the full
    # unpickler is needed; checkpoints are the run's own files, written by save_checkpoint.
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint")
    return payload
