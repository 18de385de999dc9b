"""The score reads answered in pure ASGI, ahead of FastAPI's routing and dependency injection.

``GET /api/v1/visits/{visit_id}``, ``GET /api/v1/patients/{patient_id}`` and
``GET /api/v1/patients/{patient_id}/progress`` are the reads integrations poll. Their FastAPI
routes (:mod:`skinscan.serve.routes`) are the contract — schema, operation ids, documented
answers — and they answer every request that :class:`ScoreReads` passes on. For a well-formed
request ``ScoreReads`` gives the same answer without FastAPI's per-request work (matching the
route among the included routers, resolving the dependencies, validating the parameters: about
0.4 ms of CPU, two thirds of such a read through FastAPI): the same audited read
(:meth:`skinscan.serve.services.Services.score_read`), the same cached body, the same 401 and 404
bodies and headers, built with the same response classes. The tests compare both paths
answer for answer.

Passed on to FastAPI: any other method or path, an id holding NUL (FastAPI answers 422), a
request under a ``root_path``, and anything without ``Authorization: Bearer <credentials>``
(FastAPI answers 401 the same way).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from skinscan.serve.bodies import BodyKind
from skinscan.serve.deps import API_PREFIX, UNAUTHORISED_DETAIL, not_found_detail
from skinscan.serve.ledger import NotFound, Unauthorised
from skinscan.serve.services import Services

__all__ = ["SCORE_READS", "ScoreReads"]

JSON = "application/json"

#: Operation id → the body it answers.
SCORE_READS: dict[str, BodyKind] = {
    "read_visit": "visit",
    "read_patient": "patient",
    "read_progress": "progress",
}

# The paths of those routes; an id is one path segment, as Starlette's ``{name}`` matches.
_PATHS = re.compile(
    "^"
    + re.escape(API_PREFIX)
    + r"/(?:visits/(?P<visit>[^/]+)|patients/(?P<patient>[^/]+)(?P<progress>/progress)?)$"
)


def _bearer(scope: Scope) -> str | None:
    """The credentials of the first ``Authorization`` header if its scheme is Bearer.

    As :class:`fastapi.security.HTTPBearer` reads it: scheme and credentials split at the
    first space, the scheme compared without case, the credentials stripped and not empty.
    """
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            if scheme.lower() != "bearer" or not credentials:
                return None
            return credentials
    return None


class ScoreReads:
    """ASGI middleware that answers the score reads itself (see the module notes).

    Parameters
    ----------
    app : ASGI app
        The rest of the stack (FastAPI's exception handling and routes).
    routes : iterable of BaseRoute
        The API's routes (included in the app without a prefix): the ``APIRoute`` of each
        operation is put in the scope (``scope["route"]``), as FastAPI's router does, for the
        metrics and the audit log.
    services : Services
        The app's ledger and bodies.
    """

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute], services: Services) -> None:
        self.app = app
        self.services = services
        self.routes: dict[str, APIRoute] = {
            route.operation_id: route
            for route in routes
            if isinstance(route, APIRoute) and route.operation_id in SCORE_READS
        }
        missing = set(SCORE_READS) - set(self.routes)
        if missing:
            raise ValueError(f"no route for {', '.join(sorted(missing))}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        match = _PATHS.match(scope["path"])
        credentials = None if match is None else _bearer(scope)
        if match is None or credentials is None or "\x00" in scope["path"]:
            await self.app(scope, receive, send)
            return
        if match["visit"] is not None:
            operation, target_id = "read_visit", match["visit"]
        elif match["progress"] is not None:
            operation, target_id = "read_progress", match["patient"]
        else:
            operation, target_id = "read_patient", match["patient"]
        route = self.routes[operation]
        scope["route"] = route
        response = await self._answer(
            SCORE_READS[operation], credentials, target_id, f"GET {route.path}"
        )
        await response(scope, receive, send)

    async def _answer(
        self, body: BodyKind, credentials: str, target_id: str, route: str
    ) -> Response:
        try:
            answer = await self.services.score_read(body, credentials, target_id, route)
        except Unauthorised:
            return JSONResponse(
                {"detail": UNAUTHORISED_DETAIL},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        except NotFound:
            return JSONResponse({"detail": not_found_detail(body)}, status_code=404)
        return Response(answer, media_type=JSON)
