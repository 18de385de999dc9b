"""Multi-head severity regressor: one 0-100 score per concern from a pooled backbone feature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from skinscan.models._backbones import build_encoder
from skinscan.models.contract import CONCERNS

__all__ = ["HEAD_HIDDEN", "SeverityRegressor"]

#: Width of each head's hidden layer.
HEAD_HIDDEN = 64


class SeverityRegressor(nn.Module):
    """Backbone → global average pooling → one small MLP per head → ``100 · sigmoid``.

    Parameters
    ----------
    backbone : str
        torchvision encoder (as for :class:`skinscan.models.unet.UNet`), ``weights=None``.
    in_channels : int
        3 (RGB) or 4 (RGB + texture channel).
    heads : sequence of str
        One output per name, in this order (default: :data:`~skinscan.models.contract.CONCERNS`).

    Notes
    -----
    Separate heads on a shared feature let a concern be trained only where it is labelled (a
    masked loss per column) without one concern's gradient rescaling another's output layer. The
    sigmoid keeps every prediction inside the severity scale's 0-100 range.

    Examples
    --------
    >>> net = SeverityRegressor().eval()
    >>> net(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 4])
    """

    arch = "severity"

    def __init__(
        self,
        *,
        backbone: str = "mobilenet_v3_small",
        in_channels: int = 3,
        heads: Sequence[str] = CONCERNS,
    ) -> None:
        super().__init__()
        names = [str(h) for h in heads]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"heads must be distinct names, at least one, not {heads!r}")
        bad = [n for n in names if not n.isidentifier()]
        if bad:
            raise ValueError(f"head names must be identifiers, not {bad!r}")
        self.config: dict[str, Any] = {
            "backbone": backbone,
            "in_channels": int(in_channels),
            "heads": names,
        }
        self.encoder = build_encoder(backbone, int(in_channels), pooled=True)
        width = self.encoder.channels[0]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.heads = nn.ModuleDict(
            {
                name: nn.Sequential(
                    nn.Linear(width, HEAD_HIDDEN), nn.ReLU(inplace=True), nn.Linear(HEAD_HIDDEN, 1)
                )
                for name in names
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` float32 → severity ``(N, len(heads))`` in [0, 100]."""
        tracing = torch.jit.is_tracing() or torch.compiler.is_exporting()
        if not tracing and (x.ndim != 4 or x.shape[1] != self.config["in_channels"]):
            channels = self.config["in_channels"]
            raise ValueError(f"expected input (N, {channels}, H, W), not {tuple(x.shape)}")
        pooled = torch.flatten(self.pool(self.encoder(x)[0]), 1)
        logits = torch.cat([head(pooled) for head in self.heads.values()], dim=1)
        return 100.0 * torch.sigmoid(logits)
