"""Private helpers of :mod:`skinscan.longitudinal.repeatability`.

The public functions there (:func:`~skinscan.longitudinal.repeatability.sem_icc`,
:func:`~skinscan.longitudinal.repeatability.mean_squares`, …) document the formulas and their
sources; this module holds the arithmetic, the checks of a table file's fields, the extraction
of (subjects × captures) matrices from assessment records, and the plumbing of the studies.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

#: z of a two-sided 95 % interval; MDC95 = Z95 · √2 · SEM (Weir 2005, eq. 8).
Z95 = 1.96
MDC95_PER_SEM = Z95 * math.sqrt(2.0)
#: Significant digits kept in a table (far below any measure's repeatability, and a file a
#: person can read).
TABLE_DIGITS = 6


def as_matrix(values: Any) -> NDArray[np.float64]:
    """``values`` as a float64 (subjects, captures) matrix; NaN and ±inf count as missing."""
    matrix = np.array(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(
            f"expected a (subjects, captures) matrix, not an array of shape {matrix.shape}"
        )
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


def repeated_rows(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """The subjects (rows) with at least two finite captures."""
    counts = np.sum(np.isfinite(matrix), axis=1)
    return matrix[counts >= 2]


def pooled_within_variance(rows: NDArray[np.float64]) -> float:
    """Σᵢ Σⱼ (xᵢⱼ − x̄ᵢ)² / Σᵢ (kᵢ − 1) over the finite values of each row (rows with kᵢ ≥ 2)."""
    counts = np.sum(np.isfinite(rows), axis=1)
    row_means = np.nanmean(rows, axis=1, keepdims=True)
    squares = np.nansum((rows - row_means) ** 2)
    return float(squares / np.sum(counts - 1))


def balanced_subset(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's first ``k`` finite values, ``k`` the smallest row count (≥ 2 by construction)."""
    finite = [row[np.isfinite(row)] for row in rows]
    k = min(values.size for values in finite)
    return np.stack([values[:k] for values in finite])


def two_way_mean_squares(matrix: NDArray[np.float64]) -> tuple[float, float, float, float]:
    """MSR, MSC, MSE and MSW of a complete (n ≥ 2, k ≥ 2) matrix, in that order."""
    n, k = matrix.shape
    grand = matrix.mean()
    ss_total = float(np.sum((matrix - grand) ** 2))
    ss_rows = float(k * np.sum((matrix.mean(axis=1) - grand) ** 2))
    ss_cols = float(n * np.sum((matrix.mean(axis=0) - grand) ** 2))
    # Rounding can leave a perfectly additive matrix with a residual of −1e-30; it is zero.
    ss_error = max(ss_total - ss_rows - ss_cols, 0.0)
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_error) / (n * (k - 1))
    return msr, msc, mse, msw


def icc_a1(msr: float, msc: float, mse: float, n: int, k: int) -> float | None:
    """ICC(2,1) from the two-way mean squares, or None when its denominator vanishes."""
    denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    if not math.isfinite(denominator) or denominator <= 1e-12 * (msr + msc + mse):
        return None
    return (msr - mse) / denominator


def significant(value: float) -> float:
    """``value`` rounded to :data:`TABLE_DIGITS` significant digits."""
    return float(f"{value:.{TABLE_DIGITS}g}")


# --- validation of a table file -------------------------------------------------------------


def fail(where: str, message: str) -> ValueError:
    return ValueError(f"repeatability table: {where}: {message}")


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(where, f"expected an object, got {type(value).__name__}")
    return value


