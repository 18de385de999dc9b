"""``skinscan bench-serve``'s machinery: the load generators and the upload-integrity check.

Functional only: tiny loads for a second or two, asserting the report's structure, that no
request failed, that the open-loop run keeps its timetable (request counts, which a closed
loop or a timetable that slips would not reach) and that concurrent uploads give exactly one
visit per (patient, photo). No latency or throughput figure is asserted — the benchmark is a
command (``skinscan bench-serve``), never a timed test.
"""

from __future__ import annotations

import http.server
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skinscan.serve._wrk import wrk_path
from skinscan.serve.loadtest import (
    PACED_ENDPOINTS,
    READ_ENDPOINTS,
    TARGETS,
    ServiceProcess,
    bench_photos,
    resolve_client,
    run_serve_bench,
)

GENERATORS = [
    pytest.param(
        "wrk", marks=pytest.mark.skipif(wrk_path() is None, reason="wrk is not installed")
    ),
    "raw",
]

#: What every run reports, whichever generator drove it, and what the service measured of it.
RUN_FIELDS = {
    "path",
    "mode",
    "requests",
    "errors",
    "error_kinds",
    "seconds",
    "requests_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "generator_cpu_s",
    "server_cpu_s",
    "server_http_cpu_ms_per_request",
}
READ_FIELDS = RUN_FIELDS | {"ratio_rps_to_health", "ratio_p99_to_health"}
PACED_FIELDS = RUN_FIELDS | {
    "connections",
    "offered_per_s",
    "scheduled",
    "late",
    "achieved_fraction",
    "latency_from",
}


def _check_reads(report: dict[str, Any]) -> None:
    assert set(report["reads"]) == set(READ_ENDPOINTS)
    for name, figures in report["reads"].items():
        assert set(figures) >= READ_FIELDS, name
        assert figures["mode"] == "closed loop"
        assert figures["requests"] > 0, name
        assert figures["errors"] == 0, (name, figures["error_kinds"])
        assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert report["reads"]["health"]["ratio_rps_to_health"] == 1.0
    assert report["reads"]["progress"]["path"].endswith("/progress")
    assert report["targets"] == TARGETS
    assert set(report["targets_met"]) == set(PACED_ENDPOINTS)


def _check_paced(report: dict[str, Any], rate: float, seconds: float) -> None:
    """The open-loop runs: their fields, and ``rate × seconds`` requests ± 15 %."""
    assert set(report["paced"]) == set(PACED_ENDPOINTS)
    assert report["setup"]["offered_rate_per_s"] == rate
    for name, figures in report["paced"].items():
        assert set(figures) >= PACED_FIELDS, name
        assert figures["path"] == report["reads"][name]["path"]
        assert figures["mode"] == "open loop"
        assert figures["offered_per_s"] == rate
        assert figures["errors"] == 0, (name, figures["error_kinds"])
        assert rate * seconds * 0.85 <= figures["requests"] <= rate * seconds * 1.15, figures
        assert figures["achieved_fraction"] == pytest.approx(
            figures["requests_per_s"] / rate, abs=1e-3
        )
        assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]


def _check_targets(report: dict[str, Any]) -> None:
    """``targets_met``: the capacity, and at the target rate the achieved rate and the p99."""
    for name in PACED_ENDPOINTS:
        closed, paced = report["reads"][name], report["paced"].get(name)
        capacity = closed["requests_per_s"] >= TARGETS["reads_per_s"] and closed["errors"] == 0
        checks = report["targets_checked"][name]
        assert checks["capacity"] == capacity
        if paced is None or paced["offered_per_s"] != TARGETS["reads_per_s"]:
            # No run at the target rate: the latency target is not judged.
            assert checks["achieved_at_rate"] is None
            assert checks["p99_at_rate"] is None
            assert report["targets_met"][name] is (None if capacity else False)
        else:
            at_rate = (
                paced["requests_per_s"] >= TARGETS["achieved_fraction"] * TARGETS["reads_per_s"]
                and paced["errors"] == 0
                and paced["p99_ms"] <= TARGETS["p99_ms"]
            )
            assert report["targets_met"][name] is (capacity and at_rate)


