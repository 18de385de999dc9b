"""``/visits``: read a visit, retry a failed one, its FHIR Bundle, display photo and overlays."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse

from skinscan.serve import crud
from skinscan.serve.deps import (
    API_PREFIX,
    CLINICIAN_RESPONSES,
    KEY_RESPONSES,
    BearerKey,
    ClinicianKey,
    CurrentKey,
    PathId,
    ServicesDep,
    SessionDep,
    audited_body,
    route_name,
)
from skinscan.serve.models import Visit
from skinscan.serve.schemas import CodedError, PlainError, VisitPublic
from skinscan.serve.uploads import retry_visit

__all__ = ["router"]

router = APIRouter(tags=["visits"], responses=KEY_RESPONSES)

VISITS = API_PREFIX + "/visits"

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": PlainError, "description": "No such visit here"}
}


def _visit_or_404(session: SessionDep, clinic_id: str, visit_id: str) -> Visit:
    visit = crud.get_visit(session, clinic_id, visit_id)
    if visit is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="visit not found")
    return visit


@router.get(
    VISITS + "/{visit_id}",
    operation_id="read_visit",
    response_model=VisitPublic,
    responses=_NOT_FOUND,
)
async def read_visit(
    visit_id: PathId, credentials: BearerKey, services: ServicesDep, request: Request
) -> Response:
    """The visit; ``assessment`` holds ``skinscan.assessment/1`` once ``status`` is ``done``."""
    body = await audited_body(services, credentials, "visit", visit_id, request)
    return Response(body, media_type="application/json")


@router.post(
    VISITS + "/{visit_id}/retry",
    operation_id="retry_visit",
    response_model=VisitPublic,
    responses={
        202: {"model": VisitPublic, "description": "Accepted; the assessment is running"},
        **CLINICIAN_RESPONSES,
        **_NOT_FOUND,
        409: {
            "model": CodedError,
            "description": "The visit has not failed, or failed for a reason a retry can't fix",
        },
    },
)
async def retry(
    visit_id: PathId, key: ClinicianKey, services: ServicesDep, request: Request, response: Response
) -> VisitPublic:
    """Assess a failed, retryable visit again (a crashed, timed-out or interrupted run)."""
    outcome = await retry_visit(services, key, visit_id, route_name(request))
    if not outcome.finished:
        response.status_code = status.HTTP_202_ACCEPTED
    return outcome.visit


@router.get(
    VISITS + "/{visit_id}/fhir",
    operation_id="read_visit_fhir",
    response_model=dict[str, Any],
    responses={
        200: {"content": {"application/fhir+json": {}}, "description": "A FHIR R4B Bundle"},
        **_NOT_FOUND,
        409: {"model": CodedError, "description": "The visit is not assessed yet"},
    },
)
def read_visit_fhir(
    visit_id: PathId, session: SessionDep, key: CurrentKey, request: Request
) -> dict[str, Any]:
    """The visit's assessment as a FHIR Bundle: one Observation per concern, regions as parts."""
    from skinscan.serve.fhir import visit_bundle

    visit = _visit_or_404(session, key.clinic_id, visit_id)
    if visit.status != "done" or visit.assessment is None:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail={"code": "not_assessed", "message": f"the visit is {visit.status}"},
        )
    crud.record_read(
        session, key, route_name(request), patient_id=visit.patient_id, visit_id=visit.id
    )
    return visit_bundle(
        visit.id, visit.patient_id, visit.taken_at, visit.assessment, visit.photo_sha256
    )


@router.get(
    VISITS + "/{visit_id}/photo",
    operation_id="read_visit_photo",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "Display copy, no metadata"},
        **CLINICIAN_RESPONSES,
        403: {"model": PlainError, "description": "Integration keys never receive photos"},
        404: {"model": PlainError, "description": "No such visit, or no display copy, here"},
    },
)
def read_visit_photo(
    visit_id: PathId,
    session: SessionDep,
    key: ClinicianKey,
    services: ServicesDep,
    request: Request,
) -> Response:
    """The visit's photo for display: upright pixels re-encoded, no EXIF/GPS (clinicians only)."""
    visit = _visit_or_404(session, key.clinic_id, visit_id)
    path = services.store.display_path(visit.photo_sha256)
    if not path.is_file():
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no display copy")
    crud.record_read(
        session, key, route_name(request), patient_id=visit.patient_id, visit_id=visit.id
    )
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private"})


@router.get(
    VISITS + "/{visit_id}/maps/{name}",
    operation_id="read_visit_map",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/png": {}}, "description": "An overlay (PNG)"},
        **CLINICIAN_RESPONSES,
        403: {"model": PlainError, "description": "Integration keys never receive images"},
        404: {"model": PlainError, "description": "No such visit or overlay here"},
    },
)
def read_visit_map(
    visit_id: PathId,
    name: str,
    session: SessionDep,
    key: ClinicianKey,
    services: ServicesDep,
    request: Request,
) -> Response:
    """One overlay of the visit (``regions``, ``calibration``, ``calibrated``, a concern)."""
    visit = _visit_or_404(session, key.clinic_id, visit_id)
    path = services.store.map_path(visit.id, name) if visit.status == "done" else None
    if path is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no such overlay")
    crud.record_read(
        session, key, route_name(request), patient_id=visit.patient_id, visit_id=visit.id
    )
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private"})
