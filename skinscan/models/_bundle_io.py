"""Bundle files: names, hashing, JSON reading and finding a bundle by name or path (no torch)."""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "METADATA_FILE",
    "ONNX_FILE",
    "SCHEMA",
    "WEIGHTS_FILE",
    "BundleError",
    "check_sha256",
    "package_models_root",
    "read_json",
    "resolve_bundle",
    "sha256_file",
]

SCHEMA = "skinscan.model-bundle/1"
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "weights.safetensors"
ONNX_FILE = "model.onnx"
CARD_FILE = "MODEL_CARD.md"


class BundleError(ValueError):
    """A model bundle that is missing, incomplete, malformed or altered.

    The message names the bundle folder and the file at fault.
    """


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a bundle file, or :class:`BundleError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BundleError(f"{path.parent}: {path.name} is missing") from None
    except OSError as exc:
        raise BundleError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise BundleError(f"{path}: expected a JSON object, not {type(value).__name__}")
    return value


def check_sha256(folder: Path, file_name: str, metadata: dict[str, Any]) -> Path:
    """The path of a bundle file whose SHA-256 matches the one recorded in ``metadata``."""
    path = folder / file_name
    if not path.is_file():
        raise BundleError(f"{folder}: {file_name} is missing")
    expected = (metadata.get("sha256") or {}).get(file_name)
    if not expected:
        raise BundleError(f"{folder / METADATA_FILE}: records no sha256 for {file_name}")
    actual = sha256_file(path)
    if actual != expected:
        raise BundleError(
            f"{path}: sha256 {actual[:12]}… does not match the {expected[:12]}… recorded in "
            f"{METADATA_FILE}; the file was altered or belongs to another bundle"
        )
    return path


def package_models_root() -> Path | None:
    """``skinscan/data/models`` of the installed package, or None where it does not exist.

    Found with :mod:`importlib.resources`, so an installed wheel works without the source tree.
    """
    root = resources.files("skinscan").joinpath("data", "models")
    if not isinstance(root, os.PathLike):
        return None  # a zip import: bundles must then be given by path
    path = Path(os.fspath(root))
    return path if path.is_dir() else None


def _bundle_folders(root: Path | None) -> list[Path]:
    if root is None or not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / METADATA_FILE).is_file())


def resolve_bundle(path_or_name: str | os.PathLike[str], *, root: Path | None = None) -> Path:
    """The folder of a bundle given by path, or by name among the bundles under ``root``.

    Parameters
    ----------
    path_or_name : str or path-like
        An existing folder, or a model name (its folder's or its metadata's ``name``).
    root : Path, optional
        Where named bundles live (default: :func:`package_models_root`).
    """
    candidate = Path(os.fspath(path_or_name)).expanduser()
    if candidate.is_dir():
        return candidate.resolve()
    name = os.fspath(path_or_name)
    looks_like_path = isinstance(path_or_name, os.PathLike) or os.sep in name or "/" in name
    folders = _bundle_folders(package_models_root() if root is None else root)
    if not looks_like_path:
        for folder in folders:
            if folder.name == name:
                return folder.resolve()
        for folder in folders:
            try:
                if read_json(folder / METADATA_FILE).get("name") == name:
                    return folder.resolve()
            except BundleError:
                continue
    known = ", ".join(f.name for f in folders) or "none installed"
    raise BundleError(f"no model bundle named or at {name!r} (known models: {known})")
