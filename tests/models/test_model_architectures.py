"""Architectures: shapes, gradients, memory format, config round trip, argument checks."""

from __future__ import annotations

import json

import pytest
import torch
from model_support import TINY_DECODER as TINY
from torch import nn

from skinscan.models import ARCHS, BACKBONES, build_model
from skinscan.models._backbones import adapt_first_conv
from skinscan.models.architectures import count_parameters, unwrap_model
from skinscan.models.contract import CONCERNS, MASK_NAMES


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("in_channels", [3, 4])
def test_unet_logits_at_input_size(backbone: str, in_channels: int) -> None:
    net = build_model("unet", backbone=backbone, in_channels=in_channels, decoder_channels=TINY)
    x = torch.randn(1, in_channels, 64, 64)
    with torch.inference_mode():
        features = net.eval().encoder(x)
        out = net(x)
    assert out.shape == (1, len(MASK_NAMES), 64, 64)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # the skip features come at strides 2, 4, 8, 16, 32 with the declared widths
    assert [f.shape[1] for f in features] == list(net.encoder.channels)
    assert [f.shape[-1] for f in features] == [64 // s for s in (2, 4, 8, 16, 32)]


def test_unet_non_square_and_num_classes() -> None:
    net = build_model("unet", num_classes=3, decoder_channels=TINY).eval()
    with torch.inference_mode():
        features = net.encoder(torch.zeros(1, 3, 64, 96))
        assert net(torch.zeros(1, 3, 96, 160)).shape == (1, 3, 96, 160)
    assert [tuple(f.shape[2:]) for f in features] == [(64 // s, 96 // s) for s in (2, 4, 8, 16, 32)]


@pytest.mark.parametrize(
    ("backbone", "in_channels"), [("mobilenet_v3_small", 3)] + [(b, 4) for b in BACKBONES]
)
def test_severity_outputs_0_to_100_per_head(backbone: str, in_channels: int) -> None:
    net = build_model("severity", backbone=backbone, in_channels=in_channels).eval()
    with torch.inference_mode():
        out = net(10.0 * torch.randn(2, in_channels, 64, 64))
    assert out.shape == (2, len(CONCERNS))
    assert float(out.min()) >= 0.0
    assert float(out.max()) <= 100.0
    assert net.encoder.channels[0] == net.heads[CONCERNS[0]][0].in_features


def test_severity_custom_heads_order() -> None:
    net = build_model("severity", heads=["wrinkles", "redness"]).eval()
    assert list(net.heads) == ["wrinkles", "redness"]
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 2)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradient_reaches_first_conv(arch: str) -> None:
    kwargs = {"decoder_channels": TINY} if arch == "unet" else {}
    net = build_model(arch, in_channels=4, **kwargs).train()
    first = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 4
    net(torch.randn(2, 4, 32, 32)).sum().backward()
    assert first.weight.grad is not None
    # every input plane, the texture channel included, receives gradient
    per_plane = first.weight.grad.abs().sum(dim=(0, 2, 3))
    assert bool((per_plane > 0).all())


@pytest.mark.parametrize("arch", ARCHS)
def test_channels_last_input_gives_same_output(arch: str) -> None:
    kwargs = {"decoder_channels": TINY} if arch == "unet" else {}
    net = build_model(arch, in_channels=4, **kwargs).eval()
    x = torch.randn(1, 4, 64, 96)
    with torch.inference_mode():
        reference = net(x)
        cl_net = net.to(memory_format=torch.channels_last)
        out = cl_net(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out.contiguous(), reference, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("arch", ARCHS)
def test_config_is_json_and_rebuilds_the_same_network(arch: str) -> None:
    net = build_model(arch, backbone="resnet18", in_channels=4)
    config = json.loads(json.dumps(net.config))
    again = build_model(net.arch, **config)
    assert again.config == net.config
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }
    again.load_state_dict(net.state_dict(), strict=True)


def test_default_unet_is_small() -> None:
    net = build_model("unet", in_channels=4)
    assert net.config["backbone"] == "mobilenet_v3_small"
    assert count_parameters(net) < 2_000_000


def test_fourth_input_plane_starts_as_mean_of_rgb() -> None:
    conv_parent = nn.Sequential(nn.Conv2d(3, 8, 3))
    rgb = conv_parent[0].weight.detach().clone()
    adapt_first_conv(conv_parent, 4)
    weight = conv_parent[0].weight.detach()
    assert weight.shape == (8, 4, 3, 3)
    torch.testing.assert_close(weight[:, :3], rgb)
    torch.testing.assert_close(weight[:, 3], rgb.mean(dim=1))


def test_unwrap_data_parallel() -> None:
    net = build_model("severity")
    assert unwrap_model(nn.DataParallel(net)) is net
    assert unwrap_model(net) is net


@pytest.mark.parametrize(
    ("arch", "kwargs", "error", "message"),
    [
        ("vit", {}, ValueError, "unknown architecture"),
        ("unet", {"backbone": "vgg16"}, ValueError, "unknown backbone"),
        ("unet", {"in_channels": 5}, ValueError, "in_channels must be 3"),
        ("unet", {"decoder_channels": (8, 8)}, ValueError, "5 positive widths"),
        ("unet", {"heads": ["redness"]}, TypeError, "not heads"),
        ("severity", {"heads": []}, ValueError, "at least one"),
        ("severity", {"heads": ["a", "a"]}, ValueError, "distinct"),
    ],
)
def test_bad_arguments(arch: str, kwargs: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build_model(arch, **kwargs)


def test_bad_input_shapes_are_refused() -> None:
    net = build_model("unet", in_channels=4, decoder_channels=TINY).eval()
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.zeros(1, 4, 64, 70))
    with pytest.raises(ValueError, match=r"expected input \(N, 4, H, W\)"):
        net(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"expected input \(N, 3, H, W\)"):
        build_model("severity")(torch.zeros(1, 4, 64, 64))
