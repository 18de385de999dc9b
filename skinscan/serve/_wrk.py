"""The wrk load generator (C, epoll; Debian's ``wrk`` package), driven for one path.

wrk costs a few microseconds of CPU per request, so on a small machine nearly all the CPU
goes to the server. It runs whole seconds (a fraction is rounded up); a Lua ``done`` hook
prints its figures as one line of JSON (latencies in microseconds).

Closed loop (:func:`drive_wrk`): one thread; each connection sends its next request when the
answer to the previous one has arrived.

Open loop (:func:`drive_wrk_paced`): a Lua ``delay()`` paces every connection to its share of
the offered rate. wrk calls ``delay()`` before each request in the Lua state of the sending
connection's thread, with nothing that tells the connections of a thread apart, so each
connection gets a thread (and a Lua state) of its own, ``--threads`` = ``--connections``.
Connection ``i`` keeps the timetable ``origin + (i + k·connections) / rate``, and ``delay()``
waits until its next slot. A slow answer does not lower the offered rate: a request late for
its slot goes at once, and the following ones keep to the timetable. At the end of its
timetable (or when the time is up while it is still behind) a thread stops itself, between
two requests, so nothing is cut off in flight: wrk runs a second longer than the timetable,
and the achieved rate is the answers over the timetable's length (wrk's own end would stop
each thread within 100 ms of the deadline, at its next statistics tick, and undercount).

wrk is **not** corrected for coordinated omission the way the raw client is
(:mod:`skinscan.serve._paced`): it measures each latency from when the request was *sent*,
so the time a late request waited for its busy connection is not in its latency. At the end
wrk only adds, for every latency longer than twice the mean interval between a connection's
requests, synthetic samples one interval shorter each (its ``stats_correct``); the paced
report's ``latency_samples`` less ``requests`` counts them. ``delay()`` returns whole
milliseconds, so a request goes up to half a millisecond before or after its slot; the
timetable itself does not drift.
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

from skinscan.serve._latency import run_figures

__all__ = ["drive_wrk", "drive_wrk_paced", "paced_script", "wrk_path"]

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

#: The paced run's script; ``@RATE@``, ``@CONNECTIONS@`` and ``@SECONDS@`` are filled in.
#: The clock is CLOCK_MONOTONIC (one clock for every thread), read through LuaJIT's FFI.
_PACED = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } skinscan_timespec;
int clock_gettime(int clock_id, skinscan_timespec *tp);
]]
local clock = ffi.new("skinscan_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1e3 + tonumber(clock.tv_nsec) / 1e6
end

local RATE, CONNECTIONS, SECONDS = @RATE@, @CONNECTIONS@, @SECONDS@
local threads, made = {}, 0

-- wrk's main Lua state, once per thread before the threads start: one origin for all the
-- timetables (10 ms ahead, while the connections open) and the connection's index.
function setup(thread)
  if origin == nil then origin = now_ms() + 10 end
  thread:set("origin", origin)
  thread:set("index", made)
  made = made + 1
  table.insert(threads, thread)
end

-- The connection's own thread and Lua state.
function init(args)
  slot_number = index  -- this connection's slots are index, index + CONNECTIONS, …
  finish = origin + SECONDS * 1000
  late, sent = 0, 0
end

-- Called before every request, when the connection has no request in flight: wait until
-- its next slot; a request already past its slot (its connection was waiting for an answer)
-- goes at once. The thread stops at the end of its timetable, or when the run's time is up
-- while it is still behind (its remaining slots are missed).
function delay()
  local slot, now = origin + slot_number * 1000 / RATE, now_ms()
  if slot_number >= RATE * SECONDS - 1e-9 or now >= finish then
    wrk.thread:stop()
    return 1000
  end
  slot_number = slot_number + CONNECTIONS
  sent = sent + 1
  local wait = slot - now
  if wait < -1 then late = late + 1 end
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end

done = function(summary, latency, requests)
  local e = summary.errors
  local late_all, sent_all, samples = 0, 0, 0
  for _, thread in ipairs(threads) do
    late_all = late_all + thread:get("late")
    sent_all = sent_all + thread:get("sent")
  end
  for i = 1, #latency do
    local _, count = latency(i)
    samples = samples + count
  end
  io.write(string.format(
    'SKINSCAN-WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "late": %d, "sent": %d, "samples": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    late_all, sent_all, samples))
end
"""


