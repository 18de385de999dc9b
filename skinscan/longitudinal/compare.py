"""``compare``: two visits of one patient → deltas, MDC95 significance, ``skinscan.comparison/1``.

A change is reported as *significant* only when it is larger than what re-photographing the same,
unchanged skin gives: ``|Δ| > MDC95`` (minimal detectable change at 95 % confidence,
``1.96 · √2 · SEM``, from a repeatability study, :mod:`skinscan.longitudinal.repeatability`).
Severity rises with the amount of a concern, so a significant rise is ``worsened`` and a
significant fall ``improved``. Measures are in units and have no good or bad side on their own
(ITA° rises as skin lightens), so their ``direction`` is ``increased`` / ``decreased`` /
``unchanged``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from skinscan.longitudinal.registration import Registration, register, register_records
from skinscan.longitudinal.repeatability import RepeatabilityTable, default_table
from skinscan.measures import CONCERNS
from skinscan.pipeline import calibration_version
from skinscan.scoring import CALIBRATION_VERSION

if TYPE_CHECKING:
    from skinscan.io import Photo
    from skinscan.pipeline import Assessment

__all__ = [
    "SCHEMA",
    "Change",
    "Comparison",
    "ConcernChange",
    "RegionChange",
    "compare",
    "load_assessment_record",
]

SCHEMA = "skinscan.comparison/1"
ASSESSMENT_SCHEMA = "skinscan.assessment/1"

Direction = Literal["improved", "worsened", "unchanged"]
MeasureDirection = Literal["increased", "decreased", "unchanged"]


@dataclass(frozen=True)
class Change:
    """One quantity at both visits, its change and whether the change is real.

    ``mdc95`` is None when the repeatability table has no figure for the quantity; such a change
    is never called significant.
    """

    before: float | None
    after: float | None
    delta: float | None
    mdc95: float | None
    significant: bool

    @classmethod
    def of(cls, before: float | None, after: float | None, mdc95: float | None) -> Change:
        if before is None or after is None or not np.isfinite(before) or not np.isfinite(after):
            return cls(before, after, None, mdc95, False)
        delta = float(after) - float(before)
        significant = mdc95 is not None and abs(delta) > mdc95
        return cls(float(before), float(after), delta, mdc95, significant)

    def severity_direction(self) -> Direction:
        if not self.significant or self.delta is None:
            return "unchanged"
        return "worsened" if self.delta > 0 else "improved"

    def measure_direction(self) -> MeasureDirection:
        if not self.significant or self.delta is None:
            return "unchanged"
        return "increased" if self.delta > 0 else "decreased"

    def to_dict(self, direction: str) -> dict[str, Any]:
        return {
            "before": _round(self.before),
            "after": _round(self.after),
            "delta": _round(self.delta),
            "mdc95": _round(self.mdc95),
            "significant": self.significant,
            "direction": direction,
        }


@dataclass(frozen=True)
class RegionChange:
    """Severity and measures of one region at both visits."""

    severity: Change
    measures: dict[str, Change]

    def to_dict(self) -> dict[str, Any]:
        out = self.severity.to_dict(self.severity.severity_direction())
        out["measures"] = {k: c.to_dict(c.measure_direction()) for k, c in self.measures.items()}
        return out


@dataclass(frozen=True)
class ConcernChange:
    """One concern at both visits: severity, grade, measures, and the same per region."""

    severity: Change
    grade_before: int | None
    grade_after: int | None
    measures: dict[str, Change]
    regions: dict[str, RegionChange]

    @property
    def direction(self) -> Direction:
        return self.severity.severity_direction()

    @property
    def significant(self) -> bool:
        return self.severity.significant

    def to_dict(self) -> dict[str, Any]:
        out = self.severity.to_dict(self.direction)
        out["grade"] = {"before": self.grade_before, "after": self.grade_after}
        out["measures"] = {k: c.to_dict(c.measure_direction()) for k, c in self.measures.items()}
        out["regions"] = {name: region.to_dict() for name, region in self.regions.items()}
        return out


@dataclass(frozen=True)
class Comparison:
    """The result of :func:`compare`; ``to_dict()`` is ``skinscan.comparison/1``.

    ``concerns`` is None when the comparison was refused (``refusal`` says why): a photo rejected
    by the quality gate, photos that cannot be registered (different people, poses or sites), or
    severities from different calibrations. ``before_assessment`` / ``after_assessment`` keep the
    images behind the numbers, for change maps, when the visits were assessed from photos.
    """

    before: dict[str, Any]
    after: dict[str, Any]
    registration: Registration
    refusal: dict[str, str] | None
    concerns: dict[str, ConcernChange] | None
    repeatability: dict[str, Any]
    timings_ms: dict[str, float]
    before_assessment: Assessment | None = field(default=None, repr=False, compare=False)
    after_assessment: Assessment | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.concerns is not None

    def significant_changes(self) -> dict[str, Direction]:
        """The concerns whose severity changed significantly, with the direction."""
        if self.concerns is None:
            return {}
        return {n: c.direction for n, c in self.concerns.items() if c.significant}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "before": self.before,
            "after": self.after,
            "registration": self.registration.to_dict(),
            "refusal": self.refusal,
            "concerns": None
            if self.concerns is None
            else {name: self.concerns[name].to_dict() for name in CONCERNS},
            "repeatability": self.repeatability,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def load_assessment_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved ``skinscan.assessment/1`` JSON file.

    Raises
    ------
    ValueError
        The file is not JSON, or not a ``skinscan.assessment/1`` record.
    """
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{Path(path).name}: not a JSON file ({exc})") from None
    return _checked_record(record, Path(path).name)


