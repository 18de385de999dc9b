"""``create_app(settings)``: the FastAPI application of ``skinscan serve``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from skinscan import __version__
from skinscan.serve import crud
from skinscan.serve.body_limit import RequestBodyLimit
from skinscan.serve.db import migrate
from skinscan.serve.deps import API_PREFIX
from skinscan.serve.metrics import MetricsMiddleware
from skinscan.serve.page import mount_page
from skinscan.serve.routes import api_router, ops_router
from skinscan.serve.services import Services, build_services
from skinscan.serve.settings import Settings

__all__ = ["API_PREFIX", "MULTIPART_OVERHEAD_BYTES", "create_app", "start_services"]

log = logging.getLogger("skinscan.serve")

#: Room for the multipart framing and the small form fields beside the photo.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def start_services(services: Services) -> None:
    """What a starting service does before it answers: migrate, recover, clean up.

    Brings the schema to the latest revision, marks visits a previous run left pending or
    running as failed (retryable, code ``interrupted``), deletes partial files and loads the
    repeatability table (a bad table stops the start, not the first progress request).
    """
    migrate(services.engine)
    with services.sessions() as session:
        interrupted = crud.recover_interrupted(session)
    if interrupted:
        log.warning("%d visit(s) were interrupted by the last stop; retry them", interrupted)
    services.store.sweep()
    services.repeatability_table()


def create_app(settings: Settings) -> FastAPI:
    """Build the service for ``settings``.

    Parameters
    ----------
    settings : Settings
        Where the data lives, which database, limits, workers, webhook.

    Returns
    -------
    FastAPI
        Runs migrations and recovery at startup (its lifespan) and stops its workers at
        shutdown. Routes: ``/api/v1/…``, ``/healthz``, ``/metrics``; OpenAPI at
        ``/openapi.json``.
    """
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(start_services, services)
        if settings.prestart_workers:
            services.runner.prestart()
        try:
            yield
        finally:
            await services.runner.aclose(settings.shutdown_grace_s)
            services.engine.dispose()

    app = FastAPI(
        title="skinscan",
        version=__version__,
        summary="Measured, repeatable severity of texture, pigment, redness and wrinkles.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.include_router(api_router)
    app.include_router(ops_router)
    mount_page(app)
    app.add_middleware(
        RequestBodyLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    )
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    return app
