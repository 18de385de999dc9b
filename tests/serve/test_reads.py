"""The score reads: audited in group commits, cached bodies never stale, revocation at once.

``GET /visits/{id}``, ``GET /patients/{id}`` and ``…/progress`` go through the read ledger
(one transaction per batch of concurrent reads) and a cache of serialised bodies keyed by the
versions the ledger read. These tests hold the promises that make that safe: every answered
read has its audit row, committed before the answer; a body is never served for a visit that
changed since; a revoked key is refused by the very next read; and the pure-ASGI answer of
those reads is the FastAPI routes' answer, byte for byte.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from serve_support import Photos, Served, jpeg
from sqlalchemy import func, select

from skinscan.serve import create_app
from skinscan.serve.keys import authenticate, revoke_key
from skinscan.serve.models import AuditEntry, Photo, Visit, utcnow
from skinscan.serve.score_reads import ScoreReads

API = "/api/v1"


@pytest.fixture(scope="module")
def world(served: Served, photos: Photos) -> dict[str, Any]:
    """A clinic with a patient and an assessed visit; another clinic's keys."""
    keys = served.clinic_keys()
    patient_id = served.patient(keys["clinician"])
    response = served.upload(patient_id, photos.face, keys["clinician"])
    assert response.status_code == 201, response.text
    return {
        "keys": keys,
        "other": served.clinic_keys(),
        "patient": patient_id,
        "visits": [response.json()["id"]],
    }


@pytest.fixture(scope="module")
def fastapi_only(served: Served) -> Iterator[TestClient]:
    """The same service (same database and files) with the score reads left to FastAPI."""
    app = create_app(served.settings.model_copy(update={"prestart_workers": False}))
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ScoreReads]
    # No lifespan: the served app already migrated the database; this one only reads.
    yield TestClient(app)
    app.state.services.ledger.close()
    app.state.services.engine.dispose()


def _audit_rows(served: Served, patient_id: str) -> int:
    with served.services.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.patient_id == patient_id, AuditEntry.action == "read")
            )
            or 0
        )


def _paths(world: dict[str, Any]) -> list[str]:
    patient = world["patient"]
    return [
        f"{API}/visits/{world['visits'][0]}",
        f"{API}/patients/{patient}",
        f"{API}/patients/{patient}/progress",
    ]


def _answer(response: httpx.Response) -> tuple[int, bytes, dict[str, str | None]]:
    headers = {
        name: response.headers.get(name)
        for name in ("content-type", "content-length", "www-authenticate")
    }
    return response.status_code, response.content, headers


def test_score_reads_answer_as_the_fastapi_routes_do(
    served: Served, world: dict[str, Any], fastapi_only: TestClient
) -> None:
    clinician = world["keys"]["clinician"]
    key = clinician["Authorization"].removeprefix("Bearer ")
    prefix, key_id, _ = key.split("_", 2)
    authorizations = [
        clinician["Authorization"],
        world["keys"]["integration"]["Authorization"],
        world["other"]["clinician"]["Authorization"],  # another clinic: 404
        f"bearer   {key}  ",  # scheme in any case, credentials stripped
        f"Bearer {prefix}_{key_id}_{'A' * 43}",  # a wrong secret
        "Bearer sks_000000000000_unknown",
        "Bearer nonsense",
        "Basic dXNlcjpwYXNz",
        None,
    ]
    paths = [*_paths(world), f"{API}/visits/no-such-visit", f"{API}/patients/nobody/progress"]
    seen: set[int] = set()
    for path in paths:
        for authorization in authorizations:
            headers = {} if authorization is None else {"Authorization": authorization}
            fast = _answer(served.client.get(path, headers=headers))
            plain = _answer(fastapi_only.get(path, headers=headers))
            assert fast == plain, (path, authorization)
            seen.add(fast[0])
    assert seen == {200, 401, 404}
    # An id FastAPI refuses (NUL) is left to FastAPI: 422 either way.
    nul = served.client.get(f"{API}/visits/a%00b", headers=clinician)
    assert nul.status_code == 422


