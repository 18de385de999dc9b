"""The read ledger and the body cache on their own: a fresh SQLite database, no HTTP.

What the HTTP tests cannot easily reach: the ledger's outcomes and versions, its restart after
``close()``, its recovery after a failing database, its durability switch, and the body cache's
byte budget.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from skinscan.serve._ledger_sql import LedgerSql
from skinscan.serve.bodies import BodyCache
from skinscan.serve.db import make_engine, make_session_factory, migrate
from skinscan.serve.keys import create_key
from skinscan.serve.ledger import NotFound, ReadLedger, Unauthorised, visit_version
from skinscan.serve.models import AuditEntry, Patient, Photo, Visit, utcnow


@pytest.fixture
def database(tmp_path: Path) -> Any:
    """A migrated SQLite database with two clinics' keys, a patient and two visits."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    sessions = make_session_factory(engine)
    with sessions() as session:
        _, key = create_key(session, "A", "integration")
        _, other = create_key(session, "B", "clinician")
        clinic_id = key_clinic(session, key)
        patient = Patient(clinic_id=clinic_id, external_id="p")
        session.add(patient)
        for sha256 in ("cd" * 32, "ef" * 32):
            session.add(Photo(sha256=sha256, format="JPEG", width=1, height=1, size_bytes=1))
        session.flush()
        visits = [
            Visit(
                clinic_id=clinic_id,
                patient_id=patient.id,
                photo_sha256=sha256,
                taken_at=utcnow(),
                status=status,
            )
            for sha256, status in (("cd" * 32, "done"), ("ef" * 32, "pending"))
        ]
        session.add_all(visits)
        session.commit()
        versions = [visit_version(visit) for visit in visits]
        ids = {"patient": patient.id, "visits": [visit.id for visit in visits]}
    yield engine, sessions, key, other, ids, versions
    engine.dispose()


def key_clinic(session: Any, key: str) -> str:
    from skinscan.serve.keys import authenticate

    auth = authenticate(session, key)
    assert auth is not None
    return auth.clinic_id


def _audit_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one())


def test_a_grant_carries_what_the_read_saw(database: Any) -> None:
    engine, sessions, key, _, ids, versions = database
    ledger = ReadLedger(engine)

    async def reads() -> list[Any]:
        visit = await ledger.read("visit", key, ids["visits"][0], "GET v")
        patient = await ledger.read("patient", key, ids["patient"], "GET p")
        return [visit, patient]

    try:
        visit, patient = asyncio.run(reads())
    finally:
        ledger.close()
    assert (visit.kind, visit.target_id, visit.patient_id) == (
        "visit",
        ids["visits"][0],
        ids["patient"],
    )
    assert visit.versions == (versions[0],)
    assert patient.versions == tuple(versions)
    assert visit.auth.role == "integration"
    with sessions() as session:
        rows = session.query(AuditEntry).order_by(AuditEntry.id).all()
    assert [(r.route, r.patient_id, r.visit_id, r.action) for r in rows] == [
        ("GET v", ids["patient"], ids["visits"][0], "read"),
        ("GET p", ids["patient"], None, "read"),
    ]


@pytest.mark.parametrize(
    ("which", "refused"),
    [
        ("malformed", Unauthorised),
        ("unknown", Unauthorised),
        ("wrong secret", Unauthorised),
        ("other clinic", NotFound),
        ("no such visit", NotFound),
    ],
)
def test_refused_reads_are_not_audited(database: Any, which: str, refused: type) -> None:
    engine, _, key, other, ids, _ = database
    prefix, key_id, _secret = key.split("_", 2)
    keys = {
        "malformed": "sks_nope",
        "unknown": "sks_000000000000_secret",
        "wrong secret": f"{prefix}_{key_id}_{'x' * 43}",
        "other clinic": other,
        "no such visit": key,
    }
    target = "missing" if which == "no such visit" else ids["visits"][0]
    ledger = ReadLedger(engine)
    try:
        with pytest.raises(refused):
            asyncio.run(ledger.read("visit", keys[which], target, "GET v"))
    finally:
        ledger.close()
    assert _audit_count(engine) == 0


