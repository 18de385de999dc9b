"""Open-loop load at a constant offered rate, latency measured from each request's scheduled time.

A closed-loop generator (one request in flight per connection, the next sent when the answer
arrives) slows down with the server: while the server stalls, the requests that would have
been sent are not, and the one slow answer stands for all of them — *coordinated omission*.
Its latencies are those of a saturated server (about connections ÷ throughput) and say nothing
about a given request rate.

Here every connection keeps a timetable instead: ``rate`` requests per second are spread over
``connections`` connections, connection ``i`` owning the slots ``start + (i + k·connections) /
rate`` (so the connections interleave evenly). A connection waits for its next slot and sends;
when an answer came back too late for the next slot, the request goes at once. Each latency is
measured from the request's **scheduled** slot, not from when it was sent, so the time a
request spent waiting for its busy connection counts — the coordinated-omission-corrected
latency an outside client at that rate would see. The latency from the send is reported too.

The generator's own lateness (an event loop wake-up is late by up to about a millisecond, more
when the shared cores are busy) is part of the latency from the slot.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from skinscan.serve._latency import quantiles_ms, run_figures
from skinscan.serve._rawhttp import RawConnection, prepared_get

__all__ = ["drive_paced"]

#: A request sent more than this after its slot (its connection was still waiting for the
#: previous answer) counts as late.
_LATE_S = 1e-3


class _Run:
    """The timetable of one run and what it recorded."""

    def __init__(
        self,
        rate: float,
        connections: int,
        start: float,
        seconds: float,
        transport_errors: tuple[type[BaseException], ...],
    ) -> None:
        self.rate = rate
        self.transport_errors = transport_errors
        self.connections = connections
        self.start = start
        self.end = start + seconds
        self.from_slot: list[float] = []
        self.from_sent: list[float] = []
        self.errors: Counter[str] = Counter()
        self.late = 0
        self.sent = 0

    def slots(self, index: int) -> int:
        """How many slots of connection ``index`` fall in the run."""
        first = self.start + index / self.rate
        if first >= self.end:
            return 0
        interval = self.connections / self.rate
        return int((self.end - first) / interval - 1e-9) + 1


async def _connection(
    run: _Run, index: int, get: Callable[[int], Awaitable[int]], record: bool
) -> None:
    for k in range(run.slots(index)):
        slot = run.start + (index + k * run.connections) / run.rate
        now = time.perf_counter()
        if now >= run.end:
            return  # behind its timetable when the run ends: its remaining slots are missed
        if slot > now:
            await asyncio.sleep(slot - now)
        elif record and now - slot > _LATE_S:
            run.late += 1
        sent = time.perf_counter()
        if record:
            run.sent += 1
        try:
            status = await asyncio.wait_for(get(index), 30.0)
        except TimeoutError:
            if record:
                run.errors["timeout"] += 1
            continue
        except run.transport_errors as exc:
            if record:
                run.errors[type(exc).__name__] += 1
            continue
        answered = time.perf_counter()
        if record:
            run.from_slot.append(answered - slot)
            run.from_sent.append(answered - sent)
            if status != 200:
                run.errors[str(status)] += 1


async def _drive_paced(
    base_url: str,
    path: str,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int,
    warmup_s: float,
    mark: Callable[[str], None] | None,
    client: str,
) -> dict[str, Any]:
    import httpx

    host, port, request = prepared_get(base_url, path, headers)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30.0
    ) as shared:
        raw = [RawConnection(host, port, request) for _ in range(connections)]

        async def via_httpx(_: int) -> int:
            return (await shared.get(path)).status_code

        async def via_raw(index: int) -> int:
            return await raw[index].get()

        get = via_raw if client == "raw" else via_httpx
        errors = (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError)
        if warmup_s > 0:
            warm = _Run(rate, connections, time.perf_counter(), warmup_s, errors)
            await asyncio.gather(*(_connection(warm, i, get, False) for i in range(connections)))
        if mark is not None:
            mark("start")
        cpu_start = time.process_time()
        run = _Run(rate, connections, time.perf_counter(), seconds, errors)
        await asyncio.gather(*(_connection(run, i, get, True) for i in range(connections)))
        cpu = time.process_time() - cpu_start
        if mark is not None:
            mark("end")
        for connection in raw:
            await connection.close()
    scheduled = sum(run.slots(i) for i in range(connections))
    completed = len(run.from_slot)
    figures = run_figures(
        path,
        client,
        requests=completed,
        error_kinds=run.errors,
        seconds=float(seconds),
        latency_ms=quantiles_ms(run.from_slot),
        cpu_s=cpu,
    )
    return {
        **figures,
        "mode": "open loop",
        "connections": connections,
        "offered_per_s": rate,
        "scheduled": scheduled,
        "sent": run.sent,
        "late": run.late,
        "latency_from": "scheduled",
        "from_sent": quantiles_ms(run.from_sent),
    }


def drive_paced(
    base_url: str,
    path: str,
    *,
    rate: float,
    headers: dict[str, str] | None = None,
    seconds: float = 10.0,
    connections: int = 32,
    warmup_s: float = 1.0,
    mark: Callable[[str], None] | None = None,
    client: str = "raw",
) -> dict[str, Any]:
    """Send ``GET path`` at a constant ``rate`` (requests/s) over ``connections`` for ``seconds``.

    Parameters
    ----------
    base_url : str
        ``http://127.0.0.1:<port>``.
    path : str
        The path to request.
    rate : float
        Offered requests per second, spread evenly over the connections (each connection
        ``rate / connections``, their timetables interleaved).
    headers : dict, optional
        Sent with every request.
    seconds : float
        The run's length: the slots in it are sent (a connection still behind its timetable
        at the end misses its remaining slots); answers still due are awaited and counted.
        The achieved rate is the answers over ``seconds``.
    connections : int
        Keep-alive connections; each has at most one request in flight.
    warmup_s : float
        An unrecorded paced run first (opens the connections, warms caches).
    mark : callable, optional
        Called with ``"start"`` and ``"end"`` around the measured run.
    client : {"raw", "httpx"}
        The connections' client (see :mod:`skinscan.serve._loadgen`).

    Returns
    -------
    dict
        ``offered_per_s``, ``scheduled`` (slots in the run), ``sent``, ``late`` (requests sent
        more than 1 ms after their slot: their connection was still waiting for an answer),
        ``requests`` (answered), ``errors`` with ``error_kinds``, ``seconds``,
        ``requests_per_s`` (the achieved rate), ``latency_from`` (``"scheduled"``),
        ``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms`` from the scheduled slot, the same under
        ``from_sent`` from the send, and ``generator_cpu_s``.
    """
    if rate <= 0 or seconds <= 0:
        raise ValueError(f"rate and seconds must be positive, not {rate} and {seconds}")
    return asyncio.run(
        _drive_paced(
            base_url, path, headers or {}, rate, seconds, connections, warmup_s, mark, client
        )
    )
