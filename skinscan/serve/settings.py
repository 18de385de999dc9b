"""Service settings, read from ``SKINSCAN_*`` environment variables by the CLI and the service.

The library never reads the environment: :func:`skinscan.serve.create_app` takes a
:class:`Settings` object, and only ``skinscan serve`` / ``skinscan keys`` build one from the
environment (``Settings()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["INSECURE_SECRETS", "Settings"]

#: Secrets that are refused outside development (placeholders copied from examples).
INSECURE_SECRETS = frozenset({"", "changethis", "change-me", "secret"})

MiB = 1024 * 1024


class Settings(BaseSettings):
    """What ``skinscan serve`` needs to run; every field maps to ``SKINSCAN_<FIELD>``.

    Parameters
    ----------
    data_dir : Path
        Photos, display copies, maps and the default SQLite file live here.
    database_url : str, optional
        ``sqlite:///path.db`` or ``postgresql+psycopg://user:pass@host/db``; default: the
        SQLite file ``<data_dir>/skinscan.db``.
    environment : {"development", "test", "production"}
        ``production`` refuses insecure secrets; ``test`` alone allows the fault-injection
        settings.
    max_upload_bytes : int
        Largest photo upload, in bytes (default 64 MiB); larger answers 413.
    max_pixels : int
        Largest width × height of an uploaded photo (default 100 megapixels); larger answers
        422 ``too_many_pixels``.
    workers : int
        Assessment worker processes.
    prestart_workers : bool
        Start (and warm up) the worker processes when the service starts, rather than at the
        first upload.
    sync_wait_s : float
        How long an upload waits for its assessment before answering 202.
    assessment_timeout_s : float
        Time limit of one job in a worker process (an assessment, or the check of an upload),
        counted from the moment a worker starts it (default 300 s). An assessment past it has
        its worker process killed and its visit fails with the retryable code
        ``assessment_timeout``; an upload check past it answers 422 ``decode_failed``.
    shutdown_grace_s : float
        How long shutdown waits for running assessments before leaving them to the restart
        recovery.
    webhook_url : str, optional
        POSTed a JSON notice when an assessment finishes (or fails).
    webhook_secret : str, optional
        Signs webhook bodies (``X-Skinscan-Signature: sha256=<HMAC>``).
    webhook_timeout_s : float
        Timeout of one webhook delivery.
    repeatability_table : Path, optional
        MDC95 table (``skinscan repeatability --out``) for the progress view; default: the
        shipped table.
    read_audit_durable : bool
        Each batch of read audit rows is on disk before its reads are answered (default).
        False relaxes that for the read ledger's own connections only (SQLite
        ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit = off``): the rows are
        committed before the answer, the database stays consistent, but an abrupt stop of the
        machine (SQLite) or database server (PostgreSQL) may lose the last reads' audit rows.
        Writes are always durable. See :class:`skinscan.serve.ledger.ReadLedger`.
    server_workers : int
        HTTP server processes of ``skinscan serve`` (default 1); see
        :func:`skinscan.serve.process.run_service`.
    fault_crash_sha256 : str, optional
        Test-only fault injection: the worker process exits abruptly on the *first* assessment
        attempt of the photo with this SHA-256. Refused unless ``environment`` is ``test``.
    fault_hang_sha256 : str, optional
        Test-only fault injection: the worker process stops making progress (sleeps for a day)
        on the *first* assessment attempt of the photo with this SHA-256, so that the attempt
        runs past ``assessment_timeout_s``. Refused unless ``environment`` is ``test``.
    """

    model_config = SettingsConfigDict(env_prefix="SKINSCAN_", extra="ignore")

    data_dir: Path = Path("skinscan-data")
    database_url: str | None = None
    environment: Literal["development", "test", "production"] = "production"
    max_upload_bytes: int = Field(default=64 * MiB, gt=0)
    max_pixels: int = Field(default=100_000_000, gt=0)
    workers: int = Field(default=2, ge=1, le=64)
    prestart_workers: bool = True
    sync_wait_s: float = Field(default=20.0, ge=0.0)
    assessment_timeout_s: float = Field(default=300.0, gt=0.0)
    shutdown_grace_s: float = Field(default=10.0, ge=0.0)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0.0)
    repeatability_table: Path | None = None
    read_audit_durable: bool = True
    server_workers: int = Field(default=1, ge=1, le=64)
    fault_crash_sha256: str | None = None
    fault_hang_sha256: str | None = None

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        faults = {
            "SKINSCAN_FAULT_CRASH_SHA256": self.fault_crash_sha256,
            "SKINSCAN_FAULT_HANG_SHA256": self.fault_hang_sha256,
        }
        for variable, value in faults.items():
            if value is not None and self.environment != "test":
                raise ValueError(f"{variable} is only allowed with environment=test")
        if (
            self.environment != "development"
            and self.webhook_secret is not None
            and self.webhook_secret.strip().lower() in INSECURE_SECRETS
        ):
            raise ValueError(
                "SKINSCAN_WEBHOOK_SECRET is a placeholder; set a real secret "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                "or run with SKINSCAN_ENVIRONMENT=development"
            )
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'skinscan.db').resolve()}"
