"""The benchmark's load generators: wrk, or a minimal asyncio HTTP/1.1 client in a child process.

Each drives one ``GET`` path with a fixed number of keep-alive connections, one request in
flight on each, for a fixed time after an unrecorded warm-up, and reports requests/s, latency
percentiles, errors and its own CPU time. :func:`measure` also reads the service's CPU clocks at
the start and end of the measured run.

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
import contextlib
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from skinscan.serve._wrk import drive_wrk, wrk_path

if TYPE_CHECKING:
    from skinscan.serve._bench_service import ServiceProcess

__all__ = ["CLIENTS", "drive", "measure", "resolve_client"]

#: Load generators :func:`measure` knows; ``auto`` is ``wrk`` when installed, else ``raw``.
CLIENTS = ("auto", "wrk", "raw", "httpx")


def _percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of sorted samples, nearest rank."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


class _RawConnection:
    """One keep-alive HTTP/1.1 connection that sends a fixed GET, one request at a time.

    A few dozen lines of asyncio streams instead of a full client: per request it writes the
    prepared bytes and reads the status line, the headers and a ``Content-Length`` (or
    chunked) body — a small fraction of the CPU time ``httpx`` spends, which matters when the
    load generator shares the server's cores.
    """

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host = host
        self.port = port
        self.request = request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self) -> int:
        """Send the request; the response's status code (the connection is reopened if lost)."""
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(self.request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
            fields = {name.strip().lower(): value.strip() for name, value in fields.items()}
            if "content-length" in fields:
                await self.reader.readexactly(int(fields["content-length"]))
            elif fields.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            if fields.get("connection", "").lower() == "close":
                await self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        writer, self.writer, self.reader = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


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
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        + "\r\n"
    ).encode("latin-1")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30.0
    ) as shared:
        raw = [_RawConnection(host, port, request) for _ in range(concurrency)]

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
    ordered = sorted(latencies)
    completed = len(ordered)
    return {
        "path": path,
        "client": client,
        "requests": completed,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(completed / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(_percentile(ordered, 0.50) * 1e3, 2),
        "p95_ms": round(_percentile(ordered, 0.95) * 1e3, 2),
        "p99_ms": round(_percentile(ordered, 0.99) * 1e3, 2),
        "max_ms": round(ordered[-1] * 1e3, 2) if ordered else float("nan"),
        "generator_cpu_s": round(cpu, 3),
    }


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
) -> dict[str, Any]:
    """Run :func:`drive` in a fresh Python process (its own interpreter lock)."""
    job = json.dumps(
        {
            "base_url": base_url,
            "path": path,
            "headers": headers,
            "seconds": seconds,
            "concurrency": concurrency,
            "warmup_s": warmup_s,
            "client": client,
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
) -> dict[str, Any]:
    """Drive one path of a running service; the generator's report plus the service's CPU.

    Returns
    -------
    dict
        :func:`drive`'s report, plus ``server_cpu_s`` (the service and its assessment
        workers) and ``server_http_cpu_ms_per_request`` (the HTTP server process(es) only),
        both over the measured run.
    """
    clocks: dict[str, tuple[float, float]] = {}

    def mark(word: str) -> None:
        clocks[word] = (service.cpu_seconds(), service.http_cpu_seconds())

    chosen = resolve_client(client)
    if chosen == "wrk":
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
            service.base_url, path, headers, seconds, concurrency, warmup_s, chosen, mark
        )
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


if __name__ == "__main__":
    _job = json.loads(sys.stdin.read())
    sys.stdout.write(
        json.dumps(
            drive(
                _job["base_url"],
                _job["path"],
                headers=_job["headers"],
                seconds=_job["seconds"],
                concurrency=_job["concurrency"],
                warmup_s=_job["warmup_s"],
                mark=_print_mark,
                client=_job["client"],
            )
        )
        + "\n"
    )