def field(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise fail(where, f"missing field {key!r}")
    return d[key]


def number(value: Any, where: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(where, f"expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise fail(where, f"must be ≥ {minimum:g}, got {value!r}")
    return float(value)


def optional_number(value: Any, where: str) -> float | None:
    return None if value is None else number(value, where)


def count(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(where, f"expected an integer ≥ {minimum}, got {value!r}")
    return value


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise fail(where, f"expected a string, got {value!r}")
    return value


# --- from assessment records to (subjects × captures) matrices -------------------------------


class ConcernMatrices(NamedTuple):
    """One concern's quantities as (subjects, captures) matrices, NaN where a capture lacks one."""

    severity: NDArray[np.float64]
    measures: dict[str, NDArray[np.float64]]
    regions: dict[str, tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]]


def _number_or_nan(value: Any) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def concern_matrices(subjects: Sequence[Sequence[Mapping[str, Any]]]) -> ConcernMatrices:
    """Matrices of a concern's severity, measures and regions from each subject's concern dicts.

    ``subjects[i][j]`` is the concern object (``{"severity", "measures", "regions"}``) of
    subject ``i``'s capture ``j``. Names are kept in order of first appearance.
    """
    shape = (len(subjects), max(len(captures) for captures in subjects))

    def empty() -> NDArray[np.float64]:
        return np.full(shape, np.nan)

    severity = empty()
    measures: dict[str, NDArray[np.float64]] = {}
    regions: dict[str, tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]] = {}
    for i, captures in enumerate(subjects):
        for j, concern in enumerate(captures):
            severity[i, j] = _number_or_nan(concern.get("severity"))
            for name, value in (concern.get("measures") or {}).items():
                measures.setdefault(name, empty())[i, j] = _number_or_nan(value)
            for region, area in (concern.get("regions") or {}).items():
                if not isinstance(area, Mapping):
                    continue
                region_severity, region_measures = regions.setdefault(region, (empty(), {}))
                region_severity[i, j] = _number_or_nan(area.get("severity"))
                for name, value in (area.get("measures") or {}).items():
                    region_measures.setdefault(name, empty())[i, j] = _number_or_nan(value)
    return ConcernMatrices(severity, measures, regions)


def scoring_calibration(records: Iterable[Mapping[str, Any]], *, default: str) -> str:
    """The scoring calibration the records name (one, or ValueError); else ``default``."""
    from skinscan.pipeline import calibration_version

    found = (calibration_version(record) for record in records)
    versions = {version for version in found if version is not None}
    if len(versions) > 1:
        raise ValueError(
            f"the captures were scored with different calibrations {sorted(versions)}; "
            "re-assess them with one skinscan version"
        )
    return versions.pop() if versions else default


# --- the synthetic study and photo folders ----------------------------------------------------


def level_design(
    subjects: int, concerns: Sequence[str], rng: np.random.Generator
) -> list[dict[str, int]]:
    """Ladder levels 0–3 of each concern per subject.

    Each concern's levels are balanced over the subjects (0, 1, 2, 3, 0, 1, …) and shuffled
    independently of the other concerns, so the concerns' severities are not tied to one
    another; the shuffle is redrawn until no two subjects share a combination (where possible).
    """
    combinations: list[tuple[int, ...]] = []
    for _ in range(100):
        columns = [rng.permutation(np.resize(np.arange(4), subjects)) for _ in concerns]
        combinations = [tuple(int(column[i]) for column in columns) for i in range(subjects)]
        if len(set(combinations)) == subjects:
            break
    return [dict(zip(concerns, levels, strict=True)) for levels in combinations]


@contextmanager
def progress_bar(show: bool, total: int, description: str) -> Iterator[Callable[[], None]]:
    """A Rich progress bar on stderr (or nothing); yields the callback that advances it."""
    if not show:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def photo_files(photos: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The photos, each folder replaced by the photo files under it (sorted, hidden ones left
    out, by extension); each file once, in the order given."""
    from skinscan.io._sniff import SUPPORTED, extension_format

    found: dict[Path, None] = {}
    for given in photos:
        path = Path(given)
        if path.is_dir():
            for inner in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in inner.relative_to(path).parts)
                if inner.is_file() and not hidden and extension_format(inner.name) in SUPPORTED:
                    found.setdefault(inner, None)
        else:
            found.setdefault(path, None)
    return list(found)


def parse_manifest(manifest: Path) -> dict[Path, str]:
    """Resolved photo path → subject from a ``photo,subject`` CSV (see ``read_manifest``)."""
    subjects: dict[Path, str] = {}
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            columns = reader.fieldnames or []
            if "photo" not in columns or "subject" not in columns:
                raise ValueError(
                    f"{manifest.name}: needs the columns 'photo' and 'subject', has {columns}"
                )
            for row in reader:
                photo = (row.get("photo") or "").strip()
                subject = (row.get("subject") or "").strip()
                where = f"{manifest.name}, line {reader.line_num}"
                if not photo or not subject:
                    raise ValueError(f"{where}: empty photo or subject")
                resolved = (manifest.parent / photo).resolve()
                if resolved in subjects:
                    raise ValueError(f"{where}: {photo} is listed twice")
                subjects[resolved] = subject
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{manifest.name}: cannot read the manifest ({exc})") from exc
    if not subjects:
        raise ValueError(f"{manifest.name}: lists no photos")
    return subjects
