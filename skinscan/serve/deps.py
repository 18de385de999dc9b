"""FastAPI dependencies: the services, a database session, the calling key and its role, and
the audited reads of the hot paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from skinscan.serve.bodies import BodyKind
from skinscan.serve.keys import AuthContext, authenticate
from skinscan.serve.ledger import NotFound, Unauthorised
from skinscan.serve.schemas import PlainError
from skinscan.serve.services import Services

__all__ = [
    "API_PREFIX",
    "CLINICIAN_RESPONSES",
    "KEY_RESPONSES",
    "UNAUTHORISED_DETAIL",
    "BearerKey",
    "ClinicianKey",
    "CurrentKey",
    "PathId",
    "ServicesDep",
    "SessionDep",
    "audited_body",
    "get_current_key",
    "get_services",
    "get_session",
    "not_found_detail",
    "require_clinician",
    "route_name",
]


#: Every API route lives under this versioned prefix.
API_PREFIX = "/api/v1"

#: A patient's or visit's id in a path: opaque (a random UUID), never holding NUL. PostgreSQL
#: text cannot hold one either, so such an id answers 422 instead of failing the query.
PathId = Annotated[str, Path(pattern=r"^[^\x00]*$")]

#: The OpenAPI answers of a route that needs a key (:data:`CurrentKey`).
KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": PlainError, "description": "No key, or an unknown, malformed or revoked one"},
}

#: The OpenAPI answers of a route that needs a clinician's key (:data:`ClinicianKey`).
CLINICIAN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **KEY_RESPONSES,
    403: {"model": PlainError, "description": "An integration key: it only reads numbers"},
}


async def get_services(request: Request) -> Services:
    """The app's :class:`Services` (a coroutine: no trip through the thread pool)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """A session for one request, closed afterwards."""
    with services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `sks_<key id>_<secret>`.")

#: The ``Authorization: Bearer`` credentials as sent, unchecked (None when there are none).
BearerKey = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


#: The ``detail`` of every 401.
UNAUTHORISED_DETAIL = "a valid API key is required (Authorization: Bearer <key>)"


def _unauthorised() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=UNAUTHORISED_DETAIL,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_current_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AuthContext:
    """The caller's key; 401 when it is missing, unknown or revoked."""
    auth = None if credentials is None else authenticate(session, credentials.credentials)
    # End the lookup's transaction so its connection goes back to the pool: an upload holds this
    # session while it waits for its assessment, and its own queries need a connection of their
    # own. (The session's objects stay readable.)
    session.commit()
    if auth is None:
        raise _unauthorised()
    return auth


CurrentKey = Annotated[AuthContext, Depends(get_current_key)]


def require_clinician(key: CurrentKey) -> AuthContext:
    """The caller's key if it may write (role ``clinician``); 403 otherwise."""
    if not key.can_write:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="this key has the integration role, which only reads",
        )
    return key


ClinicianKey = Annotated[AuthContext, Depends(require_clinician)]


def route_name(request: Request) -> str:
    """``METHOD /route/{template}`` of the request, as the audit log records it."""
    path = getattr(request.scope.get("route"), "path", None)
    return f"{request.method} {path if path is not None else request.url.path}"


async def audited_body(
    services: Services,
    credentials: BearerKey,
    body: BodyKind,
    target_id: str,
    request: Request,
) -> bytes:
    """The JSON answer of a score read (:meth:`Services.score_read`): authorised, audited
    (group-committed), its body cached.

    Raises
    ------
    HTTPException
        401 as :data:`CurrentKey` does; 404 (``visit not found`` / ``patient not found``) for
        an id that is not in the key's clinic.
    """
    key = None if credentials is None else credentials.credentials
    try:
        return await services.score_read(body, key, target_id, route_name(request))
    except Unauthorised:
        raise _unauthorised() from None
    except NotFound:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND, detail=not_found_detail(body)
        ) from None


def not_found_detail(body: BodyKind) -> str:
    """The ``detail`` of a score read's 404."""
    return "visit not found" if body == "visit" else "patient not found"