def wrk_path() -> str | None:
    """The ``wrk`` executable on ``PATH``, if any."""
    return shutil.which("wrk")


def paced_script(rate: float, connections: int, seconds: float) -> str:
    """The Lua script of a paced wrk run: ``rate`` requests/s over ``connections`` for
    ``seconds``."""
    if rate <= 0 or connections < 1 or seconds <= 0:
        raise ValueError(
            "a paced run needs a positive rate and length, and at least one connection"
        )
    return (
        _PACED.replace("@RATE@", repr(float(rate)))
        .replace("@CONNECTIONS@", str(int(connections)))
        .replace("@SECONDS@", repr(float(seconds)))
    )


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_wrk(
    url: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    script: Path,
    *,
    threads: int = 1,
) -> tuple[dict[str, Any], float]:
    """One wrk run: its report and its CPU seconds."""
    executable = wrk_path()
    if executable is None:
        raise RuntimeError("wrk is not installed")
    command = [
        executable,
        "--threads",
        str(threads),
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


def _figures(path: str, report: dict[str, Any], cpu: float) -> dict[str, Any]:
    """The common part of both reports: counts, errors by kind, rate, latencies in ms."""
    elapsed = report["duration_us"] / 1e6
    kinds = {
        kind: int(report[kind])
        for kind in ("connect", "read", "write", "status", "timeout")
        if report[kind]
    }
    return run_figures(
        path,
        "wrk",
        requests=int(report["requests"]),
        error_kinds=kinds,
        seconds=elapsed,
        latency_ms={
            key: round(report[key.replace("_ms", "_us")] / 1e3, 2)
            for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")
        },
        cpu_s=cpu,
    )


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
    return _figures(path, report, cpu)


def drive_wrk_paced(
    base_url: str,
    path: str,
    *,
    rate: float,
    headers: dict[str, str] | None = None,
    seconds: float = 10.0,
    connections: int = 32,
    warmup_s: float = 1.0,
    mark: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Send ``GET path`` with wrk at a constant ``rate`` (requests/s) over ``connections``.

    One thread per connection, each paced by ``delay()`` to its own timetable (module notes).
    ``seconds`` and ``warmup_s`` (a paced, unrecorded run first) are rounded up to whole
    seconds. Latencies are measured from when each request was sent (``latency_from``:
    ``"sent"``). The achieved rate is the answers over ``seconds``, the timetable's length.

    Returns
    -------
    dict
        :func:`drive_wrk`'s report (``requests_per_s`` is the achieved rate) plus
        ``offered_per_s``, ``scheduled`` (the timetable's slots in the run), ``sent``,
        ``late`` (requests sent more than 1 ms after their slot), ``latency_samples`` (wrk's
        latency samples after its own correction) and ``latency_from``.
    """
    seconds, warmup_s = max(1, math.ceil(seconds)), math.ceil(warmup_s)
    with tempfile.TemporaryDirectory(prefix="skinscan-wrk-") as folder:
        url = base_url + path
        script = Path(folder) / "paced.lua"
        if warmup_s > 0:
            script.write_text(paced_script(rate, connections, warmup_s))
            _run_wrk(url, headers or {}, warmup_s + 1, connections, script, threads=connections)
        script.write_text(paced_script(rate, connections, seconds))
        if mark is not None:
            mark("start")
        # A second longer than the timetable: the threads end it themselves (module notes).
        report, cpu = _run_wrk(
            url, headers or {}, seconds + 1, connections, script, threads=connections
        )
        if mark is not None:
            mark("end")
    figures = _figures(path, report, cpu)
    completed = figures["requests"]
    paced = {
        "mode": "open loop",
        "connections": connections,
        "offered_per_s": rate,
        "scheduled": _slots(rate, connections, seconds),
        "sent": int(report["sent"]),
        "late": int(report["late"]),
        "seconds": float(seconds),
        "requests_per_s": round(completed / seconds, 1),
        "latency_samples": int(report["samples"]),
        "latency_from": "sent",
    }
    return {**figures, **paced}


def _slots(rate: float, connections: int, seconds: float) -> int:
    """The slots of the timetables in ``seconds``: connection ``i`` has those at ``(i +
    k·connections) / rate`` below ``seconds``."""
    return sum(
        max(0, math.ceil((seconds * rate - index) / connections - 1e-9))
        for index in range(connections)
    )
