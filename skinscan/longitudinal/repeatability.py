"""Repeatability of severities and measures from repeat captures: SEM, ICC(2,1), CV and MDC95.

A change between two visits means something only when it is larger than what re-photographing
the same, unchanged skin already moves. A repeatability study photographs subjects several times
in one sitting and measures that spread; :class:`RepeatabilityTable` holds the result per concern
severity, per measure and per region, and the comparison between visits reads its MDC95 to call a
change significant (``|Δ| > MDC95``).

Three ways to make a table:

- :func:`study` from ``skinscan.assessment/1`` records grouped by subject;
- :func:`~skinscan.longitudinal.repeat_studies.study_from_photos` from a clinic's same-day
  repeat photos (``repeats/<patient>/<n>.jpg``);
- :func:`~skinscan.longitudinal.repeat_studies.synthetic_study`, the study behind the shipped
  :func:`default_table`: a real face painted with phantom concerns and re-photographed under
  simulated capture perturbations.

``skinscan repeatability`` runs the last two from the command line; ``docs/longitudinal/
repeatability.md`` gives the formulas, the shipped figures and a clinic's step-by-step.

Examples
--------
>>> table = default_table()
>>> table.mdc95("redness") > 0
True
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skinscan.longitudinal import _repeat_stats as rs
from skinscan.measures import CONCERNS

__all__ = [
    "CONCERNS",
    "LEVEL_BANDWIDTH",
    "SCHEMA",
    "ConcernRepeatability",
    "MeanSquares",
    "RegionRepeatability",
    "RepeatStat",
    "RepeatabilityTable",
    "SemIcc",
    "default_table",
    "mean_squares",
    "sem_icc",
    "study",
]

SCHEMA = "skinscan.repeatability/1"
#: Bandwidth (severity points) of the level-dependent SEM (:meth:`RepeatStat.sem_at`).
LEVEL_BANDWIDTH = 8.0
_ASSESSMENT_SCHEMA = "skinscan.assessment/1"
_PathLike = str | os.PathLike[str]


# --- statistics -----------------------------------------------------------------------------


class MeanSquares(NamedTuple):
    """Mean squares of the two-way ANOVA of a complete (subjects × captures) matrix.

    Shrout & Fleiss (1979) call them BMS (``msr``), JMS (``msc``), EMS (``mse``) and, from the
    one-way ANOVA, WMS (``msw``).
    """

    msr: float
    msc: float
    mse: float
    msw: float
    n_subjects: int
    k_captures: int


class SemIcc(NamedTuple):
    """What :func:`sem_icc` estimates from one quantity's repeat captures."""

    mean: float
    sem: float
    icc: float | None
    cv_pct: float | None
    mdc95: float


def mean_squares(values: ArrayLike) -> MeanSquares:
    """Two-way ANOVA mean squares of a complete (subjects × captures) matrix.

    Parameters
    ----------
    values : array_like of shape (n, k), n ≥ 2, k ≥ 2
        Row ``i`` holds subject ``i``'s captures; every value finite.

    Returns
    -------
    MeanSquares

    Notes
    -----
    With grand mean x̄, row means x̄ᵢ and column means x̄ⱼ (Shrout & Fleiss 1979, Table 1)::

        MSR = k Σᵢ (x̄ᵢ − x̄)² / (n − 1)                        between subjects
        MSC = n Σⱼ (x̄ⱼ − x̄)² / (k − 1)                        between captures
        MSE = (SST − SSR − SSC) / ((n − 1)(k − 1))             residual
        MSW = (SSC + SSE) / (n (k − 1))                        within subjects (one-way)

    Examples
    --------
    >>> mean_squares([[1.0, 2.0], [3.0, 5.0]]).msr
    6.25
    """
    matrix = rs.as_matrix(values)
    n, k = matrix.shape
    if n < 2 or k < 2:
        raise ValueError(f"need at least 2 subjects and 2 captures, got {n} × {k}")
    if np.isnan(matrix).any():
        raise ValueError("the matrix has missing or non-finite values")
    msr, msc, mse, msw = rs.two_way_mean_squares(matrix)
    return MeanSquares(msr, msc, mse, msw, n, k)


