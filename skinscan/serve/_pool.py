"""The assessment workers' process pool, with a time limit on every job.

A job's limit counts from the moment a worker process starts it — the worker says so on a pipe
(:func:`skinscan.serve.worker.run_job`) — not from when it was queued: a backlog of uploads
must not time out jobs that have not run yet.

A job that passes its limit gets its worker process killed. A
:class:`~concurrent.futures.ProcessPoolExecutor` cannot lose a process and go on: it breaks,
terminates its other processes, and every job it held fails with ``BrokenProcessPool``. The job
that overran raises :class:`JobTimedOut`; the others did nothing wrong and are submitted again
to a fresh executor, their limit counting afresh. A worker that dies on its own (a crashing
decoder, the OOM killer) breaks the executor the same way, but then nothing tells which job was
to blame, and every job it held raises :class:`WorkerCrashed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

from skinscan.serve import worker

__all__ = ["JobTimedOut", "WorkerCrashed", "WorkerPool"]

log = logging.getLogger("skinscan.serve.runner")

#: How often a waiting job looks whether a worker has started it (its deadline is exact anyway:
#: the start time is taken when the notice arrives).
START_POLL_S = 0.5
#: How long the listener of start notices waits on the pipe before it looks whether to stop.
LISTEN_POLL_S = 0.5
#: How long a killed worker's executor may take to report itself broken.
STOP_WAIT_S = 30.0
#: How many times a job is submitted again after other jobs' overruns stopped its executor.
RESUBMITS = 3


class WorkerCrashed(Exception):
    """A worker process died while running a job."""


class JobTimedOut(Exception):
    """A job ran past its time limit; its worker process was killed."""

    def __init__(self, limit_s: float) -> None:
        super().__init__(f"the job ran past its time limit of {limit_s:g} s")
        self.limit_s = limit_s


class _Executor:
    """One process pool executor, the start notices of its jobs, and the jobs that overran."""

    def __init__(self, workers: int, warm_up: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self._notices, self._writer = context.Pipe(duplex=False)
        # The write end stays open here as long as the executor lives: it spawns its worker
        # processes on demand, each inheriting the write end.
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=worker.init_worker,
            initargs=(warm_up, self._writer),
        )
        self.overran: set[int] = set()
        self._started: dict[int, tuple[float, int] | None] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._listen, name="skinscan-job-starts", daemon=True).start()

    def _listen(self) -> None:
        try:
            while not self._closed.is_set():
                if self._notices.poll(LISTEN_POLL_S):
                    job, pid = worker.START_NOTICE.unpack(self._notices.recv_bytes())
                    with self._lock:
                        if job in self._started:
                            self._started[job] = (time.monotonic(), pid)
        except (EOFError, OSError):
            pass
        finally:
            self._notices.close()
            self._writer.close()

    def submit(self, job: int, fn: Callable[..., Any], args: Any, kwargs: Any) -> Future[Any]:
        with self._lock:
            self._started[job] = None
        try:
            future = self.executor.submit(worker.run_job, job, fn, *args, **kwargs)
        except BaseException:
            self.forget(job)
            raise
        future.add_done_callback(lambda _: self.forget(job))
        return future

    def started(self, job: int) -> tuple[float, int] | None:
        """When (``time.monotonic()``) and in which process ``job`` started; None if not yet."""
        with self._lock:
            return self._started.get(job)

    def forget(self, job: int) -> None:
        with self._lock:
            self._started.pop(job, None)

    def kill_running(self) -> None:
        """Kill the worker processes of the jobs that started and have not ended."""
        with self._lock:
            pids = {start[1] for start in self._started.values() if start is not None}
        for pid in pids:
            _kill(pid)

    def close(self) -> None:
        """Stop listening for start notices (the pipe is closed by the listener)."""
        self._closed.set()


def _kill(pid: int) -> None:
    # The pid is a child of this process: it cannot be reused before the executor reaps it,
    # which it does only once it has broken or shut down.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class WorkerPool:
    """Runs jobs in worker processes, each within a time limit counted from its start.

    Parameters
    ----------
    workers : int
        Worker processes.
    warm_up : bool
        Each new worker process assesses the bundled sample face before its first job
        (:func:`skinscan.serve.worker.init_worker`).
    """

    def __init__(self, workers: int, *, warm_up: bool) -> None:
        self.workers = workers
        self.warm_up = warm_up
        self._current: _Executor | None = None
        self._lock = threading.Lock()
        self._jobs = itertools.count(1)

    def _executor(self) -> _Executor:
        with self._lock:
            if self._current is None:
                self._current = _Executor(self.workers, self.warm_up)
            return self._current

    def _retire(self, executor: _Executor) -> None:
        """No new job goes to ``executor`` from now on."""
        with self._lock:
            if self._current is executor:
                self._current = None

    def _discard(self, executor: _Executor) -> None:
        self._retire(executor)
        executor.executor.shutdown(wait=False, cancel_futures=True)
        executor.close()

    def _after(self, executor: _Executor, future: Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
            self._discard(executor)

    def _submit(
        self, job: int, fn: Callable[..., Any], args: Any, kwargs: Any
    ) -> tuple[_Executor, Future[Any]]:
        for _ in range(2):
            executor = self._executor()
            try:
                future = executor.submit(job, fn, args, kwargs)
            except RuntimeError:  # broken, or shut down by another thread meanwhile
                self._discard(executor)
                continue
            future.add_done_callback(partial(self._after, executor))
            return executor, future
        raise WorkerCrashed("the worker pool cannot be started")

    def start(self) -> None:
        """Start every worker process now (each warms up in the background)."""
        for _ in range(self.workers):
            self._submit(next(self._jobs), worker.warm, (), {})

    async def run(
        self, fn: Callable[..., Any], /, *args: Any, limit_s: float, **kwargs: Any
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` in a worker process and await its result.

        Parameters
        ----------
        fn : callable
            A top-level function of :mod:`skinscan.serve.worker` (it is pickled by name).
        limit_s : float
            Time limit in seconds, from the moment a worker process starts the job.

        Raises
        ------
        JobTimedOut
            The job ran past ``limit_s``; its worker process was killed and the next job gets
            a fresh pool.
        WorkerCrashed
            The worker process died meanwhile (the pool is replaced for the next job).
        """
        for _ in range(RESUBMITS + 1):
            job = next(self._jobs)
            executor, future = self._submit(job, fn, args, kwargs)
            try:
                return await self._within(executor, job, future, limit_s)
            except BrokenProcessPool as exc:
                if job in executor.overran:
                    raise JobTimedOut(limit_s) from exc
                if not executor.overran:
                    raise WorkerCrashed(str(exc)) from exc
                log.info("job %d was stopped with a job that overran; submitting it again", job)
        raise WorkerCrashed("other jobs' overruns stopped this job's worker pool again and again")

    async def _within(
        self, executor: _Executor, job: int, future: Future[Any], limit_s: float
    ) -> Any:
        result = asyncio.wrap_future(future)
        pid = None
        try:
            while pid is None:
                wait_s = min(START_POLL_S, limit_s)
                start = executor.started(job)
                if start is not None:
                    wait_s = start[0] + limit_s - time.monotonic()
                    if wait_s <= 0:
                        pid = start[1]
                done, _ = await asyncio.wait({result}, timeout=max(wait_s, 0.0))
                if done:
                    return result.result()
        except asyncio.CancelledError:
            # Nobody waits any more: a job still queued is dropped; one already running is
            # left to end, or to be killed by close().
            result.cancel()
            raise
        log.warning("job %d ran past its time limit of %g s; killing its worker", job, limit_s)
        executor.overran.add(job)
        self._retire(executor)
        _kill(pid)
        done, _ = await asyncio.wait({result}, timeout=STOP_WAIT_S)
        if done:
            return result.result()  # BrokenProcessPool, or a result that came just in time
        raise JobTimedOut(limit_s)

    def close(self) -> None:
        """Stop the worker processes; jobs still running are killed (nobody awaits them)."""
        with self._lock:
            executor, self._current = self._current, None
        if executor is None:
            return
        executor.kill_running()
        executor.executor.shutdown(wait=True, cancel_futures=True)
        executor.close()
