"""``skinscan bench-serve``: read throughput and latency of the running service, upload integrity.

The real service (``skinscan serve``, one or several HTTP server processes) is started in a
child process on a loopback port, on a temporary data folder with the SQLite file of that folder
or a given PostgreSQL database. It is seeded through its own API: a clinic and a key (made with
:func:`skinscan.serve.keys.create_key`, as ``skinscan keys create`` does), a patient and a few
visits whose small face photos are really assessed by the worker pool.

Reads are driven by a load generator in a process of its own (wrk when installed, else a
minimal asyncio client; see :mod:`skinscan.serve._loadgen`) with a fixed number of keep-alive
connections, bounded in time, in two runs per endpoint:

- **closed loop** (one request in flight per connection): the capacity, requests/s at
  saturation; its latencies are those of a saturated server (queueing: about connections ÷
  throughput), so they depend on the number of connections. ``GET /healthz`` is driven the
  same way in the same run and is the reference: every endpoint is also reported as a ratio to
  it, which makes figures from machines of different speed comparable;
- **open loop** at a constant offered rate (the score reads only): the latency at that rate,
  which is what the latency target is about.

The CPU time used by the server and by the load generator during each run is reported too — on
a small machine they share the cores.

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
    "PACED_ENDPOINTS",
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

#: The endpoints of the open-loop run at the offered rate: the score reads.
PACED_ENDPOINTS = ("visit", "progress")

#: The score reads' targets: a capacity (closed loop) of at least ``reads_per_s``, and at that
#: offered rate (open loop) an achieved rate of at least ``achieved_fraction`` of it with a
#: p99 latency at most ``p99_ms``.
TARGETS: dict[str, float] = {"reads_per_s": 1500, "p99_ms": 25, "achieved_fraction": 0.98}

_GENERATORS = {
    "wrk": "wrk in a separate process (closed loop: 1 thread; open loop: 1 thread per connection)",
    "raw": "asyncio raw HTTP/1.1 client, in a separate process",
    "httpx": "asyncio httpx client, in a separate process",
}

#: What the open-loop latencies are measured from, per generator.
_LATENCY_FROM = {
    "wrk": "send (not corrected for coordinated omission)",
    "raw": "scheduled slot (corrected for coordinated omission)",
    "httpx": "scheduled slot (corrected for coordinated omission)",
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
    rate: float = TARGETS["reads_per_s"],
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
        Measured seconds per run (each also gets ``warmup_s`` unrecorded first).
    concurrency : int
        Concurrent keep-alive connections of the load generator, in both modes.
    rate : float
        Offered requests per second of the open-loop run of each score read, after the
        closed-loop runs; 0 skips it (closed loop only).
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
        Unrecorded load before each measured run (paced too before the open-loop runs).
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
        ``setup`` (what ran where); ``reads``, the closed-loop run per endpoint — capacity
        ``requests_per_s``, ``p50_ms``, ``p95_ms``, ``p99_ms`` (latency at saturation),
        ``errors``, CPU figures, ``ratio_rps_to_health``, ``ratio_p99_to_health``; ``paced``,
        the open-loop run per score read (empty when ``rate`` is 0) — ``offered_per_s``,
        ``requests_per_s`` (achieved), ``achieved_fraction``, latencies (``latency_from``
        says from the scheduled slot or from the send), ``late``, errors, CPU figures;
        ``targets``; ``targets_met`` per score read (True, False, or None when the open-loop
        run was not at the target rate and the capacity target was met) with the single
        checks in ``targets_checked``; ``uploads`` (see :func:`upload_integrity`).
    """
    from skinscan.serve.process import server_protocols
    from skinscan.serve.settings import Settings

    if rate < 0:
        raise ValueError(f"rate must be 0 (closed loop only) or positive, not {rate}")
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

            def drive(name: str, **paced_at: float) -> dict[str, Any]:
                return measure(
                    service,
                    paths[name],
                    headers,
                    seconds=seconds,
                    concurrency=concurrency,
                    warmup_s=warmup_s,
                    client=generator,
                    **paced_at,
                )

            reads: dict[str, dict[str, Any]] = {}
            for name in READ_ENDPOINTS:
                say(f"driving {paths[name]} for {seconds:g} s with {generator} (closed loop)")
                reads[name] = drive(name)
            reference = reads["health"]
            for figures in reads.values():
                figures["ratio_rps_to_health"] = _ratio(
                    figures["requests_per_s"], reference["requests_per_s"]
                )
                figures["ratio_p99_to_health"] = _ratio(figures["p99_ms"], reference["p99_ms"])
            paced: dict[str, dict[str, Any]] = {}
            for name in PACED_ENDPOINTS if rate > 0 else ():
                say(f"sending {paths[name]} at {rate:g} requests/s for {seconds:g} s (open loop)")
                paced[name] = drive(name, rate=rate)
                paced[name]["achieved_fraction"] = _ratio(paced[name]["requests_per_s"], rate)
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
    checked = {name: _targets_checked(reads[name], paced.get(name)) for name in PACED_ENDPOINTS}
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
            "offered_rate_per_s": rate,
            "latency_from": _LATENCY_FROM[generator] if rate > 0 else None,
            "warmup_s": warmup_s,
            "seed_visits": seed_visits,
            "seeded_by": "uploads through the API, assessed by the worker pool",
        },
        "reads": reads,
        "paced": paced,
        "targets": TARGETS,
        "targets_met": {name: _all_met(checks) for name, checks in checked.items()},
        "targets_checked": checked,
        "uploads": upload_report,
    }


def _targets_checked(
    closed: dict[str, Any], paced: dict[str, Any] | None
) -> dict[str, bool | None]:
    """The single checks of one score read; None where the open-loop run at the target rate
    is missing."""
    capacity = closed["requests_per_s"] >= TARGETS["reads_per_s"] and closed["errors"] == 0
    if paced is None or paced["offered_per_s"] != TARGETS["reads_per_s"]:
        return {"capacity": capacity, "achieved_at_rate": None, "p99_at_rate": None}
    achieved = (
        paced["requests_per_s"] >= TARGETS["achieved_fraction"] * TARGETS["reads_per_s"]
        and paced["errors"] == 0
    )
    return {
        "capacity": capacity,
        "achieved_at_rate": achieved,
        "p99_at_rate": paced["p99_ms"] <= TARGETS["p99_ms"],
    }


def _all_met(checks: dict[str, bool | None]) -> bool | None:
    """False if any check failed, None if one is missing, else True."""
    if any(check is False for check in checks.values()):
        return False
    if any(check is None for check in checks.values()):
        return None
    return True


def _ratio(value: float, reference: float) -> float:
    return round(value / reference, 3) if reference else float("nan")
