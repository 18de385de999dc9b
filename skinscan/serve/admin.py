"""Administration from the command line: open the configured database, manage keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from skinscan.serve.db import make_engine, make_session_factory, migrate
from skinscan.serve.settings import Settings

__all__ = ["database_session", "migrate_database"]


def migrate_database(settings: Settings) -> str:
    """Bring the configured database to the latest schema; returns its URL without password."""
    from sqlalchemy.engine import make_url

    engine = make_engine(settings.effective_database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


@contextmanager
def database_session(settings: Settings) -> Iterator[Session]:
    """A session on the configured database (migrated first), committed on success."""
    engine = make_engine(settings.effective_database_url)
    try:
        migrate(engine)
        with make_session_factory(engine)() as session:
            yield session
            session.commit()
    finally:
        engine.dispose()
