"""The data layer: every query the service makes, each scoped to one clinic.

Functions take an open :class:`~sqlalchemy.orm.Session`; the ones that change state commit, so
that a visit's assessment and its status always land in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from skinscan.serve.keys import AuthContext
from skinscan.serve.models import AuditEntry, Patient, Photo, Visit, utcnow

__all__ = [
    "PatientExists",
    "audit",
    "create_patient",
    "fail_visit",
    "find_visit_by_photo",
    "finish_visit",
    "get_patient",
    "get_visit",
    "mark_running",
    "record_visit",
    "recover_interrupted",
    "reset_for_retry",
    "visit_count",
    "visits_of",
]


class PatientExists(Exception):
    """The clinic already has a patient with this external id."""


def audit(
    session: Session,
    auth: AuthContext,
    action: Literal["read", "write"],
    route: str,
    *,
    patient_id: str | None = None,
    visit_id: str | None = None,
) -> None:
    """Add an audit row (committed with the caller's transaction)."""
    session.add(
        AuditEntry(
            clinic_id=auth.clinic_id,
            key_id=auth.key_id,
            action=action,
            route=route,
            patient_id=patient_id,
            visit_id=visit_id,
        )
    )


def record_read(
    session: Session,
    auth: AuthContext,
    route: str,
    *,
    patient_id: str,
    visit_id: str | None = None,
) -> None:
    """Audit a read of a patient (or one of their visits) and commit it."""
    audit(session, auth, "read", route, patient_id=patient_id, visit_id=visit_id)
    session.commit()


def create_patient(session: Session, auth: AuthContext, external_id: str, route: str) -> Patient:
    """Create a patient of the caller's clinic; :class:`PatientExists` if the id is taken."""
    patient = Patient(clinic_id=auth.clinic_id, external_id=external_id)
    session.add(patient)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise PatientExists(external_id) from exc
    audit(session, auth, "write", route, patient_id=patient.id)
    session.commit()
    return patient


def get_patient(session: Session, clinic_id: str, patient_id: str) -> Patient | None:
    """The patient, if it belongs to ``clinic_id``."""
    return session.scalar(
        select(Patient).where(Patient.id == patient_id, Patient.clinic_id == clinic_id)
    )


def get_visit(session: Session, clinic_id: str, visit_id: str) -> Visit | None:
    """The visit, if it belongs to ``clinic_id``."""
    return session.scalar(select(Visit).where(Visit.id == visit_id, Visit.clinic_id == clinic_id))


def visits_of(session: Session, patient_id: str) -> Sequence[Visit]:
    """A patient's visits in time order (ties: upload order)."""
    return session.scalars(
        select(Visit)
        .where(Visit.patient_id == patient_id)
        .order_by(Visit.taken_at, Visit.created_at, Visit.id)
    ).all()


def visit_count(session: Session, patient_id: str) -> int:
    """How many visits a patient has."""
    return int(
        session.scalar(
            select(func.count()).select_from(Visit).where(Visit.patient_id == patient_id)
        )
        or 0
    )


def find_visit_by_photo(session: Session, patient_id: str, sha256: str) -> Visit | None:
    """The patient's visit with this photo, if it was uploaded before."""
    return session.scalar(
        select(Visit).where(Visit.patient_id == patient_id, Visit.photo_sha256 == sha256)
    )


def record_visit(
    session: Session,
    auth: AuthContext,
    patient: Patient,
    *,
    sha256: str,
    photo: dict[str, Any],
    taken_at: datetime,
    route: str,
) -> tuple[Visit, bool]:
    """Store a new pending visit (and its photo row, if new).

    Returns
    -------
    (Visit, bool)
        The visit, and True if it was created — False if a concurrent upload of the same photo
        to the same patient won the race (that visit is returned).
    """
    if session.get(Photo, sha256) is None:
        session.add(
            Photo(
                sha256=sha256,
                format=photo["format"],
                width=photo["width"],
                height=photo["height"],
                size_bytes=photo["size_bytes"],
            )
        )
        try:
            session.flush()
        except IntegrityError:
            session.rollback()  # stored meanwhile by another upload: same bytes, same row
    visit = Visit(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        photo_sha256=sha256,
        taken_at=taken_at,
        status="pending",
    )
    session.add(visit)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        existing = find_visit_by_photo(session, patient.id, sha256)
        if existing is None:
            raise
        audit(session, auth, "write", route, patient_id=patient.id, visit_id=existing.id)
        session.commit()
        return existing, False
    audit(session, auth, "write", route, patient_id=patient.id, visit_id=visit.id)
    session.commit()
    return visit, True


def mark_running(session: Session, visit_id: str) -> int | None:
    """Move a pending visit to running and count the attempt; None if it was not pending."""
    attempts = session.scalar(
        update(Visit)
        .where(Visit.id == visit_id, Visit.status == "pending")
        .values(status="running", attempts=Visit.attempts + 1, updated_at=utcnow())
        .returning(Visit.attempts)
    )
    session.commit()
    return None if attempts is None else int(attempts)


def finish_visit(session: Session, visit_id: str, attempt: int, record: dict[str, Any]) -> bool:
    """Store the assessment and mark the visit done — one statement, one transaction.

    Only the attempt that is running may finish it (a visit recovered as interrupted meanwhile
    is left alone). Returns whether the visit was updated.
    """
    now = utcnow()
    result = session.execute(
        update(Visit)
        .where(Visit.id == visit_id, Visit.status == "running", Visit.attempts == attempt)
        .values(
            status="done",
            assessment=record,
            error_code=None,
            error_message=None,
            error_retryable=None,
            updated_at=now,
            completed_at=now,
        )
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def fail_visit(
    session: Session, visit_id: str, attempt: int, code: str, message: str, *, retryable: bool
) -> bool:
    """Mark the running attempt failed with a machine code; returns whether it was updated."""
    now = utcnow()
    result = session.execute(
        update(Visit)
        .where(Visit.id == visit_id, Visit.status == "running", Visit.attempts == attempt)
        .values(
            status="failed",
            assessment=None,
            error_code=code,
            error_message=message,
            error_retryable=retryable,
            updated_at=now,
            completed_at=now,
        )
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def reset_for_retry(
    session: Session, auth: AuthContext, visit_id: str, route: str
) -> tuple[Visit | None, Literal["ok", "not_failed", "not_retryable", "missing"]]:
    """Put a failed, retryable visit of the caller's clinic back to pending."""
    visit = get_visit(session, auth.clinic_id, visit_id)
    if visit is None:
        return None, "missing"
    if visit.status != "failed":
        return visit, "not_failed"
    if not visit.error_retryable:
        return visit, "not_retryable"
    visit.status = "pending"
    visit.updated_at = utcnow()
    audit(session, auth, "write", route, patient_id=visit.patient_id, visit_id=visit.id)
    session.commit()
    return visit, "ok"


def recover_interrupted(session: Session) -> int:
    """At startup: visits left pending or running by a stopped service become failed, retryable.

    Returns how many there were.
    """
    now = utcnow()
    result = session.execute(
        update(Visit)
        .where(Visit.status.in_(("pending", "running")))
        .values(
            status="failed",
            error_code="interrupted",
            error_message="the service stopped before the assessment finished; retry it",
            error_retryable=True,
            updated_at=now,
            completed_at=now,
        )
    )
    session.commit()
    return int(getattr(result, "rowcount", 0))
