"""``skinscan bench-serve``: read throughput and latency of the running service, upload integrity.

The real service (``uvicorn`` serving :func:`skinscan.serve.create_app`) is started in a child
process on a loopback port, on a temporary data folder with the SQLite file of that folder or a
given PostgreSQL database. It is seeded through its own API: a clinic and a key (made with
:func:`skinscan.serve.keys.create_key`, as ``skinscan keys create`` does), a patient and a few
visits whose small face photos are really assessed by the worker pool.

Reads are driven by an asyncio load generator (``httpx.AsyncClient``, keep-alive, a fixed
number of concurrent connections, bounded in time) that runs in a child process of its own, so
that it does not share the server's interpreter lock. ``GET /healthz`` is driven the same way in
the same run and is the reference: every endpoint is also reported as a ratio to it, which makes
figures from machines of different speed comparable. The CPU time used by the server and by the
load generator during each phase is reported too — on a small machine they share the cores.

The upload check sends many uploads at once (a handful of distinct small JPEGs, each repeated
across several patients, so that the same photo reaches the same patient concurrently), waits
until every visit has settled, and checks through the API and directly in the database that
each (patient, photo) has exactly one visit, none lost, none duplicated, none left pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "READ_ENDPOINTS",
    "BenchPhoto",
    "ServiceProcess",
    "app_from_environment",
    "bench_photos",
    "drive",
    "run_serve_bench",
    "upload_integrity",
]

#: The endpoints of the read phase, in order; ``health`` is the in-run reference.
READ_ENDPOINTS = ("health", "visit", "progress")

API = "/api/v1"


def app_from_environment() -> FastAPI:
    """The service built from ``SKINSCAN_*`` variables (the factory given to ``uvicorn``)."""
    from skinscan.serve.app import create_app
    from skinscan.serve.settings import Settings

    return create_app(Settings())


# -- photos ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchPhoto:
    """A small upload body and whether the quality gate is expected to pass it."""

    name: str
    data: bytes
    sharp: bool

    @property
    def sha256(self) -> str:
        """SHA-256 of the bytes (the visit's ``photo_sha256``)."""
        return hashlib.sha256(self.data).hexdigest()


def bench_photos(sharp: int = 3, blurred: int = 2, *, size: int = 512) -> list[BenchPhoto]:
    """Distinct small JPEGs of a real face: ``sharp`` that pass the quality gate, ``blurred`` not.

    Each photo is scikit-image's astronaut (:func:`skinscan.validation.sample_faces`) reduced
    to ``size`` pixels, with its own seeded sensor noise so that every photo has other bytes.
    A 512-pixel face is assessed in well under a second; a blurred one is rejected sooner.
    """
    import cv2
    import numpy as np

    from skinscan.validation import sample_faces

    face = cv2.resize(sample_faces()["astronaut"], (size, size), interpolation=cv2.INTER_AREA)
    photos: list[BenchPhoto] = []
    for index in range(sharp + blurred):
        rng = np.random.default_rng(1000 + index)
        base = np.asarray(
            cv2.GaussianBlur(face, (0, 0), 6.0) if index >= sharp else face, np.float32
        )
        noisy = base + rng.normal(0.0, 2.0, base.shape).astype(np.float32)
        rgb = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        kind = "sharp" if index < sharp else "blurred"
        photos.append(BenchPhoto(f"{kind}-{index}.jpg", encoded.tobytes(), index < sharp))
    return photos


# -- the service in a child process ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServiceProcess:
    """``uvicorn`` serving the app on ``127.0.0.1`` in a child process.

    Parameters
    ----------
    data_dir : Path
        ``SKINSCAN_DATA_DIR`` of the service.
    database_url : str, optional
        ``SKINSCAN_DATABASE_URL``; default: the SQLite file in ``data_dir``.
    server_workers : int
        ``uvicorn`` worker processes.
    assess_workers : int
        Assessment worker processes of each ``uvicorn`` worker (``SKINSCAN_WORKERS``).
    sync_wait_s : float
        ``SKINSCAN_SYNC_WAIT_S``: how long an upload waits before answering 202.
    """

    data_dir: Path
    database_url: str | None = None
    server_workers: int = 1
    assess_workers: int = 2
    sync_wait_s: float = 5.0
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """This process's environment without ``SKINSCAN_*``, plus the service's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKINSCAN_")}
        env.update(
            SKINSCAN_DATA_DIR=str(self.data_dir),
            SKINSCAN_WORKERS=str(self.assess_workers),
            SKINSCAN_SYNC_WAIT_S=str(self.sync_wait_s),
            SKINSCAN_ENVIRONMENT="production",
        )
        if self.database_url:
            env["SKINSCAN_DATABASE_URL"] = self.database_url
        return env

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the service and wait until ``/healthz`` answers 200."""
        import httpx

        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "skinscan.serve.loadtest:app_from_environment",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.server_workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.process = subprocess.Popen(command, env=self.environment(), start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the service exited at start (status {self.process.returncode})"
                )
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service did not answer /healthz within {timeout_s:.0f} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the service so far: its process and every descendant."""
        import psutil

        if self.process is None:
            return 0.0
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def http_cpu_seconds(self) -> float:
        """CPU time of the HTTP server process(es) only, not of the assessment workers."""
        import psutil

        if self.process is None:
            return 0.0
        try:
            root = psutil.Process(self.process.pid)
            # One uvicorn worker: the root serves. Several: the root supervises its children.
            servers = [root] if self.server_workers == 1 else root.children(recursive=False)
        except psutil.Error:
            return 0.0
        total = 0.0
        for process in servers:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the service (SIGINT, as Ctrl-C; SIGKILL to its process group after the wait)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> ServiceProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the load generator ----------------------------------------------------------------------


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
        ``raw``: a minimal keep-alive HTTP/1.1 client on asyncio streams per connection (cheap:
        most of the CPU goes to the server). ``httpx``: one ``httpx.AsyncClient`` whose pool
        holds the connections (a real client, but it costs the generator several times the
        server's CPU per request).

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


def _drive_in_child(
    service: ServiceProcess,
    path: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    warmup_s: float,
    client: str,
) -> dict[str, Any]:
    """Run :func:`drive` in a fresh Python process; add the service's CPU time to its answer."""
    job = json.dumps(
        {
            "base_url": service.base_url,
            "path": path,
            "headers": headers,
            "seconds": seconds,
            "concurrency": concurrency,
            "warmup_s": warmup_s,
            "client": client,
        }
    )
    command = [sys.executable, "-m", "skinscan.serve.loadtest"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(job)
        child.stdin.close()
        # The generator prints "start" and "end" around its measured run (after its warm-up):
        # the service's CPU clocks are read at those moments.
        clocks: dict[str, tuple[float, float]] = {}
        output = ""
        for line in child.stdout:
            word = line.strip()
            if word in ("start", "end"):
                clocks[word] = (service.cpu_seconds(), service.http_cpu_seconds())
            else:
                output = line
        child.wait()
    if child.returncode != 0 or set(clocks) != {"start", "end"}:
        raise RuntimeError(f"the load generator failed (exit {child.returncode})")
    figures: dict[str, Any] = json.loads(output)
    server_cpu = clocks["end"][0] - clocks["start"][0]
    http_cpu = clocks["end"][1] - clocks["start"][1]
    figures["server_cpu_s"] = round(server_cpu, 3)
    figures["server_http_cpu_ms_per_request"] = (
        round(http_cpu * 1e3 / figures["requests"], 3) if figures["requests"] else float("nan")
    )
    return figures


# -- seeding through the API -----------------------------------------------------------------


def _make_key(settings: Any, clinic: str) -> str:
    from skinscan.serve.admin import database_session
    from skinscan.serve.keys import create_key

    with database_session(settings) as session:
        _, key = create_key(session, clinic, "clinician")
    return key


def _seed_reads(
    base_url: str, headers: dict[str, str], photos: list[BenchPhoto]
) -> tuple[str, list[str]]:
    """A patient with one visit per photo, a week apart, each assessed (waits for all)."""
    import httpx

    with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:
        answer = client.post(f"{API}/patients", json={"external_id": "bench-reads"})
        answer.raise_for_status()
        patient_id: str = answer.json()["id"]
        first = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)
        visit_ids: list[str] = []
        for index, photo in enumerate(photos):
            upload = client.post(
                f"{API}/patients/{patient_id}/visits",
                files={"photo": (photo.name, photo.data, "image/jpeg")},
                data={"taken_at": (first + timedelta(weeks=index)).isoformat()},
            )
            upload.raise_for_status()
            visit_ids.append(upload.json()["id"])
        for visit_id in visit_ids:
            status = _settle(client, visit_id, timeout_s=120.0)
            if status != "done":
                raise RuntimeError(f"a seed visit ended {status}, not done")
    return patient_id, visit_ids


def _settle(client: Any, visit_id: str, *, timeout_s: float) -> str:
    """Poll a visit until it is done or failed; its last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        status: str = client.get(f"{API}/visits/{visit_id}").json()["status"]
        if status in ("done", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


# -- upload integrity ------------------------------------------------------------------------


async def _upload_all(
    base_url: str,
    headers: dict[str, str],
    plan: list[tuple[str, BenchPhoto]],
    settle_timeout_s: float,
) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=len(plan), max_keepalive_connections=len(plan))
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=300.0
    ) as client:

        async def one(patient_id: str, photo: BenchPhoto) -> dict[str, Any]:
            try:
                response = await client.post(
                    f"{API}/patients/{patient_id}/visits",
                    files={"photo": (photo.name, photo.data, "image/jpeg")},
                )
            except httpx.HTTPError as exc:
                return {"patient_id": patient_id, "sha256": photo.sha256, "error": repr(exc)}
            body = response.json() if response.status_code < 300 else {}
            return {
                "patient_id": patient_id,
                "sha256": photo.sha256,
                "status_code": response.status_code,
                "duplicate_header": response.headers.get("X-Skinscan-Duplicate") == "true",
                "visit_id": body.get("id"),
                "photo_sha256": body.get("photo_sha256"),
            }

        start = time.perf_counter()
        answers = await asyncio.gather(*(one(p, photo) for p, photo in plan))
        answered_s = time.perf_counter() - start
        visit_ids = {a["visit_id"] for a in answers if a.get("visit_id")}
        final: dict[str, dict[str, Any]] = {}
        deadline = time.perf_counter() + settle_timeout_s
        waiting = set(visit_ids)
        while waiting and time.perf_counter() < deadline:
            bodies = await asyncio.gather(*(client.get(f"{API}/visits/{v}") for v in waiting))
            for response in bodies:
                body = response.json()
                if body["status"] in ("done", "failed"):
                    final[body["id"]] = body
                    waiting.discard(body["id"])
            if waiting:
                await asyncio.sleep(0.2)
        settled_s = time.perf_counter() - start
        for visit_id in waiting:  # stuck: keep their last state for the report
            final[visit_id] = (await client.get(f"{API}/visits/{visit_id}")).json()
        listed = {}
        for patient_id in sorted({p for p, _ in plan}):
            listed[patient_id] = (await client.get(f"{API}/patients/{patient_id}")).json()
    return {
        "answers": answers,
        "final": final,
        "listed": listed,
        "answered_s": answered_s,
        "settled_s": settled_s,
    }


def _database_counts(database_url: str, patient_ids: list[str]) -> dict[str, Any]:
    """Visits per (patient, photo) and by status, read directly from the database."""
    from sqlalchemy import func, select

    from skinscan.serve.db import make_engine, make_session_factory
    from skinscan.serve.models import Visit

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            pairs = session.execute(
                select(Visit.patient_id, Visit.photo_sha256, func.count())
                .where(Visit.patient_id.in_(patient_ids))
                .group_by(Visit.patient_id, Visit.photo_sha256)
            ).all()
            statuses = session.execute(
                select(Visit.status, func.count())
                .where(Visit.patient_id.in_(patient_ids))
                .group_by(Visit.status)
            ).all()
    finally:
        engine.dispose()
    return {
        "pairs": {(str(p), str(s)): int(n) for p, s, n in pairs},
        "statuses": {str(s): int(n) for s, n in statuses},
    }


def upload_integrity(
    base_url: str,
    headers: dict[str, str],
    database_url: str,
    *,
    uploads: int = 200,
    patients: int = 8,
    photos: list[BenchPhoto] | None = None,
    seed: int = 0,
    settle_timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Send ``uploads`` uploads at once and check that each (patient, photo) got one visit.

    The uploads cycle over every (patient, photo) pair — so each pair is uploaded about
    ``uploads / (patients × photos)`` times, concurrently — in a shuffled order. Afterwards
    every visit is polled until it is done or failed (at most ``settle_timeout_s``).

    Parameters
    ----------
    base_url : str
        The running service.
    headers : dict
        A clinician key's ``Authorization`` header.
    database_url : str
        The service's database, read directly for the second check.
    uploads : int
        Concurrent uploads.
    patients : int
        New patients made for the check.
    photos : list of BenchPhoto, optional
        Default: :func:`bench_photos` (3 sharp, 2 blurred).
    seed : int
        Order of the uploads.
    settle_timeout_s : float
        How long to wait for the assessments.

    Returns
    -------
    dict
        ``ok`` (every check passed), the ``checks`` by name, counts (``uploads``, ``pairs``,
        ``created``, ``duplicates``, ``visits_api``, ``visits_db``, ``by_status``,
        ``rejected_by_quality_gate``), ``failures`` (what went wrong, if anything),
        ``answered_s`` (all responses in) and ``settled_s`` (every visit done or failed).
    """
    import httpx

    photos = photos if photos is not None else bench_photos()
    with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as client:
        patient_ids = []
        for _ in range(patients):
            answer = client.post(
                f"{API}/patients", json={"external_id": f"bench-{secrets.token_hex(6)}"}
            )
            answer.raise_for_status()
            patient_ids.append(str(answer.json()["id"]))
    pairs = [(p, photo) for p in patient_ids for photo in photos]
    plan = [pairs[i % len(pairs)] for i in range(uploads)]
    random.Random(seed).shuffle(plan)
    outcome = asyncio.run(_upload_all(base_url, headers, plan, settle_timeout_s))
    answers: list[dict[str, Any]] = outcome["answers"]
    final: dict[str, dict[str, Any]] = outcome["final"]
    expected = {(p, photo.sha256) for p, photo in {(p, ph) for p, ph in plan}}

    failures: list[str] = []
    bad = [a for a in answers if a.get("status_code") not in (200, 201, 202)]
    failures += [f"upload answered {a.get('status_code', a.get('error'))}" for a in bad[:5]]
    ids_by_pair: dict[tuple[str, str], set[str]] = {}
    for reply in answers:
        if reply.get("visit_id"):
            pair = (reply["patient_id"], reply["sha256"])
            ids_by_pair.setdefault(pair, set()).add(reply["visit_id"])
            if reply["photo_sha256"] != reply["sha256"]:
                failures.append(f"visit {reply['visit_id']} holds another photo")
    split = {pair: ids for pair, ids in ids_by_pair.items() if len(ids) != 1}
    failures += [f"{len(ids)} visits for one (patient, photo)" for ids in split.values()]
    missing = expected - set(ids_by_pair)
    failures += [f"no visit for patient {p}, photo {s[:12]}" for p, s in sorted(missing)]
    created = sum(1 for a in answers if a.get("status_code") in (201, 202))
    duplicates = sum(1 for a in answers if a.get("duplicate_header"))

    listed_pairs: Counter[tuple[str, str]] = Counter()
    for patient_id, body in outcome["listed"].items():
        for summary in body["visits"]:
            sha = final.get(summary["id"], {}).get("photo_sha256")
            listed_pairs[(patient_id, str(sha))] += 1
    api_ok = set(listed_pairs) == expected and all(n == 1 for n in listed_pairs.values())
    if not api_ok:
        failures.append("the patients' visit lists do not hold exactly one visit per photo")

    counts = _database_counts(database_url, patient_ids)
    db_pairs: dict[tuple[str, str], int] = counts["pairs"]
    db_ok = set(db_pairs) == expected and all(n == 1 for n in db_pairs.values())
    if not db_ok:
        failures.append("the database does not hold exactly one visit per (patient, photo)")
    stuck = {s: n for s, n in counts["statuses"].items() if s not in ("done", "failed")}
    if stuck:
        failures.append(f"visits left unsettled: {stuck}")
    rejected = sum(
        1
        for body in final.values()
        if body["status"] == "done"
        and body["assessment"] is not None
        and not body["assessment"]["quality"]["ok"]
    )
    sharp_expected = sum(1 for _, photo in {(p, ph) for p, ph in plan} if photo.sharp)
    checks = {
        "every_upload_answered_2xx": not bad,
        "one_visit_id_per_pair": not split and not missing,
        "exactly_one_created_per_pair": created == len(expected),
        "api_lists_one_visit_per_pair": api_ok,
        "database_one_visit_per_pair": db_ok,
        "none_stuck": not stuck and len(final) == len(expected),
        "blurred_rejected_sharp_assessed": rejected == len(expected) - sharp_expected,
    }
    if created != len(expected):
        failures.append(f"{created} uploads created a visit for {len(expected)} pairs")
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "uploads": uploads,
        "patients": patients,
        "distinct_photos": len(photos),
        "pairs": len(expected),
        "created": created,
        "duplicates": duplicates,
        "visits_api": sum(listed_pairs.values()),
        "visits_db": sum(db_pairs.values()),
        "by_status": counts["statuses"],
        "rejected_by_quality_gate": rejected,
        "answered_s": round(outcome["answered_s"], 2),
        "settled_s": round(outcome["settled_s"], 2),
        "failures": failures,
    }


