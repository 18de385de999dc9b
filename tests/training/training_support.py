"""Tiny recipes the training tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skinscan.training.recipe import Recipe

#: Side of the test images: the smallest a 5-level U-Net takes.
SIZE = 64
PHANTOM_N = 16
PHANTOM_SEED = 3
#: A decoder a tenth as wide as the shipped one.
TINY_DECODER = [16, 8, 8, 8, 8]


def tiny_recipe(
    output: Path, manifest: Path | None = None, *, task: str = "segmentation", **sections: Any
) -> Recipe:
    """A CPU fp32 recipe of a tiny network on the test phantom set (or 8 rendered phantoms).

    Keyword arguments replace whole top-level sections (``optim={...}``); dotted ``overrides``
    are easier for single keys.
    """
    overrides = sections.pop("overrides", [])
    model: dict[str, Any]
    if task == "segmentation":
        model = {
            "arch": "unet",
            "kwargs": {"backbone": "mobilenet_v3_small", "decoder_channels": TINY_DECODER},
        }
    else:
        model = {"arch": "severity", "kwargs": {"backbone": "mobilenet_v3_small"}}
    train: Any = str(manifest) if manifest is not None else {"phantom": {"n": 8, "seed": 1}}
    recipe: dict[str, Any] = {
        "name": f"tiny-{task}",
        "version": "0.0.1",
        "task": task,
        "model": model,
        "data": {"train": train, "size": SIZE, "workers": 0, "augment": False},
        "optim": {"steps": 4, "batch_size": 4, "lr": 3e-3, "warmup_steps": 1},
        "precision": "fp32",
        "device": "cpu",
        "log_every": 1,
        "checkpoint_every": 0,
        "output": str(output),
        "export": {"bundle": False},
    }
    recipe.update(sections)
    return Recipe.from_dict(recipe, overrides=overrides)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ddp_worker(
    rank: int, world_size: int, port: int, recipe_data: dict[str, Any], out: str
) -> None:
    """One process of a CPU (gloo) run, started by ``torch.multiprocessing.spawn``.

    Sets what ``torchrun`` would set, trains, and saves this process's final weights and
    metrics as ``rank<r>.pt`` in ``out`` for the test to compare.
    """
    import os

    import torch

    from skinscan.training.trainer import train

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world_size),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    result = train(Recipe.from_dict(recipe_data))
    torch.save(
        {
            "state": result.model.state_dict(),
            "metrics": None if result.metrics is None else result.metrics.to_dict(),
            "losses": result.losses,
            "world_size": result.world_size,
            "bundle": None if result.bundle is None else str(result.bundle),
        },
        Path(out) / f"rank{rank}.pt",
    )
