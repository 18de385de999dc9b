"""The clinician's page: one HTML file and its assets, served by the API's own app.

The page is plain HTML, CSS and JavaScript (no build step, nothing fetched from elsewhere). It
calls the same ``/api/v1`` endpoints as any integration, with the key the clinician enters.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["STATIC_DIR", "mount_page"]

#: The page's files, shipped inside the package (``skinscan/serve/static``).
STATIC_DIR = Path(__file__).resolve().parent / "static"

_HEADERS = {
    # A stale app.js against a newer API misbehaves quietly: revalidate every time (an unchanged
    # file still answers 304).
    "Cache-Control": "no-cache",
    # The page holds an API key in sessionStorage: run only its own script, load nothing from
    # elsewhere, and refuse to be framed. Photos and overlays arrive as blob: URLs.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def mount_page(app: FastAPI) -> None:
    """Serve the clinician's page at ``GET /`` and its assets under ``/static``.

    Parameters
    ----------
    app : FastAPI
        The service's app; the page's routes are left out of its OpenAPI schema.

    Notes
    -----
    The page itself needs no key: it asks the clinician for one and sends it as
    ``Authorization: Bearer <key>`` with every API request, photos and overlays included.
    """

    @app.get("/", include_in_schema=False)
    def read_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_HEADERS)

    app.mount("/static", _PageFiles(directory=STATIC_DIR), name="static")


class _PageFiles(StaticFiles):
    """The page's assets, with the page's headers."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(_HEADERS)
        return response
