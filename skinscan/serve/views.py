"""Database rows → response bodies, and the progress view of a patient."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

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

__all__ = ["patient_public", "progress_public", "visit_public"]


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
    """
    from skinscan.longitudinal.compare import compare
    from skinscan.longitudinal.trends import progress

    done = [visit for visit in visits if visit.status == "done" and visit.assessment is not None]
    records: list[tuple[Any, dict[str, Any]]] = [
        (visit.taken_at, visit.assessment) for visit in done if visit.assessment is not None
    ]
    assessed = [record for _, record in records if record.get("concerns") is not None]
    comparisons = [
        compare(before, after, table=table).to_dict()
        for before, after in itertools.pairwise(assessed)
    ]
    concerns = progress(records, comparisons=comparisons)
    for concern in concerns.values():
        # progress() keeps the (already time-ordered) input order: point i is visit i.
        for point, visit in zip(concern["series"], done, strict=True):
            point["visit_id"] = visit.id
    return ProgressPublic.model_validate(
        {"patient_id": patient_id, "visits": len(done), "concerns": concerns}
    )
