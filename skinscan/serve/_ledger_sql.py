"""The read ledger's statements, run on the database driver's own cursor.

Every batch of :class:`skinscan.serve.ledger.ReadLedger` runs the same few statements. Built
with SQLAlchemy's expression language they cost 0.4–2 ms of CPU per batch (constructing the
statement, its cache key, type processing); on the DBAPI cursor about 0.1 ms. Values still go
through the columns' own SQLAlchemy type processors, so timestamps are written and read exactly
as the ORM writes and reads them (UTC text on SQLite, ``timestamptz`` on PostgreSQL).

The SQL is plain enough for both backends. Lists of ids are ``IN (?, …)`` on SQLite and
``= ANY(%s)`` with one array parameter on PostgreSQL, so that every batch runs the same
statement text there (psycopg prepares a statement once it has run it a few times).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect

from skinscan.serve.models import AuditEntry, Visit

__all__ = ["AuditRow", "LedgerSql", "PatientRows", "VisitRow", "VisitVersion"]

#: A visit as its answers depend on it: id, status, ``taken_at``, ``updated_at``, attempts.
VisitVersion = tuple[str, str, datetime, datetime, int]
#: A visit of the ledger: clinic id, patient id and version.
VisitRow = tuple[str, str, VisitVersion]
#: Patients by id: their clinic id and their visits' versions in time order.
PatientRows = dict[str, tuple[str, list[VisitVersion]]]
#: An audit row: at, clinic id, key id, route, patient id, visit id (the action is ``read``).
AuditRow = tuple[datetime, str, str, str, str, str | None]


def _same(value: Any) -> Any:
    return value


class LedgerSql:
    """The ledger's queries for one SQL dialect.

    Parameters
    ----------
    dialect : sqlalchemy.engine.Dialect
        The engine's dialect: its name, parameter style and the timestamp columns' processors.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect_name = dialect.name
        if dialect.paramstyle == "qmark":
            marker = "?"
        elif dialect.paramstyle in ("format", "pyformat"):
            marker = "%s"
        else:
            raise ValueError(f"unsupported DBAPI parameter style {dialect.paramstyle!r}")
        self._marker = marker
        self._arrays = dialect.name == "postgresql"
        # The column types as the dialect runs them (SQLite keeps timestamps as text).
        visit_time = Visit.__table__.c.updated_at.type.dialect_impl(dialect)
        audit_time = AuditEntry.__table__.c.at.type.dialect_impl(dialect)
        self._read_time: Callable[[Any], Any] = visit_time.result_processor(dialect, None) or _same
        self._write_time: Callable[[Any], Any] = audit_time.bind_processor(dialect) or _same
        self._insert = (
            "INSERT INTO audit_log (at, clinic_id, key_id, action, route, patient_id, visit_id) "
        )

    def _member(self, column: str, ids: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        """``column`` is one of ``ids``: the SQL condition and its parameters."""
        if self._arrays:
            return f"{column} = ANY({self._marker})", (list(ids),)
        return f"{column} IN ({', '.join([self._marker] * len(ids))})", tuple(ids)

    def _version(self, row: Sequence[Any]) -> VisitVersion:
        visit_id, status, taken_at, updated_at, attempts = row
        return (
            visit_id,
            status,
            self._read_time(taken_at),
            self._read_time(updated_at),
            int(attempts),
        )

    def relax_durability(self, cursor: Any) -> None:
        """Commit this connection's transactions without waiting for the disk.

        SQLite: ``PRAGMA synchronous=NORMAL`` (a WAL commit is written, and synced at the next
        checkpoint). PostgreSQL: ``synchronous_commit = off`` (the WAL writer flushes within
        3 × ``wal_writer_delay``). Either way the database stays consistent; a commit may be
        lost if the machine (SQLite) or the database server (PostgreSQL) stops abruptly.
        """
        if self.dialect_name == "sqlite":
            cursor.execute("PRAGMA synchronous=NORMAL")
        elif self.dialect_name == "postgresql":
            cursor.execute("SET synchronous_commit = off")

    def keys(self, cursor: Any, key_ids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
        """Unrevoked keys by id: (clinic id, role, secret's SHA-256)."""
        condition, parameters = self._member("id", key_ids)
        cursor.execute(
            "SELECT id, clinic_id, role, secret_sha256 FROM api_keys"
            f" WHERE revoked_at IS NULL AND {condition}",
            parameters,
        )
        return {row[0]: (row[1], row[2], row[3]) for row in cursor.fetchall()}

    def visits(self, cursor: Any, visit_ids: Sequence[str]) -> dict[str, VisitRow]:
        """Visits by id: (clinic id, patient id, version)."""
        condition, parameters = self._member("id", visit_ids)
        cursor.execute(
            "SELECT clinic_id, patient_id, id, status, taken_at, updated_at, attempts"
            f" FROM visits WHERE {condition}",
            parameters,
        )
        return {row[2]: (row[0], row[1], self._version(row[2:])) for row in cursor.fetchall()}

    def patients(self, cursor: Any, patient_ids: Sequence[str]) -> PatientRows:
        """Patients by id: their clinic id and their visits' versions in the order of
        ``crud.visits_of`` (time, then upload order)."""
        condition, parameters = self._member("p.id", patient_ids)
        cursor.execute(
            "SELECT p.id, p.clinic_id, v.id, v.status, v.taken_at, v.updated_at, v.attempts"
            " FROM patients p LEFT JOIN visits v ON v.patient_id = p.id"
            f" WHERE {condition} ORDER BY v.taken_at, v.created_at, v.id",
            parameters,
        )
        patients: PatientRows = {}
        for row in cursor.fetchall():
            _, history = patients.setdefault(row[0], (row[1], []))
            if row[2] is not None:
                history.append(self._version(row[2:]))
        return patients

    def audit(self, cursor: Any, rows: Sequence[AuditRow]) -> None:
        """Insert read audit rows in one statement (the caller commits).

        One statement rather than one execution per row: the driver releases the interpreter
        lock around every statement it steps, and each time the ledger's thread has to win
        it back from the busy event loop.
        """
        if self._arrays:
            columns = list(zip(*((self._write_time(at), *rest) for at, *rest in rows), strict=True))
            cursor.execute(
                self._insert + "SELECT at, clinic_id, key_id, 'read', route, patient_id, visit_id"
                " FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],"
                " %s::text[]) AS r(at, clinic_id, key_id, route, patient_id, visit_id)",
                [list(column) for column in columns],
            )
            return
        marker = self._marker
        values = f"({marker}, {marker}, {marker}, 'read', {marker}, {marker}, {marker})"
        cursor.execute(
            self._insert + "VALUES " + ", ".join([values] * len(rows)),
            [value for at, *rest in rows for value in (self._write_time(at), *rest)],
        )
