"""Database rows → response bodies, and the progress view of a patient."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from skinscan.serve.models import Patient, Visit
from skinscan.serve.runner import severities_of
from skinscan.serve.schemas import (
    PatientPublic,
    ProgressPublic,
    VisitError,
    VisitPublic,
    VisitSummary,
)
from skinscan.serve.store import PhotoStore

__all__ = ["LruCache", "clear_progress_cache", "patient_public", "progress_public", "visit_public"]

V = TypeVar("V")


class LruCache(Generic[V]):
    """A small thread-safe least-recently-used mapping (request handlers run in threads).

    Parameters
    ----------
    size : int
        Entries kept; the least recently used one goes when a new one comes.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used entry if full."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


#: A saved visit as the progress view depends on it: any change to its assessment or status
#: moves ``updated_at`` (finish, fail, retry and recovery all set it).
_VisitVersion = tuple[str, str, datetime, datetime]

#: Progress views by (table identity, the patient's visit versions): a view is a pure
#: function of the visits' records and the repeatability table, so an entry never goes stale;
#: a new, finished or retried visit makes another key.
_PROGRESS: LruCache[tuple[Any, ProgressPublic]] = LruCache(1024)
#: ``skinscan.comparison/1`` of consecutive assessed visits, by (table identity, both visit
#: versions): a new visit costs one comparison, not one per pair.
_COMPARISONS: LruCache[tuple[Any, dict[str, Any]]] = LruCache(8192)


def clear_progress_cache() -> None:
    """Forget every cached progress view and comparison."""
    _PROGRESS.clear()
    _COMPARISONS.clear()


def _version(visit: Visit) -> _VisitVersion:
    return (visit.id, visit.status, visit.taken_at, visit.updated_at)


def visit_public(visit: Visit, store: PhotoStore, *, duplicate: bool = False) -> VisitPublic:
    """The API view of a visit."""
    error = None
    if visit.error_code is not None:
        error = VisitError(
            code=visit.error_code,
            message=visit.error_message or "",
            retryable=bool(visit.error_retryable),
        )
    return VisitPublic(
        id=visit.id,
        patient_id=visit.patient_id,
        photo_sha256=visit.photo_sha256,
        taken_at=visit.taken_at,
        status=visit.status,  # type: ignore[arg-type]
        attempts=visit.attempts,
        duplicate=duplicate,
        error=error,
        assessment=visit.assessment if visit.status == "done" else None,
        maps=store.map_names(visit.id) if visit.status == "done" else [],
        created_at=visit.created_at,
        updated_at=visit.updated_at,
        completed_at=visit.completed_at,
    )


def patient_public(patient: Patient, visits: Sequence[Visit]) -> PatientPublic:
    """The API view of a patient with a summary of each visit."""
    return PatientPublic(
        id=patient.id,
        external_id=patient.external_id,
        created_at=patient.created_at,
        visits=[
            VisitSummary(
                id=visit.id,
                taken_at=visit.taken_at,
                status=visit.status,  # type: ignore[arg-type]
                quality_ok=None
                if visit.assessment is None or visit.status != "done"
                else bool(visit.assessment["quality"]["ok"]),
                severities=severities_of(visit.assessment) if visit.status == "done" else None,
            )
            for visit in visits
        ],
    )


def progress_public(patient_id: str, visits: Sequence[Visit], table: Any) -> ProgressPublic:
    """Per concern: series over the assessed visits, trend, latest significant change.

    Parameters
    ----------
    patient_id : str
        Whose visits these are.
    visits : sequence of Visit
        The patient's visits in time order; only ``done`` ones count.
    table : RepeatabilityTable
        Where MDC95 comes from.

    Notes
    -----
    Consecutive visits whose photos passed the quality gate are compared from their saved
    records (:func:`skinscan.compare`, no photo is re-assessed), and
    :func:`skinscan.longitudinal.trends.progress` assembles the view.

    Views and comparisons are cached in this process, keyed by the table and by each visit's
    id, status, ``taken_at`` and ``updated_at`` — every change to a visit's assessment or
    status moves ``updated_at``, so a cached view is never stale: repeated reads of an
    unchanged patient skip the comparisons, and a new visit costs one new comparison.
    The returned view may be shared between requests: do not modify it.
    """
    key = (patient_id, id(table), tuple(_version(visit) for visit in visits))
    cached = _PROGRESS.get(key)
    if cached is not None and cached[0] is table:
        return cached[1]
    view = _progress_view(patient_id, visits, table)
    _PROGRESS.put(key, (table, view))
    return view


def _comparison(before: Visit, after: Visit, table: Any) -> dict[str, Any]:
    """The saved records of two visits compared (cached by both visits' versions)."""
    from skinscan.longitudinal.compare import compare

    key = (id(table), _version(before), _version(after))
    cached = _COMPARISONS.get(key)
    if cached is not None and cached[0] is table:
        return cached[1]
    assert before.assessment is not None
    assert after.assessment is not None
    comparison = compare(before.assessment, after.assessment, table=table).to_dict()
    _COMPARISONS.put(key, (table, comparison))
    return comparison


def _progress_view(patient_id: str, visits: Sequence[Visit], table: Any) -> ProgressPublic:
    from skinscan.longitudinal.trends import progress

    done = [visit for visit in visits if visit.status == "done" and visit.assessment is not None]
    records: list[tuple[Any, dict[str, Any]]] = [
        (visit.taken_at, visit.assessment) for visit in done if visit.assessment is not None
    ]
    assessed = [
        visit
        for visit in done
        if visit.assessment is not None and visit.assessment.get("concerns") is not None
    ]
    comparisons = [
        _comparison(before, after, table) for before, after in itertools.pairwise(assessed)
    ]
    concerns = progress(records, comparisons=comparisons)
    for concern in concerns.values():
        # progress() keeps the (already time-ordered) input order: point i is visit i.
        for point, visit in zip(concern["series"], done, strict=True):
            point["visit_id"] = visit.id
    return ProgressPublic.model_validate(
        {"patient_id": patient_id, "visits": len(done), "concerns": concerns}
    )