def _check_uploads(uploads: dict[str, Any], count: int, patients: int) -> None:
    assert uploads["failures"] == []
    assert uploads["ok"], uploads["checks"]
    pairs = patients * uploads["distinct_photos"]
    assert uploads["uploads"] == count
    assert uploads["pairs"] == pairs
    assert uploads["created"] == pairs
    assert uploads["duplicates"] == count - pairs
    assert uploads["visits_api"] == uploads["visits_db"] == pairs
    assert set(uploads["by_status"]) <= {"done", "failed"}
    assert uploads["rejected_by_quality_gate"] > 0  # the blurred photos


def test_bench_photos_are_distinct_small_jpegs() -> None:
    photos = bench_photos(sharp=2, blurred=1, size=128)
    assert [photo.sharp for photo in photos] == [True, True, False]
    assert len({photo.sha256 for photo in photos}) == 3
    assert all(photo.data[:2] == b"\xff\xd8" for photo in photos)


def test_reads_and_concurrent_uploads_on_sqlite(tmp_path: Path) -> None:
    report = run_serve_bench(
        seconds=1.0,
        concurrency=2,
        rate=100,
        warmup_s=0.2,
        uploads=20,
        upload_patients=2,
        seed_visits=3,
        assess_workers=1,
        client="raw",
        data_dir=tmp_path,
    )
    assert report["setup"]["backend"] == "sqlite"
    assert report["setup"]["load_generator"].startswith("asyncio raw")
    assert report["setup"]["latency_from"].startswith("scheduled slot")
    assert {figures["client"] for figures in report["reads"].values()} == {"raw"}
    _check_reads(report)
    _check_paced(report, 100, 1.0)
    for figures in report["paced"].values():
        assert figures["latency_from"] == "scheduled"
    _check_targets(report)
    # 2 patients × 5 photos = 10 pairs, each uploaded twice at once.
    _check_uploads(report["uploads"], 20, 2)


def test_concurrent_uploads_on_postgresql_without_a_paced_run(
    tmp_path: Path, postgres_databases: Callable[[], str]
) -> None:
    report = run_serve_bench(
        database_url=postgres_databases(),
        seconds=0.5,
        concurrency=2,
        rate=0,
        warmup_s=0,
        uploads=30,
        upload_patients=2,
        seed_visits=2,
        assess_workers=1,
        data_dir=tmp_path,
    )
    assert report["setup"]["backend"] == "postgresql"
    # auto: wrk where it is installed, else the raw asyncio client.
    generator = "wrk" if wrk_path() is not None else "raw"
    assert {figures["client"] for figures in report["reads"].values()} == {generator}
    _check_reads(report)
    # --rate 0: closed loop only, and the latency target is not judged.
    assert report["paced"] == {}
    assert report["setup"]["offered_rate_per_s"] == 0
    assert report["setup"]["latency_from"] is None
    _check_targets(report)
    assert set(report["targets_met"].values()) <= {None, False}
    _check_uploads(report["uploads"], 30, 2)


# -- the open loop -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_progress(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """The real service on SQLite: its base URL, a patient's progress path and the key header."""
    from skinscan.serve.admin import database_session
    from skinscan.serve.keys import create_key
    from skinscan.serve.settings import Settings

    folder = tmp_path_factory.mktemp("paced")
    with database_session(Settings(data_dir=folder)) as session:
        _, key = create_key(session, f"paced-{secrets.token_hex(4)}", "clinician")
    headers = {"Authorization": f"Bearer {key}"}
    with ServiceProcess(folder, assess_workers=1) as service:
        answer = httpx.post(
            f"{service.base_url}/api/v1/patients",
            json={"external_id": "paced"},
            headers=headers,
            timeout=30.0,
        )
        answer.raise_for_status()
        yield service.base_url, f"/api/v1/patients/{answer.json()['id']}/progress", headers


def _paced(client: str, base_url: str, path: str, **options: Any) -> dict[str, Any]:
    from skinscan.serve._paced import drive_paced
    from skinscan.serve._wrk import drive_wrk_paced

    if client == "wrk":
        return drive_wrk_paced(base_url, path, **options)
    options["connections"] = options.get("connections", 32)
    return drive_paced(base_url, path, client="raw", **options)


