"""Engine, sessions and migrations: SQLite (WAL, foreign keys on) or PostgreSQL, same code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["MIGRATIONS_DIR", "make_engine", "make_session_factory", "migrate"]

#: Alembic scripts shipped inside the package.
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL journaling, foreign keys and a busy timeout.

    Parameters
    ----------
    url : str
        ``sqlite:///file.db`` or ``postgresql+psycopg://…``.

    Returns
    -------
    sqlalchemy.Engine

    Notes
    -----
    SQLite enforces foreign keys only when asked, per connection, so the pragmas are set on
    every new connection. WAL lets readers proceed while the assessment writer commits.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are turned into schemas)."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` with the shipped Alembic scripts.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database to upgrade.
    revision : str
        Target revision; ``"head"`` is the latest.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
