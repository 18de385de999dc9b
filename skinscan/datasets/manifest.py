"""The generic manifest: one row per training image, with its masks, labels, skin tone and split.

Two spellings of the same table, chosen by the file's suffix:

- ``.csv``: columns ``image, split`` (required), ``id``, ``skin_tone``, ``mask_<name>``,
  ``severity_<name>``, ``grade_<name>``, ``labels`` (a JSON object) — an empty cell is
  unlabelled; any other column is kept in ``labels`` as text.
- ``.jsonl``: one JSON object per line with the same field names (``null`` or an absent field is
  unlabelled; ``labels`` is an object; any other field is kept in ``labels``).

Paths are relative to the manifest's folder (or absolute). ``id`` defaults to the image path as
written. ``skin_tone`` defaults to ``unknown``. Mask names are those of
:data:`~skinscan.models.contract.MASK_NAMES`; severities are 0-100; grades are non-negative
integers (0-4 for the four concerns, or a dataset's own scale such as ACNE04's 0-3 under
``grade_acne``).

Examples
--------
>>> samples = read_manifest("datasets/my-study/manifest.csv")  # doctest: +SKIP
>>> write_manifest(samples, "datasets/my-study/manifest.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skinscan.errors import SkinscanError
from skinscan.io import write_atomic
from skinscan.models.contract import MASK_NAMES, SKIN_TONE_GROUPS, UNKNOWN_TONE

__all__ = [
    "SPLITS",
    "ManifestError",
    "ManifestSample",
    "read_manifest",
    "sample_record",
    "write_manifest",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
_REQUIRED = ("image", "split")
_PLAIN = ("id", "image", "split", "skin_tone", "labels")
_PREFIXES = ("mask_", "severity_", "grade_")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ManifestError(SkinscanError, ValueError):
    """A manifest that cannot be used; the message names the line and what is wrong."""


@dataclass(frozen=True)
class ManifestSample:
    """One training image and what is known about it.

    Attributes
    ----------
    id : str
        Unique within the manifest.
    image : Path
        The photo (absolute once read from a manifest).
    split : {"train", "val", "test"}
    skin_tone : str
        One of :data:`~skinscan.models.contract.SKIN_TONE_GROUPS`.
    masks : dict of str to Path
        Mask PNG per name of :data:`~skinscan.models.contract.MASK_NAMES`; a missing name is
        unlabelled.
    severity : dict of str to float
        Severity 0-100 per concern (or other named score).
    grade : dict of str to int
        Grade per concern (0-4) or per a dataset's own scale.
    labels : dict of str to Any
        Everything else (lesion boxes, counts, ITA°, provenance); JSON-serialisable.
    """

    id: str
    image: Path
    split: str
    skin_tone: str = UNKNOWN_TONE
    masks: dict[str, Path] = field(default_factory=dict)
    severity: dict[str, float] = field(default_factory=dict)
    grade: dict[str, int] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ManifestError("id must be a non-empty string")
        if self.split not in SPLITS:
            raise ManifestError(f"unknown split {self.split!r}; use one of {', '.join(SPLITS)}")
        if self.skin_tone not in SKIN_TONE_GROUPS:
            raise ManifestError(
                f"unknown skin tone {self.skin_tone!r}; use one of {', '.join(SKIN_TONE_GROUPS)}"
            )
        for name in self.masks:
            if name not in MASK_NAMES:
                raise ManifestError(
                    f"unknown mask name {name!r}; use one of {', '.join(MASK_NAMES)}"
                )
        for name, value in self.severity.items():
            _check_name("severity", name)
            if not (_real(value) and math.isfinite(value) and 0 <= value <= 100):
                raise ManifestError(f"bad number: severity_{name} = {value!r} is not in 0-100")
        for name, value in self.grade.items():
            _check_name("grade", name)
            if not (_real(value) and isinstance(value, numbers.Integral) and value >= 0):
                raise ManifestError(f"bad number: grade_{name} = {value!r} is not an integer ≥ 0")
        # Plain Python types, whatever the caller passed (str paths, numpy scalars).
        object.__setattr__(self, "image", Path(self.image))
        object.__setattr__(self, "masks", {k: Path(v) for k, v in self.masks.items()})
        object.__setattr__(self, "severity", {k: float(v) for k, v in self.severity.items()})
        object.__setattr__(self, "grade", {k: int(v) for k, v in self.grade.items()})


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise ManifestError(f"bad {kind} name {name!r}: use lower-case letters, digits and _")


# --- reading --------------------------------------------------------------------------------


def _number(column: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ManifestError(f"bad number: {column} = {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"bad number: {column} = {value!r}") from None
    if not math.isfinite(number):
        raise ManifestError(f"bad number: {column} = {value!r}")
    return number


def _grade(column: str, value: Any) -> int:
    number = _number(column, value)
    if number != int(number):
        raise ManifestError(f"bad number: {column} = {value!r} is not an integer")
    return int(number)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _resolve(folder: Path, value: Any, column: str, check_files: bool) -> Path:
    if not isinstance(value, str):
        raise ManifestError(f"{column} must be a path string, not {value!r}")
    path = Path(value.strip())
    path = path if path.is_absolute() else folder / path
    if check_files and not path.is_file():
        kind = "image" if column == "image" else "mask"
        raise ManifestError(f"{kind} file not found: {value.strip()} ({column})")
    return path


def _sample(record: Mapping[str, Any], folder: Path, check_files: bool) -> ManifestSample:
    for name in _REQUIRED:
        if name not in record:
            raise ManifestError(f"missing required field {name!r}")
        if _empty(record[name]):
            raise ManifestError(f"required field {name!r} is empty")
    image_text = str(record["image"]).strip()
    masks: dict[str, Path] = {}
    severity: dict[str, float] = {}
    grade: dict[str, int] = {}
    labels: dict[str, Any] = {}
    for key, value in record.items():
        if key in _PLAIN:
            continue
        if key.startswith("mask_"):
            name = key[len("mask_") :]
            if name not in MASK_NAMES:
                raise ManifestError(
                    f"unknown mask name {name!r} ({key}); use one of {', '.join(MASK_NAMES)}"
                )
            if not _empty(value):
                masks[name] = _resolve(folder, value, key, check_files)
        elif key.startswith("severity_"):
            if not _empty(value):
                severity[key[len("severity_") :]] = _number(key, value)
        elif key.startswith("grade_"):
            if not _empty(value):
                grade[key[len("grade_") :]] = _grade(key, value)
        elif not _empty(value):
            labels[key] = value
    extra = record.get("labels")
    if isinstance(extra, str) and extra.strip():
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as error:
            raise ManifestError(f"labels is not valid JSON: {error.msg}") from None
    if extra not in (None, ""):
        if not isinstance(extra, dict):
            raise ManifestError("labels must be a JSON object")
        labels.update(extra)
    tone = record.get("skin_tone")
    return ManifestSample(
        id=image_text if _empty(record.get("id")) else str(record["id"]).strip(),
        image=_resolve(folder, image_text, "image", check_files),
        split=str(record["split"]).strip(),
        skin_tone=UNKNOWN_TONE if _empty(tone) else str(tone).strip(),
        masks=masks,
        severity=severity,
        grade=grade,
        labels=labels,
    )


def _csv_records(text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    for name in _REQUIRED:
        if name not in header:
            raise ManifestError(f"line 1: missing required column {name!r}")
    for key in header:
        if key.startswith("mask_") and key[len("mask_") :] not in MASK_NAMES:
            raise ManifestError(
                f"line 1: unknown mask name {key[len('mask_') :]!r} ({key}); "
                f"use one of {', '.join(MASK_NAMES)}"
            )
    for row in reader:
        if None in row:
            raise ManifestError(f"line {reader.line_num}: more cells than columns")
        yield reader.line_num, {k: v for k, v in row.items() if v is not None}


def _jsonl_records(text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ManifestError(f"line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise ManifestError(f"line {number}: expected a JSON object")
        yield number, record


def read_manifest(
    path: str | os.PathLike[str], *, check_files: bool = True
) -> list[ManifestSample]:
    """Read a ``.csv`` or ``.jsonl`` manifest.

    Parameters
    ----------
    path : path
        The manifest; relative image and mask paths resolve against its folder.
    check_files : bool
        Require every image and mask file to exist.

    Returns
    -------
    list of ManifestSample
        In file order, with absolute paths.

    Raises
    ------
    ManifestError
        With the line number: a missing required column or field, a missing image or mask file,
        an unknown split, mask name or skin tone, a bad number, a duplicate id, a bad line.
    """
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ManifestError(f"{source.name}: a manifest must end in .csv or .jsonl")
    try:
        text = source.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ManifestError(f"cannot read {source}: {error.strerror or error}") from error
    records = _csv_records(text) if suffix == ".csv" else _jsonl_records(text)
    folder = source.resolve().parent
    samples: list[ManifestSample] = []
    seen: dict[str, int] = {}
    for number, record in records:
        try:
            sample = _sample(record, folder, check_files)
        except ManifestError as error:
            raise ManifestError(f"line {number}: {error}") from None
        if sample.id in seen:
            raise ManifestError(
                f"line {number}: duplicate id {sample.id!r} (first on line {seen[sample.id]})"
            )
        seen[sample.id] = number
        samples.append(sample)
    return samples


# --- writing --------------------------------------------------------------------------------


def _path_text(path: Path, folder: Path) -> str:
    absolute = path if path.is_absolute() else Path.cwd() / path
    absolute = Path(os.path.normpath(absolute))
    try:
        return absolute.relative_to(folder).as_posix()
    except ValueError:
        return absolute.as_posix()


def sample_record(sample: ManifestSample, folder: str | Path) -> dict[str, Any]:
    """The flat JSON object of one sample, paths relative to ``folder`` where they lie under it."""
    base = Path(os.path.normpath(Path(folder).resolve()))
    record: dict[str, Any] = {
        "id": sample.id,
        "image": _path_text(sample.image, base),
        "split": sample.split,
        "skin_tone": sample.skin_tone,
    }
    record |= {f"mask_{k}": _path_text(v, base) for k, v in sample.masks.items()}
    record |= {f"severity_{k}": float(v) for k, v in sample.severity.items()}
    record |= {f"grade_{k}": int(v) for k, v in sample.grade.items()}
    if sample.labels:
        record["labels"] = sample.labels
    return record


def _ordered(names: set[str], first: Iterable[str]) -> list[str]:
    leading = [n for n in first if n in names]
    return leading + sorted(names - set(leading))


def write_manifest(samples: Iterable[ManifestSample], path: str | os.PathLike[str]) -> Path:
    """Write samples as a ``.csv`` or ``.jsonl`` manifest, atomically; return its path.

    Paths under the manifest's folder are written relative to it, others absolute. Labels go to
    the ``labels`` field (a JSON object; in CSV, its JSON text).
    """
    from skinscan.measures import CONCERNS

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise ManifestError(f"{target.name}: a manifest must end in .csv or .jsonl")
    folder = target.resolve().parent
    records = [sample_record(sample, folder) for sample in samples]
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ManifestError(f"duplicate id {duplicate!r}")
    if suffix == ".jsonl":
        lines = [json.dumps(r, ensure_ascii=False, allow_nan=False) for r in records]
        return write_atomic(target, "".join(line + "\n" for line in lines))
    keys: set[str] = set().union(*(r.keys() for r in records)) if records else set()
    columns = ["id", "image", "split", "skin_tone"]
    for prefix, first in (("mask_", MASK_NAMES), ("severity_", CONCERNS), ("grade_", CONCERNS)):
        names = {k[len(prefix) :] for k in keys if k.startswith(prefix)}
        columns += [prefix + n for n in _ordered(names, first)]
    if "labels" in keys:
        columns.append("labels")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        if "labels" in record:
            record["labels"] = json.dumps(record["labels"], ensure_ascii=False, allow_nan=False)
        writer.writerow(record)
    return write_atomic(target, buffer.getvalue())
