"""The wrk load generator (C, epoll; Debian's ``wrk`` package), driven for one path.

wrk costs a few microseconds of CPU per request, so on a small machine nearly all the CPU
goes to the server. It runs whole seconds (a fraction is rounded up); a Lua ``done`` hook
prints its figures as one line of JSON (latencies in microseconds).
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["drive_wrk", "wrk_path"]

#: wrk's ``done`` hook: one line of JSON after wrk's own report.
_WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'SKINSCAN-WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def wrk_path() -> str | None:
    """The ``wrk`` executable on ``PATH``, if any."""
    return shutil.which("wrk")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_wrk(
    url: str, headers: dict[str, str], seconds: float, concurrency: int, script: Path
) -> tuple[dict[str, Any], float]:
    """One wrk run: its report and its CPU seconds."""
    executable = wrk_path()
    if executable is None:
        raise RuntimeError("wrk is not installed")
    command = [
        executable,
        "--threads",
        "1",
        "--connections",
        str(concurrency),
        "--duration",
        f"{max(1, math.ceil(seconds))}s",
        "--timeout",
        "30s",
        "--script",
        str(script),
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    before = _children_cpu_s()
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, check=False, timeout=seconds + 120
    )
    cpu = _children_cpu_s() - before
    lines = [line for line in done.stdout.splitlines() if line.startswith("SKINSCAN-WRK ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[:300]}")
    return json.loads(lines[-1].removeprefix("SKINSCAN-WRK ")), cpu


def drive_wrk(
    base_url: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    seconds: float = 10.0,
    concurrency: int = 32,
    warmup_s: float = 1.0,
    mark: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Drive ``GET path`` with wrk (one thread, ``concurrency`` connections); :func:`drive`'s
    report.

    ``seconds`` and ``warmup_s`` are rounded up to whole seconds (wrk's resolution). wrk counts
    as errors transport failures, timeouts and answers of status 400 or more.
    """
    with tempfile.TemporaryDirectory(prefix="skinscan-wrk-") as folder:
        script = Path(folder) / "report.lua"
        script.write_text(_WRK_REPORT)
        if warmup_s > 0:
            _run_wrk(base_url + path, headers or {}, warmup_s, concurrency, script)
        if mark is not None:
            mark("start")
        report, cpu = _run_wrk(base_url + path, headers or {}, seconds, concurrency, script)
        if mark is not None:
            mark("end")
    elapsed = report["duration_us"] / 1e6
    kinds = {
        kind: int(report[kind])
        for kind in ("connect", "read", "write", "status", "timeout")
        if report[kind]
    }
    completed = int(report["requests"])
    return {
        "path": path,
        "client": "wrk",
        "requests": completed,
        "errors": sum(kinds.values()),
        "error_kinds": kinds,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(completed / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(report["p50_us"] / 1e3, 2),
        "p95_ms": round(report["p95_us"] / 1e3, 2),
        "p99_ms": round(report["p99_us"] / 1e3, 2),
        "max_ms": round(report["max_us"] / 1e3, 2),
        "generator_cpu_s": round(cpu, 3),
    }
