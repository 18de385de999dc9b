"""Alembic environment: runs against the connection handed over by ``skinscan.serve.db``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from skinscan.serve.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    """Run the scripts on ``connection`` (batch mode on SQLite, which cannot ALTER much)."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    from skinscan.serve.db import make_engine
    from skinscan.serve.settings import Settings

    # `alembic -x` style use from a checkout: the settings say where the database is.
    engine = make_engine(Settings().effective_database_url)
    with engine.begin() as own_connection:
        run_migrations(own_connection)
else:
    run_migrations(connection)
