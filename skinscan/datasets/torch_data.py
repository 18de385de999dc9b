"""torch datasets that return the sample contract of :mod:`skinscan.models.contract`.

- :class:`ManifestDataset`: the images of a manifest, augmented and prepared with
  :func:`skinscan.models.preprocess.to_input` (what inference does too).
- :class:`PhantomDataset`: phantom patches rendered on the fly, sample ``i`` always the same.

Both hold only plain data and build nothing global, so DataLoader workers (fork or spawn) each
get a working copy. ``set_epoch(e)`` changes the augmentation draw of every sample, like
``DistributedSampler.set_epoch`` (with ``persistent_workers=True`` the workers keep the epoch
they started with).

Examples
--------
>>> from torch.utils.data import DataLoader
>>> loader = DataLoader(PhantomDataset(64, size=128), batch_size=8, num_workers=2)  # doctest: +SKIP
>>> batch = next(iter(loader))  # doctest: +SKIP
>>> batch["image"].shape, batch["skin_tone"][:2]  # doctest: +SKIP
(torch.Size([8, 3, 128, 128]), ['tan', 'dark'])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from skinscan.datasets._files import read_mask, read_rgb
from skinscan.datasets._phantom_samples import patch_sample
from skinscan.datasets.augment import eval_augment
from skinscan.datasets.manifest import ManifestSample, read_manifest
from skinscan.models.contract import CONCERNS, MASK_NAMES, SKIN_TONE_GROUPS
from skinscan.models.preprocess import to_input

__all__ = ["SEVERITY_PER_LEVEL", "Augment", "ManifestDataset", "PhantomDataset", "collate"]

#: Synthetic severity target of a phantom ladder level: 25 × level (0, 25, 50, 75, 100).
SEVERITY_PER_LEVEL = 25.0


class Augment(Protocol):
    """How a dataset calls its ``augment``, as :class:`~skinscan.datasets.augment.PairTransform`."""

    def __call__(
        self,
        image: NDArray[np.uint8],
        masks: Sequence[NDArray[Any]] = (),
        *,
        key: Sequence[int] | None = None,
    ) -> tuple[NDArray[np.uint8], list[NDArray[np.bool_]]]: ...


def _square(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 8 or width < 8:
        raise ValueError(f"size must be at least 8 pixels, not {size}")
    return height, width


def _names(values: Sequence[str], allowed: Sequence[str] | None, what: str) -> tuple[str, ...]:
    names = tuple(values)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{what} must be a non-empty sequence of distinct names, not {values!r}")
    if allowed is not None:
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise ValueError(f"unknown {what} {unknown}; use names from {', '.join(allowed)}")
    return names


def _sample_dict(
    rgb_u8: NDArray[np.uint8],
    planes: Sequence[NDArray[np.bool_]],
    mask_valid: Sequence[bool],
    severity: Sequence[float | None],
    grade: Sequence[int | None],
    skin_tone: str,
    sample_id: str,
    texture: bool,
) -> dict[str, Any]:
    """The contract dict (see :mod:`skinscan.models.contract`)."""
    height, width = rgb_u8.shape[:2]
    masks = (
        np.stack([np.asarray(p, dtype=np.float32) for p in planes])
        if planes
        else np.zeros((0, height, width), np.float32)
    )
    return {
        "image": torch.from_numpy(to_input(rgb_u8, texture=texture)),
        "masks": torch.from_numpy(masks),
        "mask_valid": torch.tensor(list(mask_valid), dtype=torch.bool),
        "severity": torch.tensor([0.0 if v is None else v for v in severity], dtype=torch.float32),
        "severity_valid": torch.tensor([v is not None for v in severity], dtype=torch.bool),
        "grade": torch.tensor([-1 if g is None else g for g in grade], dtype=torch.int64),
        "skin_tone": skin_tone,
        "id": sample_id,
    }


class _Epoch:
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw every sample's augmentation anew (key ``(epoch, index)``)."""
        self.epoch = int(epoch)


