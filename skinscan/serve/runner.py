"""Assessments off the event loop: a process pool, the visit's state machine, crash recovery.

A visit goes ``pending → running → done | failed``. The worker returns the whole record; the
assessment and the ``done`` status are committed in one statement, so a visit is never
half-written. A worker that dies (a crashing decoder, the kernel's OOM killer) breaks the pool:
the visit becomes ``failed`` with the retryable code ``worker_crashed``, and the next job gets
a fresh pool. An assessment that runs past ``assessment_timeout_s`` (from the moment a worker
starts it) gets its worker process killed and the visit becomes ``failed`` with the retryable
code ``assessment_timeout``; the other jobs of that pool start again in a fresh one
(:mod:`skinscan.serve._pool`). Visits still pending or running when the service stops become
``failed`` with the retryable code ``interrupted`` at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from skinscan.serve import crud, worker
from skinscan.serve._pool import JobTimedOut, WorkerCrashed, WorkerPool
from skinscan.serve.metrics import Metrics
from skinscan.serve.models import Visit
from skinscan.serve.settings import Settings
from skinscan.serve.store import PhotoStore
from skinscan.serve.webhook import WebhookNotifier

__all__ = ["AssessmentRunner", "JobTimedOut", "WorkerCrashed", "severities_of"]

log = logging.getLogger("skinscan.serve.runner")


def severities_of(record: dict[str, Any] | None) -> dict[str, float] | None:
    """Severity per concern of an assessment record (None without concerns)."""
    if not record or record.get("concerns") is None:
        return None
    return {name: concern["severity"] for name, concern in record["concerns"].items()}


class AssessmentRunner:
    """Runs worker jobs in a process pool and keeps visits' states in the database.

    Parameters
    ----------
    settings : Settings
        Worker count, load limits, the time limit of a job, fault injection.
    sessions : sessionmaker
        Session factory of the service's database.
    store : PhotoStore
        Where originals, display copies and maps live.
    metrics : Metrics
        Assessment counters and durations.
    webhook : WebhookNotifier, optional
        Told about every finished attempt.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: PhotoStore,
        metrics: Metrics,
        webhook: WebhookNotifier | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.store = store
        self.metrics = metrics
        self.webhook = webhook
        self.pool = WorkerPool(settings.workers, warm_up=settings.prestart_workers)
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in a worker process and await its result.

        Raises
        ------
        JobTimedOut
            The job ran past ``settings.assessment_timeout_s`` from its start; its worker
            process was killed (the pool is replaced for the next job).
        WorkerCrashed
            The worker process died meanwhile (the pool is replaced for the next job).
        """
        return await self.pool.run(fn, *args, limit_s=self.settings.assessment_timeout_s, **kwargs)

    def prestart(self) -> None:
        """Start every worker process now (each warms up in the background)."""
        self.pool.start()

    # -- jobs -----------------------------------------------------------------------------------

    async def prepare(self, sha256: str) -> dict[str, Any]:
        """Check a stored upload and write its display copy, in a worker.

        Returns
        -------
        dict
            :func:`skinscan.serve.worker.prepare_photo`'s answer; a photo that crashes the
            decoder, or keeps it busy past the time limit, answers
            ``{"ok": False, "code": "decode_failed", …}``.
        """
        try:
            answer: dict[str, Any] = await self.call(
                worker.prepare_photo,
                str(self.store.original_path(sha256)),
                str(self.store.display_path(sha256)),
                self.settings.max_upload_bytes,
                self.settings.max_pixels,
            )
        except WorkerCrashed:
            return {
                "ok": False,
                "code": "decode_failed",
                "message": "decoding the photo stopped the worker process; the file is corrupt",
            }
        except JobTimedOut as exc:
            return {
                "ok": False,
                "code": "decode_failed",
                "message": f"decoding the photo took longer than the time limit of "
                f"{exc.limit_s:g} s; the file cannot be used",
            }
        return answer

    def launch(self, visit_id: str, sha256: str) -> asyncio.Task[None]:
        """Start assessing a pending visit in the background; returns its task."""
        task = asyncio.get_running_loop().create_task(self._assess(visit_id, sha256))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def wait(task: asyncio.Task[None], timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for ``task`` (never cancelling it); True if it finished."""
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        return bool(done)

    async def _db(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        def run() -> Any:
            with self.sessions() as session:
                return fn(session, *args)

        return await asyncio.to_thread(run)

    async def _assess(self, visit_id: str, sha256: str) -> None:
        attempt = await self._db(crud.mark_running, visit_id)
        if attempt is None:
            return
        first = attempt == 1
        start = time.perf_counter()
        try:
            answer = await self.call(
                worker.assess_photo,
                str(self.store.original_path(sha256)),
                str(self.store.maps_dir(visit_id)),
                self.settings.max_upload_bytes,
                self.settings.max_pixels,
                fault_crash=first and self.settings.fault_crash_sha256 == sha256,
                fault_hang=first and self.settings.fault_hang_sha256 == sha256,
            )
        except JobTimedOut as exc:
            outcome = "timeout"
            log.warning("assessment of visit %s ran past %g s", visit_id, exc.limit_s)
            await self._db(
                partial(crud.fail_visit, retryable=True),
                visit_id,
                attempt,
                "assessment_timeout",
                f"the assessment ran past its time limit of {exc.limit_s:g} s "
                "(SKINSCAN_ASSESSMENT_TIMEOUT_S) and its worker process was stopped; "
                "retry the visit",
            )
        except WorkerCrashed:
            outcome = "crashed"
            await self._db(
                partial(crud.fail_visit, retryable=True),
                visit_id,
                attempt,
                "worker_crashed",
                "the worker process stopped during the assessment; retry the visit",
            )
        except Exception as exc:
            log.exception("assessment of visit %s failed", visit_id)
            outcome = "error"
            await self._db(
                partial(crud.fail_visit, retryable=True),
                visit_id,
                attempt,
                "assessment_error",
                f"the assessment raised {type(exc).__name__}; retry the visit",
            )
        else:
            if answer["ok"]:
                record = answer["record"]
                outcome = "done" if record["quality"]["ok"] else "rejected"
                await self._db(crud.finish_visit, visit_id, attempt, record)
            else:
                outcome = "input_error"
                await self._db(
                    partial(crud.fail_visit, retryable=False),
                    visit_id,
                    attempt,
                    answer["code"],
                    answer["message"],
                )
        self.metrics.assessments.labels(outcome).inc()
        self.metrics.assessment_seconds.observe(time.perf_counter() - start)
        if self.webhook is not None:
            visit = await self._db(Session.get, Visit, visit_id)
            if visit is not None:
                await self.webhook.notify(_notice(visit))

    async def aclose(self, grace_s: float) -> None:
        """Give running assessments ``grace_s`` seconds, cancel the rest, stop the workers.

        The worker processes of the cancelled assessments are killed; their visits stay
        ``running`` until the next start recovers them as ``interrupted``.
        """
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await asyncio.to_thread(self.pool.close)


def _notice(visit: Visit) -> dict[str, Any]:
    record = visit.assessment
    return {
        "event": "visit.assessed" if visit.status == "done" else "visit.failed",
        "visit_id": visit.id,
        "patient_id": visit.patient_id,
        "clinic_id": visit.clinic_id,
        "status": visit.status,
        "taken_at": visit.taken_at.isoformat(),
        "quality_ok": None if record is None else bool(record["quality"]["ok"]),
        "severities": severities_of(record),
        "error": None
        if visit.error_code is None
        else {"code": visit.error_code, "message": visit.error_message},
    }
