"""Two CPU processes (Gloo), as torchrun would start them: both end with the same network."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.multiprocessing as mp
from training_support import ddp_worker, free_port, tiny_recipe

from skinscan.training._data import seed_everything
from skinscan.training._setup import build_network


def test_two_process_gloo_run(tmp_path: Path, phantom_manifest: Path) -> None:
    recipe = tiny_recipe(
        tmp_path / "run",
        phantom_manifest,
        overrides=[
            "optim.steps=3",
            "optim.batch_size=2",
            "export.bundle=true",
            "export.onnx=false",
        ],
    )
    mp.spawn(
        ddp_worker,
        args=(2, free_port(), recipe.to_dict(), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # Gradients are averaged and batch-norm statistics synchronised: identical networks.
    first, second = ranks[0]["state"], ranks[1]["state"]
    for key, value in first.items():
        torch.testing.assert_close(second[key], value, rtol=0, atol=1e-6, msg=key)
    # The steps moved the weights away from the seeded start, and the logged losses agree.
    seed_everything(recipe.seed)
    start = build_network(recipe).state_dict()
    assert any(not torch.equal(start[k], first[k]) for k in start if start[k].is_floating_point())
    assert ranks[0]["losses"] == ranks[1]["losses"]
    assert len(ranks[0]["losses"]) == 3
    # Metrics are summed over both processes' shards: the 4 validation samples, once each.
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    assert ranks[0]["metrics"]["n"] == 4
    # Only rank 0 writes: one bundle, one event file.
    assert ranks[0]["bundle"] is not None
    assert ranks[1]["bundle"] is None
    assert (tmp_path / "run" / "bundle" / "metadata.json").is_file()
    assert len(list((tmp_path / "run" / "tensorboard").iterdir())) == 1
