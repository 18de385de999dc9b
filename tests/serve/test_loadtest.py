"""``skinscan bench-serve``'s machinery: the load generator and the upload-integrity check.

Functional only: tiny loads for a second or two, asserting the report's structure, that no
request failed and that concurrent uploads give exactly one visit per (patient, photo). No
figure is asserted — the benchmark is a command (``skinscan bench-serve``), never a timed test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skinscan.serve._wrk import wrk_path
from skinscan.serve.loadtest import READ_ENDPOINTS, bench_photos, resolve_client, run_serve_bench

READ_FIELDS = {
    "path",
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
    "ratio_rps_to_health",
    "ratio_p99_to_health",
}


def _check_reads(report: dict[str, Any]) -> None:
    assert set(report["reads"]) == set(READ_ENDPOINTS)
    for name, figures in report["reads"].items():
        assert set(figures) >= READ_FIELDS, name
        assert figures["requests"] > 0, name
        assert figures["errors"] == 0, (name, figures["error_kinds"])
        assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert report["reads"]["health"]["ratio_rps_to_health"] == 1.0
    assert report["reads"]["progress"]["path"].endswith("/progress")
    assert set(report["targets"]) == {"reads_per_s", "p99_ms"}
    assert set(report["targets_met"]) == {"visit", "progress"}
    for name, met in report["targets_met"].items():
        figures = report["reads"][name]
        assert met == (
            figures["requests_per_s"] >= report["targets"]["reads_per_s"]
            and figures["p99_ms"] <= report["targets"]["p99_ms"]
        )


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
    assert {figures["client"] for figures in report["reads"].values()} == {"raw"}
    _check_reads(report)
    # 2 patients × 5 photos = 10 pairs, each uploaded twice at once.
    _check_uploads(report["uploads"], 20, 2)


def test_concurrent_uploads_on_postgresql(
    tmp_path: Path, postgres_databases: Callable[[], str]
) -> None:
    report = run_serve_bench(
        database_url=postgres_databases(),
        seconds=0.5,
        concurrency=2,
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
    _check_uploads(report["uploads"], 30, 2)


def test_the_load_generator_is_chosen_by_name() -> None:
    assert resolve_client("raw") == "raw"
    assert resolve_client("httpx") == "httpx"
    assert resolve_client("auto") == ("wrk" if wrk_path() is not None else "raw")
    with pytest.raises(ValueError, match="client must be one of"):
        resolve_client("ab")


def test_the_command_prints_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from skinscan import cli

    canned: dict[str, Any] = {
        "setup": {},
        "reads": {},
        "targets": {},
        "uploads": {"ok": False, "failures": ["lost"]},
    }
    seen: dict[str, Any] = {}

    def fake(**kwargs: Any) -> dict[str, Any]:
        seen.update(kwargs)
        return canned

    monkeypatch.setattr("skinscan.serve.loadtest.run_serve_bench", fake)
    result = CliRunner().invoke(
        cli.app, ["bench-serve", "--json", "--seconds", "2", "--uploads", "5", "--patients", "1"]
    )
    assert json.loads(result.stdout.splitlines()[-1]) == canned
    assert result.exit_code == 1  # a failed integrity check fails the command
    assert (seen["seconds"], seen["uploads"], seen["upload_patients"]) == (2.0, 5, 1)
