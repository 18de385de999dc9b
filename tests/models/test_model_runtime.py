"""Runtime: CPU predictions (onnxruntime) match the PyTorch path, shapes, caching, no torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from model_support import SEG_SIZE

from skinscan.models import load_bundle, load_runtime
from skinscan.models.preprocess import to_input


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.array([190, 140, 120], np.float64) + rng.normal(0, 12, (h, w, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def _torch_reference(bundle_path: Path, rgb: np.ndarray) -> np.ndarray:
    """The contract spelled out: resize, to_input, network, sigmoid, bilinear back."""
    bundle = load_bundle(bundle_path)
    h, w = bundle.input_size
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(to_input(small, texture=bundle.metadata["preprocessing"]["texture"]))
    with torch.inference_mode():
        out = bundle.torch_model()(x[None])[0]
    if bundle.task != "segmentation":
        return out.numpy()
    prob = torch.sigmoid(out).numpy()
    return np.stack([cv2.resize(p, (rgb.shape[1], rgb.shape[0])) for p in prob])


def test_segmenter_predicts_probabilities_at_photo_size(seg_bundle: Path) -> None:
    runtime = load_runtime(seg_bundle)
    photo = _photo(150, 110)  # not square, not the bundle's size, shrinks on both axes
    masks = runtime.predict(photo)
    assert masks.shape == (2, 150, 110)
    assert masks.dtype == np.float32
    assert float(masks.min()) >= 0.0
    assert float(masks.max()) <= 1.0
    np.testing.assert_allclose(masks, _torch_reference(seg_bundle, photo), atol=1e-4)
    assert runtime.name == "tiny-seg"
    assert runtime.version == "0.0.1"
    assert runtime.metadata["output"]["names"] == ["wrinkles", "spots"]


def test_severity_predicts_one_value_per_head(sev_bundle: Path) -> None:
    runtime = load_runtime(sev_bundle)
    photo = _photo(80, 120, seed=2)
    scores = runtime.predict(photo)
    assert scores.shape == (4,)
    assert scores.dtype == np.float32
    assert bool(((scores >= 0) & (scores <= 100)).all())
    np.testing.assert_allclose(scores, _torch_reference(sev_bundle, photo), atol=1e-3)


def test_batch_equals_one_by_one(seg_bundle: Path) -> None:
    runtime = load_runtime(seg_bundle)
    photos = [_photo(64, 96, seed=1), _photo(40, 200, seed=2), _photo(128, 128, seed=3)]
    batch = runtime.predict_batch(photos, batch_size=2)
    assert [b.shape for b in batch] == [(2, 64, 96), (2, 40, 200), (2, 128, 128)]
    for photo, masks in zip(photos, batch, strict=True):
        np.testing.assert_allclose(masks, runtime.predict(photo), atol=1e-5)


def test_torch_engine_on_cpu_matches_onnxruntime(seg_bundle: Path) -> None:
    photo = _photo(70, 90, seed=4)
    reference = load_runtime(seg_bundle, engine="torch")
    assert "torch cpu" in repr(reference)
    np.testing.assert_allclose(
        reference.predict(photo), load_runtime(seg_bundle).predict(photo), atol=1e-4
    )


def test_runtime_is_loaded_once(seg_bundle: Path) -> None:
    assert load_runtime(seg_bundle) is load_runtime(str(seg_bundle))
    assert load_runtime(seg_bundle, threads=1) is not load_runtime(seg_bundle)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)],
)
def test_predict_refuses_non_rgb_u8(seg_bundle: Path, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 sRGB photo"):
        load_runtime(seg_bundle).predict(bad)


def test_load_runtime_refuses_bad_device_and_engine(seg_bundle: Path) -> None:
    with pytest.raises(ValueError, match="device must be"):
        load_runtime(seg_bundle, device="tpu")
    with pytest.raises(ValueError, match="engine must be"):
        load_runtime(seg_bundle, engine="tensorrt")
    with pytest.raises(ValueError, match="onnxruntime runs on the CPU"):
        load_runtime(seg_bundle, device="cuda", engine="onnxruntime")


def test_cpu_path_never_imports_torch(seg_bundle: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import skinscan.models as models
        runtime = models.load_runtime({str(seg_bundle)!r})
        masks = runtime.predict(np.full((50, 70, 3), 128, np.uint8))
        assert masks.shape == (2, 50, 70), masks.shape
        models.list_models()
        models.default_bundle_path("segmentation")
        loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        print("torch modules:", loaded)
        assert not loaded
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout


@pytest.mark.gpu
def test_cuda_runtime_matches_cpu(seg_bundle: Path, sev_bundle: Path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    photo = _photo(*SEG_SIZE, seed=5)
    gpu = load_runtime(seg_bundle, device="cuda")
    assert "bf16" in repr(gpu)
    masks = gpu.predict(photo)
    assert masks.shape == (2, *SEG_SIZE)
    # bf16 keeps about 3 significant digits; probabilities agree to a few hundredths
    np.testing.assert_allclose(masks, load_runtime(seg_bundle).predict(photo), atol=0.05)
    scores = load_runtime(sev_bundle, device="cuda").predict(photo)
    np.testing.assert_allclose(scores, load_runtime(sev_bundle).predict(photo), atol=2.0)
