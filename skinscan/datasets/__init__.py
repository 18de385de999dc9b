"""Datasets: synthetic generators with exact ground truth, and loaders for public layouts.

- :mod:`~skinscan.datasets.phantom`: the spectral skin phantom (patches and painted faces).
- :mod:`~skinscan.datasets.manifest`: the generic training manifest (CSV / JSONL).
- :mod:`~skinscan.datasets.layouts`: FFHQ-Wrinkle, ACNE04 and plain folders as manifests.
- :mod:`~skinscan.datasets.weak_labels`: classical-measure labels for unlabelled photos.
- :mod:`~skinscan.datasets.augment`: image + masks augmentation (albumentations).
- :mod:`~skinscan.datasets.torch_data`: torch datasets returning the model contract.
- :mod:`~skinscan.datasets.training_set`: a phantom training set rendered to disk.
- ``read_rgb`` / ``read_mask``: a manifest's image (RGB) and mask (bool) files, as training and
  evaluation read them.

The names below load their module on first use, so ``import skinscan.datasets.phantom`` does not
pull in torch or albumentations.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ManifestDataset",
    "ManifestError",
    "ManifestSample",
    "PairTransform",
    "PhantomDataset",
    "RejectedPhotoError",
    "WeakLabel",
    "acne04",
    "collate",
    "eval_augment",
    "ffhq_wrinkle",
    "from_folder",
    "read_manifest",
    "read_mask",
    "read_rgb",
    "train_augment",
    "weak_label",
    "write_manifest",
    "write_phantom_training_set",
    "write_weak_label_set",
]

_WHERE = {
    "ManifestError": "manifest",
    "ManifestSample": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "read_mask": "_files",
    "read_rgb": "_files",
    "acne04": "layouts",
    "ffhq_wrinkle": "layouts",
    "from_folder": "layouts",
    "RejectedPhotoError": "weak_labels",
    "WeakLabel": "weak_labels",
    "weak_label": "weak_labels",
    "write_weak_label_set": "weak_labels",
    "PairTransform": "augment",
    "eval_augment": "augment",
    "train_augment": "augment",
    "ManifestDataset": "torch_data",
    "PhantomDataset": "torch_data",
    "collate": "torch_data",
    "write_phantom_training_set": "training_set",
}

if TYPE_CHECKING:
    from skinscan.datasets._files import read_mask, read_rgb
    from skinscan.datasets.augment import PairTransform, eval_augment, train_augment
    from skinscan.datasets.layouts import acne04, ffhq_wrinkle, from_folder
    from skinscan.datasets.manifest import (
        ManifestError,
        ManifestSample,
        read_manifest,
        write_manifest,
    )
    from skinscan.datasets.torch_data import ManifestDataset, PhantomDataset, collate
    from skinscan.datasets.training_set import write_phantom_training_set
    from skinscan.datasets.weak_labels import (
        RejectedPhotoError,
        WeakLabel,
        weak_label,
        write_weak_label_set,
    )


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'skinscan.datasets' has no attribute {name!r}")
    return getattr(importlib.import_module(f"skinscan.datasets.{module}"), name)
