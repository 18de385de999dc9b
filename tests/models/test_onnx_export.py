"""ONNX export: matches PyTorch, dynamic axes work, the source model is left as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from model_support import TINY_DECODER

from skinscan.models import build_model, export_onnx
from skinscan.models._runners import onnx_session


@pytest.mark.parametrize("arch", ["unet", "severity"])
def test_export_matches_torch_with_dynamic_axes(tmp_path: Path, arch: str) -> None:
    torch.manual_seed(0)
    kwargs = {"decoder_channels": TINY_DECODER} if arch == "unet" else {}
    model = build_model(arch, in_channels=4, **kwargs)
    path = tmp_path / "m.onnx"
    diff = export_onnx(model, path, input_size=(64, 96), in_channels=4)
    assert 0.0 <= diff < 1e-4
    assert model.training  # the caller's module keeps its mode
    assert onnx.load(str(path)).opset_import[0].version == 17
    # another batch size (and, for the U-Net, another size) than the traced one
    shape = (3, 4, 96, 64) if arch == "unet" else (3, 4, 64, 96)
    x = torch.randn(*shape)
    session = onnx_session(path)
    actual = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():
        expected = model.eval()(x).numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_export_refuses_opset_the_exporter_cannot_write(tmp_path: Path) -> None:
    model = build_model("severity")
    with pytest.raises(ValueError, match="opset 18 or later"):
        export_onnx(model, tmp_path / "m.onnx", input_size=(64, 64), in_channels=3, dynamo=True)
    assert not (tmp_path / "m.onnx").exists()
