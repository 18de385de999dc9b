"""Model bundles: a folder with config, weights, metadata, model card and ONNX export.

Layout (MONAI's bundle idea, torchvision's weights recipe)::

    <folder>/config.json          {"arch": ..., "kwargs": {...}}: build_model(arch, **kwargs)
    <folder>/weights.safetensors  the state dict, float32
    <folder>/metadata.json        name, version, task, preprocessing, input, output, metrics,
                                  training, licence, onnx check, sha256 of the files
    <folder>/MODEL_CARD.md        intended use, training data, metrics by skin tone, limits
    <folder>/model.onnx           what the CPU runtime runs

Reading metadata needs no torch; building the network imports it on demand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skinscan.io import write_atomic
from skinscan.models._bundle_io import (
    CARD_FILE,
    CONFIG_FILE,
    METADATA_FILE,
    ONNX_FILE,
    SCHEMA,
    WEIGHTS_FILE,
    BundleError,
    check_sha256,
    read_json,
    resolve_bundle,
    sha256_file,
)
from skinscan.models._card import render_card
from skinscan.models._metadata import describe_io, dump_json, merge_fields, plain_json

__all__ = [
    "TASKS",
    "Bundle",
    "BundleError",
    "load_bundle",
    "save_bundle",
    "update_bundle_metadata",
]

#: Bundle task of each architecture.
TASKS: dict[str, str] = {"unet": "segmentation", "severity": "severity"}
_PROTECTED = ("schema", "sha256", "onnx", "arch")


@dataclass(frozen=True)
class Bundle:
    """A bundle folder's parsed metadata and config (weights are read by :meth:`torch_model`).

    Attributes
    ----------
    path : Path
        The bundle folder.
    metadata : dict
        ``metadata.json``.
    config : dict
        ``config.json``: ``{"arch": str, "kwargs": dict}``.
    """

    path: Path
    metadata: dict[str, Any] = field(repr=False)
    config: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def task(self) -> str:
        return str(self.metadata["task"])

    @property
    def input_size(self) -> tuple[int, int]:
        """``(height, width)`` the model was trained at."""
        h, w = self.metadata["preprocessing"]["input_size"]
        return int(h), int(w)

    @property
    def in_channels(self) -> int:
        return int(self.metadata["input"]["channels"])

    def onnx_path(self) -> Path:
        """``model.onnx`` after checking its sha256 (:class:`BundleError` if absent or altered)."""
        if not self.metadata.get("onnx"):
            raise BundleError(f"{self.path}: the bundle has no ONNX export ({ONNX_FILE})")
        return check_sha256(self.path, ONNX_FILE, self.metadata)

    def torch_model(self, device: str = "cpu") -> Any:
        """The network with the bundle's weights (strict), in eval mode, on ``device``.

        Raises
        ------
        BundleError
            If ``weights.safetensors`` is missing, altered (sha256), unreadable or does not fit
            the architecture.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from skinscan.models.architectures import build_model

        weights = check_sha256(self.path, WEIGHTS_FILE, self.metadata)
        try:
            model = build_model(self.config["arch"], **self.config.get("kwargs", {}))
        except (TypeError, ValueError) as exc:
            raise BundleError(
                f"{self.path / CONFIG_FILE}: cannot build the network: {exc}"
            ) from None
        try:
            state = load_file(os.fspath(weights))
            model.load_state_dict(state, strict=True)
        except (SafetensorError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise BundleError(
                f"{weights}: does not load into {self.config['arch']}: {first}"
            ) from None
        return model.to(device).eval()


def load_bundle(path_or_name: str | os.PathLike[str]) -> Bundle:
    """Read a bundle folder (given by path, or by name among the shipped ones).

    Raises
    ------
    BundleError
        Unknown name, missing folder or file, bad JSON, or metadata without the required fields.
    """
    folder = resolve_bundle(path_or_name)
    metadata = read_json(folder / METADATA_FILE)
    config = read_json(folder / CONFIG_FILE)
    missing = [
        k
        for k in ("name", "version", "task", "preprocessing", "input", "output")
        if k not in metadata
    ]
    if missing:
        raise BundleError(f"{folder / METADATA_FILE}: missing {', '.join(missing)}")
    if metadata.get("schema", SCHEMA) != SCHEMA:
        raise BundleError(
            f"{folder / METADATA_FILE}: schema {metadata['schema']!r}, expected {SCHEMA!r}"
        )
    if not isinstance(config.get("arch"), str) or not isinstance(config.get("kwargs", {}), dict):
        raise BundleError(f"{folder / CONFIG_FILE}: expected {{'arch': str, 'kwargs': object}}")
    if not (folder / WEIGHTS_FILE).is_file():
        raise BundleError(f"{folder}: {WEIGHTS_FILE} is missing")
    return Bundle(path=folder, metadata=metadata, config=config)


def save_bundle(
    model: Any,
    folder: str | os.PathLike[str],
    *,
    name: str,
    version: str,
    task: str,
    input_size: tuple[int, int],
    texture: bool,
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    licence: str = "Apache-2.0",
    card: str | None = None,
    onnx: bool = True,
) -> Path:
    """Write a network and its contract as a bundle folder; return the folder.

    Parameters
    ----------
    model : torch.nn.Module
        A :func:`~skinscan.models.build_model` network (``torch.compile`` / DDP wrappers are
        unwrapped). Its state dict is stored as float32, whatever its device and dtype.
    folder : path-like
        Created if missing; existing bundle files in it are replaced.
    name, version : str
        Registry name (lowercase letters, digits, ``-``, ``_``, ``.``) and version.
    task : {"segmentation", "severity"}
        Must match the architecture (``unet`` / ``severity``).
    input_size : (int, int)
        ``(height, width)`` the runtime resizes photos to; multiples of 32.
    texture : bool
        Whether the input has the texture channel (must match the model's ``in_channels``).
    metrics, training : mapping, optional
        Free-form, JSON-serialisable: evaluation (e.g. ``overall`` and ``by_skin_tone``) and the
        training recipe and data.
    licence : str
        Licence of the weights.
    card : str, optional
        ``MODEL_CARD.md`` text; default: generated from the metadata (and kept up to date by
        :func:`update_bundle_metadata`).
    onnx : bool
        Export and check ``model.onnx`` (:func:`~skinscan.models.export.export_onnx`, opset 17).

    Returns
    -------
    Path
        The bundle folder.
    """
    from importlib.metadata import version as installed_version

    import torch
    from safetensors.torch import save as save_weights

    import skinscan
    from skinscan.models.architectures import count_parameters, unwrap_model

    network = unwrap_model(model)
    arch = getattr(network, "arch", None)
    config = getattr(network, "config", None)
    if arch not in TASKS or not isinstance(config, dict):
        raise TypeError("save_bundle takes a network made by skinscan.models.build_model")
    if TASKS[arch] != task:
        raise ValueError(
            f"task {task!r} does not fit architecture {arch!r} (expected {TASKS[arch]!r})"
        )
    if not name or not all(c.islower() or c.isdigit() or c in "-_." for c in name):
        raise ValueError(f"bundle name must use lowercase letters, digits, '-', '_', '.': {name!r}")
    size = (int(input_size[0]), int(input_size[1]))
    if min(size) < 32 or size[0] % 32 or size[1] % 32:
        raise ValueError(f"input_size must be positive multiples of 32, not {input_size!r}")
    metadata: dict[str, Any] = {
        "schema": SCHEMA,
        "name": name,
        "version": str(version),
        "task": task,
        "arch": arch,
        "backbone": config["backbone"],
        "parameters": count_parameters(network),
        **describe_io(network, task, size, texture),
        "metrics": plain_json(metrics or {}),
        "training": plain_json(training or {}),
        "licence": licence,
        "onnx": None,
        "sha256": {},
        "card": {"file": CARD_FILE, "generated": card is None},
        "created_with": {
            "skinscan": skinscan.__version__,
            "torch": torch.__version__,
            "torchvision": installed_version("torchvision"),
        },
    }
    dump_json(metadata)  # fail here, before any file is written, on unserialisable metrics
    target = Path(os.fspath(folder))
    target.mkdir(parents=True, exist_ok=True)
    state = {
        k: (
            v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
        ).contiguous()
        for k, v in network.state_dict().items()
    }
    # Serialised in memory and written atomically (0644, never half-written).
    write_atomic(
        target / WEIGHTS_FILE,
        save_weights(state, metadata={"name": name, "version": str(version)}),
    )
    metadata["sha256"][WEIGHTS_FILE] = sha256_file(target / WEIGHTS_FILE)
    if onnx:
        import onnxruntime  # type: ignore[import-untyped]

        from skinscan.models.export import export_onnx

        opset = 17
        diff = export_onnx(
            network,
            target / ONNX_FILE,
            input_size=size,
            in_channels=int(config["in_channels"]),
            opset=opset,
        )
        metadata["onnx"] = {
            "file": ONNX_FILE,
            "opset": opset,
            "max_abs_diff": diff,
            "checked_with": f"onnxruntime {onnxruntime.__version__}",
            "exporter": f"torch {torch.__version__} (TorchScript)",
        }
        metadata["sha256"][ONNX_FILE] = sha256_file(target / ONNX_FILE)
    else:
        (target / ONNX_FILE).unlink(missing_ok=True)
    write_atomic(target / CONFIG_FILE, dump_json({"arch": arch, "kwargs": config}))
    write_atomic(target / CARD_FILE, card if card is not None else render_card(metadata))
    write_atomic(target / METADATA_FILE, dump_json(metadata))
    return target


def update_bundle_metadata(folder: str | os.PathLike[str], **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into a bundle's ``metadata.json``; return the new metadata.

    Mappings merge key by key (``metrics={"by_skin_tone": {...}}`` keeps ``metrics["overall"]``),
    other values replace, and ``None`` removes a key. ``schema``, ``sha256``, ``onnx`` and
    ``arch`` describe the files and cannot be set. A generated model card is re-rendered, so its
    metric table follows the metadata.

    Raises
    ------
    BundleError
        Unknown bundle or unreadable metadata.
    ValueError
        A protected field, or a value JSON cannot hold.
    """
    bundle = load_bundle(folder)
    protected = sorted(set(fields) & set(_PROTECTED))
    if protected:
        raise ValueError(
            f"{', '.join(protected)} describe the bundle's files and cannot be updated"
        )
    metadata = plain_json(merge_fields(bundle.metadata, fields))
    text = dump_json(metadata)
    if (metadata.get("card") or {}).get("generated"):
        write_atomic(bundle.path / CARD_FILE, render_card(metadata))
    write_atomic(bundle.path / METADATA_FILE, text)
    return metadata