@pytest.mark.parametrize("client", GENERATORS)
def test_a_paced_run_sends_the_offered_rate(
    client: str, served_progress: tuple[str, str, dict[str, str]]
) -> None:
    base_url, path, headers = served_progress
    figures = _paced(
        client, base_url, path, rate=100, headers=headers, seconds=2, connections=4, warmup_s=0
    )
    # A closed loop on 4 connections would answer thousands of reads in 2 s.
    assert 170 <= figures["requests"] <= 230, figures
    assert figures["errors"] == 0, figures["error_kinds"]
    assert figures["offered_per_s"] == 100
    assert 190 <= figures["scheduled"] <= 210
    assert figures["latency_from"] == ("sent" if client == "wrk" else "scheduled")
    if client == "raw":
        # Measured from the slot, every latency includes the one measured from the send.
        for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            assert figures[key] >= figures["from_sent"][key]
        assert figures["sent"] == figures["requests"]


class _StallOnce(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1; the first request waits ``stall_s`` before its answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    stall_s = 0.6
    stalled = threading.Event()

    def do_GET(self) -> None:
        if not self.stalled.is_set():
            self.stalled.set()
            time.sleep(self.stall_s)
        # One write: the answer in one segment, no wait for a delayed acknowledgement.
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("client", GENERATORS)
def test_a_stalled_answer_does_not_lower_the_offered_rate(client: str) -> None:
    """One connection at 50 requests/s; the first answer takes 0.6 s (30 slots). The requests
    late for their slots go at once and the timetable is kept: about 100 answers in 2 s, where
    a generator that waited for the next slot after a late answer would send at most 70."""
    handler = type("Stall", (_StallOnce,), {"stalled": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        figures = _paced(
            client,
            f"http://127.0.0.1:{server.server_address[1]}",
            "/",
            rate=50,
            seconds=2,
            connections=1,
            warmup_s=0,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert figures["errors"] == 0, figures["error_kinds"]
    assert 88 <= figures["requests"] <= 105, figures
    assert figures["late"] >= 20  # sent after their slots, while the stall lasted
    assert figures["max_ms"] >= 600
    if client == "raw":
        # From the slot, the requests queued behind the stall waited too: 0.6 s, 0.58 s, …
        assert figures["p95_ms"] >= 200
        assert figures["from_sent"]["p95_ms"] < figures["p95_ms"]
    else:
        # wrk measures from the send; only its own correction adds samples for the stall.
        assert figures["latency_samples"] > figures["requests"]


def test_a_paced_run_needs_a_positive_rate() -> None:
    from skinscan.serve._paced import drive_paced
    from skinscan.serve._wrk import paced_script

    with pytest.raises(ValueError, match="positive"):
        paced_script(0, 4, 1)
    with pytest.raises(ValueError, match="positive"):
        drive_paced("http://127.0.0.1:9", "/", rate=0)
    with pytest.raises(ValueError, match="rate must be 0"):
        run_serve_bench(rate=-1, uploads=0)


def test_the_load_generator_is_chosen_by_name() -> None:
    assert resolve_client("raw") == "raw"
    assert resolve_client("httpx") == "httpx"
    assert resolve_client("auto") == ("wrk" if wrk_path() is not None else "raw")
    with pytest.raises(ValueError, match="client must be one of"):
        resolve_client("ab")


def test_the_command_runs_the_real_service_and_prints_the_report() -> None:
    import json

    from typer.testing import CliRunner

    from skinscan import cli

    arguments = ["--json", "--seconds", "0.5", "--concurrency", "2", "--client", "raw"]
    arguments += ["--uploads", "2", "--patients", "1", "--rate", "0"]
    result = CliRunner().invoke(cli.app, ["bench-serve", *arguments])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["setup"]["seconds"] == 0.5
    assert report["setup"]["concurrency"] == 2
    assert report["setup"]["offered_rate_per_s"] == 0.0
    assert set(report["reads"]) == {"health", "visit", "progress"}
    assert all(figures["requests"] > 0 for figures in report["reads"].values())
    # --rate 0: no paced run, so the latency target is not judged; only a capacity that falls
    # short (2 connections for 0.5 s on a busy machine may) can already fail the read.
    for name in ("visit", "progress"):
        checks = report["targets_checked"][name]
        assert checks["capacity"] is not None
        assert checks["p99_at_rate"] is None
        assert report["targets_met"][name] is (None if checks["capacity"] else False)
    assert report["uploads"]["ok"] is True
