"""Receiving a visit's photo and (re)starting its assessment: the service's async workflow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fastapi import HTTPException, UploadFile, status

from skinscan.serve import crud
from skinscan.serve.keys import AuthContext
from skinscan.serve.schemas import VisitPublic
from skinscan.serve.services import Services
from skinscan.serve.store import UploadTooLarge
from skinscan.serve.views import visit_public

__all__ = ["VisitOutcome", "receive_visit", "retry_visit"]


@dataclass(frozen=True)
class VisitOutcome:
    """A visit after an upload or a retry, and how it went.

    ``finished`` is True when the assessment ended (done or failed) within the wait; False
    means it is still being computed (202).
    """

    visit: VisitPublic
    kind: Literal["created", "duplicate", "retried"]
    finished: bool


def _not_found(what: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


async def _visit_view(services: Services, auth: AuthContext, visit_id: str) -> VisitPublic:
    def load() -> VisitPublic:
        with services.sessions() as session:
            visit = crud.get_visit(session, auth.clinic_id, visit_id)
            if visit is None:
                raise _not_found("visit")
            return visit_public(visit, services.store)

    return await asyncio.to_thread(load)


async def receive_visit(
    services: Services,
    auth: AuthContext,
    patient_id: str,
    photo: UploadFile,
    taken_at: datetime | None,
    route: str,
) -> VisitOutcome:
    """Store an uploaded photo as a new visit of a patient and assess it.

    Parameters
    ----------
    services : Services
        The app's services.
    auth : AuthContext
        The caller (a clinician key).
    patient_id : str
        The patient; 404 unless it belongs to the caller's clinic.
    photo : UploadFile
        The upload; copied in chunks, 413 past ``max_upload_bytes``.
    taken_at : datetime, optional
        When the photo was taken (naive: UTC); default: now.
    route : str
        For the audit log.

    Returns
    -------
    VisitOutcome
        ``duplicate`` when the patient already has a visit with these exact bytes (nothing is
        assessed again).

    Raises
    ------
    HTTPException
        404 (unknown patient), 413 (too large), 422 with ``{"code", "message"}`` (unusable
        photo: the :class:`skinscan.errors.PhotoInputError` code).
    """
    settings = services.settings

    def find_patient() -> None:
        with services.sessions() as session:
            if crud.get_patient(session, auth.clinic_id, patient_id) is None:
                raise _not_found("patient")

    await asyncio.to_thread(find_patient)
    try:
        stored = await asyncio.to_thread(
            services.store.save_upload, photo.file, max_bytes=settings.max_upload_bytes
        )
    except UploadTooLarge as exc:
        raise HTTPException(
            status_code=413,
            detail={"code": "file_too_large", "message": str(exc)},
        ) from exc

    def existing_visit() -> VisitPublic | None:
        with services.sessions() as session:
            visit = crud.find_visit_by_photo(session, patient_id, stored.sha256)
            if visit is None:
                return None
            crud.audit(session, auth, "write", route, patient_id=patient_id, visit_id=visit.id)
            session.commit()
            return visit_public(visit, services.store, duplicate=True)

    duplicate = await asyncio.to_thread(existing_visit)
    if duplicate is not None:
        return VisitOutcome(duplicate, "duplicate", duplicate.status in ("done", "failed"))

    prepared = await services.runner.prepare(stored.sha256)
    if not prepared["ok"]:
        raise HTTPException(
            status_code=422,
            detail={"code": prepared["code"], "message": prepared["message"]},
        )
    when = datetime.now(UTC) if taken_at is None else taken_at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)

    def record() -> tuple[str, bool]:
        with services.sessions() as session:
            patient = crud.get_patient(session, auth.clinic_id, patient_id)
            if patient is None:
                raise _not_found("patient")
            visit, created = crud.record_visit(
                session,
                auth,
                patient,
                sha256=stored.sha256,
                photo=prepared,
                taken_at=when,
                route=route,
            )
            return visit.id, created

    visit_id, created = await asyncio.to_thread(record)
    if not created:
        view = await _visit_view(services, auth, visit_id)
        view = view.model_copy(update={"duplicate": True})
        return VisitOutcome(view, "duplicate", view.status in ("done", "failed"))
    task = services.runner.launch(visit_id, stored.sha256)
    finished = await services.runner.wait(task, settings.sync_wait_s)
    return VisitOutcome(await _visit_view(services, auth, visit_id), "created", finished)


async def retry_visit(
    services: Services, auth: AuthContext, visit_id: str, route: str
) -> VisitOutcome:
    """Run the assessment of a failed, retryable visit again.

    Raises
    ------
    HTTPException
        404 (unknown visit), 409 (not failed, or failed for a reason a retry cannot fix).
    """

    def reset() -> tuple[str, str | None]:
        with services.sessions() as session:
            visit, state = crud.reset_for_retry(session, auth, visit_id, route)
            return state, None if visit is None else visit.photo_sha256

    state, sha256 = await asyncio.to_thread(reset)
    if state == "missing" or sha256 is None:
        raise _not_found("visit")
    if state == "not_failed":
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail={"code": "not_failed", "message": "only a failed visit can be retried"},
        )
    if state == "not_retryable":
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail={
                "code": "not_retryable",
                "message": "the photo itself cannot be used; upload a new one",
            },
        )
    task = services.runner.launch(visit_id, sha256)
    finished = await services.runner.wait(task, services.settings.sync_wait_s)
    return VisitOutcome(await _visit_view(services, auth, visit_id), "retried", finished)
