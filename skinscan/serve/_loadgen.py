"""The benchmark's load generators: wrk, or a minimal asyncio HTTP/1.1 client in a child process.

Each drives one ``GET`` path with a fixed number of keep-alive connections for a fixed time
after an unrecorded warm-up, and reports requests/s, latency percentiles, errors and its own
CPU time, in one of two modes:

- **closed loop** (:func:`drive`, :func:`skinscan.serve._wrk.drive_wrk`): one request in
  flight on each connection, the next sent as soon as the answer arrives — the server's
  capacity; its latencies are those of a saturated server (about connections ÷ throughput);
- **open loop** at a constant offered rate (:func:`skinscan.serve._paced.drive_paced`,
  :func:`skinscan.serve._wrk.drive_wrk_paced`): each connection sends on a timetable of its
  own — the latency at that rate. The raw client measures it from each request's scheduled
  slot (corrected for coordinated omission), wrk from the send.

:func:`measure` also reads the service's CPU clocks at the start and end of the measured run.

On a small machine the generator shares the cores with the server, so its own cost matters:

- ``wrk`` (C, epoll; Debian's ``wrk`` package) costs a few microseconds of CPU per request.
  It runs whole seconds (a fraction is rounded up).
- ``raw``: a few dozen lines of asyncio streams per connection and a prepared request, about
  0.1 ms of CPU per request; the fallback when ``wrk`` is not installed.
- ``httpx``: one ``httpx.AsyncClient`` pool; a real client, but it costs several times the
  server's CPU per request (it measures itself more than the server).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skinscan.serve._latency import quantiles_ms, run_figures
from skinscan.serve._paced import drive_paced
from skinscan.serve._rawhttp import RawConnection, prepared_get
from skinscan.serve._wrk import drive_wrk, drive_wrk_paced, wrk_path

if TYPE_CHECKING:
    from skinscan.serve._bench_service import ServiceProcess

__all__ = ["CLIENTS", "drive", "measure", "resolve_client"]

#: Load generators :func:`measure` knows; ``auto`` is ``wrk`` when installed, else ``raw``.
CLIENTS = ("auto", "wrk", "raw", "httpx")


async def _drive(
    base_url: str,
    path: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    warmup_s: float,
    mark: Callable[[str], None] | None = None,
    client: str = "raw",
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: Counter[str] = Counter()
    host, port, request = prepared_get(base_url, path, headers)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30.0
    ) as shared:
        raw = [RawConnection(host, port, request) for _ in range(concurrency)]

        async def via_httpx(_: int) -> int:
            return (await shared.get(path)).status_code

        async def via_raw(index: int) -> int:
            return await raw[index].get()

        get = via_raw if client == "raw" else via_httpx

        async def connection(index: int, deadline: float, record: bool) -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    status = await asyncio.wait_for(get(index), 30.0)
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    if record:
                        errors[type(exc).__name__] += 1
                    continue
                except TimeoutError:
                    if record:
                        errors["timeout"] += 1
                    continue
                if record:
                    latencies.append(time.perf_counter() - start)
                    if status != 200:
                        errors[str(status)] += 1

        warm_deadline = time.perf_counter() + warmup_s
        await asyncio.gather(*(connection(i, warm_deadline, False) for i in range(concurrency)))
        if mark is not None:
            mark("start")
        cpu_start = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(connection(i, start + seconds, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        if mark is not None:
            mark("end")
        for connection_ in raw:
            await connection_.close()
    return run_figures(
        path,
        client,
        requests=len(latencies),
        error_kinds=errors,
        seconds=elapsed,
        latency_ms=quantiles_ms(latencies),
        cpu_s=cpu,
    )


def drive(
    base_url: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    seconds: float = 10.0,
    concurrency: int = 32,
    warmup_s: float = 1.0,
    mark: Callable[[str], None] | None = None,
    client: str = "raw",
) -> dict[str, Any]:
    """Drive ``GET path`` with ``concurrency`` keep-alive connections for ``seconds``.

    Parameters
    ----------
    base_url : str
        ``http://127.0.0.1:<port>``.
    path : str
        The path to request, again and again.
    headers : dict, optional
        Sent with every request (the ``Authorization`` header).
    seconds : float
        Length of the measured run; requests still in flight at its end are completed and
        counted.
    concurrency : int
        Connections, each with one request in flight at a time.
    warmup_s : float
        An unrecorded run first (opens the connections, warms caches).
    mark : callable, optional
        Called with ``"start"`` and ``"end"`` around the measured run.
    client : {"raw", "httpx"}
        ``raw``: a minimal keep-alive HTTP/1.1 client on asyncio streams per connection.
        ``httpx``: one ``httpx.AsyncClient`` whose pool holds the connections (see the module
        notes for their cost).

    Returns
    -------
    dict
        ``requests``, ``errors`` (anything but 200, and transport errors) with
        ``error_kinds``, ``seconds``, ``requests_per_s``, ``p50_ms``, ``p95_ms``, ``p99_ms``,
        ``max_ms`` and ``generator_cpu_s`` (CPU time of this load generator in the run).
    """
    return asyncio.run(
        _drive(base_url, path, headers or {}, seconds, concurrency, warmup_s, mark, client)
    )


def resolve_client(client: str) -> str:
    """The generator :func:`measure` runs for ``client`` (``auto``: wrk if installed, else raw).

    Raises
    ------
    ValueError
        An unknown client, or ``wrk`` asked for and not installed.
    """
    if client not in CLIENTS:
        raise ValueError(f"client must be one of {', '.join(CLIENTS)}, not {client!r}")
    if client == "auto":
        return "wrk" if wrk_path() is not None else "raw"
    if client == "wrk" and wrk_path() is None:
        raise ValueError("client 'wrk' asked for, but wrk is not installed (apt-get install wrk)")
    return client


def _drive_in_child(
    base_url: str,
    path: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    warmup_s: float,
    client: str,
    mark: Callable[[str], None],
    rate: float = 0.0,
) -> dict[str, Any]:
    """Run :func:`drive` (or, with a ``rate``, :func:`drive_paced`) in a fresh Python process
    (its own interpreter lock)."""
    job = json.dumps(
        {
            "base_url": base_url,
            "path": path,
            "headers": headers,
            "seconds": seconds,
            "concurrency": concurrency,
            "warmup_s": warmup_s,
            "client": client,
            "rate": rate,
        }
    )
    command = [sys.executable, "-m", "skinscan.serve._loadgen"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(job)
        child.stdin.close()
        # The generator prints "start" and "end" around its measured run (after its warm-up).
        marks: set[str] = set()
        output = ""
        for line in child.stdout:
            word = line.strip()
            if word in ("start", "end"):
                marks.add(word)
                mark(word)
            else:
                output = line
        child.wait()
    if child.returncode != 0 or marks != {"start", "end"}:
        raise RuntimeError(f"the load generator failed (exit {child.returncode})")
    figures: dict[str, Any] = json.loads(output)
    return figures


def measure(
    service: ServiceProcess,
    path: str,
    headers: dict[str, str],
    *,
    seconds: float,
    concurrency: int,
    warmup_s: float,
    client: str = "auto",
    rate: float = 0.0,
) -> dict[str, Any]:
    """Drive one path of a running service; the generator's report plus the service's CPU.

    ``rate`` 0: closed loop (``concurrency`` connections, one request in flight each). A
    positive ``rate``: open loop, ``rate`` requests/s spread over ``concurrency`` connections
    (:func:`skinscan.serve._paced.drive_paced`, :func:`skinscan.serve._wrk.drive_wrk_paced`).

    Returns
    -------
    dict
        The generator's report (``mode``: ``"closed loop"`` or ``"open loop"``), plus
        ``server_cpu_s`` (the service and its assessment workers) and
        ``server_http_cpu_ms_per_request`` (the HTTP server process(es) only), both over the
        measured run.
    """
    clocks: dict[str, tuple[float, float]] = {}

    def mark(word: str) -> None:
        clocks[word] = (service.cpu_seconds(), service.http_cpu_seconds())

    chosen = resolve_client(client)
    if rate < 0:
        raise ValueError(f"rate must be 0 (closed loop) or positive, not {rate}")
    if chosen == "wrk" and rate > 0:
        figures = drive_wrk_paced(
            service.base_url,
            path,
            rate=rate,
            headers=headers,
            seconds=seconds,
            connections=concurrency,
            warmup_s=warmup_s,
            mark=mark,
        )
    elif chosen == "wrk":
        figures = drive_wrk(
            service.base_url,
            path,
            headers=headers,
            seconds=seconds,
            concurrency=concurrency,
            warmup_s=warmup_s,
            mark=mark,
        )
    else:
        figures = _drive_in_child(
            service.base_url, path, headers, seconds, concurrency, warmup_s, chosen, mark, rate
        )
    figures.setdefault("mode", "closed loop")
    server_cpu = clocks["end"][0] - clocks["start"][0]
    http_cpu = clocks["end"][1] - clocks["start"][1]
    figures["server_cpu_s"] = round(server_cpu, 3)
    figures["server_http_cpu_ms_per_request"] = (
        round(http_cpu * 1e3 / figures["requests"], 3) if figures["requests"] else float("nan")
    )
    return figures


def _print_mark(word: str) -> None:
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def _run_job(job: dict[str, Any]) -> dict[str, Any]:
    common: dict[str, Any] = {
        "headers": job["headers"],
        "seconds": job["seconds"],
        "warmup_s": job["warmup_s"],
        "mark": _print_mark,
        "client": job["client"],
    }
    if job.get("rate", 0) > 0:
        return drive_paced(
            job["base_url"], job["path"], rate=job["rate"], connections=job["concurrency"], **common
        )
    return drive(job["base_url"], job["path"], concurrency=job["concurrency"], **common)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_run_job(json.loads(sys.stdin.read()))) + "\n")
