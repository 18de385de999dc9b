"""The benchmark's photos and the service it runs in a child process."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BenchPhoto", "ServiceProcess", "bench_photos"]


@dataclass(frozen=True)
class BenchPhoto:
    """A small upload body and whether the quality gate is expected to pass it."""

    name: str
    data: bytes
    sharp: bool

    @property
    def sha256(self) -> str:
        """SHA-256 of the bytes (the visit's ``photo_sha256``)."""
        return hashlib.sha256(self.data).hexdigest()


def bench_photos(sharp: int = 3, blurred: int = 2, *, size: int = 512) -> list[BenchPhoto]:
    """Distinct small JPEGs of a real face: ``sharp`` that pass the quality gate, ``blurred`` not.

    Each photo is scikit-image's astronaut (:func:`skinscan.validation.sample_faces`) reduced
    to ``size`` pixels, with its own seeded sensor noise so that every photo has other bytes.
    A 512-pixel face is assessed in well under a second; a blurred one is rejected sooner.
    """
    import cv2
    import numpy as np

    from skinscan.validation import sample_faces

    face = cv2.resize(sample_faces()["astronaut"], (size, size), interpolation=cv2.INTER_AREA)
    photos: list[BenchPhoto] = []
    for index in range(sharp + blurred):
        rng = np.random.default_rng(1000 + index)
        base = np.asarray(
            cv2.GaussianBlur(face, (0, 0), 6.0) if index >= sharp else face, np.float32
        )
        noisy = base + rng.normal(0.0, 2.0, base.shape).astype(np.float32)
        rgb = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        kind = "sharp" if index < sharp else "blurred"
        photos.append(BenchPhoto(f"{kind}-{index}.jpg", encoded.tobytes(), index < sharp))
    return photos


# -- the service in a child process ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServiceProcess:
    """``skinscan serve`` on ``127.0.0.1`` in a child process (exactly what an operator runs).

    Parameters
    ----------
    data_dir : Path
        ``SKINSCAN_DATA_DIR`` of the service.
    database_url : str, optional
        ``SKINSCAN_DATABASE_URL``; default: the SQLite file in ``data_dir``.
    server_workers : int
        HTTP server processes (``skinscan serve --workers``).
    assess_workers : int
        Assessment worker processes of each ``uvicorn`` worker (``SKINSCAN_WORKERS``).
    sync_wait_s : float
        ``SKINSCAN_SYNC_WAIT_S``: how long an upload waits before answering 202.
    read_audit_durable : bool
        ``SKINSCAN_READ_AUDIT_DURABLE`` (default True, the service's default).
    """

    data_dir: Path
    database_url: str | None = None
    server_workers: int = 1
    assess_workers: int = 2
    sync_wait_s: float = 5.0
    read_audit_durable: bool = True
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """This process's environment without ``SKINSCAN_*``, plus the service's settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKINSCAN_")}
        env.update(
            SKINSCAN_DATA_DIR=str(self.data_dir),
            SKINSCAN_WORKERS=str(self.assess_workers),
            SKINSCAN_SYNC_WAIT_S=str(self.sync_wait_s),
            SKINSCAN_ENVIRONMENT="production",
        )
        if self.database_url:
            env["SKINSCAN_DATABASE_URL"] = self.database_url
        env["SKINSCAN_READ_AUDIT_DURABLE"] = "true" if self.read_audit_durable else "false"
        return env

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the service and wait until ``/healthz`` answers 200."""
        import httpx

        command = [
            sys.executable,
            "-m",
            "skinscan.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.server_workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.process = subprocess.Popen(command, env=self.environment(), start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the service exited at start (status {self.process.returncode})"
                )
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service did not answer /healthz within {timeout_s:.0f} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the service so far: its process and every descendant."""
        import psutil

        if self.process is None:
            return 0.0
        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def http_cpu_seconds(self) -> float:
        """CPU time of the HTTP server process(es) only, not of the assessment workers.

        One server process: the command's own process serves. Several: its children do (it
        only supervises them).
        """
        import psutil

        if self.process is None:
            return 0.0
        try:
            root = psutil.Process(self.process.pid)
            servers = [root] if self.server_workers == 1 else root.children(recursive=False)
        except psutil.Error:
            return 0.0
        total = 0.0
        for process in servers:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the service (SIGINT, as Ctrl-C; SIGKILL to its process group after the wait)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> ServiceProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
