"""torchvision backbones as multi-scale encoders (always built with ``weights=None``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models as tvm  # type: ignore[import-untyped]
from torchvision.models._utils import IntermediateLayerGetter  # type: ignore[import-untyped]

__all__ = ["BACKBONES", "Encoder", "adapt_first_conv", "build_encoder"]


@dataclass(frozen=True)
class _Spec:
    """Where a backbone's features at strides 2, 4, 8, 16 and 32 come from.

    ``skips`` name the last layer at each stride (the U-Net's skip connections, shallow to deep);
    ``pooled`` names the layer whose output a classifier would pool (the severity heads' input).
    Channel counts are those of torchvision's definitions; a test checks them.
    """

    children: str  # "features" (a Sequential of stages) or "" (the model's own children)
    skips: tuple[str, ...]
    skip_channels: tuple[int, ...]
    pooled: str
    pooled_channels: int


_SPECS: dict[str, _Spec] = {
    # mobilenet_v3_small.features: 0 stem (s2), 1 (s4), 2-3 (s8), 4-8 (s16), 9-11 (s32), then
    # 12, a 1×1 conv. The U-Net stops at 11: the 96 → 576 expansion only feeds a classifier.
    "mobilenet_v3_small": _Spec(
        "features", ("0", "1", "3", "8", "11"), (16, 16, 24, 48, 96), "12", 576
    ),
    "mobilenet_v3_large": _Spec(
        "features", ("1", "3", "6", "12", "15"), (16, 24, 40, 112, 160), "16", 960
    ),
    "efficientnet_b0": _Spec(
        "features", ("1", "2", "3", "5", "7"), (16, 24, 40, 112, 320), "8", 1280
    ),
    # resnet: relu is the stem's output (s2); maxpool + layer1 is s4.
    "resnet18": _Spec(
        "", ("relu", "layer1", "layer2", "layer3", "layer4"), (64, 64, 128, 256, 512), "layer4", 512
    ),
    "resnet34": _Spec(
        "", ("relu", "layer1", "layer2", "layer3", "layer4"), (64, 64, 128, 256, 512), "layer4", 512
    ),
}

#: Backbone names :func:`build_encoder` accepts.
BACKBONES: tuple[str, ...] = tuple(_SPECS)


def adapt_first_conv(module: nn.Module, in_channels: int) -> None:
    """Give the first ``Conv2d`` of ``module`` ``in_channels`` inputs, in place.

    Channels beyond the third start from the mean of the RGB kernels (the usual way to add an
    input plane to a network whose RGB filters are already useful), so a fourth plane that
    resembles luminance, such as the texture channel, starts on the same footing.
    """
    convs = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the backbone has no Conv2d to adapt")
    name, child = convs[0]
    if child.in_channels == in_channels:
        return
    if child.groups != 1:
        raise ValueError("cannot adapt a grouped first convolution")
    new = nn.Conv2d(
        in_channels,
        child.out_channels,
        kernel_size=child.kernel_size,  # type: ignore[arg-type]
        stride=child.stride,  # type: ignore[arg-type]
        padding=child.padding,  # type: ignore[arg-type]
        dilation=child.dilation,  # type: ignore[arg-type]
        bias=child.bias is not None,
    )
    with torch.no_grad():
        keep = min(in_channels, child.in_channels)
        new.weight[:, :keep] = child.weight[:, :keep]
        if in_channels > keep:
            new.weight[:, keep:] = child.weight.mean(dim=1, keepdim=True)
        if child.bias is not None and new.bias is not None:
            new.bias.copy_(child.bias)
    parent_name, _, attr = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, attr, new)


class Encoder(nn.Module):
    """A torchvision backbone that returns a list of feature maps, shallow to deep.

    Parameters
    ----------
    backbone : str
        One of :data:`BACKBONES`.
    in_channels : int
        Input planes (3: RGB; 4: RGB + texture).
    pooled : bool
        Return only the classifier-level feature map (stride 32) instead of the five skip levels.

    Attributes
    ----------
    channels : tuple of int
        Channels of each returned map.
    """

    def __init__(self, backbone: str, in_channels: int, *, pooled: bool = False) -> None:
        super().__init__()
        if backbone not in _SPECS:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        spec = _SPECS[backbone]
        network = getattr(tvm, backbone)(weights=None)
        source: nn.Module = getattr(network, spec.children) if spec.children else network
        adapt_first_conv(source, in_channels)
        layers = (spec.pooled,) if pooled else spec.skips
        self.body = IntermediateLayerGetter(source, {name: str(i) for i, name in enumerate(layers)})
        self.channels: tuple[int, ...] = (spec.pooled_channels,) if pooled else spec.skip_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps ``(N, channels[i], H / s_i, W / s_i)``: ``s = 2, 4, 8, 16, 32``, or the
        stride-32 classifier features alone when ``pooled``."""
        features = self.body(x)
        return [features[str(i)] for i in range(len(self.channels))]


def build_encoder(backbone: str, in_channels: int, *, pooled: bool = False) -> Encoder:
    """An :class:`Encoder` (checked arguments)."""
    if in_channels not in (3, 4):
        raise ValueError(f"in_channels must be 3 (RGB) or 4 (RGB + texture), not {in_channels!r}")
    return Encoder(backbone, in_channels, pooled=pooled)
