"""U-Net-style segmenter on a torchvision backbone: wrinkle and spot masks as logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from skinscan.models._backbones import build_encoder
from skinscan.models.contract import MASK_NAMES

__all__ = ["DEFAULT_DECODER_CHANNELS", "SIZE_MULTIPLE", "UNet"]

#: Decoder widths at strides 16, 8, 4, 2 and of the full-resolution refinement (see
#: ``models/README.md`` for the CPU latency they were chosen for).
DEFAULT_DECODER_CHANNELS: tuple[int, ...] = (64, 32, 24, 16, 8)
#: Input height and width must be multiples of the backbone's total stride.
SIZE_MULTIPLE = 32


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _UpBlock(nn.Module):
    """×2 upsampling, concatenation with the skip features, one 3×3 conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _conv_bn_relu(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class UNet(nn.Module):
    """Encoder-decoder with skip connections; logits at the input's size.

    Parameters
    ----------
    backbone : str
        torchvision encoder, one of ``mobilenet_v3_small`` (default), ``mobilenet_v3_large``,
        ``resnet18``, ``resnet34``, ``efficientnet_b0``; built with ``weights=None``.
    in_channels : int
        3 (RGB) or 4 (RGB and the texture channel of :func:`skinscan.models.preprocess.to_input`).
    num_classes : int
        Output planes, one per mask (default: ``len(MASK_NAMES)``).
    decoder_channels : sequence of 5 int
        Widths of the decoder blocks at strides 16, 8, 4 and 2, and of the full-resolution
        refinement.

    Notes
    -----
    Ronneberger et al. (2015)'s decoder, thinned for a CPU: one 3×3 convolution per scale after
    bilinear upsampling and concatenation with the encoder's features at that scale, down to
    stride 2, where a 1×1 convolution gives coarse logits. These are upsampled ×2 (bilinear) and
    corrected by a small residual block that also sees the input planes at full resolution, so
    that creases one or two pixels wide (which the texture channel shows) are located to the
    pixel. A full decoder block at full resolution would double the CPU time for its memory
    traffic alone (``models/README.md``). The FFHQ-Wrinkle segmenters (Moon et al., 2024) take the
    same RGB + texture input.

    Examples
    --------
    >>> net = UNet(in_channels=4).eval()
    >>> net(torch.zeros(1, 4, 64, 96)).shape
    torch.Size([1, 2, 64, 96])
    """

    arch = "unet"

    def __init__(
        self,
        *,
        backbone: str = "mobilenet_v3_small",
        in_channels: int = 3,
        num_classes: int = len(MASK_NAMES),
        decoder_channels: Sequence[int] = DEFAULT_DECODER_CHANNELS,
    ) -> None:
        super().__init__()
        widths = [int(c) for c in decoder_channels]
        if len(widths) != 5 or min(widths) < 1:
            raise ValueError(
                f"decoder_channels must be 5 positive widths, not {decoder_channels!r}"
            )
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be at least 1, not {num_classes!r}")
        self.config: dict[str, Any] = {
            "backbone": backbone,
            "in_channels": int(in_channels),
            "num_classes": int(num_classes),
            "decoder_channels": widths,
        }
        self.encoder = build_encoder(backbone, int(in_channels))
        skips = self.encoder.channels  # strides 2, 4, 8, 16, 32
        ins = [skips[4], *widths[:3]]
        self.blocks = nn.ModuleList(
            _UpBlock(i, s, o) for i, s, o in zip(ins, skips[3::-1], widths[:4], strict=True)
        )
        self.coarse_head = nn.Conv2d(widths[3], int(num_classes), 1)
        self.refine = nn.Sequential(
            _conv_bn_relu(int(num_classes) + int(in_channels), widths[4]),
            nn.Conv2d(widths[4], int(num_classes), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` float32 → logits ``(N, num_classes, H, W)``; H and W multiples of 32."""
        if not (torch.jit.is_tracing() or torch.compiler.is_exporting()):
            _check_input(x, self.config["in_channels"])
        features = self.encoder(x)
        y = features[4]
        for block, skip in zip(self.blocks, features[3::-1], strict=True):
            y = block(y, skip)
        coarse = F.interpolate(
            self.coarse_head(y), scale_factor=2.0, mode="bilinear", align_corners=False
        )
        return coarse + self.refine(torch.cat([coarse, x], dim=1))


def _check_input(x: torch.Tensor, in_channels: int) -> None:
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"expected input (N, {in_channels}, H, W), not {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
        raise ValueError(
            f"input height and width must be multiples of {SIZE_MULTIPLE}, not {h}×{w}"
        )
