"""Operational endpoints: ``/healthz`` and Prometheus ``/metrics`` (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from skinscan import __version__
from skinscan.serve.deps import ServicesDep
from skinscan.serve.schemas import Health

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="read_health", response_model=Health)
def read_health(services: ServicesDep, response: Response) -> Health:
    """Liveness and database reachability (503 when the database does not answer)."""
    try:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        response.status_code = 503
        return Health(status="degraded", database="unreachable", version=__version__)
    return Health(status="ok", database="ok", version=__version__)


@router.get("/metrics", operation_id="read_metrics", include_in_schema=False)
def read_metrics(services: ServicesDep) -> Response:
    """Prometheus exposition of the service's metrics."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)
