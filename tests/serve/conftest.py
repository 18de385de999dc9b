"""One running service per database backend (SQLite file, PostgreSQL), shared by the serve tests.

PostgreSQL: a fresh database ``skinscan_test_<random>`` on 127.0.0.1:5432 (user ``postgres``,
trust auth) is created for the session and dropped at its end; when the server cannot be
reached, the PostgreSQL cases are skipped with the reason.

The app runs its real worker pool (one process). Its test-only fault injection
(``fault_crash_sha256``) makes the worker process exit abruptly on the first attempt at one
particular photo — that is how the crash tests break a worker without mocking skinscan. A third
app (``hanging``) has a short time limit per assessment and makes the worker hang on the first
attempt at another photo (``fault_hang_sha256``).
"""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_support import WEBHOOK_SECRET, Photos, Served, jpeg, png, sha256

from skinscan.serve import Settings, create_app

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


@pytest.fixture(scope="session")
def photos() -> Photos:
    from skinscan.validation import sample_faces

    face = sample_faces()["astronaut"]
    return Photos(
        face=jpeg(face, 95),
        face_later=jpeg(face, 90),
        crash=jpeg(np.ascontiguousarray(face[:, ::-1]), 95),
        hang=jpeg(face, 80),
        blurred=png(cv2.GaussianBlur(face, (0, 0), 12)),
        recovered=jpeg(face, 85),
    )


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases (URLs) for this session; drops them all at its end."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable ({exc}); SQLite cases still run")
    made: list[str] = []

    def new_database() -> str:
        name = f"skinscan_test_{secrets.token_hex(4)}"
        admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    with admin:
        try:
            yield new_database
        finally:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """None (the SQLite file in the data folder) or a fresh PostgreSQL database."""
    if backend == "sqlite":
        return None
    new_database: Callable[[], str] = request.getfixturevalue("postgres_databases")
    return new_database()


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"body": body, "signature": self.headers.get("X-Skinscan-Signature")})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def webhook_inbox() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on localhost that keeps what is POSTed to it."""
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


@contextmanager
def _app(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    webhook: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> Iterator[Served]:
    """A running app on the fixture's backend (``request.param``) with its own data folder;
    ``webhook`` is the list the webhook receiver fills (kept as the same object)."""
    backend = request.param
    config = Settings(
        data_dir=tmp_path_factory.mktemp(f"{name}-{backend}"),
        database_url=database_url(request, backend),
        environment="test",
        **settings,
    )
    app = create_app(config)
    received = [] if webhook is None else webhook
    with TestClient(app) as client:
        yield Served(client, config, app.state.services, backend, received)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    photos: Photos,
    webhook_inbox: tuple[str, list[dict[str, Any]]],
) -> Iterator[Served]:
    hook_url, received = webhook_inbox
    with _app(
        request,
        tmp_path_factory,
        "serve",
        received,
        workers=1,
        sync_wait_s=120.0,
        webhook_url=hook_url,
        webhook_secret=WEBHOOK_SECRET,
        fault_crash_sha256=sha256(photos.crash),
    ) as served:
        yield served


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def limited(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A second app with small limits: 700 kB uploads, 1 megapixel; workers start on demand."""
    with _app(
        request,
        tmp_path_factory,
        "limited",
        workers=1,
        prestart_workers=False,
        max_upload_bytes=700_000,
        max_pixels=1_000_000,
    ) as served:
        yield served


#: Time limit of one assessment in the ``hanging`` app: a few times a warm worker's assessment
#: of the sample face on a busy two-core machine.
HANG_LIMIT_S = 8.0


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hanging(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, photos: Photos
) -> Iterator[Served]:
    """An app whose worker hangs on the first attempt at ``photos.hang``; two workers.

    Uploads wait longer than the time limit, so that an upload of that photo answers once the
    limit has stopped its assessment.
    """
    with _app(
        request,
        tmp_path_factory,
        "hanging",
        workers=2,
        sync_wait_s=HANG_LIMIT_S + 60.0,
        assessment_timeout_s=HANG_LIMIT_S,
        fault_hang_sha256=sha256(photos.hang),
    ) as served:
        yield served
