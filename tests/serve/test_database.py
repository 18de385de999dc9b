"""Migrations match the models on both backends; settings refuse unsafe values."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from serve_support import Served
from sqlalchemy import text

from skinscan.serve.db import migrate
from skinscan.serve.models import Base
from skinscan.serve.settings import Settings


def test_migrations_create_exactly_the_models(served: Served) -> None:
    engine = served.services.engine
    migrate(engine)  # a second upgrade is a no-op
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(served: Served) -> None:
    if served.backend != "sqlite":
        pytest.skip("SQLite pragmas")
    with served.services.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_settings_refuse_unsafe_values(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="only allowed with environment=test"):
        Settings(data_dir=tmp_path, fault_crash_sha256="0" * 64)
    with pytest.raises(ValidationError, match="FAULT_HANG_SHA256 is only allowed"):
        Settings(data_dir=tmp_path, environment="development", fault_hang_sha256="0" * 64)
    Settings(data_dir=tmp_path, environment="test", fault_hang_sha256="0" * 64)
    for limit_s in (0.0, -1.0):
        with pytest.raises(ValidationError, match="assessment_timeout_s"):
            Settings(data_dir=tmp_path, assessment_timeout_s=limit_s)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(data_dir=tmp_path, webhook_url="http://x", webhook_secret="changethis")
    Settings(data_dir=tmp_path, environment="development", webhook_secret="changethis")
    default = Settings(data_dir=tmp_path)
    assert default.effective_database_url == f"sqlite:///{(tmp_path / 'skinscan.db').resolve()}"
    assert default.max_upload_bytes == 64 * 1024 * 1024
    assert default.assessment_timeout_s == 300.0


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SKINSCAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SKINSCAN_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("SKINSCAN_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("SKINSCAN_ASSESSMENT_TIMEOUT_S", "42.5")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.effective_database_url == "postgresql+psycopg://u@h/db"
    assert settings.max_upload_bytes == 1000
    assert settings.assessment_timeout_s == 42.5