def sem_icc(values: ArrayLike) -> SemIcc:
    """Mean, SEM, ICC(2,1), within-subject CV and MDC95 of repeat captures.

    Parameters
    ----------
    values : array_like of shape (n_subjects, k_captures)
        Row ``i`` holds subject ``i``'s captures. NaN (or ±inf) marks a missing capture, so
        subjects may have different numbers of captures; subjects with fewer than two finite
        values are left out.

    Returns
    -------
    SemIcc
        ``(mean, sem, icc, cv_pct, mdc95)``. ``icc`` is None with fewer than two subjects or when
        there is no variance at all; ``cv_pct`` is None when the mean is ~0.

    Raises
    ------
    ValueError
        ``values`` is not 2-D, or no subject has two finite captures.

    Notes
    -----
    - **SEM** (standard error of measurement) is the within-subject SD: the square root of the
      pooled within-subject variance ``Σᵢ Σⱼ (xᵢⱼ − x̄ᵢ)² / Σᵢ (kᵢ − 1)``, which is the one-way
      ANOVA's within-subject mean square MSW for a balanced design (Bland & Altman 1996, BMJ
      312:1654; Weir 2005, J Strength Cond Res 19:231, "SEM = √MSE"). It keeps the spread between
      captures in it (de Vet et al. 2006, J Clin Epidemiol 59:1033: the *agreement* SEM), since a
      re-capture's offset is part of what a second visit will see; it works unbalanced.
    - **ICC(2,1)** — two-way random effects, absolute agreement, single measurement (Shrout &
      Fleiss 1979, Psychol Bull 86:420, case 2; McGraw & Wong 1996, Psychol Methods 1:30,
      "ICC(A,1)")::

          ICC = (MSR − MSE) / (MSR + (k − 1) MSE + k (MSC − MSE) / n)

      from :func:`mean_squares` of the balanced subset: every subject truncated to its first
      ``k`` captures, ``k`` the smallest number any kept subject has. It can be negative when
      subjects differ less than captures do.
    - **CV** = 100 · SEM / |mean| %, the pooled within-subject SD over the grand mean of every
      capture (not the root mean square of per-subject CVs, which a subject with a near-zero
      mean would dominate).
    - **MDC95** = 1.96 · √2 · SEM (Weir 2005, eq. 8; de Vet et al. 2006, "smallest detectable
      change"): the difference between two single captures that measurement error alone exceeds
      only 5 % of the time.

    Examples
    --------
    >>> stats = sem_icc([[10.0, 12.0], [20.0, 22.0], [30.0, 32.0]])
    >>> round(stats.sem, 3), round(stats.icc, 3)
    (1.414, 0.98)
    """
    matrix = rs.as_matrix(values)
    rows = rs.repeated_rows(matrix)
    if rows.shape[0] == 0:
        raise ValueError("need at least one subject with two or more finite captures")
    sem = math.sqrt(rs.pooled_within_variance(rows))
    mean = float(np.nanmean(rows))
    icc: float | None = None
    if rows.shape[0] >= 2:
        balanced = rs.balanced_subset(rows)
        msr, msc, mse, _ = rs.two_way_mean_squares(balanced)
        icc = rs.icc_a1(msr, msc, mse, *balanced.shape)
    scale = max(1.0, float(np.nanmax(np.abs(rows))))
    cv = None if abs(mean) <= 1e-9 * scale else 100.0 * sem / abs(mean)
    return SemIcc(mean, sem, icc, cv, rs.MDC95_PER_SEM * sem)


