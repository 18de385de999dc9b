"""What one app holds: settings, database, photo store, metrics and the assessment runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from skinscan.serve.db import make_engine, make_session_factory
from skinscan.serve.metrics import Metrics
from skinscan.serve.runner import AssessmentRunner
from skinscan.serve.settings import Settings
from skinscan.serve.store import PhotoStore
from skinscan.serve.webhook import WebhookNotifier

if TYPE_CHECKING:
    from skinscan.longitudinal.repeatability import RepeatabilityTable

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    """The long-lived parts of one app, built once by :func:`build_services`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: PhotoStore
    metrics: Metrics
    runner: AssessmentRunner
    _table: RepeatabilityTable | None = field(default=None, repr=False)

    def repeatability_table(self) -> RepeatabilityTable:
        """The MDC95 table of the progress view: the configured file, else the shipped one."""
        if self._table is None:
            from skinscan.longitudinal.repeatability import RepeatabilityTable, default_table

            path = self.settings.repeatability_table
            self._table = default_table() if path is None else RepeatabilityTable.load(path)
        return self._table


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
    return Services(settings, engine, sessions, store, metrics, runner)
