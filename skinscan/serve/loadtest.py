"""``skinscan bench-serve``: read throughput and latency of the running service, upload integrity.

The real service (``skinscan serve``, one or several HTTP server processes) is started in a
child process on a loopback port, on a temporary data folder with the SQLite file of that folder
or a given PostgreSQL database. It is seeded through its own API: a clinic and a key (made with
:func:`skinscan.serve.keys.create_key`, as ``skinscan keys create`` does), a patient and a few
visits whose small face photos are really assessed by the worker pool.

Reads are driven by a load generator in a process of its own (wrk when installed, else a
minimal asyncio client; see :mod:`skinscan.serve._loadgen`) with a fixed number of keep-alive
connections, bounded in time. ``GET /healthz`` is driven the same way in the same run and is
the reference: every endpoint is also reported as a ratio to it, which makes figures from
machines of different speed comparable. The CPU time used by the server and by the load
generator during each phase is reported too — on a small machine they share the cores.

The upload check (:func:`upload_integrity`) sends many uploads at once and checks that each
(patient, photo) got exactly one visit.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from skinscan.serve._bench_service import BenchPhoto, ServiceProcess, bench_photos
from skinscan.serve._loadgen import CLIENTS, drive, measure, resolve_client
from skinscan.serve._upload_check import upload_integrity

__all__ = [
    "CLIENTS",
    "READ_ENDPOINTS",
    "TARGETS",
    "BenchPhoto",
    "ServiceProcess",
    "bench_photos",
    "drive",
    "resolve_client",
    "run_serve_bench",
    "upload_integrity",
]

#: The endpoints of the read phase, in order; ``health`` is the in-run reference.
READ_ENDPOINTS = ("health", "visit", "progress")

#: The score reads' targets: requests per second, with a p99 latency at most this.
TARGETS = {"reads_per_s": 1500, "p99_ms": 25}

_GENERATORS = {
    "wrk": "wrk, 1 thread, in a separate process",
    "raw": "asyncio raw HTTP/1.1 client, in a separate process",
    "httpx": "asyncio httpx client, in a separate process",
}

API = "/api/v1"


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
    client: str = "auto",
    read_audit_durable: bool = True,
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
        HTTP server processes (``skinscan serve --workers``).
    assess_workers : int
        Assessment worker processes per HTTP server process.
    warmup_s : float
        Unrecorded load before each measured run.
    client : {"auto", "wrk", "raw", "httpx"}
        The load generator (:mod:`skinscan.serve._loadgen`); ``auto``: wrk when installed,
        else ``raw``.
    read_audit_durable : bool
        ``SKINSCAN_READ_AUDIT_DURABLE`` of the service: False lets the read ledger commit
        without waiting for the disk (see :class:`skinscan.serve.ledger.ReadLedger`).
    data_dir : Path, optional
        Data folder of the service; default: a temporary one, deleted afterwards.
    progress : callable, optional
        Called with one line of text as each step starts.

    Returns
    -------
    dict
        ``setup`` (what ran where), ``reads`` per endpoint (``requests_per_s``, ``p50_ms``,
        ``p95_ms``, ``p99_ms``, ``errors``, CPU figures, ``ratio_rps_to_health``,
        ``ratio_p99_to_health``), ``targets``, ``targets_met`` (per score read: both the
        request rate and the p99 latency targets reached) and ``uploads`` (see
        :func:`upload_integrity`).
    """
    from skinscan.serve.process import server_protocols
    from skinscan.serve.settings import Settings

    generator = resolve_client(client)
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
            read_audit_durable=read_audit_durable,
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
                say(f"driving {paths[name]} for {seconds:g} s with {generator}")
                reads[name] = measure(
                    service,
                    paths[name],
                    headers,
                    seconds=seconds,
                    concurrency=concurrency,
                    warmup_s=warmup_s,
                    client=generator,
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
    protocols = server_protocols()
    return {
        "setup": {
            "backend": _backend(database_url),
            "cpu_count": os.cpu_count(),
            "server": (
                f"skinscan serve, {server_workers} HTTP server process(es) "
                f"(uvicorn, {protocols['http']}, {protocols['loop']}), loopback"
            ),
            "assess_workers": assess_workers,
            "read_audit_durable": read_audit_durable,
            "load_generator": _GENERATORS[generator],
            "concurrency": concurrency,
            "seconds": seconds,
            "warmup_s": warmup_s,
            "seed_visits": seed_visits,
            "seeded_by": "uploads through the API, assessed by the worker pool",
        },
        "reads": reads,
        "targets": TARGETS,
        "targets_met": {
            name: reads[name]["requests_per_s"] >= TARGETS["reads_per_s"]
            and reads[name]["p99_ms"] <= TARGETS["p99_ms"]
            and reads[name]["errors"] == 0
            for name in ("visit", "progress")
        },
        "uploads": upload_report,
    }


def _ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if reference else float("nan")
