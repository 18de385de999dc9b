"""The training loop on the CPU: the loss falls, checkpoints resume exactly, data are keyed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from training_support import SIZE, tiny_recipe

from skinscan.datasets import ManifestDataset, train_augment
from skinscan.training._checkpoint import load_checkpoint
from skinscan.training._data import EpochBatches, KeyedDataset
from skinscan.training._losses import SegmentationLoss, SeverityLoss
from skinscan.training.recipe import RecipeError
from skinscan.training.trainer import train


def _max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


def test_a_tiny_unet_learns(tmp_path: Path, phantom_manifest: Path) -> None:
    recipe = tiny_recipe(
        tmp_path / "run",
        phantom_manifest,
        overrides=["optim.steps=24", "optim.lr=0.01", "optim.warmup_steps=2", "eval_every=12"],
    )
    result = train(recipe)
    losses = [loss for _, loss in result.losses]
    assert [step for step, _ in result.losses] == list(range(1, 25))
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < 0.93 * first, losses
    # Validation on the manifest's val split, per skin-tone group, selected by mean Dice.
    assert result.metrics is not None
    assert result.metrics.primary == "mean/dice"
    assert result.metrics.counts["all"] == 4
    assert result.best_step in (12, 24)
    assert sum(n for g, n in result.metrics.counts.items() if g != "all") == 4
    assert result.steps == 24
    assert result.world_size == 1
    assert result.device.startswith("cpu")
    out = tmp_path / "run"
    assert (out / "recipe.yaml").is_file()
    assert any((out / "tensorboard").iterdir())
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint["step"] == 24
    assert checkpoint["recipe"]["name"] == recipe.name
    assert checkpoint["best"]["step"] == result.best_step
    assert {"model", "optimizer", "scheduler", "rng"} <= set(checkpoint)
    assert not list(out.glob("checkpoints/*.partial"))  # written atomically


def test_resume_reaches_the_uninterrupted_weights(tmp_path: Path, phantom_manifest: Path) -> None:
    # Augmentation on, a warm-up and a cosine schedule: everything a resume must restore.
    common = ["data.augment=true", "optim.warmup_steps=1", "optim.batch_size=3"]
    straight = train(
        tiny_recipe(tmp_path / "a", phantom_manifest, overrides=[*common, "optim.steps=4"])
    )
    train(tiny_recipe(tmp_path / "b", phantom_manifest, overrides=[*common, "optim.steps=2"]))
    resumed = train(
        tiny_recipe(tmp_path / "b", phantom_manifest, overrides=[*common, "optim.steps=4"]),
        resume=True,
    )
    assert resumed.steps == 4
    assert [s for s, _ in resumed.losses] == [3, 4]
    assert _max_difference(straight.model, resumed.model) <= 1e-6
    np.testing.assert_allclose(
        [loss for _, loss in resumed.losses], [loss for _, loss in straight.losses[2:]], rtol=1e-6
    )


def test_an_occupied_output_folder_needs_resume(tmp_path: Path, phantom_manifest: Path) -> None:
    recipe = tiny_recipe(tmp_path / "run", phantom_manifest, overrides=["optim.steps=1"])
    train(recipe)
    with pytest.raises(RecipeError, match="already holds a checkpoint"):
        train(recipe)
    # Resuming a finished run takes no step and keeps its weights.
    again = train(recipe, resume=True)
    assert again.steps == 1
    assert again.losses == []


def test_the_severity_regressor_trains_on_phantoms(tmp_path: Path) -> None:
    result = train(tiny_recipe(tmp_path / "sev", task="severity", overrides=["optim.steps=2"]))
    assert result.steps == 2
    assert all(np.isfinite(loss) for _, loss in result.losses)
    assert result.metrics is None  # no validation data in the recipe


def test_epoch_batches_cover_each_epoch_once_and_skip_exactly() -> None:
    full = EpochBatches(10, 3, seed=4)
    full.set_epoch(2)
    batches = list(full)
    assert len(batches) == 3 == len(full)  # 10 samples: 3 batches of 3, one sample dropped
    indices = [i for batch in batches for _, i in batch]
    assert len(set(indices)) == 9
    assert all(epoch == 2 for batch in batches for epoch, _ in batch)
    full.set_epoch(2, skip=2)
    assert list(full) == batches[2:]
    full.set_epoch(3)
    assert list(full) != batches  # a new permutation each epoch
    # Two processes share every epoch without overlap.
    ranks = [EpochBatches(12, 3, seed=4, rank=r, world_size=2) for r in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(0)
    seen = [{i for batch in sampler for _, i in batch} for sampler in ranks]
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == 12
    with pytest.raises(RecipeError, match="make no batch"):
        EpochBatches(5, 4, seed=0, world_size=2)


def test_keyed_samples_depend_only_on_their_key(phantom_manifest: Path) -> None:
    dataset = ManifestDataset(phantom_manifest, size=SIZE, augment=train_augment(SIZE, seed=0))
    keyed = KeyedDataset(dataset, seed=0)
    first = keyed[(1, 3)]["image"]
    keyed[(0, 5)]  # other samples in between change nothing
    torch.testing.assert_close(keyed[(1, 3)]["image"], first)
    assert not torch.equal(keyed[(2, 3)]["image"], first)  # another epoch, another draw
    state = torch.get_rng_state()
    keyed[(4, 4)]
    assert torch.equal(torch.get_rng_state(), state)  # the training's generator is untouched


def test_losses_ignore_unlabelled_targets() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 8, 8, requires_grad=True)
    masks = (torch.rand(2, 2, 8, 8) > 0.8).float()
    valid = torch.tensor([[True, False], [True, True]])
    loss = SegmentationLoss(["wrinkles", "spots"])(logits, masks, valid)
    loss.backward()
    assert logits.grad is not None
    assert torch.count_nonzero(logits.grad[0, 1]) == 0  # the unlabelled plane gets no gradient
    assert torch.count_nonzero(logits.grad[1, 1]) > 0
    # A near-perfect prediction costs almost nothing; weighting positives raises a miss's cost.
    perfect = (masks * 2 - 1) * 20
    assert float(SegmentationLoss(["w", "s"])(perfect, masks, valid)) < 0.2
    missed = torch.full_like(masks, -3.0)
    plain = SegmentationLoss(["w", "s"], dice_weight=0)(missed, masks, valid)
    weighted = SegmentationLoss(["w", "s"], pos_weight={"w": 10, "s": 10}, dice_weight=0)(
        missed, masks, valid
    )
    assert float(weighted) > 3 * float(plain)

    pred = torch.tensor([[10.0, 50.0]], requires_grad=True)
    target = torch.tensor([[30.0, 0.0]])
    severity = SeverityLoss(beta=5.0)(pred, target, torch.tensor([[True, False]]))
    assert float(severity.detach()) == pytest.approx(20.0 - 2.5)  # linear beyond beta: |e| − β/2
    severity.backward()
    assert pred.grad is not None
    assert float(pred.grad[0, 1]) == 0.0
    with pytest.raises(ValueError, match=r"do the model's heads match data\.heads"):
        SeverityLoss()(torch.zeros(1, 3), torch.zeros(1, 4), torch.ones(1, 4, dtype=torch.bool))
