"""``skinscan serve``'s processes: one or several HTTP servers on one database, started safely.

Several server processes must not each run the start-up recovery (it would fail the visits a
sibling is assessing), so the supervisor runs it once; a server process that dies stops the
whole service, so that its restart recovers what that process was doing.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from skinscan.serve import Settings, create_app
from skinscan.serve.admin import database_session
from skinscan.serve.keys import authenticate, create_key
from skinscan.serve.models import Patient, Photo, Visit, utcnow
from skinscan.serve.process import run_service, server_app, server_protocols


def _settings(folder: Path) -> Settings:
    return Settings(data_dir=folder, environment="test", workers=1, prestart_workers=False)


def _leftover_visit(settings: Settings) -> tuple[str, str]:
    """A key and a visit a stopped service left ``running`` (as after a kill)."""
    with database_session(settings) as session:
        _, key = create_key(session, "clinic", "clinician")
    with database_session(settings) as session:
        auth = authenticate(session, key)
        assert auth is not None
        patient = Patient(clinic_id=auth.clinic_id, external_id="p")
        session.add(patient)
        session.add(Photo(sha256="ab" * 32, format="JPEG", width=1, height=1, size_bytes=1))
        session.flush()
        visit = Visit(
            clinic_id=auth.clinic_id,
            patient_id=patient.id,
            photo_sha256="ab" * 32,
            taken_at=utcnow(),
            status="running",
            attempts=1,
        )
        session.add(visit)
        session.flush()
        return key, visit.id


def _status(client: TestClient | httpx.Client, key: str, visit_id: str) -> str:
    response = client.get(f"/api/v1/visits/{visit_id}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def test_a_prepared_app_leaves_the_start_up_recovery_to_its_supervisor(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    key, visit_id = _leftover_visit(settings)
    with TestClient(create_app(settings, prepared=True)) as client:
        assert _status(client, key, visit_id) == "running"
    with TestClient(create_app(settings)) as client:
        assert _status(client, key, visit_id) == "failed"


def test_a_server_process_freezes_what_its_start_loaded(tmp_path: Path) -> None:
    assert gc.get_freeze_count() == 0
    with TestClient(server_app(_settings(tmp_path))) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_run_service_refuses_no_server_process(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        run_service(_settings(tmp_path), workers=0)
    assert server_protocols() == {"http": "httptools", "loop": "uvloop"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str, str]]:
    """``skinscan serve --workers 2`` on a SQLite database holding a leftover visit."""
    settings = _settings(tmp_path)
    key, visit_id = _leftover_visit(settings)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKINSCAN_")}
    env.update(
        SKINSCAN_DATA_DIR=str(tmp_path),
        SKINSCAN_ENVIRONMENT="test",
        SKINSCAN_WORKERS="1",
        SKINSCAN_PRESTART_WORKERS="false",
    )
    command = [sys.executable, "-m", "skinscan.cli", "serve", "--port", str(port)]
    command += ["--workers", "2", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, "the service exited at start"
            try:
                if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("the service did not start")
        yield process, base_url, key, visit_id
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _servers(parent: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The HTTP server processes (multiprocessing children), not the resource tracker."""
    children = psutil.Process(parent.pid).children()
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


def test_several_server_processes_recover_once_and_stop_together(
    two_servers: tuple[subprocess.Popen[bytes], str, str, str],
) -> None:
    process, base_url, key, visit_id = two_servers
    servers = _servers(process)
    assert len(servers) == 2
    with httpx.Client(base_url=base_url, timeout=30) as client:
        # The supervisor recovered the visit the last run left running, before serving.
        assert _status(client, key, visit_id) == "failed"
        for _ in range(20):  # both processes answer, from one database
            assert _status(client, key, visit_id) == "failed"
    # A rolling restart is refused: the same processes keep serving.
    process.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    assert {s.pid for s in _servers(process)} == {s.pid for s in servers}
    # One server process dies: the supervisor stops the other and exits with status 1, so
    # that the process manager restarts the whole service (and its recovery runs).
    servers[0].kill()
    assert process.wait(timeout=60) == 1
    assert not servers[1].is_running() or servers[1].status() == psutil.STATUS_ZOMBIE
