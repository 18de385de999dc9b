"""The worker pool's time limit, on real worker processes (no warm-up, plain library jobs).

A job's limit counts from the moment a worker starts it; a job past it has its process killed;
the jobs that shared the pool with it run again in a fresh pool; a crash is not a timeout.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import psutil
import pytest

from skinscan.serve._pool import JobTimedOut, WorkerCrashed, WorkerPool
from skinscan.serve.worker import FAULT_EXIT_STATUS


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(1, warm_up=False)
    yield pool
    pool.close()


def test_a_job_past_its_limit_is_killed_and_the_one_queued_behind_it_runs(
    pool: WorkerPool,
) -> None:
    async def scenario() -> tuple[int, float, int]:
        worker_pid = await pool.run(os.getpid, limit_s=30.0)
        start = time.perf_counter()
        hung = asyncio.create_task(pool.run(time.sleep, 3600, limit_s=1.0))
        # Queued behind the hung job longer than its own limit: it has not started, so it
        # has not overrun; it runs in the fresh pool.
        queued = asyncio.create_task(pool.run(os.getpid, limit_s=1.0))
        with pytest.raises(JobTimedOut, match="time limit of 1 s"):
            await hung
        elapsed = time.perf_counter() - start
        return worker_pid, elapsed, await queued

    worker_pid, elapsed, later_pid = asyncio.run(scenario())
    assert 1.0 <= elapsed < 5.0
    assert _gone(worker_pid)
    assert later_pid != worker_pid
    assert not _gone(later_pid)


def test_the_limit_counts_from_the_start_of_each_job(pool: WorkerPool) -> None:
    async def scenario() -> list[None]:
        # Three jobs of 0.6 s on one worker: the last ends 1.8 s after it was queued.
        return list(await asyncio.gather(*(pool.run(time.sleep, 0.6, limit_s=1.0) for _ in "abc")))

    start = time.perf_counter()
    assert asyncio.run(scenario()) == [None, None, None]
    assert time.perf_counter() - start >= 1.8


def test_jobs_running_beside_an_overrun_start_again_in_a_fresh_pool() -> None:
    pool = WorkerPool(2, warm_up=False)

    async def scenario() -> float:
        await asyncio.gather(pool.run(os.getpid, limit_s=30.0), pool.run(os.getpid, limit_s=30.0))
        start = time.perf_counter()
        hung = pool.run(time.sleep, 3600, limit_s=1.0)
        beside = pool.run(time.sleep, 2.0, limit_s=10.0)
        outcomes = await asyncio.gather(hung, beside, return_exceptions=True)
        assert isinstance(outcomes[0], JobTimedOut)
        assert outcomes[1] is None
        return time.perf_counter() - start

    try:
        # Killed after 1 s with the hung job, then run again in full: 1 + 2 s at least.
        assert asyncio.run(scenario()) >= 3.0
    finally:
        pool.close()


def test_a_crash_is_not_a_timeout(pool: WorkerPool) -> None:
    async def scenario() -> None:
        await pool.run(os._exit, FAULT_EXIT_STATUS, limit_s=30.0)

    with pytest.raises(WorkerCrashed):
        asyncio.run(scenario())
    assert asyncio.run(pool.run(sum, [1, 2], limit_s=30.0)) == 3


def test_closing_kills_a_job_nobody_waits_for_any_more(pool: WorkerPool) -> None:
    async def scenario() -> int:
        worker_pid = await pool.run(os.getpid, limit_s=30.0)
        hung = asyncio.create_task(pool.run(time.sleep, 3600, limit_s=3600.0))
        await asyncio.sleep(1.0)
        hung.cancel()
        await asyncio.gather(hung, return_exceptions=True)
        return worker_pid

    worker_pid = asyncio.run(scenario())
    start = time.perf_counter()
    pool.close()
    assert time.perf_counter() - start < 10.0
    assert _gone(worker_pid)