class ManifestDataset(_Epoch, Dataset[dict[str, Any]]):
    """The images of a manifest as contract samples.

    Parameters
    ----------
    samples : iterable of ManifestSample, or a manifest path
    size : int or (int, int)
        Model input ``(height, width)``; every sample comes out at this size.
    texture : bool
        Add the texture channel (4 input channels instead of 3).
    augment : callable, optional
        A :class:`~skinscan.datasets.augment.PairTransform` (e.g.
        :func:`~skinscan.datasets.augment.train_augment`) producing ``size``; default
        :func:`~skinscan.datasets.augment.eval_augment` (resize and pad, no randomness).
    heads : sequence of str
        Order of the ``severity`` and ``grade`` entries (default the four concerns; a dataset's
        own scale such as ``"acne"`` may be named).
    mask_names : sequence of str
        Order of the mask planes.

    Notes
    -----
    Per sample: the image is read as 8-bit sRGB, each labelled mask binarised
    (:func:`~skinscan.datasets._files.read_mask`) and brought to the image's size (nearest)
    when it differs, both go through ``augment`` in one call with key ``(epoch, index)``, and
    the image through :func:`~skinscan.models.preprocess.to_input`. An unlabelled plane is all
    zeros with ``mask_valid`` False; an unlabelled severity is 0 with ``severity_valid`` False;
    an unlabelled grade is −1.
    """

    def __init__(
        self,
        samples: Iterable[ManifestSample] | str | os.PathLike[str],
        *,
        size: int | tuple[int, int],
        texture: bool = False,
        augment: Augment | None = None,
        heads: Sequence[str] = CONCERNS,
        mask_names: Sequence[str] = MASK_NAMES,
    ) -> None:
        if isinstance(samples, str | os.PathLike):
            samples = read_manifest(samples)
        self.samples = list(samples)
        self.size = _square(size)
        self.texture = bool(texture)
        self.augment: Augment = eval_augment(self.size) if augment is None else augment
        self.heads = _names(heads, None, "heads")
        self.mask_names = _names(mask_names, MASK_NAMES, "mask names")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        rgb = read_rgb(sample.image)
        planes, valid = [], []
        for name in self.mask_names:
            path = sample.masks.get(name)
            if path is None:
                planes.append(np.zeros(rgb.shape[:2], bool))
                valid.append(False)
                continue
            mask = read_mask(path)
            if mask.shape != rgb.shape[:2]:
                mask = cv2.resize(
                    mask.view(np.uint8), rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST
                ).astype(bool)
            planes.append(mask)
            valid.append(True)
        image, moved = self.augment(rgb, planes, key=(self.epoch, index))
        if image.shape[:2] != self.size:
            raise ValueError(
                f"augment produced {image.shape[1]}×{image.shape[0]} images, the dataset's size "
                f"is {self.size[1]}×{self.size[0]}: build the augmentation with the same size"
            )
        return _sample_dict(
            image,
            moved,
            valid,
            [sample.severity.get(h) for h in self.heads],
            [sample.grade.get(h) for h in self.heads],
            sample.skin_tone,
            sample.id,
            self.texture,
        )


class PhantomDataset(_Epoch, Dataset[dict[str, Any]]):
    """Phantom patches rendered on the fly, with exact masks and synthetic severity targets.

    Parameters
    ----------
    n : int
        Number of samples.
    size : int
        Side of the square patches, px.
    seed : int
        Sample ``i`` is fixed by ``(seed, i)``: the same in any process, any order.
    tones : sequence of str, optional
        Phantom tone presets to draw from; all, very light to very dark, by default.
    texture : bool
        Add the texture channel.
    heads : sequence of str
        Concerns of the ``severity`` and ``grade`` entries, in order.
    augment : callable, optional
        Applied to each rendered patch with key ``(epoch, index)`` (e.g. JPEG and noise); must
        keep ``size``.

    Notes
    -----
    Each sample: a tone preset drawn uniformly and jittered, a pixel size log-uniform over
    0.08-0.35 mm, a blood fraction of 1.2-3.5 %, and an independent ladder level 0-4 per
    concern (:func:`~skinscan.datasets._phantom_samples.patch_sample`). Masks: the painted
    ``wrinkles`` and ``spots`` (non-empty exactly when that level is above 0), all valid.
    **The severity target is synthetic**: ``25 × level`` (grade = level), a ladder position, not
    a clinical rating. ``skin_tone`` is the group of the rendered image's ITA°.

    Rendering costs ~30 ms at 64² and ~80 ms at 256² per sample on one CPU core, plus ~170 ms
    whenever a block of :data:`~skinscan.datasets._phantom_samples.MASK_BLOCK` consecutive
    indices needs a wrinkle mask the process has not extracted yet (the phantom keeps 64). A
    shuffled sampler over many blocks pays that often: for GPU training, pre-render with
    :func:`~skinscan.datasets.training_set.write_phantom_training_set` and read the files.
    """

    def __init__(
        self,
        n: int,
        *,
        size: int = 256,
        seed: int = 0,
        tones: Sequence[str] | None = None,
        texture: bool = False,
        heads: Sequence[str] = CONCERNS,
        augment: Augment | None = None,
    ) -> None:
        if n < 0:
            raise ValueError(f"n must be ≥ 0, not {n}")
        self.n = int(n)
        self.size = _square(int(size))[0]
        self.seed = int(seed)
        self.tones = None if tones is None else tuple(tones)
        self.texture = bool(texture)
        self.heads = _names(heads, CONCERNS, "heads")
        self.augment = augment
        if self.tones is not None:
            from skinscan.datasets.phantom import SKIN_TONES

            _names(self.tones, tuple(SKIN_TONES), "tones")

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} samples")
        rendered = patch_sample(index, size=self.size, seed=self.seed, tones=self.tones)
        planes = [rendered.masks[name] for name in MASK_NAMES]
        image = rendered.rgb_u8
        if self.augment is not None:
            image, planes = self.augment(image, planes, key=(self.epoch, index))
        levels = [rendered.levels[h] for h in self.heads]
        return _sample_dict(
            image,
            planes,
            [True] * len(planes),
            [SEVERITY_PER_LEVEL * level for level in levels],
            levels,
            rendered.skin_tone,
            f"phantom-{self.seed}-{index}",
            self.texture,
        )


def collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack a list of contract samples into a batch: tensors stacked, strings listed.

    Equivalent to :func:`torch.utils.data.default_collate` on the contract, but strict: every
    sample must have the same keys, and an unknown skin tone is refused.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    keys = list(samples[0])
    batch: dict[str, Any] = {}
    for key in keys:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            batch[key] = torch.stack(values)
        else:
            batch[key] = list(values)
    for tone in batch.get("skin_tone", []):
        if tone not in SKIN_TONE_GROUPS:
            raise ValueError(f"unknown skin tone {tone!r} in a batch")
    return batch
