"""``/patients``: create, read, progress, and upload a visit's photo."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator

from skinscan.serve import crud
from skinscan.serve.deps import (
    API_PREFIX,
    CLINICIAN_RESPONSES,
    KEY_RESPONSES,
    BearerKey,
    ClinicianKey,
    PathId,
    ServicesDep,
    SessionDep,
    audited_body,
    route_name,
)
from skinscan.serve.schemas import (
    CodedError,
    PatientCreate,
    PatientPublic,
    PlainError,
    ProgressPublic,
    ValidationErrors,
    VisitPublic,
)
from skinscan.serve.uploads import receive_visit
from skinscan.serve.views import patient_public

__all__ = ["DUPLICATE_HEADER", "router"]


class _AsciiValidationErrors(APIRoute):
    """A route whose 422 for an invalid request is ASCII JSON (other characters escaped).

    A JSON body may hold a lone surrogate (``"\\ud800"``): valid JSON, but not Unicode text.
    FastAPI's own answer echoes the offending input and cannot encode it as UTF-8 (a 500).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_escaped(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
                return Response(body, status_code=422, media_type="application/json")

        return handle_escaped


router = APIRouter(tags=["patients"], responses=KEY_RESPONSES, route_class=_AsciiValidationErrors)

PATIENTS = API_PREFIX + "/patients"

#: Header set (``true``) on an upload answered with an existing visit.
DUPLICATE_HEADER = "X-Skinscan-Duplicate"

JSON = "application/json"

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": PlainError, "description": "No such patient here"}
}
_UNPARSABLE: dict[int | str, dict[str, Any]] = {
    400: {"model": PlainError, "description": "The body cannot be parsed (JSON, multipart)"}
}


def _has_utc_time(taken_at: datetime | None) -> datetime | None:
    """A ``taken_at`` that can be stored: its time in UTC is a datetime (year 1 to 9999)."""
    if taken_at is not None and taken_at.tzinfo is not None:
        try:
            taken_at.astimezone(UTC)
        except OverflowError:
            raise ValueError("taken_at is out of range once converted to UTC") from None
    return taken_at


@router.post(
    PATIENTS,
    operation_id="create_patient",
    response_model=PatientPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_UNPARSABLE,
        **CLINICIAN_RESPONSES,
        409: {"model": PlainError, "description": "The clinic already has this external_id"},
    },
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
async def read_patient(
    patient_id: PathId, credentials: BearerKey, services: ServicesDep, request: Request
) -> Response:
    """The patient and a summary of each visit, oldest first."""
    body = await audited_body(services, credentials, "patient", patient_id, request)
    return Response(body, media_type=JSON)


@router.get(
    PATIENTS + "/{patient_id}/progress",
    operation_id="read_progress",
    response_model=ProgressPublic,
    responses=_NOT_FOUND,
)
async def read_progress(
    patient_id: PathId, credentials: BearerKey, services: ServicesDep, request: Request
) -> Response:
    """Per concern: the series over visits, its trend and the latest significant change."""
    body = await audited_body(services, credentials, "progress", patient_id, request)
    return Response(body, media_type=JSON)


@router.post(
    PATIENTS + "/{patient_id}/visits",
    operation_id="create_visit",
    response_model=VisitPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": VisitPublic, "description": "The photo was uploaded before: that visit"},
        202: {"model": VisitPublic, "description": "Accepted; the assessment is running"},
        **_UNPARSABLE,
        **CLINICIAN_RESPONSES,
        **_NOT_FOUND,
        413: {"model": CodedError, "description": "The photo is over the upload limit"},
        422: {
            "model": CodedError | ValidationErrors,
            "description": "The photo cannot be read (its code), or the form is malformed",
        },
    },
)
async def create_visit(
    patient_id: PathId,
    photo: Annotated[UploadFile, File(description="The photo file (JPEG, PNG, TIFF, HEIC, …)")],
    key: ClinicianKey,
    services: ServicesDep,
    request: Request,
    response: Response,
    taken_at: Annotated[
        datetime | None,
        Form(description="When the photo was taken (ISO 8601); default: now"),
        AfterValidator(_has_utc_time),
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