# --- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepeatStat:
    """Repeatability of one quantity (a severity or a measure), in the quantity's units.

    Attributes
    ----------
    mean : float
        Grand mean over every capture used.
    sem : float
        Standard error of measurement: the within-subject SD (see :func:`sem_icc`).
    icc : float or None
        ICC(2,1); None when undefined (one subject, no variance).
    cv_pct : float or None
        Within-subject CV, 100 · SEM / |mean|; None when the mean is ~0.
    mdc95 : float
        Minimal detectable change, 1.96 · √2 · SEM.
    n_subjects : int
        Subjects with at least two captures of this quantity.
    n_captures : int
        Captures of those subjects.
    levels : tuple of (float, float, int), optional
        Per subject: its mean, its within-subject SD and its number of captures (whole-face
        severities only), for :meth:`sem_at`.
    """

    mean: float
    sem: float
    icc: float | None
    cv_pct: float | None
    mdc95: float
    n_subjects: int
    n_captures: int
    levels: tuple[tuple[float, float, int], ...] | None = None

    def sem_at(self, level: float) -> float:
        """SEM of a reading at ``level``: the pooled SEM, or more where the study found more.

        Re-capture noise is not the same all along a scale: a threshold near the skin's own colour
        makes plain skin's redness vary more between captures than a marked erythema's. The local
        SEM pools the subjects' within-subject variances with weights ``(n − 1) · exp(−½ (Δ /
        h)²)``, ``Δ`` the distance of each subject's mean from ``level`` and ``h`` =
        :data:`LEVEL_BANDWIDTH`; the larger of it and the pooled SEM is returned, so a change is
        never called real on the strength of a quiet stretch of the scale alone.
        """
        if not self.levels or not math.isfinite(level):
            return self.sem
        table = np.asarray(self.levels, np.float64)
        means, sds, counts = table[:, 0], table[:, 1], table[:, 2]
        weights = (counts - 1.0) * np.exp(-0.5 * ((means - level) / LEVEL_BANDWIDTH) ** 2)
        if weights.sum() <= 1e-12:
            return self.sem
        local = math.sqrt(float((weights * sds**2).sum() / weights.sum()))
        return max(self.sem, local)

    def mdc95_between(self, before: float, after: float) -> float:
        """MDC95 of a change from ``before`` to ``after``: ``1.96 · √(SEM(before)² + SEM(after)²)``.

        Equal to ``1.96 · √2 · SEM`` when the noise is the same at both levels.
        """
        return rs.Z95 * math.hypot(self.sem_at(before), self.sem_at(after))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mean": self.mean,
            "sem": self.sem,
            "icc": self.icc,
            "cv_pct": self.cv_pct,
            "mdc95": self.mdc95,
            "n_subjects": self.n_subjects,
            "n_captures": self.n_captures,
        }
        if self.levels is not None:
            out["levels"] = [list(level) for level in self.levels]
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "stat") -> RepeatStat:
        d = rs.mapping(d, where)
        return cls(
            mean=rs.number(rs.field(d, "mean", where), f"{where}.mean"),
            sem=rs.number(rs.field(d, "sem", where), f"{where}.sem", minimum=0.0),
            icc=rs.optional_number(rs.field(d, "icc", where), f"{where}.icc"),
            cv_pct=rs.optional_number(rs.field(d, "cv_pct", where), f"{where}.cv_pct"),
            mdc95=rs.number(rs.field(d, "mdc95", where), f"{where}.mdc95", minimum=0.0),
            n_subjects=rs.count(rs.field(d, "n_subjects", where), f"{where}.n_subjects", minimum=1),
            n_captures=rs.count(rs.field(d, "n_captures", where), f"{where}.n_captures", minimum=2),
            levels=_levels_from(d.get("levels"), f"{where}.levels"),
        )


def _levels_from(value: Any, where: str) -> tuple[tuple[float, float, int], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise rs.fail(where, "expected a list of [mean, sd, captures]")
    levels = []
    for i, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 3:
            raise rs.fail(f"{where}[{i}]", "expected [mean, sd, captures]")
        levels.append(
            (
                rs.number(item[0], f"{where}[{i}][0]"),
                rs.number(item[1], f"{where}[{i}][1]", minimum=0.0),
                rs.count(item[2], f"{where}[{i}][2]", minimum=2),
            )
        )
    return tuple(levels)


def _measures_from_dict(d: Any, where: str) -> dict[str, RepeatStat]:
    return {
        name: RepeatStat.from_dict(stat, f"{where}.{name}")
        for name, stat in rs.mapping(d, where).items()
    }


@dataclass(frozen=True)
class RegionRepeatability:
    """Repeatability of one region's severity (None when too few captures had it) and measures."""

    severity: RepeatStat | None
    measures: dict[str, RepeatStat]

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": None if self.severity is None else self.severity.to_dict(),
            "measures": {name: stat.to_dict() for name, stat in self.measures.items()},
        }

    @classmethod
    def from_dict(cls, d: Any, where: str) -> RegionRepeatability:
        d = rs.mapping(d, where)
        severity = rs.field(d, "severity", where)
        return cls(
            severity=None
            if severity is None
            else RepeatStat.from_dict(severity, f"{where}.severity"),
            measures=_measures_from_dict(rs.field(d, "measures", where), f"{where}.measures"),
        )


