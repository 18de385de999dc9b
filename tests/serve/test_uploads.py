"""Uploads: duplicates, unusable photos, the quality gate, size and pixel limits, crashes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_support import Photos, Served, sha256

from skinscan.serve import crud
from skinscan.serve.app import start_services
from skinscan.serve.models import Photo, Visit, utcnow


def _assessments(served: Served) -> float:
    total = 0.0
    for metric in served.services.metrics.assessments.collect():
        total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def test_the_same_photo_twice_is_recognised_not_assessed_again(
    served: Served, photos: Photos
) -> None:
    headers = served.clinic()
    patient_id = served.patient(headers)
    first = served.upload(patient_id, photos.face, headers)
    assert first.status_code == 201
    before = _assessments(served)
    again = served.upload(patient_id, photos.face, headers, taken_at="2030-01-01T00:00:00Z")
    assert again.status_code == 200
    assert again.headers["x-skinscan-duplicate"] == "true"
    body = again.json()
    assert body["duplicate"] is True
    assert body["id"] == first.json()["id"]
    assert body["attempts"] == 1
    assert body["assessment"] == first.json()["assessment"]
    assert _assessments(served) == before
    patient = served.client.get(f"/api/v1/patients/{patient_id}", headers=headers).json()
    assert len(patient["visits"]) == 1
    # Another patient may have the same photo: a visit of its own (the file is stored once).
    other = served.patient(headers)
    assert served.upload(other, photos.face, headers).status_code == 201
    with served.services.sessions() as session:
        assert session.get(Photo, sha256(photos.face)) is not None


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("truncated", "truncated"),
        ("text", "not_an_image"),
        ("empty", "empty"),
        ("gif", "unsupported_format"),
    ],
)
def test_unusable_photos_answer_422_with_the_code(
    served: Served, photos: Photos, name: str, code: str
) -> None:
    bodies = {
        "truncated": photos.face[: len(photos.face) // 2],
        "text": b"patient notes, not a photo\n" * 10,
        "empty": b"",
        "gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00"
        b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
    }
    headers = served.clinic()
    patient_id = served.patient(headers)
    response = served.upload(patient_id, bodies[name], headers)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["code"] == code
    assert detail["message"]
    patient = served.client.get(f"/api/v1/patients/{patient_id}", headers=headers).json()
    assert patient["visits"] == []


def test_a_photo_the_quality_gate_rejects_is_stored_with_its_assessment(
    served: Served, photos: Photos
) -> None:
    headers = served.clinic()
    patient_id = served.patient(headers)
    response = served.upload(patient_id, photos.blurred, headers)
    assert response.status_code == 201, response.text
    visit = response.json()
    assert visit["status"] == "done"
    assert visit["assessment"]["quality"]["ok"] is False
    assert visit["assessment"]["concerns"] is None
    assert "blur" in {issue["code"] for issue in visit["assessment"]["quality"]["issues"]}
    summary = served.client.get(f"/api/v1/patients/{patient_id}", headers=headers).json()
    assert summary["visits"][0]["quality_ok"] is False
    assert summary["visits"][0]["severities"] is None
    progress = served.client.get(f"/api/v1/patients/{patient_id}/progress", headers=headers)
    assert progress.status_code == 200
    assert progress.json()["concerns"]["redness"]["series"][0]["severity"] is None


def test_a_worker_crash_fails_the_visit_and_a_retry_assesses_it(
    served: Served, photos: Photos
) -> None:
    # The service runs with fault_crash_sha256 = sha256(photos.crash): the worker process exits
    # (os._exit) half-way through the first attempt at that photo, like a crashing decoder.
    headers = served.clinic()
    patient_id = served.patient(headers)
    response = served.upload(patient_id, photos.crash, headers)
    assert response.status_code == 201, response.text
    failed = response.json()
    assert failed["status"] == "failed"
    assert failed["assessment"] is None
    assert failed["error"] == {
        "code": "worker_crashed",
        "message": failed["error"]["message"],
        "retryable": True,
    }
    assert failed["maps"] == []
    assert not served.services.store.maps_dir(failed["id"]).exists()

    served.retry_to_done(failed["id"], headers)
    # The pool was replaced: other uploads are assessed as before.
    other = served.upload(served.patient(headers), photos.face_later, headers)
    assert other.status_code == 201
    assert other.json()["status"] == "done"
    again = served.client.post(f"/api/v1/visits/{failed['id']}/retry", headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "not_failed"


def test_visits_interrupted_by_a_stop_fail_retryably_at_the_next_start(
    served: Served, photos: Photos
) -> None:
    headers = served.clinic()
    patient_id = served.patient(headers)
    stored = served.services.store
    (stored.photo_dir(sha256(photos.recovered))).mkdir(parents=True, exist_ok=True)
    stored.original_path(sha256(photos.recovered)).write_bytes(photos.recovered)
    with served.services.sessions() as session:
        # What a service killed mid-assessment leaves behind: a visit still "running".
        patient = crud.get_patient(session, _clinic_of(served, headers), patient_id)
        assert patient is not None
        session.add(
            Photo(sha256=sha256(photos.recovered), format="JPEG", width=1, height=1, size_bytes=1)
        )
        visit = Visit(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            photo_sha256=sha256(photos.recovered),
            taken_at=utcnow(),
            status="running",
            attempts=1,
        )
        session.add(visit)
        session.commit()
        visit_id = visit.id
    start_services(served.services)  # what the next start runs before answering
    stuck = served.client.get(f"/api/v1/visits/{visit_id}", headers=headers).json()
    assert stuck["status"] == "failed"
    assert stuck["error"]["code"] == "interrupted"
    assert stuck["error"]["retryable"] is True
    retried = served.client.post(f"/api/v1/visits/{visit_id}/retry", headers=headers)
    assert retried.status_code == 200
    assert retried.json()["status"] == "done"


def _clinic_of(served: Served, headers: dict[str, str]) -> str:
    from skinscan.serve.keys import authenticate

    with served.services.sessions() as session:
        auth = authenticate(session, headers["Authorization"].removeprefix("Bearer "))
    assert auth is not None
    return auth.clinic_id


def test_an_upload_over_the_limit_answers_413(limited: Served) -> None:
    headers = limited.clinic()
    patient_id = limited.patient(headers)
    too_big = b"\xff\xd8\xff" + bytes(limited.settings.max_upload_bytes)
    response = limited.upload(patient_id, too_big, headers)
    assert response.status_code == 413
    assert response.json()["detail"]["code"] == "file_too_large"
    assert not any(limited.services.store.root.joinpath("tmp").iterdir())


def test_a_streamed_body_is_cut_off_at_the_limit(limited: Served) -> None:
    headers = limited.clinic()
    patient_id = limited.patient(headers)
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="photo"; filename="p.jpg"\r\n\r\n'
        for _ in range(100):
            sent += 64 * 1024
            yield bytes(64 * 1024)

    response = limited.client.post(
        f"/api/v1/patients/{patient_id}/visits",
        content=chunks(),
        headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert response.json()["detail"]["code"] == "file_too_large"


def test_a_photo_over_the_pixel_limit_answers_422(limited: Served, photos: Photos) -> None:
    headers = limited.clinic()
    patient_id = limited.patient(headers)
    assert len(photos.face) < limited.settings.max_upload_bytes
    response = limited.upload(patient_id, photos.face, headers)
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "too_many_pixels"
