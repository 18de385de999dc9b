"""Tiny bundles, saved once per session, that the model tests read (and copy before altering)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from model_support import SEG_SIZE, SEV_SIZE, TINY_DECODER


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """PyTorch single-threaded meanwhile: these tests' tensors are tiny, and two OpenMP threads
    on a CI runner's two busy cores wait on each other more than they work."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def seg_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-channel U-Net (RGB + texture) bundle at 64×96, random weights, with its ONNX export."""
    import torch

    from skinscan.models import build_model, save_bundle

    folder = tmp_path_factory.mktemp("bundles") / "tiny-seg"
    with one_torch_thread():
        torch.manual_seed(0)
        model = build_model("unet", in_channels=4, decoder_channels=TINY_DECODER)
        return save_bundle(
            model,
            folder,
            name="tiny-seg",
            version="0.0.1",
            task="segmentation",
            input_size=SEG_SIZE,
            texture=True,
            metrics={"overall": {"dice": 0.5}, "by_skin_tone": {"light": {"dice": 0.6, "n": 3}}},
            training={"data": "random weights, for tests"},
        )


@pytest.fixture(scope="session")
def sev_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-channel severity regressor bundle at 64×64, random weights."""
    import torch

    from skinscan.models import build_model, save_bundle

    folder = tmp_path_factory.mktemp("bundles") / "tiny-sev"
    with one_torch_thread():
        torch.manual_seed(1)
        model = build_model("severity", in_channels=3)
        return save_bundle(
            model,
            folder,
            name="tiny-sev",
            version="0.0.1",
            task="severity",
            input_size=SEV_SIZE,
            texture=False,
        )


@pytest.fixture
def seg_copy(seg_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the segmentation bundle, free to alter."""
    return Path(shutil.copytree(seg_bundle, tmp_path / "tiny-seg"))
