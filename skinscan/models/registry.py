"""The model registry: shipped bundles by name, each entry carrying its recipe (as torchvision's
weights enums do), and the default bundle of each task."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skinscan.models._bundle_io import (
    CONFIG_FILE,
    METADATA_FILE,
    BundleError,
    package_models_root,
    read_json,
)
from skinscan.models.bundle import load_bundle

__all__ = [
    "DEFAULT_BUNDLES",
    "ModelEntry",
    "default_bundle_path",
    "get_entry",
    "get_model",
    "list_models",
]

#: Name of the bundle each task uses by default, when it is shipped as package data.
DEFAULT_BUNDLES: dict[str, str] = {
    "segmentation": "skinscan-segmenter",
    "severity": "skinscan-severity",
}


@dataclass(frozen=True)
class ModelEntry:
    """What a bundle is, without loading its weights.

    Attributes
    ----------
    name, version, task, arch, licence : str
        As in the bundle's metadata (``arch`` from its config).
    preprocessing, input, output, metrics : dict
        The bundle's contract and evaluation (metadata fields of the same names).
    path : Path
        The bundle folder.
    """

    name: str
    version: str
    task: str
    arch: str
    preprocessing: dict[str, Any] = field(repr=False)
    input: dict[str, Any] = field(repr=False)
    output: dict[str, Any] = field(repr=False)
    metrics: dict[str, Any] = field(repr=False)
    licence: str
    path: Path

    @classmethod
    def from_folder(cls, folder: Path) -> ModelEntry:
        """The entry of a bundle folder (:class:`BundleError` if its JSON files are unusable)."""
        metadata = read_json(folder / METADATA_FILE)
        config = read_json(folder / CONFIG_FILE)
        try:
            return cls(
                name=str(metadata["name"]),
                version=str(metadata["version"]),
                task=str(metadata["task"]),
                arch=str(config["arch"]),
                preprocessing=dict(metadata["preprocessing"]),
                input=dict(metadata["input"]),
                output=dict(metadata["output"]),
                metrics=dict(metadata.get("metrics") or {}),
                licence=str(metadata.get("licence", "")),
                path=folder.resolve(),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{folder}: metadata or config lacks a field ({exc})") from None


def list_models(root: str | os.PathLike[str] | None = None) -> list[ModelEntry]:
    """The bundles shipped as package data (``skinscan/data/models/*/``), sorted by name.

    Parameters
    ----------
    root : path-like, optional
        Another folder of bundle folders to list instead.

    Returns
    -------
    list of ModelEntry
        Empty when no bundle is installed. A folder whose JSON cannot be read is left out with
        a warning naming it.
    """
    base = package_models_root() if root is None else Path(os.fspath(root))
    if base is None or not base.is_dir():
        return []
    entries = []
    for folder in sorted(base.iterdir()):
        if not (folder / METADATA_FILE).is_file():
            continue
        try:
            entries.append(ModelEntry.from_folder(folder))
        except BundleError as exc:
            warnings.warn(f"skipping model bundle: {exc}", RuntimeWarning, stacklevel=2)
    return sorted(entries, key=lambda e: e.name)


def get_entry(name_or_path: str | os.PathLike[str]) -> ModelEntry:
    """The :class:`ModelEntry` of a shipped bundle's name, or of a bundle folder's path.

    Raises
    ------
    BundleError
        No such bundle (the message lists the known names), or unusable metadata.
    """
    return ModelEntry.from_folder(load_bundle(name_or_path).path)


def get_model(name_or_path: str | os.PathLike[str], *, device: str = "cpu") -> Any:
    """The PyTorch network of a bundle, weights loaded (strict, sha256-checked), in eval mode.

    Examples
    --------
    >>> net = get_model("skinscan-segmenter")  # doctest: +SKIP
    >>> net(torch.zeros(1, 4, 512, 512)).shape  # doctest: +SKIP
    torch.Size([1, 2, 512, 512])
    """
    return load_bundle(name_or_path).torch_model(device)


def default_bundle_path(task: str) -> Path | None:
    """The shipped bundle folder for ``task`` (``segmentation`` or ``severity``), or None.

    None means the package has no such bundle (skinscan then reports the classical measures
    only).
    """
    if task not in DEFAULT_BUNDLES:
        raise ValueError(f"task must be one of {', '.join(DEFAULT_BUNDLES)}, not {task!r}")
    root = package_models_root()
    if root is None:
        return None
    folder = root / DEFAULT_BUNDLES[task]
    return folder.resolve() if (folder / METADATA_FILE).is_file() else None
