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
ASSESSMENT_OUTCOMES = ("done", "rejected", "input_error", "crashed", "timeout", "error")


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
            "input_error, crashed worker, timeout: past the time limit, error).",
            ["outcome"],
            registry=self.registry,
        )
        self.audit_batch_size = Histogram(
            "skinscan_audit_batch_size",
            "Audited reads committed together in one transaction of the read ledger.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.audit_batch_seconds = Histogram(
            "skinscan_audit_batch_duration_seconds",
            "Time of one read-ledger transaction (keys, targets, audit rows, commit).",
            buckets=(0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256),
            registry=self.registry,
        )
        self.assessment_seconds = Histogram(
            "skinscan_assessment_duration_seconds",
            "Time of one assessment attempt in a worker process.",
            buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
            registry=self.registry,
        )

    def observe_audit_batch(self, size: int, seconds: float) -> None:
        """Record one committed batch of the read ledger."""
        self.audit_batch_size.observe(size)
        self.audit_batch_seconds.observe(seconds)

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
        # The labelled series by (method, template, status): ``labels()`` takes a lock and
        # builds its key on every call, which a busy service pays twice per request.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

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
            key = (scope.get("method", ""), template, status["code"])
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = (
                    self.metrics.requests.labels(key[0], template, str(key[2])),
                    self.metrics.request_seconds.labels(key[0], template),
                )
            series[0].inc()
            series[1].observe(time.perf_counter() - start)