def test_both_paths_audit_the_same_rows(
    served: Served, world: dict[str, Any], fastapi_only: TestClient
) -> None:
    headers = world["keys"]["integration"]
    for client in (served.client, fastapi_only):
        before = _audit_rows(served, world["patient"])
        for path in _paths(world):
            assert client.get(path, headers=headers).status_code == 200
        assert _audit_rows(served, world["patient"]) == before + 3
    with served.services.sessions() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.patient_id == world["patient"], AuditEntry.action == "read")
            .order_by(AuditEntry.id.desc())
            .limit(6)
        ).all()
    routes = [(row.route, row.visit_id) for row in reversed(rows)]
    expected = [
        ("GET /api/v1/visits/{visit_id}", world["visits"][0]),
        ("GET /api/v1/patients/{patient_id}", None),
        ("GET /api/v1/patients/{patient_id}/progress", None),
    ]
    assert routes == expected * 2
    key_id = headers["Authorization"].split("_")[1]
    assert {row.key_id for row in rows} == {key_id}


def test_concurrent_reads_are_each_audited_before_their_answer(
    served: Served, world: dict[str, Any]
) -> None:
    """N concurrent reads → N audit rows, committed in fewer transactions than reads, and each
    answer arrives after its row is committed."""
    headers = world["keys"]["integration"]
    paths = _paths(world) * 20
    histogram = served.services.metrics.audit_batch_size
    batches_before = _histogram_count(histogram)
    rows_before = _audit_rows(served, world["patient"])

    async def read_all() -> list[tuple[int, int]]:
        transport = httpx.ASGITransport(app=served.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            pending = [asyncio.ensure_future(client.get(p, headers=headers)) for p in paths]
            answered: list[tuple[int, int]] = []
            for done in asyncio.as_completed(pending):
                response = await done
                # Rows visible once this answer arrived (read in the event loop on purpose:
                # nothing else may run meanwhile).
                answered.append((response.status_code, _audit_rows(served, world["patient"])))
            return answered

    answered = asyncio.run(read_all())
    assert [status for status, _ in answered] == [200] * len(paths)
    for index, (_, rows) in enumerate(answered):
        assert rows - rows_before >= index + 1  # answered ⇒ audited
    assert _audit_rows(served, world["patient"]) == rows_before + len(paths)
    batches = _histogram_count(histogram) - batches_before
    assert 1 <= batches < len(paths)  # group commits, not one commit per read


def _histogram_count(histogram: Any) -> float:
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count"):
                return float(sample.value)
    raise AssertionError("no _count sample")


def test_a_revoked_key_is_refused_by_the_next_read(served: Served, world: dict[str, Any]) -> None:
    headers = served.clinic("integration")
    key_id = headers["Authorization"].split("_")[1]
    foreign = _paths(world)
    # The key's own clinic has nothing to read; another clinic's ids answer 404 until revoked.
    for path in foreign:
        assert served.client.get(path, headers=headers).status_code == 404
    with served.services.sessions() as session:
        assert revoke_key(session, key_id) is not None
        session.commit()
    for path in foreign:
        response = served.client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_key_that_just_read_is_refused_at_once(served: Served) -> None:
    """Nothing about a key is cached: a key that read a moment ago is refused right after its
    revocation is committed, on every score read."""
    headers = served.clinic()
    patient_id = served.patient(headers)
    paths = [f"{API}/patients/{patient_id}", f"{API}/patients/{patient_id}/progress"]
    for path in paths:
        assert served.client.get(path, headers=headers).status_code == 200
    key_id = headers["Authorization"].split("_")[1]
    with served.services.sessions() as session:
        revoke_key(session, key_id)
        session.commit()
    assert [served.client.get(path, headers=headers).status_code for path in paths] == [401, 401]


def test_a_visit_read_after_its_retry_shows_the_new_state(served: Served) -> None:
    from skinscan.validation import sample_faces

    headers = served.clinic()
    patient_id = served.patient(headers)
    # A photo of its own (no other test stores these bytes).
    photo = jpeg(sample_faces()["astronaut"], 80)
    visit_id = _failed_visit(served, headers, patient_id, photo)
    visit_path = f"{API}/visits/{visit_id}"
    patient_path, progress_path = _of(patient_id)
    assert served.client.get(visit_path, headers=headers).json()["status"] == "failed"
    assert served.client.get(patient_path, headers=headers).json()["visits"][0]["status"] == (
        "failed"
    )
    assert served.client.get(progress_path, headers=headers).json()["visits"] == 0

    retried = served.client.post(f"{visit_path}/retry", headers=headers)
    assert retried.status_code == 200, retried.text

    visit = served.client.get(visit_path, headers=headers).json()
    assert visit == retried.json()
    assert (visit["status"], visit["attempts"], visit["error"]) == ("done", 2, None)
    assert visit["assessment"]["schema"] == "skinscan.assessment/1"
    assert visit["maps"]
    patient = served.client.get(patient_path, headers=headers).json()
    assert patient["visits"][0]["status"] == "done"
    assert patient["visits"][0]["severities"] is not None
    assert served.client.get(progress_path, headers=headers).json()["visits"] == 1


def _failed_visit(served: Served, headers: dict[str, str], patient_id: str, photo: bytes) -> str:
    """A visit whose first attempt was interrupted (failed, retryable), its photo stored."""
    sha = hashlib.sha256(photo).hexdigest()
    store = served.services.store
    store.photo_dir(sha).mkdir(parents=True, exist_ok=True)
    store.original_path(sha).write_bytes(photo)
    key = headers["Authorization"].removeprefix("Bearer ")
    with served.services.sessions() as session:
        auth = authenticate(session, key)
        assert auth is not None
        if session.get(Photo, sha) is None:
            session.add(Photo(sha256=sha, format="JPEG", width=1, height=1, size_bytes=1))
        now = utcnow()
        visit = Visit(
            clinic_id=auth.clinic_id,
            patient_id=patient_id,
            photo_sha256=sha,
            taken_at=now,
            status="failed",
            attempts=1,
            error_code="interrupted",
            error_message="the service stopped before the assessment finished; retry it",
            error_retryable=True,
            updated_at=now,
            completed_at=now,
        )
        session.add(visit)
        session.commit()
        return visit.id


def test_a_change_made_by_another_process_is_seen_by_the_next_read(
    served: Served, world: dict[str, Any]
) -> None:
    """Bodies are cached by the versions read in each read's own transaction, so a change
    written elsewhere (another server process, a restart's recovery) needs no invalidation."""
    headers = world["keys"]["integration"]
    visit_id = world["visits"][0]
    path = f"{API}/visits/{visit_id}"
    cached = served.client.get(path, headers=headers).json()
    assert cached["status"] == "done"
    with served.services.sessions() as session:  # as another process would, through the DB
        visit = session.get(Visit, visit_id)
        assert visit is not None
        old = (visit.status, visit.error_code, visit.updated_at)
        visit.status, visit.error_code, visit.updated_at = "failed", "interrupted", utcnow()
        visit.error_message, visit.error_retryable = "stopped", True
        session.commit()
    try:
        changed = served.client.get(path, headers=headers).json()
        assert changed["status"] == "failed"
        assert changed["error"]["code"] == "interrupted"
        assert changed["assessment"] is None
        progress = served.client.get(
            f"{API}/patients/{world['patient']}/progress", headers=headers
        ).json()
        assert progress["visits"] == 0
    finally:
        with served.services.sessions() as session:
            visit = session.get(Visit, visit_id)
            assert visit is not None
            visit.status, visit.error_code, visit.updated_at = old
            visit.error_message, visit.error_retryable = None, None
            session.commit()
    assert served.client.get(path, headers=headers).json() == cached


def _of(patient_id: str) -> list[str]:
    return [f"{API}/patients/{patient_id}", f"{API}/patients/{patient_id}/progress"]


def test_the_app_serves_the_score_reads_itself(served: Served) -> None:
    app = served.client.app
    assert isinstance(app, FastAPI)
    assert any(m.cls is ScoreReads for m in app.user_middleware)