def test_the_ledger_starts_again_after_close_and_recovers_from_a_failure(
    database: Any,
) -> None:
    engine, _, key, _, ids, _ = database
    sizes: list[int] = []

    def on_batch(size: int, seconds: float) -> None:
        sizes.append(size)
        raise RuntimeError("a broken metric must not stop the ledger")

    ledger = ReadLedger(engine, on_batch=on_batch)
    read = ledger.read("visit", key, ids["visits"][0], "GET v")
    assert asyncio.run(read).target_id == ids["visits"][0]
    ledger.close()
    ledger.close()  # twice is fine
    assert asyncio.run(ledger.read("visit", key, ids["visits"][0], "GET v")) is not None
    with engine.begin() as connection:  # the database breaks under the ledger...
        connection.execute(text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    with pytest.raises(RuntimeError, match="the audited read failed"):
        asyncio.run(ledger.read("visit", key, ids["visits"][0], "GET v"))
    with engine.begin() as connection:  # ... and comes back
        connection.execute(text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    assert asyncio.run(ledger.read("visit", key, ids["visits"][0], "GET v")) is not None
    ledger.close()
    assert sizes == [1, 1, 1]
    assert _audit_count(engine) == 3


def test_concurrent_reads_share_commits(database: Any) -> None:
    engine, _, key, _, ids, _ = database
    sizes: list[int] = []
    ledger = ReadLedger(engine, max_batch=8, on_batch=lambda size, seconds: sizes.append(size))

    async def many() -> None:
        reads = [ledger.read("patient", key, ids["patient"], "GET p") for _ in range(40)]
        await asyncio.gather(*reads)

    try:
        asyncio.run(many())
    finally:
        ledger.close()
    assert sum(sizes) == 40 == _audit_count(engine)
    assert max(sizes) <= 8
    assert len(sizes) < 40


def test_the_ledger_refuses_bad_sizes(database: Any) -> None:
    engine = database[0]
    with pytest.raises(ValueError, match="writers"):
        ReadLedger(engine, writers=0)
    with pytest.raises(ValueError, match="max_batch"):
        ReadLedger(engine, max_batch=0)


def test_relaxed_durability_touches_only_the_ledgers_connections(database: Any) -> None:
    engine, _, key, _, ids, _ = database
    ledger = ReadLedger(engine, durable=False)
    try:
        asyncio.run(ledger.read("visit", key, ids["visits"][0], "GET v"))
    finally:
        ledger.close()
    with engine.connect() as connection:  # the pool's connections: FULL (2), as configured
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2
    raw = sqlite3.connect(":memory:")
    LedgerSql(engine.dialect).relax_durability(raw.cursor())
    assert raw.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    raw.close()


def test_the_body_cache_keeps_only_the_current_version_within_its_budget() -> None:
    version_a = (("v", "done", utcnow(), utcnow(), 1),)
    version_b = (("v", "failed", utcnow(), utcnow(), 2),)
    cache = BodyCache(max_bytes=10)
    cache.put("visit", "1", version_a, b"aaaa")
    assert cache.get("visit", "1", version_a) == b"aaaa"
    assert cache.get("visit", "1", version_b) is None  # another version: not this body
    assert cache.get("progress", "1", version_a) is None
    cache.put("visit", "1", version_b, b"bbbbb")  # replaces the older version
    assert cache.get("visit", "1", version_a) is None
    assert (len(cache), cache.size_bytes) == (1, 5)
    cache.put("visit", "2", version_a, b"cccc")
    cache.get("visit", "1", version_b)  # 1 is now the most recently used
    cache.put("visit", "3", version_a, b"dddd")  # over budget: 2 goes
    assert cache.get("visit", "2", version_a) is None
    assert cache.get("visit", "1", version_b) == b"bbbbb"
    assert cache.size_bytes <= 10
    cache.put("visit", "4", version_a, b"x" * 11)  # larger than the budget: not kept
    assert cache.get("visit", "4", version_a) is None
    cache.clear()
    assert (len(cache), cache.size_bytes) == (0, 0)
    with pytest.raises(ValueError, match="max_bytes"):
        BodyCache(max_bytes=-1)
