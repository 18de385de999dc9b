"""Prometheus metrics: requests by route template, assessments by outcome and duration.

Each app gets its own :class:`prometheus_client.CollectorRegistry`, so several apps (tests) can
live in one process without clashing.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ASSESSMENT_OUTCOMES", "Metrics", "MetricsMiddleware"]

#: Values of the ``outcome`` label of ``skinscan_assessments_total``.
ASSESSMENT_OUTCOMES = ("done", "rejected", "input_error", "crashed", "error")


class Metrics:
    """The service's counters and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "skinscan_http_requests_total",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "skinscan_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.assessments = Counter(
            "skinscan_assessments_total",
            "Finished assessment attempts by outcome (done, rejected by the quality gate, "
            "input_error, crashed worker, error).",
            ["outcome"],
            registry=self.registry,
        )
        self.assessment_seconds = Histogram(
            "skinscan_assessment_duration_seconds",
            "Time of one assessment attempt in a worker process.",
            buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The exposition text format of every metric."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route *template* (``/patients/{id}``).

    Unmatched paths are counted under ``<unmatched>``, so probing random URLs cannot create
    unbounded label values.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.request_seconds.labels(method, template).observe(
                time.perf_counter() - start
            )
