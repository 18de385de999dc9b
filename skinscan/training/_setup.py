"""The network, optimiser and learning-rate schedule a recipe describes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from skinscan.training.recipe import Recipe, RecipeError

__all__ = ["build_network", "build_optimizer", "build_scheduler", "lr_factor", "model_kwargs"]


def model_kwargs(recipe: Recipe) -> dict[str, Any]:
    """``model.kwargs`` completed from ``data``: input channels, output planes or heads.

    A value the recipe gives must agree with the data (4 input channels with ``texture``, one
    output plane per mask name, one head per severity head); missing ones are filled in.
    """
    kwargs = dict(recipe.model.kwargs)
    expected: dict[str, Any] = {"in_channels": 4 if recipe.data.texture else 3}
    if recipe.task == "segmentation":
        expected["num_classes"] = len(recipe.data.mask_names)
    else:
        expected["heads"] = list(recipe.data.heads)
    for key, value in expected.items():
        given = kwargs.setdefault(key, value)
        if (list(given) if isinstance(value, list) else given) != value:
            raise RecipeError(
                f"model.kwargs.{key} is {given!r} but the data need {value!r} "
                "(data.texture, data.mask_names, data.heads)"
            )
    return kwargs


def build_network(recipe: Recipe) -> nn.Module:
    """:func:`skinscan.models.build_model` of the recipe's architecture.

    Random weights (seeded by the caller), or those of ``model.init``.
    """
    from skinscan.models.architectures import build_model

    try:
        network = build_model(recipe.model.arch, **model_kwargs(recipe))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, RecipeError):
            raise
        raise RecipeError(f"model: {exc}") from None
    if recipe.model.init is not None:
        try:
            network.load_state_dict(_initial_weights(recipe.model.init), strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise RecipeError(
                f"model.init {recipe.model.init} does not fit the model: {first}"
            ) from None
    return network


def _initial_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a bundle folder, a ``.safetensors`` file or a training checkpoint."""
    from safetensors.torch import load_file

    from skinscan.training._checkpoint import load_checkpoint

    if path.is_dir():
        path = path / "weights.safetensors"
    if not path.is_file():
        raise RecipeError(f"model.init: {path} does not exist")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        return dict(load_checkpoint(path)["model"])
    except ValueError as exc:
        raise RecipeError(f"model.init: {exc}") from None


def build_optimizer(recipe: Recipe, network: nn.Module) -> torch.optim.Optimizer:
    """AdamW; biases and normalisation parameters (1-D tensors) without weight decay.

    Decaying the scale and shift of batch norm only fights the normalisation (Loshchilov &
    Hutter 2019 decouple decay from the gradient; excluding 1-D parameters is common practice).
    """
    decay: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for parameter in network.parameters():
        if parameter.requires_grad:
            (plain if parameter.ndim <= 1 else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": recipe.optim.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=recipe.optim.lr)


def lr_factor(step: int, *, total: int, warmup: int, schedule: str, floor: float) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based).

    Linear warm-up over ``warmup`` steps from ``1 / (warmup + 1)``, then constant or a half
    cosine from 1 down to ``floor`` at ``total`` (Loshchilov & Hutter 2017, SGDR, without
    restarts).

    Examples
    --------
    >>> [round(lr_factor(s, total=10, warmup=2, schedule="cosine", floor=0.0), 3)
    ...  for s in (0, 2, 10)]
    [0.333, 1.0, 0.0]
    """
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    recipe: Recipe, optimizer: torch.optim.Optimizer, *, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """:func:`lr_factor` as a per-step scheduler over ``total`` steps."""
    optim = recipe.optim

    def factor(step: int) -> float:
        return lr_factor(
            step,
            total=total,
            warmup=optim.warmup_steps,
            schedule=optim.schedule,
            floor=optim.min_lr_ratio,
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