def _checked_record(record: Any, name: str) -> dict[str, Any]:
    if not isinstance(record, Mapping) or record.get("schema") != ASSESSMENT_SCHEMA:
        raise ValueError(f"{name}: not a {ASSESSMENT_SCHEMA} record")
    for key in ("photo", "quality", "face", "concerns", "models"):
        if key not in record:
            raise ValueError(f"{name}: {ASSESSMENT_SCHEMA} record without {key!r}")
    return dict(record)


def _is_json_path(value: Any) -> bool:
    if not isinstance(value, str | os.PathLike):
        return False
    path = Path(value)
    if path.suffix.lower() == ".json":
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(1) == b"{"
    except OSError:
        return False


def _resolve(visit: Any, assess_options: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """A visit as (``skinscan.assessment/1`` record, Assessment or None)."""
    from skinscan.pipeline import Assessment, assess

    if isinstance(visit, Assessment):
        return visit.to_dict(), visit
    if isinstance(visit, Mapping):
        return _checked_record(visit, "assessment"), None
    if _is_json_path(visit):
        return load_assessment_record(visit), None
    assessment = assess(visit, **assess_options)
    return assessment.to_dict(), assessment


def _summary(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "sha256": record["photo"].get("sha256"),
        "quality_ok": bool(record["quality"].get("ok")),
        "face_found": bool(record["face"].get("found")),
        "calibration_version": calibration_version(record),
    }


def _value(mapping: Mapping[str, Any] | None, key: str) -> float | None:
    if mapping is None:
        return None
    value = mapping.get(key)
    return None if value is None else float(value)


def _concern_change(
    name: str, before: Mapping[str, Any], after: Mapping[str, Any], table: RepeatabilityTable
) -> ConcernChange:
    measures = {
        key: Change.of(
            _value(before["measures"], key),
            _value(after["measures"], key),
            table.mdc95(name, measure=key),
        )
        for key in before["measures"]
        if key in after["measures"]
    }
    regions: dict[str, RegionChange] = {}
    for region, b_region in before["regions"].items():
        a_region = after["regions"].get(region)
        if a_region is None:
            continue
        regions[region] = RegionChange(
            Change.of(
                _value(b_region, "severity"),
                _value(a_region, "severity"),
                table.mdc95(name, region=region),
            ),
            {
                key: Change.of(
                    _value(b_region["measures"], key),
                    _value(a_region["measures"], key),
                    table.mdc95(name, measure=key, region=region),
                )
                for key in b_region["measures"]
                if key in a_region["measures"]
            },
        )
    first, second = _value(before, "severity"), _value(after, "severity")
    levels = None if first is None or second is None else (first, second)
    return ConcernChange(
        Change.of(first, second, table.mdc95(name, between=levels)),
        before.get("grade"),
        after.get("grade"),
        measures,
        regions,
    )


def compare(
    before: str | os.PathLike[str] | bytes | NDArray[Any] | Photo | Mapping[str, Any] | Assessment,
    after: str | os.PathLike[str] | bytes | NDArray[Any] | Photo | Mapping[str, Any] | Assessment,
    *,
    table: RepeatabilityTable | str | os.PathLike[str] | None = None,
    max_pose_difference_deg: float | None = None,
    **assess_options: Any,
) -> Comparison:
    """Compare two visits of one patient.

    Parameters
    ----------
    before, after : path, bytes, ndarray, Photo, dict or Assessment
        Each visit as a photo (assessed here), a saved ``skinscan.assessment/1`` (a dict or a
        ``.json`` file, so that old visits are not recomputed) or an :class:`Assessment`.
    table : RepeatabilityTable or path, optional
        Where MDC95 comes from; default: the shipped table
        (:func:`skinscan.longitudinal.repeatability.default_table`). A clinic's own table, made
        with ``skinscan repeatability`` from same-day repeats, is the better reference.
    max_pose_difference_deg : float, optional
        Largest pose difference registered; default: the capture protocol's.
    **assess_options
        Passed to :func:`skinscan.assess` for visits given as photos (``protocol``, ``site``,
        ``limits``, ``landmarker``).

    Returns
    -------
    Comparison
        ``concerns`` is None, and ``refusal`` says why, when the visits cannot be compared.

    Raises
    ------
    skinscan.errors.PhotoInputError
        A photo cannot be read.
    ValueError
        A saved assessment is not a ``skinscan.assessment/1`` record.
    """
    start = time.perf_counter()
    if table is None:
        table = default_table()
    elif not isinstance(table, RepeatabilityTable):
        table = RepeatabilityTable.load(table)
    before_record, before_assessment = _resolve(before, assess_options)
    after_record, after_assessment = _resolve(after, assess_options)
    t_resolved = time.perf_counter()

    refusal = _refusal(before_record, after_record)
    if refusal is not None:
        registration = Registration.refused(refusal["code"], refusal["message"])
    elif (
        before_assessment is not None
        and after_assessment is not None
        and before_assessment.standard is not None
        and after_assessment.standard is not None
    ):
        registration = register(
            before_assessment.standard,
            after_assessment.standard,
            max_pose_difference_deg=max_pose_difference_deg,
        )
    else:
        registration = register_records(
            before_record, after_record, max_pose_difference_deg=max_pose_difference_deg
        )
    t_registered = time.perf_counter()
    if refusal is None and not registration.ok:
        refusal = {"code": str(registration.reason), "message": registration.message}

    concerns: dict[str, ConcernChange] | None = None
    if refusal is None:
        concerns = {
            name: _concern_change(
                name, before_record["concerns"][name], after_record["concerns"][name], table
            )
            for name in CONCERNS
        }
    end = time.perf_counter()
    return Comparison(
        before=_summary(before_record),
        after=_summary(after_record),
        registration=registration,
        refusal=refusal,
        concerns=concerns,
        repeatability=_table_summary(table),
        timings_ms={
            "assess": (t_resolved - start) * 1e3,
            "register": (t_registered - t_resolved) * 1e3,
            "compare": (end - t_registered) * 1e3,
            "total": (end - start) * 1e3,
        },
        before_assessment=before_assessment,
        after_assessment=after_assessment,
    )


def _refusal(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, str] | None:
    """Why two records cannot be compared at all, before any registration (None if they can)."""
    for label, record in (("before", before), ("after", after)):
        if record["concerns"] is None:
            return {
                "code": f"{label}_rejected",
                "message": f"the {label} photo was rejected by the quality gate: "
                + _quality_reasons(record),
            }
    versions = (calibration_version(before), calibration_version(after))
    if versions[0] != versions[1]:
        return {
            "code": "calibration_mismatch",
            "message": f"severities were computed with calibrations {versions[0]} and "
            f"{versions[1]}; assess both photos again with one version",
        }
    return None


def _quality_reasons(record: Mapping[str, Any]) -> str:
    issues = [i for i in record["quality"].get("issues", []) if i.get("level") == "reject"]
    if not issues:
        return "no reason recorded"
    return "; ".join(f"{i['code']} ({i.get('message', '')})".replace(" ()", "") for i in issues)


def _table_summary(table: RepeatabilityTable) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "source": table.source,
        "created": table.created,
        "calibration_version": table.calibration_version,
    }
    if table.calibration_version != CALIBRATION_VERSION:
        summary["warning"] = (
            f"the repeatability table was made with calibration {table.calibration_version}, "
            f"this is {CALIBRATION_VERSION}: recompute it (skinscan repeatability)"
        )
    return summary
