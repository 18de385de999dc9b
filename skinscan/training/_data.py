"""Datasets and loaders of a recipe, with randomness that depends only on the seed and the sample.

Reproducibility
---------------
Batches are drawn by :class:`EpochBatches`: :class:`~torch.utils.data.DistributedSampler`'s
permutation of epoch ``e`` (seeded by the recipe's seed and ``e``), cut into batches per
process. Each sample is fetched by the key ``(epoch, index)``: :class:`KeyedDataset` sets the
dataset's epoch, whose augmentation is keyed by ``(epoch, index)``
(:mod:`skinscan.datasets.augment`), and seeds numpy's, Python's and torch's global generators
from ``(seed, epoch, index)`` for anything else random. So the images a step sees depend
neither on the number of DataLoader workers nor on the order in which workers finish, and a
run resumed at
step ``s`` of epoch ``e`` draws the batches, augmentations included, an uninterrupted run
would have drawn: it skips the first ``s mod batches_per_epoch`` batches of that epoch's
permutation without loading them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from skinscan.training.recipe import DataSource, Recipe, RecipeError

__all__ = [
    "EpochBatches",
    "KeyedDataset",
    "build_dataset",
    "make_loader",
    "sample_seed",
    "seed_everything",
    "worker_init",
]


def sample_seed(*key: int) -> int:
    """A 32-bit seed from integers (``SeedSequence`` mixes them: nearby keys, unrelated seeds)."""
    return int(np.random.SeedSequence([abs(int(k)) for k in key]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the global generator is the point
    torch.manual_seed(seed)


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: numpy and Python generators from the worker's torch seed.

    PyTorch seeds each worker's torch generator (base seed + worker id, the base drawn from the
    loader's seeded generator) but not numpy's or Python's, which would otherwise be copies of
    the parent's in every worker.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002
    random.seed(seed)


class KeyedDataset(Dataset[dict[str, Any]]):
    """A dataset whose item ``(epoch, index)`` is ``dataset[index]`` drawn with its own seed.

    Parameters
    ----------
    dataset : Dataset
        Map-style dataset of sample dicts (:mod:`skinscan.models.contract`).
    seed : int
        The run's seed.
    """

    def __init__(self, dataset: Dataset[Any], seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)  # the datasets key their augmentation by (epoch, index)
        # Anything else random in a sample's preparation draws from the global generators:
        # seeded per sample here and restored after, so the training's own streams are untouched.
        py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
        with torch.random.fork_rng(devices=[]):
            seed_everything(sample_seed(self.seed, epoch, index))
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)  # noqa: NPY002


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """Batches of ``(epoch, index)`` keys of one process for one epoch at a time.

    Parameters
    ----------
    size : int
        Samples in the dataset.
    batch_size : int
        Samples per batch and process.
    seed, rank, world_size : int
        As :class:`~torch.utils.data.DistributedSampler` (which pads the permutation so that
        every process gets as many samples).
    shuffle : bool
        A new permutation per epoch (training) or the dataset's order.

    Notes
    -----
    The last incomplete batch is dropped, so every step has ``batch_size`` samples per process
    (batch norm needs more than one). :meth:`set_epoch` chooses the epoch and how many batches
    of it to skip.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        self._indices = range(size)
        self.sampler: DistributedSampler[int] = DistributedSampler(
            self._indices,  # type: ignore[arg-type]  # only its length is read
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=False,
        )
        self.batch_size = batch_size
        self.epoch = 0
        self.skip = 0
        if len(self) == 0:
            raise RecipeError(
                f"{size} training samples make no batch of {batch_size} per process for "
                f"{world_size} process(es); lower optim.batch_size or add samples"
            )

    def set_epoch(self, epoch: int, *, skip: int = 0) -> None:
        """Draw epoch ``epoch``'s permutation and start after its first ``skip`` batches."""
        self.epoch = epoch
        self.skip = skip
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = list(self.sampler)
        for b in range(self.skip, len(self)):
            chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield [(self.epoch, int(i)) for i in chunk]


def _manifest_samples(source: DataSource, split: str, *, required: bool) -> list[Any]:
    samples = source.read_samples()
    chosen = [s for s in samples if getattr(s, "split", None) == split]
    if not chosen and required:
        splits = sorted({str(getattr(s, "split", None)) for s in samples})
        raise RecipeError(
            f"{source.describe()} has no samples of split {split!r} (splits: {splits})"
        )
    return chosen


def build_dataset(recipe: Recipe, *, train: bool) -> Dataset[Any] | None:
    """The recipe's training (``train=True``) or validation dataset; None without validation.

    A manifest's samples of ``data.train_split`` / ``data.val_split`` are used; training
    samples get :func:`~skinscan.datasets.augment.train_augment` (seeded by the recipe) when
    ``data.augment``, the others the deterministic evaluation resize.
    Without ``data.val``, the training manifest's validation split is used if it has one.
    """
    data = recipe.data
    source = data.train if train else data.val
    split = data.train_split if train else data.val_split
    if source is None:
        if data.train.manifest is None:
            return None
        source = data.train
        required = False
    else:
        required = True
    from skinscan.datasets.augment import train_augment

    augment = train_augment(data.size, seed=recipe.seed) if train and data.augment else None
    if source.phantom is not None:
        from skinscan.datasets.torch_data import PhantomDataset
        from skinscan.models.contract import MASK_NAMES

        if tuple(data.mask_names) != MASK_NAMES:
            raise RecipeError(
                f"phantom samples carry the masks {list(MASK_NAMES)}; data.mask_names is "
                f"{data.mask_names}"
            )
        spec = source.phantom
        return PhantomDataset(
            spec.n,
            size=data.size,
            seed=spec.seed,
            tones=spec.tones,
            texture=data.texture,
            heads=tuple(data.heads),
            augment=augment,
        )
    from skinscan.datasets.torch_data import ManifestDataset

    samples = _manifest_samples(source, split, required=required)
    if not samples:
        return None
    return ManifestDataset(
        samples,
        size=data.size,
        texture=data.texture,
        augment=augment,  # None: the deterministic evaluation resize
        heads=tuple(data.heads),
        mask_names=tuple(data.mask_names),
    )


def make_loader(
    dataset: Dataset[Any],
    batches: Sampler[list[tuple[int, int]]] | Sequence[list[int]],
    *,
    workers: int,
    seed: int,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """A DataLoader over ``batches`` with seeded workers (``worker_init``, a seeded generator).

    Batches are :func:`skinscan.datasets.torch_data.collate`'d: tensors stacked, strings listed.
    """
    from skinscan.datasets.torch_data import collate

    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        collate_fn=collate,
        batch_sampler=batches,
        num_workers=workers,
        worker_init_fn=worker_init if workers else None,
        generator=generator,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
    )
