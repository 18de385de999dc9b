"""``build_model``: an architecture by name, from the keyword arguments a bundle's config stores."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["ARCHS", "build_model", "count_parameters", "unwrap_model"]

#: Architecture names :func:`build_model` accepts.
ARCHS: tuple[str, ...] = ("unet", "severity")


def build_model(arch: str, **kwargs: Any) -> nn.Module:
    """Build an architecture with random weights (torchvision backbones use ``weights=None``).

    Parameters
    ----------
    arch : {"unet", "severity"}
        ``unet``: :class:`skinscan.models.unet.UNet`, masks as logits ``(N, K, H, W)``;
        ``severity``: :class:`skinscan.models.severity.SeverityRegressor`, ``(N, len(heads))``
        in 0-100.
    **kwargs
        The architecture's keyword arguments (``backbone``, ``in_channels``, and ``num_classes``
        and ``decoder_channels`` or ``heads``). ``model.config`` holds them, JSON-ready, so
        ``build_model(model.arch, **model.config)`` rebuilds the same network.

    Returns
    -------
    torch.nn.Module
        With attributes ``arch`` and ``config``; in training mode, as PyTorch builds modules.

    Examples
    --------
    >>> net = build_model("unet", backbone="resnet18", in_channels=4)
    >>> net.arch, net.config["in_channels"]
    ('unet', 4)
    """
    if arch == "unet":
        from skinscan.models.unet import UNet

        return UNet(
            **_known(arch, kwargs, ("backbone", "in_channels", "num_classes", "decoder_channels"))
        )
    if arch == "severity":
        from skinscan.models.severity import SeverityRegressor

        return SeverityRegressor(**_known(arch, kwargs, ("backbone", "in_channels", "heads")))
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")


def _known(arch: str, kwargs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise TypeError(f"{arch!r} takes {', '.join(names)}; not {', '.join(unknown)}")
    return kwargs


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside ``torch.compile`` (``_orig_mod``) and DDP/DataParallel (``module``).

    Their state dicts prefix every key (``_orig_mod.``, ``module.``); a bundle stores the plain
    network's, so that it loads into :func:`build_model`'s output.
    """
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    for _ in range(4):
        inner = model._modules.get("_orig_mod")
        if isinstance(inner, nn.Module):
            model = inner
        elif isinstance(model, wrappers):
            model = model.module
        else:
            break
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())