@dataclass(frozen=True)
class ConcernRepeatability:
    """Repeatability of one concern: its severity, its measures and each region's."""

    severity: RepeatStat
    measures: dict[str, RepeatStat]
    regions: dict[str, RegionRepeatability]

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.to_dict(),
            "measures": {name: stat.to_dict() for name, stat in self.measures.items()},
            "regions": {name: region.to_dict() for name, region in self.regions.items()},
        }

    @classmethod
    def from_dict(cls, d: Any, where: str) -> ConcernRepeatability:
        d = rs.mapping(d, where)
        regions = rs.mapping(rs.field(d, "regions", where), f"{where}.regions")
        return cls(
            severity=RepeatStat.from_dict(rs.field(d, "severity", where), f"{where}.severity"),
            measures=_measures_from_dict(rs.field(d, "measures", where), f"{where}.measures"),
            regions={
                name: RegionRepeatability.from_dict(region, f"{where}.regions.{name}")
                for name, region in regions.items()
            },
        )


def _no_skips() -> dict[str, int]:
    return {"unreadable_photos": 0, "rejected_captures": 0, "dropped_subjects": 0}


@dataclass(frozen=True)
class RepeatabilityTable:
    """The figures the comparison between visits reads: schema ``skinscan.repeatability/1``.

    Attributes
    ----------
    concerns : dict of str to ConcernRepeatability
        ``redness``, ``pigment``, ``texture``, ``wrinkles``.
    source : str
        What the study was, for a person (subjects, captures, how they were made, the command).
    calibration_version : str
        :data:`skinscan.scoring.CALIBRATION_VERSION` the severities were computed with; a table
        from another calibration does not apply to today's severities.
    created : str
        ISO date of the study.
    skipped : dict of str to int
        ``unreadable_photos``, ``rejected_captures`` (quality gate) and ``dropped_subjects``
        (fewer than two usable captures). No subject or photo identifiers are stored.
    """

    concerns: dict[str, ConcernRepeatability]
    source: str
    calibration_version: str
    created: str
    skipped: dict[str, int] = field(default_factory=_no_skips)

    def mdc95(
        self,
        concern: str,
        *,
        measure: str | None = None,
        region: str | None = None,
        between: tuple[float, float] | None = None,
    ) -> float | None:
        """MDC95 of a concern's severity, one of its measures, or either within a region.

        Parameters
        ----------
        concern : str
        measure : str, optional
            A measure's name; default the severity.
        region : str, optional
            A region's name; default the whole face (or site).
        between : (float, float), optional
            The two readings of a change (before, after): where the table knows how the noise
            varies along the scale (whole-face severities), the MDC95 of that change
            (:meth:`RepeatStat.mdc95_between`); otherwise ignored.

        Returns
        -------
        float or None
            None when the table has no figure for it.
        """
        entry = self.stat(concern, measure=measure, region=region)
        if entry is None:
            return None
        if between is not None and entry.levels:
            return entry.mdc95_between(*between)
        return entry.mdc95

    def stat(
        self, concern: str, *, measure: str | None = None, region: str | None = None
    ) -> RepeatStat | None:
        """The :class:`RepeatStat` behind :meth:`mdc95`, or None when the table has none."""
        found = self.concerns.get(concern)
        if found is None:
            return None
        if region is None:
            return found.severity if measure is None else found.measures.get(measure)
        area = found.regions.get(region)
        if area is None:
            return None
        return area.severity if measure is None else area.measures.get(measure)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "source": self.source,
            "calibration_version": self.calibration_version,
            "created": self.created,
            "skipped": dict(self.skipped),
            "concerns": {name: concern.to_dict() for name, concern in self.concerns.items()},
        }

    @classmethod
    def from_dict(cls, d: Any) -> RepeatabilityTable:
        """Read :meth:`to_dict`'s form; ValueError says which field is wrong."""
        d = rs.mapping(d, "top level")
        schema = d.get("schema")
        if schema != SCHEMA:
            raise rs.fail("schema", f"expected {SCHEMA!r}, got {schema!r}")
        concerns = rs.mapping(rs.field(d, "concerns", "top level"), "concerns")
        missing = [name for name in CONCERNS if name not in concerns]
        unknown = sorted(set(concerns) - set(CONCERNS))
        if missing or unknown:
            raise rs.fail("concerns", f"missing {missing}, unknown {unknown}")
        skipped = rs.mapping(d.get("skipped", {}), "skipped")
        return cls(
            concerns={
                name: ConcernRepeatability.from_dict(concerns[name], f"concerns.{name}")
                for name in CONCERNS
            },
            source=rs.text(rs.field(d, "source", "top level"), "source"),
            calibration_version=rs.text(
                rs.field(d, "calibration_version", "top level"), "calibration_version"
            ),
            created=rs.text(rs.field(d, "created", "top level"), "created"),
            skipped={
                **_no_skips(),
                **{k: rs.count(v, f"skipped.{k}", minimum=0) for k, v in skipped.items()},
            },
        )

    def save(self, path: _PathLike) -> None:
        """Write the table as JSON, atomically (:func:`skinscan.io.write_atomic`)."""
        from skinscan.io import write_atomic

        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        write_atomic(path, text)

    @classmethod
    def load(cls, path: _PathLike) -> RepeatabilityTable:
        """Read a table file; ValueError when it is not a valid ``skinscan.repeatability/1``."""
        source = Path(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{source.name}: not a JSON repeatability table ({exc})") from exc
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{source.name}: {exc}") from exc

    def to_markdown(self) -> str:
        """Severity SEM, ICC(2,1), CV and MDC95 per concern, as a Markdown table."""
        lines = [
            "| concern | mean | SEM | ICC(2,1) | CV % | MDC95 | subjects | captures |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, concern in self.concerns.items():
            cells = _severity_cells(concern.severity)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _severity_cells(stat: RepeatStat) -> list[str]:
    """Formatted mean, SEM, ICC, CV %, MDC95, subjects, captures (severity points)."""
    return [
        f"{stat.mean:.1f}",
        f"{stat.sem:.2f}",
        "–" if stat.icc is None else f"{stat.icc:.3f}",
        "–" if stat.cv_pct is None else f"{stat.cv_pct:.1f}",
        f"{stat.mdc95:.2f}",
        str(stat.n_subjects),
        str(stat.n_captures),
    ]


@functools.cache
def default_table() -> RepeatabilityTable:
    """The shipped table, ``skinscan/data/repeatability/default.json`` (read once per process).

    Made by :func:`synthetic_study` with the command recorded in its ``source``; a clinic should
    replace it with its own same-day repeats (``docs/longitudinal/repeatability.md``).
    """
    from importlib.resources import files

    resource = files("skinscan").joinpath("data", "repeatability", "default.json")
    return RepeatabilityTable.from_dict(json.loads(resource.read_text(encoding="utf-8")))


# --- studies --------------------------------------------------------------------------------


def _stat(matrix: NDArray[np.float64], *, levels: bool = False) -> RepeatStat | None:
    """The rounded :class:`RepeatStat` of one quantity, or None without a repeated subject.

    ``levels``: also keep each subject's mean, SD and capture count (:meth:`RepeatStat.sem_at`).
    """
    rows = rs.repeated_rows(matrix)
    if rows.shape[0] == 0:
        return None
    found = sem_icc(rows)
    per_subject = None
    if levels:
        per_subject = tuple(
            (
                rs.significant(float(np.nanmean(row))),
                rs.significant(float(np.nanstd(row, ddof=1))),
                int(np.isfinite(row).sum()),
            )
            for row in rows
        )
    return RepeatStat(
        mean=rs.significant(found.mean),
        sem=rs.significant(found.sem),
        icc=None if found.icc is None else rs.significant(found.icc),
        cv_pct=None if found.cv_pct is None else rs.significant(found.cv_pct),
        mdc95=rs.significant(found.mdc95),
        n_subjects=int(rows.shape[0]),
        n_captures=int(np.isfinite(rows).sum()),
        levels=per_subject,
    )


def _stats(matrices: Mapping[str, NDArray[np.float64]]) -> dict[str, RepeatStat]:
    found = {name: _stat(matrix) for name, matrix in matrices.items()}
    return {name: stat for name, stat in found.items() if stat is not None}


def _concern_repeatability(
    subjects: Sequence[Sequence[Mapping[str, Any]]], concern: str
) -> ConcernRepeatability:
    """Every stat of one concern; ``subjects`` holds each subject's concern objects."""
    matrices = rs.concern_matrices(subjects)
    severity = _stat(matrices.severity, levels=True)
    if severity is None:
        raise ValueError(f"no subject has two captures with a {concern} severity")
    regions = {
        region: RegionRepeatability(_stat(region_severity), _stats(region_measures))
        for region, (region_severity, region_measures) in matrices.regions.items()
    }
    return ConcernRepeatability(severity, _stats(matrices.measures), regions)


def _build(
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    source: str,
    created: str | None,
    unreadable: int,
) -> RepeatabilityTable:
    from skinscan.scoring import CALIBRATION_VERSION

    rejected = 0
    usable: dict[str, list[Mapping[str, Any]]] = {}
    for subject, captures in records.items():
        for j, record in enumerate(captures):
            if not isinstance(record, Mapping) or record.get("schema") != _ASSESSMENT_SCHEMA:
                raise ValueError(
                    f"subject {subject!r}, capture {j + 1}: not a {_ASSESSMENT_SCHEMA} record"
                )
            if record.get("concerns") is None:
                rejected += 1
                continue
            usable.setdefault(subject, []).append(record)
    kept = [got for got in usable.values() if len(got) >= 2]
    if not kept:
        raise ValueError(
            "need at least one subject with two or more usable captures; got "
            f"{len(records)} subject(s), {rejected} capture(s) rejected by the quality gate"
            + (f", {unreadable} unreadable photo(s)" if unreadable else "")
        )
    calibration = rs.scoring_calibration(
        (record for got in kept for record in got),
        default=CALIBRATION_VERSION,
    )
    concerns = {
        name: _concern_repeatability([[r["concerns"][name] for r in got] for got in kept], name)
        for name in CONCERNS
    }
    return RepeatabilityTable(
        concerns=concerns,
        source=source,
        calibration_version=calibration,
        created=created or datetime.date.today().isoformat(),
        skipped={
            "unreadable_photos": unreadable,
            "rejected_captures": rejected,
            "dropped_subjects": len(records) - len(kept),
        },
    )


def study(
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    source: str,
    created: str | None = None,
) -> RepeatabilityTable:
    """Repeatability of every severity and measure from repeat captures of unchanged subjects.

    Parameters
    ----------
    records : mapping of str to sequence of dict
        Subject id → that subject's captures as ``skinscan.assessment/1`` dicts
        (``Assessment.to_dict()`` or ``skinscan assess --json``). Captures rejected by the
        quality gate (``concerns`` null) are skipped and counted.
    source : str
        What the study was, for the table's readers.
    created : str, optional
        ISO date; default today.

    Returns
    -------
    RepeatabilityTable
        Figures rounded to 6 significant digits; subject ids are not kept.

    Raises
    ------
    ValueError
        A record is not ``skinscan.assessment/1``, the records mix scoring calibrations, or no
        subject has two usable captures.

    Notes
    -----
    Each quantity (a concern's severity, a measure, a region's severity or measure) is a
    (subjects × captures) matrix with NaN where a capture lacks it (a measure that was not
    finite, a region not found); :func:`sem_icc` pools the within-subject variance over whatever
    each subject has (unbalanced designs are fine) and computes ICC(2,1) on the balanced subset.
    Subjects with fewer than two usable captures are dropped (``skipped["dropped_subjects"]``).
    """
    return _build(records, source=source, created=created, unreadable=0)
