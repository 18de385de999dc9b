"""What one app holds: settings, database, photo store, metrics, the assessment runner, the
ledger of audited reads and the cache of their bodies."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from skinscan.serve.bodies import BodyKind, ReadBodies
from skinscan.serve.db import make_engine, make_session_factory
from skinscan.serve.ledger import ReadKind, ReadLedger
from skinscan.serve.metrics import Metrics
from skinscan.serve.runner import AssessmentRunner
from skinscan.serve.settings import Settings
from skinscan.serve.store import PhotoStore
from skinscan.serve.webhook import WebhookNotifier

if TYPE_CHECKING:
    from skinscan.longitudinal.repeatability import RepeatabilityTable

__all__ = ["Services", "build_services"]


class _TableSource:
    """The MDC95 table of the progress view, loaded once: the configured file, else shipped."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._table: RepeatabilityTable | None = None
        self._lock = threading.Lock()

    def __call__(self) -> RepeatabilityTable:
        with self._lock:
            if self._table is None:
                from skinscan.longitudinal.repeatability import RepeatabilityTable, default_table

                self._table = (
                    default_table() if self.path is None else RepeatabilityTable.load(self.path)
                )
            return self._table


@dataclass
class Services:
    """The long-lived parts of one app, built once by :func:`build_services`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: PhotoStore
    metrics: Metrics
    runner: AssessmentRunner
    ledger: ReadLedger
    bodies: ReadBodies

    def repeatability_table(self) -> RepeatabilityTable:
        """The MDC95 table of the progress view: the configured file, else the shipped one."""
        return self.bodies.table()

    async def score_read(
        self, body: BodyKind, key: str | None, target_id: str, route: str
    ) -> bytes:
        """The JSON answer of a score read, once the read is authorised and audited.

        Parameters
        ----------
        body : {"visit", "patient", "progress"}
            ``GET /visits/{id}``, ``GET /patients/{id}`` or ``GET /patients/{id}/progress``.
        key : str or None
            The caller's full key, as sent.
        target_id : str
            The visit's or the patient's id.
        route : str
            ``METHOD /route/{template}`` for the audit log.

        Raises
        ------
        skinscan.serve.ledger.Unauthorised
            No valid key.
        skinscan.serve.ledger.NotFound
            No such visit or patient in the key's clinic.
        """
        kind: ReadKind = "visit" if body == "visit" else "patient"
        grant = await self.ledger.read(kind, key, target_id, route)
        return await self.bodies.body(body, grant)


def build_services(settings: Settings) -> Services:
    """Build the parts of an app from its settings (no database I/O yet)."""
    engine = make_engine(settings.effective_database_url)
    sessions = make_session_factory(engine)
    store = PhotoStore(settings.data_dir)
    metrics = Metrics()
    webhook = (
        None
        if settings.webhook_url is None
        else WebhookNotifier(
            settings.webhook_url,
            secret=settings.webhook_secret,
            timeout_s=settings.webhook_timeout_s,
        )
    )
    runner = AssessmentRunner(settings, sessions, store, metrics, webhook)
    # SQLite has one writer at a time; PostgreSQL commits concurrent transactions together.
    writers = 1 if engine.dialect.name == "sqlite" else 2
    ledger = ReadLedger(
        engine,
        durable=settings.read_audit_durable,
        writers=writers,
        on_batch=metrics.observe_audit_batch,
    )
    bodies = ReadBodies(sessions, store, _TableSource(settings.repeatability_table))
    return Services(settings, engine, sessions, store, metrics, runner, ledger, bodies)
