"""A tiny phantom training set on disk, written once per session, and single-threaded torch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run PyTorch single-threaded: the tensors are tiny, and two OpenMP threads on a runner's
    two busy cores wait on each other more than they work."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def phantom_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 phantom patches at 64² (exact masks, synthetic severities), 4 of them in ``val``."""
    from training_support import PHANTOM_N, PHANTOM_SEED, SIZE

    from skinscan.datasets import write_phantom_training_set

    return write_phantom_training_set(
        tmp_path_factory.mktemp("phantom-set"),
        n=PHANTOM_N,
        size=SIZE,
        seed=PHANTOM_SEED,
        val_fraction=0.25,
        faces=False,
        workers=1,
        progress=False,
    )
