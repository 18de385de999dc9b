"""Running the service: uvicorn with httptools and uvloop, one server process or several.

``skinscan serve`` calls :func:`run_service`. One server process (the default) runs the app as
:func:`skinscan.serve.create_app` builds it: its start migrates the database, recovers the
visits a previous run left pending or running, and sweeps partial files.

Several server processes (``skinscan serve --workers N``, ``SKINSCAN_SERVER_WORKERS``) share one
listening socket and one database. Those start-up steps must then run once, before any process
serves: a process that marked "interrupted" visits failed, or swept the upload folder, while a
sibling is assessing or receiving one would break the sibling's work. So the supervising process
runs them first and starts the server processes with ``create_app(settings, prepared=True)``.
For the same reason a server process that dies is not replaced on its own: its uploads and
assessments would stay ``pending`` or ``running`` with nobody to recover them. The supervisor
stops the other processes (gracefully) and returns status 1, so that the process manager
(systemd, compose) restarts the whole service and that start recovers them. A rolling restart
(SIGHUP) and dropping a process (SIGTTOU) are refused for the same reason.

Each server process has its own assessment worker pool (``SKINSCAN_WORKERS`` each), caches and
Prometheus registry (``/metrics`` shows the process that answered).
"""

from __future__ import annotations

import gc
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from skinscan.serve.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "STARTUP_FAILURE",
    "prepare_service",
    "run_service",
    "server_app",
    "server_protocols",
]

log = logging.getLogger("skinscan.serve.process")

#: Exit status of a service that could not start (uvicorn's own).
STARTUP_FAILURE = 3


def server_protocols() -> dict[str, str]:
    """uvicorn's HTTP parser and event loop: the C ones (httptools, uvloop) when installed.

    uvicorn's pure-Python ``h11`` parser and the standard asyncio loop cost several times
    more CPU per request; ``uvicorn[standard]`` installs the C ones.
    """
    return {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }


def prepare_service(settings: Settings) -> None:
    """Migrate the database, recover interrupted visits, sweep partial files, check the table.

    What a single server process does at its start (:func:`skinscan.serve.app.start_services`),
    done once by the process that supervises several.
    """
    from skinscan.serve.app import start_services
    from skinscan.serve.services import build_services

    services = build_services(settings)
    try:
        start_services(services)
    finally:
        services.engine.dispose()


def server_app(settings: Settings, *, prepared: bool = False) -> FastAPI:
    """The app of a server process: :func:`~skinscan.serve.create_app`, and once it has
    started, everything it loaded is exempted from the garbage collector's full passes.

    Notes
    -----
    A started service holds some 160,000 objects that live as long as the process (modules,
    routes, schemas, the ORM's and the progress view's code). CPython's oldest-generation
    collection walks all of them whenever enough new objects have survived — about 0.1 s on a
    small machine, during which no request is answered: the p99 latency of a busy service is
    that pause. :func:`gc.freeze` moves the objects alive at the end of the start into a
    permanent generation that collections skip; objects made later are collected as usual.
    """
    from skinscan.serve.app import create_app

    app = create_app(settings, prepared=prepared)
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with started(app):
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                gc.unfreeze()

    app.router.lifespan_context = lifespan
    return app


def run_service(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    log_level: str = "info",
    access_log: bool = False,
) -> int:
    """Serve the app until interrupted; returns the exit status.

    Parameters
    ----------
    settings : Settings
        The service's settings.
    host, port : str, int
        Where to listen.
    workers : int, optional
        HTTP server processes; default ``settings.server_workers``.
    log_level : str
        uvicorn's log level.
    access_log : bool
        Log every request (one line each; off by default: the audit log records every read
        and write of patient data, and an access line costs every request).

    Returns
    -------
    int
        0 after a normal stop; 1 when a server process died (the others were stopped);
        :data:`STARTUP_FAILURE` when the service could not start.
    """
    count = settings.server_workers if workers is None else workers
    if count < 1:
        raise ValueError(f"workers must be at least 1, not {count}")
    config = uvicorn.Config(
        partial(server_app, settings, prepared=count > 1),
        factory=True,
        host=host,
        port=port,
        workers=count,
        lifespan="on",
        log_level=log_level,
        access_log=access_log,
        **server_protocols(),  # type: ignore[arg-type]
    )
    if count == 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    prepare_service(settings)
    supervisor = _Supervisor(config, sockets=[config.bind_socket()])
    supervisor.run()
    return 1 if supervisor.lost is not None else 0


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, except that one dead server process stops the service."""

    lost: int | None = None

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for process in self.processes:
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # dead, or hung past the health check
            process.join()
            self.processes.remove(process)
            self.lost = process.pid
            log.error(
                "server process %s stopped (exit status %s); stopping the service so that its "
                "restart recovers the visits that process was receiving or assessing",
                process.pid,
                process.exitcode,
            )
            self.should_exit.set()
            return

    def handle_hup(self) -> None:
        log.warning(
            "SIGHUP ignored: a rolling restart would leave the stopped processes' visits "
            "unrecovered; restart the whole service instead"
        )

    def handle_ttin(self) -> None:
        log.warning("SIGTTIN ignored: the number of server processes is fixed")

    def handle_ttou(self) -> None:
        log.warning("SIGTTOU ignored: the number of server processes is fixed")
