"""FastAPI dependencies: the services, a database session, the calling key and its role."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from skinscan.serve.keys import AuthContext, authenticate
from skinscan.serve.services import Services

__all__ = [
    "API_PREFIX",
    "ClinicianKey",
    "CurrentKey",
    "ServicesDep",
    "SessionDep",
    "get_current_key",
    "get_services",
    "get_session",
    "require_clinician",
    "route_name",
]


#: Every API route lives under this versioned prefix.
API_PREFIX = "/api/v1"


def get_services(request: Request) -> Services:
    """The app's :class:`Services`."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """A session for one request, closed afterwards."""
    with services.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `sks_<key id>_<secret>`.")


def get_current_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AuthContext:
    """The caller's key; 401 when it is missing, unknown or revoked."""
    auth = None if credentials is None else authenticate(session, credentials.credentials)
    if auth is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
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
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"
