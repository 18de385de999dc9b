"""Audited reads in group commits: concurrent reads authorised and logged in one transaction.

A read of a patient's data is answered only after

1. its key was found, unrevoked, with a matching secret;
2. the patient or visit was found in that key's clinic;
3. an audit row recording the read was committed.

Done one request at a time, step 3 costs a transaction and a commit per read: on SQLite every
commit takes the database's single write lock (concurrent readers queue for it, sleeping in the
busy handler), and on PostgreSQL every commit waits for its WAL flush.

:class:`ReadLedger` does the three steps for all the reads that arrive while the previous batch
is being committed, in one transaction on a connection of one of its threads: one query for the
batch's keys, one for its visits or for its patients and their visits, one multi-row insert of
the audit rows, one commit (the statements: :mod:`skinscan.serve._ledger_sql`). Each request
waits for its own batch's commit, so a read that was answered was audited, exactly as before
("answered ⇒ audited"; a read whose client went away meanwhile may be audited and not
answered). Keys are read in every batch — nothing about a key
is cached — so a revoked key is refused by the first batch that starts after the revocation was
committed, in any process.

A granted read carries the *versions* of what it reads (:func:`visit_version`), read in the same
transaction, so that its body can come from a cache of serialised bodies that cannot be stale
(:mod:`skinscan.serve.bodies`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine

from skinscan.serve._ledger_sql import AuditRow, LedgerSql, PatientRows, VisitRow, VisitVersion
from skinscan.serve.keys import AuthContext, key_parts, secret_matches
from skinscan.serve.models import utcnow

__all__ = [
    "NotFound",
    "ReadGrant",
    "ReadKind",
    "ReadLedger",
    "ReadRefused",
    "Unauthorised",
    "VisitVersion",
    "visit_version",
]

log = logging.getLogger("skinscan.serve.ledger")

#: What is read: one visit, or a patient with all their visits.
ReadKind = Literal["visit", "patient"]


def visit_version(visit: Any) -> VisitVersion:
    """The version of an ORM :class:`~skinscan.serve.models.Visit`: id, status, ``taken_at``,
    ``updated_at``, attempts.

    Every write of a visit (upload, start, finish, failure, retry, recovery) moves its
    ``updated_at``, so two reads with equal versions show the same visit.
    """
    return (visit.id, visit.status, visit.taken_at, visit.updated_at, visit.attempts)


class ReadRefused(Exception):
    """A read that is not allowed; nothing was audited."""


class Unauthorised(ReadRefused):
    """No key, or a malformed, unknown or revoked one, or a wrong secret (401)."""


class NotFound(ReadRefused):
    """No such patient or visit in the key's clinic (404)."""


@dataclass(frozen=True, slots=True)
class ReadGrant:
    """An authorised read whose audit row is committed.

    Attributes
    ----------
    auth : AuthContext
        The caller.
    kind : {"visit", "patient"}
        What was read.
    target_id : str
        The visit's or the patient's id.
    patient_id : str
        Whose data it is.
    versions : tuple of VisitVersion
        The visit's version (one item), or the versions of the patient's visits in time order
        (ties: upload order), as read in the audit's transaction.
    """

    auth: AuthContext
    kind: ReadKind
    target_id: str
    patient_id: str
    versions: tuple[VisitVersion, ...]


@dataclass(frozen=True, slots=True)
class _Read:
    kind: ReadKind
    key_id: str
    secret_sha256: str
    target_id: str
    route: str
    at: datetime
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[ReadGrant]


_Outcome = ReadGrant | BaseException


