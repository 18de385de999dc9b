"""The photo store: content-addressed files under ``SKINSCAN_DATA_DIR``.

Layout::

    <data_dir>/photos/<sha[:2]>/<sha>/original     the uploaded bytes (private: re-assessment only)
    <data_dir>/photos/<sha[:2]>/<sha>/display.jpg  upright pixels re-encoded, no metadata at all
    <data_dir>/maps/<visit id>/<name>.png          overlays of the visit's assessment
    <data_dir>/tmp/                                uploads being received

Every file appears under its final name complete or not at all (written beside, then
``os.replace``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["CHUNK_BYTES", "PhotoStore", "StoredUpload", "UploadTooLarge"]

CHUNK_BYTES = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MAP_NAME = re.compile(r"^[a-z_]{1,32}$")


class UploadTooLarge(Exception):
    """The upload passed the size limit; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the photo is larger than the limit of {limit} bytes")


@dataclass(frozen=True)
class StoredUpload:
    """An upload saved under its hash."""

    sha256: str
    size_bytes: int
    path: Path


class PhotoStore:
    """Files of photos and maps under one data folder.

    Parameters
    ----------
    data_dir : Path
        The root folder; created if missing.
    """

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).resolve()
        for folder in ("photos", "maps", "tmp"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def photo_dir(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError("not a hex SHA-256")
        return self.root / "photos" / sha256[:2] / sha256

    def original_path(self, sha256: str) -> Path:
        return self.photo_dir(sha256) / "original"

    def display_path(self, sha256: str) -> Path:
        return self.photo_dir(sha256) / "display.jpg"

    def maps_dir(self, visit_id: str) -> Path:
        return self.root / "maps" / visit_id

    def map_path(self, visit_id: str, name: str) -> Path | None:
        """The overlay ``name`` of a visit, or None if it does not exist."""
        if not _MAP_NAME.match(name):
            return None
        path = self.maps_dir(visit_id) / f"{name}.png"
        return path if path.is_file() else None

    def map_names(self, visit_id: str) -> list[str]:
        folder = self.maps_dir(visit_id)
        if not folder.is_dir():
            return []
        return sorted(path.stem for path in folder.glob("*.png"))

    def sweep(self) -> int:
        """Delete what interrupted writes left behind (partial uploads and overlay folders).

        Run at startup only, when nothing is being written. Returns how many entries went.
        """
        removed = 0
        leftovers = [*(self.root / "tmp").iterdir(), *(self.root / "maps").glob(".*")]
        for entry in leftovers:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        return removed

    def save_upload(self, source: BinaryIO, *, max_bytes: int) -> StoredUpload:
        """Copy an upload into the store in chunks, hashing as it goes.

        Parameters
        ----------
        source : binary file
            The upload (read from its current position).
        max_bytes : int
            Largest accepted size; reading stops as soon as it is passed.

        Returns
        -------
        StoredUpload
            Its hash, size and the path of the stored original.

        Raises
        ------
        UploadTooLarge
            More than ``max_bytes`` bytes; the partial copy is deleted.
        """
        digest = hashlib.sha256()
        size = 0
        handle, partial_name = tempfile.mkstemp(dir=self.root / "tmp", prefix="upload-")
        partial = Path(partial_name)
        try:
            with os.fdopen(handle, "wb") as out:
                while chunk := source.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
            sha256 = digest.hexdigest()
            target = self.original_path(sha256)
            if target.exists():
                partial.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(partial, 0o600)
                os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredUpload(sha256, size, target)
