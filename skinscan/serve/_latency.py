"""The figures every load-generator run reports, whichever client drove it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skinscan.serve._rawhttp import percentile

__all__ = ["quantiles_ms", "run_figures"]

#: Latency quantiles reported, as (key, quantile).
QUANTILES = (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99))


def quantiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """``p50_ms``, ``p95_ms``, ``p99_ms`` (nearest rank) and ``max_ms`` of latencies in seconds
    (NaN without samples)."""
    ordered = sorted(samples_s)
    figures = {key: round(percentile(ordered, q) * 1e3, 2) for key, q in QUANTILES}
    figures["max_ms"] = round(ordered[-1] * 1e3, 2) if ordered else float("nan")
    return figures


def run_figures(
    path: str,
    client: str,
    *,
    requests: int,
    error_kinds: Mapping[str, int],
    seconds: float,
    latency_ms: Mapping[str, float],
    cpu_s: float,
) -> dict[str, Any]:
    """One run's report: what was asked, counts, errors by kind, rate, latencies, generator CPU.

    ``latency_ms`` holds the keys of :func:`quantiles_ms`.
    """
    return {
        "path": path,
        "client": client,
        "requests": requests,
        "errors": sum(error_kinds.values()),
        "error_kinds": dict(error_kinds),
        "seconds": round(seconds, 3),
        "requests_per_s": round(requests / seconds, 1) if seconds > 0 else 0.0,
        **{key: latency_ms[key] for key in (*(k for k, _ in QUANTILES), "max_ms")},
        "generator_cpu_s": round(cpu_s, 3),
    }