class ReadLedger:
    """Authorises and audits reads in batches, one transaction and one commit per batch.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The service's database; each of the ledger's threads holds one of its connections.
    durable : bool
        Each batch is on disk before its reads are answered (the database's default). False:
        committed, but written to disk shortly after (SQLite ``synchronous=NORMAL``,
        PostgreSQL ``synchronous_commit = off`` on the ledger's connections only); the
        database stays consistent, but an abrupt stop of the machine (SQLite) or of the
        database server (PostgreSQL) may lose the audit rows of the last reads answered.
    writers : int
        Threads, each committing its own batches on its own connection. One suits SQLite (a
        single writer at a time; a second one would wait in the busy handler). On PostgreSQL
        a second writer builds and commits its batch while the first one waits for its
        commit's WAL flush.
    max_batch : int
        Most reads per transaction.
    on_batch : callable, optional
        Called with the size and the duration (seconds) of every committed batch.

    Notes
    -----
    Batches form by themselves: a thread takes every read queued while it was committing
    its previous batch, so one read alone is committed at once and many concurrent reads share
    a commit. :meth:`close` commits what is queued and stops the threads; a later read starts
    them again.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        durable: bool = True,
        writers: int = 1,
        max_batch: int = 256,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if writers < 1:
            raise ValueError(f"writers must be at least 1, not {writers}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.engine = engine
        self.durable = durable
        self.writers = writers
        self.max_batch = max_batch
        self._on_batch = on_batch
        self._sql = LedgerSql(engine.dialect)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Read | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    async def read(self, kind: ReadKind, key: str | None, target_id: str, route: str) -> ReadGrant:
        """Authorise a read of a visit or a patient and audit it; returns once committed.

        Parameters
        ----------
        kind : {"visit", "patient"}
            What is read.
        key : str or None
            The caller's full key (``sks_<key id>_<secret>``), None if none was sent.
        target_id : str
            The visit's or the patient's id.
        route : str
            ``METHOD /route/{template}``, as the audit log records it.

        Returns
        -------
        ReadGrant

        Raises
        ------
        Unauthorised
            The key is missing, malformed, unknown or revoked, or its secret is wrong.
        NotFound
            No such visit or patient in the key's clinic.
        """
        parts = None if key is None else key_parts(key)
        if parts is None:
            raise Unauthorised()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ReadGrant] = loop.create_future()
        item = _Read(kind, parts[0], parts[1], target_id, route, utcnow(), loop, future)
        with self._lock:
            if not self._threads:
                self._threads = [
                    threading.Thread(
                        target=self._serve,
                        args=(self._queue,),
                        name=f"skinscan-ledger-{index}",
                        daemon=True,
                    )
                    for index in range(self.writers)
                ]
                for thread in self._threads:
                    thread.start()
            self._queue.put(item)
        return await future

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit the reads already queued, stop the threads and give their connections back."""
        with self._lock:
            threads, self._threads = self._threads, []
            stopped, self._queue = self._queue, queue.SimpleQueue()
        if threads:
            stopped.put(None)  # each thread passes the stop mark on to the next one
        for thread in threads:
            thread.join(timeout_s)

    # -- the ledger's threads ---------------------------------------------------------------

    def _serve(self, reads: queue.SimpleQueue[_Read | None]) -> None:
        connection: Any = None
        try:
            while True:
                batch = self._next_batch(reads)
                if batch is None:
                    break
                outcomes, connection = self._outcomes(batch, connection)
                self._settle(batch, outcomes)
        finally:
            _close(connection)
            with self._lock:
                if self._queue is reads:  # stopped by an error, not by close(): start anew
                    self._threads = []
                    self._queue = queue.SimpleQueue()
            # Never leave a request waiting on a thread that is gone.
            self._fail_waiting(reads)

    def _next_batch(self, reads: queue.SimpleQueue[_Read | None]) -> list[_Read] | None:
        """The reads queued now (waiting for one); None at the stop mark (passed on)."""
        first = reads.get()
        if first is None:
            reads.put(None)
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                item = reads.get_nowait()
            except queue.Empty:
                break
            if item is None:
                reads.put(None)  # commit this batch, stop at the next call
                break
            batch.append(item)
        return batch

    def _outcomes(self, batch: list[_Read], connection: Any) -> tuple[list[_Outcome], Any]:
        """The batch's outcomes, and the connection to use next (None after a failure)."""
        start = time.perf_counter()
        try:
            if connection is None:
                connection = self._connect()
            outcomes = self._commit(batch, connection)
        except Exception as exc:
            log.exception("a batch of %d audited reads failed", len(batch))
            _close(connection)
            failures: list[_Outcome] = []
            for _ in batch:
                failure = RuntimeError(f"the audited read failed: {exc!r}")
                failure.__cause__ = exc
                failures.append(failure)
            return failures, None
        if self._on_batch is not None:
            try:
                self._on_batch(len(batch), time.perf_counter() - start)
            except Exception:
                log.exception("the read ledger's batch callback failed")
        return outcomes, connection

    def _connect(self) -> Any:
        connection = self.engine.raw_connection()
        # Out of the pool for good: held for the thread's life, and (when not durable) set
        # up differently from the pool's connections, so it must never serve a session.
        connection.detach()
        if not self.durable:
            cursor = connection.cursor()
            try:
                self._sql.relax_durability(cursor)
                connection.commit()
            finally:
                cursor.close()
        return connection

    def _fail_waiting(self, reads: queue.SimpleQueue[_Read | None]) -> None:
        left: list[_Read] = []
        while True:
            try:
                item = reads.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                left.append(item)
        reads.put(None)  # for the other threads of this queue, if any
        if left:
            self._settle(left, [RuntimeError("the read ledger stopped") for _ in left])

    @staticmethod
    def _settle(batch: list[_Read], outcomes: list[_Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Read, _Outcome]]] = {}
        for item, outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(item.loop, []).append((item, outcome))
        for loop, settled in by_loop.items():
            # The loop may have closed meanwhile (its requests are gone with it).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, settled)

    def _commit(self, batch: list[_Read], connection: Any) -> list[_Outcome]:
        sql = self._sql
        cursor = connection.cursor()
        try:
            keys = sql.keys(cursor, sorted({item.key_id for item in batch}))
            auths = [_auth(keys.get(item.key_id), item) for item in batch]
            wanted = [item for item, auth in zip(batch, auths, strict=True) if auth is not None]
            visit_ids = sorted({item.target_id for item in wanted if item.kind == "visit"})
            patient_ids = sorted({item.target_id for item in wanted if item.kind == "patient"})
            visits = sql.visits(cursor, visit_ids) if visit_ids else {}
            patients = sql.patients(cursor, patient_ids) if patient_ids else {}
            outcomes: list[_Outcome] = []
            rows: list[AuditRow] = []
            for item, auth in zip(batch, auths, strict=True):
                grant = _grant(item, auth, visits, patients)
                outcomes.append(grant)
                if isinstance(grant, ReadGrant):
                    visit_id = grant.target_id if grant.kind == "visit" else None
                    rows.append(
                        (
                            item.at,
                            grant.auth.clinic_id,
                            grant.auth.key_id,
                            item.route,
                            grant.patient_id,
                            visit_id,
                        )
                    )
            if rows:
                sql.audit(cursor, rows)
            connection.commit()
        finally:
            cursor.close()
        return outcomes


