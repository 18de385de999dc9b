"""The upload-integrity check of ``skinscan bench-serve``: many uploads at once, none lost.

The uploads cycle over every (patient, photo) pair in a shuffled order and are all sent at
once, so the same photo reaches the same patient concurrently. Once every visit has settled,
the check asks, through the API and directly in the database, that each pair has exactly one
visit, none lost, none duplicated, none left pending.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from typing import Any

from skinscan.serve._bench_service import BenchPhoto, bench_photos

__all__ = ["upload_integrity"]

API = "/api/v1"


async def _upload_all(
    base_url: str,
    headers: dict[str, str],
    plan: list[tuple[str, BenchPhoto]],
    settle_timeout_s: float,
) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=len(plan), max_keepalive_connections=len(plan))
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=300.0
    ) as client:

        async def one(patient_id: str, photo: BenchPhoto) -> dict[str, Any]:
            try:
                response = await client.post(
                    f"{API}/patients/{patient_id}/visits",
                    files={"photo": (photo.name, photo.data, "image/jpeg")},
                )
            except httpx.HTTPError as exc:
                return {"patient_id": patient_id, "sha256": photo.sha256, "error": repr(exc)}
            body = response.json() if response.status_code < 300 else {}
            return {
                "patient_id": patient_id,
                "sha256": photo.sha256,
                "status_code": response.status_code,
                "duplicate_header": response.headers.get("X-Skinscan-Duplicate") == "true",
                "visit_id": body.get("id"),
                "photo_sha256": body.get("photo_sha256"),
            }

        start = time.perf_counter()
        answers = await asyncio.gather(*(one(p, photo) for p, photo in plan))
        answered_s = time.perf_counter() - start
        visit_ids = {a["visit_id"] for a in answers if a.get("visit_id")}
        final: dict[str, dict[str, Any]] = {}
        deadline = time.perf_counter() + settle_timeout_s
        waiting = set(visit_ids)
        while waiting and time.perf_counter() < deadline:
            bodies = await asyncio.gather(*(client.get(f"{API}/visits/{v}") for v in waiting))
            for response in bodies:
                body = response.json()
                if body["status"] in ("done", "failed"):
                    final[body["id"]] = body
                    waiting.discard(body["id"])
            if waiting:
                await asyncio.sleep(0.2)
        settled_s = time.perf_counter() - start
        for visit_id in waiting:  # stuck: keep their last state for the report
            final[visit_id] = (await client.get(f"{API}/visits/{visit_id}")).json()
        listed = {}
        for patient_id in sorted({p for p, _ in plan}):
            listed[patient_id] = (await client.get(f"{API}/patients/{patient_id}")).json()
    return {
        "answers": answers,
        "final": final,
        "listed": listed,
        "answered_s": answered_s,
        "settled_s": settled_s,
    }


def _database_counts(database_url: str, patient_ids: list[str]) -> dict[str, Any]:
    """Visits per (patient, photo) and by status, read directly from the database."""
    from sqlalchemy import func, select

    from skinscan.serve.db import make_engine, make_session_factory
    from skinscan.serve.models import Visit

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            pairs = session.execute(
                select(Visit.patient_id, Visit.photo_sha256, func.count())
                .where(Visit.patient_id.in_(patient_ids))
                .group_by(Visit.patient_id, Visit.photo_sha256)
            ).all()
            statuses = session.execute(
                select(Visit.status, func.count())
                .where(Visit.patient_id.in_(patient_ids))
                .group_by(Visit.status)
            ).all()
    finally:
        engine.dispose()
    return {
        "pairs": {(str(p), str(s)): int(n) for p, s, n in pairs},
        "statuses": {str(s): int(n) for s, n in statuses},
    }


def upload_integrity(
    base_url: str,
    headers: dict[str, str],
    database_url: str,
    *,
    uploads: int = 200,
    patients: int = 8,
    photos: list[BenchPhoto] | None = None,
    seed: int = 0,
    settle_timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Send ``uploads`` uploads at once and check that each (patient, photo) got one visit.

    The uploads cycle over every (patient, photo) pair — so each pair is uploaded about
    ``uploads / (patients × photos)`` times, concurrently — in a shuffled order. Afterwards
    every visit is polled until it is done or failed (at most ``settle_timeout_s``).

    Parameters
    ----------
    base_url : str
        The running service.
    headers : dict
        A clinician key's ``Authorization`` header.
    database_url : str
        The service's database, read directly for the second check.
    uploads : int
        Concurrent uploads.
    patients : int
        New patients made for the check.
    photos : list of BenchPhoto, optional
        Default: :func:`bench_photos` (3 sharp, 2 blurred).
    seed : int
        Order of the uploads.
    settle_timeout_s : float
        How long to wait for the assessments.

    Returns
    -------
    dict
        ``ok`` (every check passed), the ``checks`` by name, counts (``uploads``, ``pairs``,
        ``created``, ``duplicates``, ``visits_api``, ``visits_db``, ``by_status``,
        ``rejected_by_quality_gate``), ``failures`` (what went wrong, if anything),
        ``answered_s`` (all responses in) and ``settled_s`` (every visit done or failed).
    """
    import httpx

    photos = photos if photos is not None else bench_photos()
    with httpx.Client(base_url=base_url, headers=headers, timeout=60.0) as client:
        patient_ids = []
        for _ in range(patients):
            answer = client.post(
                f"{API}/patients", json={"external_id": f"bench-{secrets.token_hex(6)}"}
            )
            answer.raise_for_status()
            patient_ids.append(str(answer.json()["id"]))
    pairs = [(p, photo) for p in patient_ids for photo in photos]
    plan = [pairs[i % len(pairs)] for i in range(uploads)]
    random.Random(seed).shuffle(plan)
    outcome = asyncio.run(_upload_all(base_url, headers, plan, settle_timeout_s))
    answers: list[dict[str, Any]] = outcome["answers"]
    final: dict[str, dict[str, Any]] = outcome["final"]
    expected = {(p, photo.sha256) for p, photo in {(p, ph) for p, ph in plan}}

    failures: list[str] = []
    bad = [a for a in answers if a.get("status_code") not in (200, 201, 202)]
    failures += [f"upload answered {a.get('status_code', a.get('error'))}" for a in bad[:5]]
    ids_by_pair: dict[tuple[str, str], set[str]] = {}
    for reply in answers:
        if reply.get("visit_id"):
            pair = (reply["patient_id"], reply["sha256"])
            ids_by_pair.setdefault(pair, set()).add(reply["visit_id"])
            if reply["photo_sha256"] != reply["sha256"]:
                failures.append(f"visit {reply['visit_id']} holds another photo")
    split = {pair: ids for pair, ids in ids_by_pair.items() if len(ids) != 1}
    failures += [f"{len(ids)} visits for one (patient, photo)" for ids in split.values()]
    missing = expected - set(ids_by_pair)
    failures += [f"no visit for patient {p}, photo {s[:12]}" for p, s in sorted(missing)]
    created = sum(1 for a in answers if a.get("status_code") in (201, 202))
    duplicates = sum(1 for a in answers if a.get("duplicate_header"))

    listed_pairs: Counter[tuple[str, str]] = Counter()
    for patient_id, body in outcome["listed"].items():
        for summary in body["visits"]:
            sha = final.get(summary["id"], {}).get("photo_sha256")
            listed_pairs[(patient_id, str(sha))] += 1
    api_ok = set(listed_pairs) == expected and all(n == 1 for n in listed_pairs.values())
    if not api_ok:
        failures.append("the patients' visit lists do not hold exactly one visit per photo")

    counts = _database_counts(database_url, patient_ids)
    db_pairs: dict[tuple[str, str], int] = counts["pairs"]
    db_ok = set(db_pairs) == expected and all(n == 1 for n in db_pairs.values())
    if not db_ok:
        failures.append("the database does not hold exactly one visit per (patient, photo)")
    stuck = {s: n for s, n in counts["statuses"].items() if s not in ("done", "failed")}
    if stuck:
        failures.append(f"visits left unsettled: {stuck}")
    rejected = sum(
        1
        for body in final.values()
        if body["status"] == "done"
        and body["assessment"] is not None
        and not body["assessment"]["quality"]["ok"]
    )
    sharp_expected = sum(1 for _, photo in {(p, ph) for p, ph in plan} if photo.sharp)
    checks = {
        "every_upload_answered_2xx": not bad,
        "one_visit_id_per_pair": not split and not missing,
        "exactly_one_created_per_pair": created == len(expected),
        "api_lists_one_visit_per_pair": api_ok,
        "database_one_visit_per_pair": db_ok,
        "none_stuck": not stuck and len(final) == len(expected),
        "blurred_rejected_sharp_assessed": rejected == len(expected) - sharp_expected,
    }
    if created != len(expected):
        failures.append(f"{created} uploads created a visit for {len(expected)} pairs")
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "uploads": uploads,
        "patients": patients,
        "distinct_photos": len(photos),
        "pairs": len(expected),
        "created": created,
        "duplicates": duplicates,
        "visits_api": sum(listed_pairs.values()),
        "visits_db": sum(db_pairs.values()),
        "by_status": counts["statuses"],
        "rejected_by_quality_gate": rejected,
        "answered_s": round(outcome["answered_s"], 2),
        "settled_s": round(outcome["settled_s"], 2),
        "failures": failures,
    }
