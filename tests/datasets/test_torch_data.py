"""Torch datasets: the sample contract, index determinism, DataLoader workers, manifests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from skinscan.datasets.augment import train_augment
from skinscan.datasets.manifest import ManifestSample
from skinscan.datasets.torch_data import ManifestDataset, PhantomDataset, collate
from skinscan.models.contract import CONCERNS, MASK_NAMES, SKIN_TONE_GROUPS


@pytest.fixture(scope="module")
def phantom() -> PhantomDataset:
    return PhantomDataset(16, size=64, seed=7)


def test_phantom_sample_follows_the_contract(phantom: PhantomDataset) -> None:
    sample = phantom[0]
    assert set(sample) == {
        "image",
        "masks",
        "mask_valid",
        "severity",
        "severity_valid",
        "grade",
        "skin_tone",
        "id",
    }
    assert sample["image"].shape == (3, 64, 64)
    assert sample["image"].dtype == torch.float32
    assert sample["masks"].shape == (len(MASK_NAMES), 64, 64)
    assert sample["masks"].dtype == torch.float32
    assert set(sample["masks"].unique().tolist()) <= {0.0, 1.0}
    assert sample["mask_valid"].dtype == torch.bool
    assert sample["mask_valid"].all()
    assert sample["severity"].shape == (4,)
    assert sample["severity"].dtype == torch.float32
    assert sample["severity_valid"].all()
    assert sample["grade"].dtype == torch.int64
    # The synthetic target: 25 × ladder level.
    assert torch.equal(sample["severity"], 25.0 * sample["grade"].float())
    assert sample["skin_tone"] in SKIN_TONE_GROUPS
    assert sample["id"] == "phantom-7-0"
    assert PhantomDataset(2, size=64, texture=True)[1]["image"].shape == (4, 64, 64)


def test_masks_are_present_exactly_when_the_level_is(phantom: PhantomDataset) -> None:
    wrinkle_level = CONCERNS.index("wrinkles")
    pigment_level = CONCERNS.index("pigment")
    seen_zero = seen_positive = 0
    for index in range(len(phantom)):
        sample = phantom[index]
        has_wrinkles = bool(sample["masks"][MASK_NAMES.index("wrinkles")].any())
        has_spots = bool(sample["masks"][MASK_NAMES.index("spots")].any())
        assert has_wrinkles == (int(sample["grade"][wrinkle_level]) > 0), index
        assert has_spots == (int(sample["grade"][pigment_level]) > 0), index
        seen_zero += int(sample["grade"][wrinkle_level]) == 0
        seen_positive += int(sample["grade"][wrinkle_level]) > 0
    assert seen_zero > 0
    assert seen_positive > 0


def test_phantom_is_index_deterministic_across_instances_and_workers(
    phantom: PhantomDataset,
) -> None:
    other = PhantomDataset(16, size=64, seed=7)
    for index in (5, 0, 11):
        a, b = phantom[index], other[index]
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["masks"], b["masks"])
        assert a["skin_tone"] == b["skin_tone"]
    assert not torch.equal(phantom[5]["image"], PhantomDataset(16, size=64, seed=8)[5]["image"])
    loader = DataLoader(phantom, batch_size=4, num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert batches[0]["image"].shape == (4, 3, 64, 64)
    assert batches[0]["id"] == [f"phantom-7-{i}" for i in range(4)]
    for batch_index, batch in enumerate(batches):
        for row in range(4):
            direct = phantom[4 * batch_index + row]
            assert torch.equal(batch["image"][row], direct["image"])
            assert torch.equal(batch["grade"][row], direct["grade"])
            assert batch["skin_tone"][row] == direct["skin_tone"]


def test_phantom_tones_span_light_to_dark() -> None:
    tones = {PhantomDataset(40, size=32, seed=1)[i]["skin_tone"] for i in range(40)}
    assert {"very_light", "dark"} <= tones
    light = {PhantomDataset(6, size=32, tones=("very_light",))[i]["skin_tone"] for i in range(6)}
    assert light <= {"very_light", "light"}


def test_phantom_heads_and_bad_arguments() -> None:
    dataset = PhantomDataset(3, size=32, heads=("wrinkles", "redness"))
    full = PhantomDataset(3, size=32)[2]
    sample = dataset[2]
    assert sample["grade"].tolist() == [
        int(full["grade"][CONCERNS.index("wrinkles")]),
        int(full["grade"][CONCERNS.index("redness")]),
    ]
    with pytest.raises(ValueError, match="unknown heads"):
        PhantomDataset(3, heads=("acne",))
    with pytest.raises(ValueError, match="unknown tones"):
        PhantomDataset(3, tones=("olive",))
    with pytest.raises(IndexError):
        dataset[3]


def _write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def test_manifest_dataset_labels_masks_and_validity(tmp_path: Path) -> None:
    image = np.full((40, 60, 3), 150, np.uint8)
    wrinkles = np.zeros((20, 30), np.uint8)  # half the image's size: resized to it
    wrinkles[10, :] = 255
    samples = [
        ManifestSample(
            id="one",
            image=_write(tmp_path / "one.png", image),
            split="train",
            skin_tone="brown",
            masks={"wrinkles": _write(tmp_path / "w.png", wrinkles)},
            severity={"redness": 40.0},
            grade={"redness": 2},
        ),
        ManifestSample(id="two", image=_write(tmp_path / "two.png", image), split="val"),
    ]
    dataset = ManifestDataset(samples, size=30, texture=True)
    one = dataset[0]
    assert one["image"].shape == (4, 30, 30)
    assert one["mask_valid"].tolist() == [True, False]
    assert one["masks"][0].sum() > 0
    assert one["masks"][1].sum() == 0
    assert one["severity"].tolist() == [40.0, 0.0, 0.0, 0.0]
    assert one["severity_valid"].tolist() == [True, False, False, False]
    assert one["grade"].tolist() == [2, -1, -1, -1]
    assert one["skin_tone"] == "brown"
    two = dataset[1]
    assert not two["mask_valid"].any()
    assert two["grade"].tolist() == [-1, -1, -1, -1]
    batch = collate([one, dataset[0]])
    assert batch["image"].shape == (2, 4, 30, 30)
    assert batch["id"] == ["one", "one"]

    # Training augmentation: seeded per (epoch, index), so repeatable, and new each epoch.
    augmented = ManifestDataset(samples, size=30, augment=train_augment(30, seed=1))
    first = augmented[0]["image"]
    assert torch.equal(first, augmented[0]["image"])
    augmented.set_epoch(1)
    assert not torch.equal(first, augmented[0]["image"])
    with pytest.raises(ValueError, match="same size"):
        ManifestDataset(samples, size=30, augment=train_augment(40, seed=1))[0]
    with pytest.raises(ValueError, match="unknown mask names"):
        ManifestDataset(samples, size=30, mask_names=("pores",))
