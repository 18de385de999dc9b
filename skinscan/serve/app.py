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
from skinscan.serve.routes import api_routers, ops_router
from skinscan.serve.score_reads import ScoreReads
from skinscan.serve.services import Services, build_services
from skinscan.serve.settings import Settings

__all__ = [
    "API_PREFIX",
    "MULTIPART_OVERHEAD_BYTES",
    "create_app",
    "load_views",
    "start_services",
]

log = logging.getLogger("skinscan.serve")

#: Room for the multipart framing and the small form fields beside the photo.
MULTIPART_OVERHEAD_BYTES = 1024 * 1024


def start_services(services: Services) -> None:
    """What a starting service does before it answers: migrate, recover, clean up.

    Brings the schema to the latest revision, marks visits a previous run left pending or
    running as failed (retryable, code ``interrupted``), deletes partial files and loads the
    repeatability table (a bad table stops the start, not the first progress request) with
    :func:`load_views`.
    """
    migrate(services.engine)
    with services.sessions() as session:
        interrupted = crud.recover_interrupted(session)
    if interrupted:
        log.warning("%d visit(s) were interrupted by the last stop; retry them", interrupted)
    services.store.sweep()
    load_views(services)


def load_views(services: Services) -> None:
    """Load the repeatability table and the progress view's code before the first request.

    A bad table stops the start rather than the first progress request, and the first
    progress request does not pay for the imports (a trend's confidence interval loads
    ``scipy.stats``: seconds on a small machine, with every other request waiting).
    """
    from skinscan.longitudinal.compare import compare  # noqa: F401
    from skinscan.longitudinal.trends import trend

    services.repeatability_table()
    trend([0.0, 30.0, 60.0], [40.0, 37.0, 35.0])


def create_app(settings: Settings, *, prepared: bool = False) -> FastAPI:
    """Build the service for ``settings``.

    Parameters
    ----------
    settings : Settings
        Where the data lives, which database, limits, workers, webhook.
    prepared : bool
        The database was migrated, interrupted visits recovered and partial files swept
        already, by a process that supervises several server processes on this database
        (:func:`skinscan.serve.process.run_service`): the app must not do it again at its
        start, when its siblings may be serving uploads.

    Returns
    -------
    FastAPI
        Runs migrations and recovery at startup (its lifespan) unless ``prepared``, and stops
        its workers at shutdown. Routes: ``/api/v1/…``, ``/healthz``, ``/metrics``; OpenAPI at
        ``/openapi.json``.
    """
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if prepared:
            await asyncio.to_thread(load_views, services)
        else:
            await asyncio.to_thread(start_services, services)
        if settings.prestart_workers:
            services.runner.prestart()
        try:
            yield
        finally:
            await services.runner.aclose(settings.shutdown_grace_s)
            await asyncio.to_thread(services.ledger.close)
            services.engine.dispose()

    app = FastAPI(
        title="skinscan",
        version=__version__,
        summary="Measured, repeatable severity of texture, pigment, redness and wrinkles.",
        lifespan=lifespan,
    )
    app.state.services = services
    for router in api_routers:
        app.include_router(router)
    app.include_router(ops_router)
    mount_page(app)
    app.add_middleware(
        ScoreReads,
        routes=[route for router in api_routers for route in router.routes],
        services=services,
    )
    app.add_middleware(
        RequestBodyLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    )
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    return app