# -- the whole benchmark ---------------------------------------------------------------------


def _backend(url: str | None) -> str:
    if not url:
        return "sqlite"
    from sqlalchemy.engine import make_url

    return make_url(url).get_backend_name()


@contextlib.contextmanager
def _data_dir(folder: Path | None) -> Iterator[Path]:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="skinscan-bench-serve-") as made:
        yield Path(made)


def run_serve_bench(
    *,
    database_url: str | None = None,
    seconds: float = 10.0,
    concurrency: int = 32,
    uploads: int = 200,
    upload_patients: int = 8,
    seed_visits: int = 4,
    server_workers: int = 1,
    assess_workers: int = 2,
    warmup_s: float = 1.0,
    client: str = "raw",
    data_dir: Path | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Start the service, measure its reads against ``/healthz``, then check concurrent uploads.

    Parameters
    ----------
    database_url : str, optional
        A PostgreSQL URL (``postgresql+psycopg://…``); default: SQLite in the temporary data
        folder. Use a database of its own: the benchmark adds a clinic, patients and visits.
    seconds : float
        Measured seconds per read endpoint (each also gets ``warmup_s`` unrecorded first).
    concurrency : int
        Concurrent keep-alive connections of the load generator.
    uploads : int
        Concurrent uploads of the integrity check; 0 skips it.
    upload_patients : int
        Patients the uploads are spread over.
    seed_visits : int
        Visits (really assessed) of the patient whose reads are measured; the progress view
        compares each consecutive pair.
    server_workers : int
        ``uvicorn`` worker processes.
    assess_workers : int
        Assessment worker processes per ``uvicorn`` worker.
    warmup_s : float
        Unrecorded load before each measured run.
    client : {"raw", "httpx"}
        The load generator's HTTP client (see :func:`drive`).
    data_dir : Path, optional
        Data folder of the service; default: a temporary one, deleted afterwards.
    progress : callable, optional
        Called with one line of text as each step starts.

    Returns
    -------
    dict
        ``setup`` (what ran where), ``reads`` per endpoint (``requests_per_s``, ``p50_ms``,
        ``p95_ms``, ``p99_ms``, ``errors``, CPU figures, ``ratio_rps_to_health``,
        ``ratio_p99_to_health``), ``targets`` and ``uploads`` (see :func:`upload_integrity`).
    """
    from skinscan.serve.settings import Settings

    say = progress or (lambda line: None)
    with _data_dir(data_dir) as folder:
        settings = Settings(data_dir=folder, database_url=database_url)
        say("creating a clinic and a key")
        key = _make_key(settings, f"bench-{secrets.token_hex(4)}")
        headers = {"Authorization": f"Bearer {key}"}
        service = ServiceProcess(
            folder,
            database_url,
            server_workers=server_workers,
            assess_workers=assess_workers,
        )
        say("starting the service")
        with service:
            say(f"seeding a patient with {seed_visits} assessed visits")
            patient_id, visit_ids = _seed_reads(
                service.base_url, headers, bench_photos(sharp=seed_visits, blurred=0)
            )
            paths = {
                "health": "/healthz",
                "visit": f"{API}/visits/{visit_ids[-1]}",
                "progress": f"{API}/patients/{patient_id}/progress",
            }
            reads: dict[str, dict[str, Any]] = {}
            for name in READ_ENDPOINTS:
                say(f"driving {paths[name]} for {seconds:g} s")
                reads[name] = _drive_in_child(
                    service, paths[name], headers, seconds, concurrency, warmup_s, client
                )
            reference = reads["health"]
            for figures in reads.values():
                figures["ratio_rps_to_health"] = _ratio(
                    figures["requests_per_s"], reference["requests_per_s"]
                )
                figures["ratio_p99_to_health"] = _ratio(figures["p99_ms"], reference["p99_ms"])
            upload_report: dict[str, Any] | None = None
            if uploads > 0:
                say(f"{uploads} concurrent uploads over {upload_patients} patients")
                upload_report = upload_integrity(
                    service.base_url,
                    headers,
                    settings.effective_database_url,
                    uploads=uploads,
                    patients=upload_patients,
                )
    return {
        "setup": {
            "backend": _backend(database_url),
            "cpu_count": os.cpu_count(),
            "server": f"uvicorn, {server_workers} worker process(es), loopback",
            "assess_workers": assess_workers,
            "load_generator": f"asyncio, {client} client, in a separate process",
            "concurrency": concurrency,
            "seconds": seconds,
            "warmup_s": warmup_s,
            "seed_visits": seed_visits,
            "seeded_by": "uploads through the API, assessed by the worker pool",
        },
        "reads": reads,
        "targets": {"reads_per_s": 1500, "p99_ms": 25},
        "uploads": upload_report,
    }


def _ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if reference else float("nan")


def _mark(word: str) -> None:
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
                mark=_mark,
                client=_job["client"],
            )
        )
        + "\n"
    )
