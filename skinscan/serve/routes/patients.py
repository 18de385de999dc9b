"""``/patients``: create, read, progress, and upload a visit's photo."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile, status

from skinscan.serve import crud
from skinscan.serve.deps import (
    API_PREFIX,
    ClinicianKey,
    CurrentKey,
    ServicesDep,
    SessionDep,
    route_name,
)
from skinscan.serve.schemas import (
    ErrorDetail,
    PatientCreate,
    PatientPublic,
    ProgressPublic,
    VisitPublic,
)
from skinscan.serve.uploads import receive_visit
from skinscan.serve.views import patient_public, progress_public

__all__ = ["DUPLICATE_HEADER", "router"]

router = APIRouter(tags=["patients"])

PATIENTS = API_PREFIX + "/patients"

#: Header set (``true``) on an upload answered with an existing visit.
DUPLICATE_HEADER = "X-Skinscan-Duplicate"

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such patient here"}}


@router.post(
    PATIENTS,
    operation_id="create_patient",
    response_model=PatientPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The clinic already has this external_id"}},
)
def create_patient(
    body: PatientCreate, session: SessionDep, key: ClinicianKey, request: Request
) -> PatientPublic:
    """Create a pseudonymous patient of the caller's clinic."""
    try:
        patient = crud.create_patient(session, key, body.external_id, route_name(request))
    except crud.PatientExists as exc:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail="the clinic already has a patient with this external_id",
        ) from exc
    return patient_public(patient, [])


@router.get(
    PATIENTS + "/{patient_id}",
    operation_id="read_patient",
    response_model=PatientPublic,
    responses=_NOT_FOUND,
)
def read_patient(
    patient_id: str, session: SessionDep, key: CurrentKey, request: Request
) -> PatientPublic:
    """The patient and a summary of each visit, oldest first."""
    patient = crud.get_patient(session, key.clinic_id, patient_id)
    if patient is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="patient not found")
    visits = crud.visits_of(session, patient.id)
    crud.audit(session, key, "read", route_name(request), patient_id=patient.id)
    session.commit()
    return patient_public(patient, visits)


@router.get(
    PATIENTS + "/{patient_id}/progress",
    operation_id="read_progress",
    response_model=ProgressPublic,
    responses=_NOT_FOUND,
)
def read_progress(
    patient_id: str,
    session: SessionDep,
    key: CurrentKey,
    services: ServicesDep,
    request: Request,
) -> ProgressPublic:
    """Per concern: the series over visits, its trend and the latest significant change."""
    patient = crud.get_patient(session, key.clinic_id, patient_id)
    if patient is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="patient not found")
    visits = crud.visits_of(session, patient.id)
    crud.audit(session, key, "read", route_name(request), patient_id=patient.id)
    session.commit()
    return progress_public(patient.id, visits, services.repeatability_table())


@router.post(
    PATIENTS + "/{patient_id}/visits",
    operation_id="create_visit",
    response_model=VisitPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": VisitPublic, "description": "The photo was uploaded before: that visit"},
        202: {"model": VisitPublic, "description": "Accepted; the assessment is running"},
        404: {"description": "No such patient here"},
        413: {"model": ErrorDetail, "description": "The photo is over the upload limit"},
        422: {"model": ErrorDetail, "description": "The photo cannot be read (code)"},
    },
)
async def create_visit(
    patient_id: str,
    photo: Annotated[UploadFile, File(description="The photo file (JPEG, PNG, TIFF, HEIC, …)")],
    key: ClinicianKey,
    services: ServicesDep,
    request: Request,
    response: Response,
    taken_at: Annotated[
        datetime | None, Form(description="When the photo was taken (ISO 8601); default: now")
    ] = None,
) -> VisitPublic:
    """Upload a visit's photo; 201 with the assessment, or 202 while it is computed."""
    outcome = await receive_visit(services, key, patient_id, photo, taken_at, route_name(request))
    if outcome.kind == "duplicate":
        response.status_code = status.HTTP_200_OK
        response.headers[DUPLICATE_HEADER] = "true"
    elif not outcome.finished:
        response.status_code = status.HTTP_202_ACCEPTED
    response.headers["Location"] = str(request.url_for("read_visit", visit_id=outcome.visit.id))
    return outcome.visit
