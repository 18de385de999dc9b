"""Evaluation data: the samples of a manifest (or of a phantom spec) at their own resolution.

Evaluation scores what a deployed model does: the photo at its own size goes to the runtime
(which resizes it to the bundle's input and its probabilities back), and the truth is the mask
files at the photo's size. A phantom spec is rendered to a temporary manifest first
(:func:`skinscan.datasets.write_phantom_training_set`: flat patches, the same samples as
:class:`~skinscan.datasets.torch_data.PhantomDataset` with that ``n``, ``size`` and ``seed``),
so the two kinds of data take one path and the classical filters get each sample's scale
(``labels.mm_per_px``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.training.recipe import DataSource, PhantomSpec, RecipeError

__all__ = ["EvalSample", "load_sample", "resolve_data"]

DataLike = str | os.PathLike[str] | DataSource | PhantomSpec | Mapping[str, Any]


@dataclass(frozen=True)
class EvalSample:
    """One sample at its own resolution.

    Attributes
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
    masks : ndarray of shape (K, H, W), bool
        One plane per requested mask name (zeros where unlabelled).
    mask_valid : ndarray of shape (K,), bool
    severity : dict of str to float
    grade : dict of str to int
    skin_tone : str
    mm_per_px : float or None
        Pixel size when the manifest records it (``labels.mm_per_px``).
    id : str
    """

    rgb_u8: NDArray[np.uint8]
    masks: NDArray[np.bool_]
    mask_valid: NDArray[np.bool_]
    severity: dict[str, float]
    grade: dict[str, int]
    skin_tone: str
    mm_per_px: float | None
    id: str


def _source(data: DataLike) -> DataSource:
    if isinstance(data, DataSource):
        return data
    if isinstance(data, PhantomSpec):
        return DataSource(phantom=data)
    if isinstance(data, Mapping):
        return DataSource.model_validate(dict(data))
    return DataSource(manifest=[Path(os.fspath(data))])


@contextmanager
def resolve_data(data: DataLike, *, split: str | None) -> Iterator[tuple[list[Any], str]]:
    """The manifest samples to evaluate, and a description of them; temporary files live inside.

    Parameters
    ----------
    data : path, DataSource, PhantomSpec or mapping
        A manifest (CSV / JSONL) or ``{"phantom": {"n", "size", "seed"}}``.
    split : str, optional
        A manifest's split to use; default: ``test`` if it has any, else ``val``. Phantom data
        are all used.
    """
    from skinscan.datasets.manifest import read_manifest

    source = _source(data)
    if source.phantom is not None:
        from skinscan.datasets.training_set import write_phantom_training_set

        spec = source.phantom
        if spec.tones is not None:
            raise RecipeError("evaluation phantoms take n, size and seed (all tones), not tones")
        with tempfile.TemporaryDirectory(prefix="skinscan-eval-") as folder:
            manifest = write_phantom_training_set(
                folder,
                n=spec.n,
                size=spec.size or 256,
                seed=spec.seed,
                val_fraction=0.0,
                faces=False,
                workers=1,
                progress=False,
            )
            samples = read_manifest(manifest)
            yield samples, f"phantom n={spec.n} size={spec.size or 256} seed={spec.seed}"
        return
    samples = source.read_samples()
    splits = {s.split for s in samples}
    chosen = split or next((s for s in ("test", "val") if s in splits), None)
    if chosen is None:
        raise RecipeError(
            f"{source.describe()} has no test or val samples (splits: {sorted(splits)}); "
            "name the split to evaluate explicitly"
        )
    picked = [s for s in samples if s.split == chosen]
    if not picked:
        raise RecipeError(f"{source.describe()} has no samples of split {chosen!r}")
    yield picked, f"{source.describe()} (split {chosen})"


def load_sample(sample: Any, mask_names: Sequence[str]) -> EvalSample:
    """Read a :class:`~skinscan.datasets.manifest.ManifestSample`'s image and masks.

    Files are read as the training datasets read them; a mask of another size than its image
    is resized to it (nearest neighbour).
    """
    from skinscan.datasets import read_mask, read_rgb

    rgb = read_rgb(sample.image)
    height, width = rgb.shape[:2]
    planes, valid = [], []
    for name in mask_names:
        path = sample.masks.get(name)
        if path is None:
            planes.append(np.zeros((height, width), bool))
            valid.append(False)
            continue
        mask = read_mask(path)
        if mask.shape != (height, width):
            resized = cv2.resize(
                mask.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST
            )
            mask = np.asarray(resized, bool)
        planes.append(mask)
        valid.append(True)
    scale = sample.labels.get("mm_per_px")
    return EvalSample(
        rgb_u8=rgb,
        masks=np.stack(planes) if planes else np.zeros((0, height, width), bool),
        mask_valid=np.asarray(valid, bool),
        severity=dict(sample.severity),
        grade=dict(sample.grade),
        skin_tone=sample.skin_tone,
        mm_per_px=float(scale) if isinstance(scale, int | float) else None,
        id=sample.id,
    )