def _close(connection: Any) -> None:
    """Close a ledger connection (rolled back first), ignoring errors."""
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.rollback()
        with contextlib.suppress(Exception):
            connection.close()


def _auth(key: tuple[str, str, str] | None, item: _Read) -> AuthContext | None:
    """The caller if the key row exists (unrevoked) and the presented secret matches."""
    if key is None or not secret_matches(key[2], item.secret_sha256):
        return None
    return AuthContext(key_id=item.key_id, clinic_id=key[0], role=key[1])


def _grant(
    item: _Read,
    auth: AuthContext | None,
    visits: dict[str, VisitRow],
    patients: PatientRows,
) -> _Outcome:
    if auth is None:
        return Unauthorised()
    if item.kind == "visit":
        visit = visits.get(item.target_id)
        if visit is None or visit[0] != auth.clinic_id:
            return NotFound()
        return ReadGrant(auth, "visit", item.target_id, visit[1], (visit[2],))
    patient = patients.get(item.target_id)
    if patient is None or patient[0] != auth.clinic_id:
        return NotFound()
    return ReadGrant(auth, "patient", item.target_id, item.target_id, tuple(patient[1]))


def _resolve(settled: list[tuple[_Read, _Outcome]]) -> None:
    """Hand each waiting request its outcome (runs in the requests' event loop)."""
    for item, outcome in settled:
        if item.future.done():  # the request was cancelled meanwhile
            continue
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)
