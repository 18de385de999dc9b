"""README's first command: ``skinscan serve --demo`` prints a key and loads a demo patient."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_demo_prints_a_key_and_loads_three_visits(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "SKINSCAN_DATA_DIR": str(tmp_path / "data")}
    env.pop("SKINSCAN_DATABASE_URL", None)
    command = [sys.executable, "-m", "skinscan.cli", "serve", "--demo", "--port", str(port)]
    command += ["--log-level", "warning"]
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert child.stdout is not None
    reader = threading.Thread(
        target=lambda: [lines.put(line) for line in child.stdout],  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        patient = None
        while patient is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or child.poll() is not None:
                pytest.fail("no demo patient was loaded:\n" + "".join(seen))
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("demo patient loaded:"):
                patient = line.split()[3]
        key = next(line.strip() for line in seen if line.startswith("sks_"))
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        progress = httpx.get(f"{base}/api/v1/patients/{patient}/progress", headers=headers)
        assert progress.status_code == 200, progress.text
        redness = progress.json()["concerns"]["redness"]["series"]
        severities = [point["severity"] for point in redness]
        assert len(severities) == 3
        # Painted erythema 3 → 2 → 0: the demo treatment works.
        assert severities[0] > severities[1] > severities[2], severities
        assert httpx.get(f"{base}/").status_code == 200
        assert httpx.get(f"{base}/api/v1/patients/{patient}").status_code == 401
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
