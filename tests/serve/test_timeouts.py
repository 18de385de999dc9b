"""A hung assessment ends at its time limit: failed, retryable, nothing half-written.

The ``hanging`` app's worker sleeps for a day on the first attempt at ``photos.hang``, after
drawing its overlays and before publishing them (test-only fault injection, the way a native
library stuck in a loop would hang); its time limit is ``HANG_LIMIT_S``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from serve_support import Photos, Served


def _timeouts(served: Served) -> float:
    for metric in served.services.metrics.assessments.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels["outcome"] == "timeout":
                return float(sample.value)
    return 0.0


def _visit(served: Served, visit_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = served.client.get(f"/api/v1/visits/{visit_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _hanging_visit(served: Served, patient_id: str, headers: dict[str, str]) -> str:
    """The id of the patient's visit, once its worker hangs.

    The worker hangs right after drawing the overlays into a hidden folder beside the visit's
    own; that folder appearing is the moment the hang begins, as near as can be seen.
    """
    maps = served.services.store.root / "maps"
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        patient = served.client.get(f"/api/v1/patients/{patient_id}", headers=headers).json()
        if patient["visits"]:
            visit_id = str(patient["visits"][0]["id"])
            if any(maps.glob(f".{visit_id}.*")):
                return visit_id
        time.sleep(0.05)
    raise AssertionError("the upload's assessment did not reach the hang")


def test_a_hung_assessment_fails_retryably_at_its_limit_and_the_service_goes_on(
    hanging: Served, photos: Photos
) -> None:
    limit_s = hanging.settings.assessment_timeout_s
    headers = hanging.clinic()
    patient_id = hanging.patient(headers)
    timeouts_before = _timeouts(hanging)
    with ThreadPoolExecutor(1) as background:
        start = time.perf_counter()
        upload = background.submit(hanging.upload, patient_id, photos.hang, headers)
        visit_id = _hanging_visit(hanging, patient_id, headers)
        hung = time.perf_counter()

        # While one worker hangs, the service answers and the other worker assesses uploads.
        assert hanging.client.get("/healthz").status_code == 200
        other = hanging.upload(hanging.patient(headers), photos.face_later, headers)
        assert other.status_code == 201, other.text
        assert other.json()["status"] == "done"
        if time.perf_counter() - start < limit_s:
            assert _visit(hanging, visit_id, headers)["status"] == "running"

        response = upload.result(timeout=limit_s + 60.0)
        end = time.perf_counter()

    assert response.status_code == 201, response.text
    failed = response.json()
    assert failed["id"] == visit_id
    # Not before the limit; and about the limit after the hang began.
    timings = f"upload to failure {end - start:.2f} s, hang to failure {end - hung:.2f} s"
    assert end - start >= limit_s, timings
    assert end - hung < limit_s + 5.0, timings
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "assessment_timeout"
    assert failed["error"]["retryable"] is True
    assert f"time limit of {limit_s:g} s" in failed["error"]["message"]
    # Nothing half-written: no assessment, and the overlays drawn before the hang unpublished.
    assert failed["assessment"] is None
    assert failed["maps"] == []
    assert not hanging.services.store.maps_dir(visit_id).exists()
    assert _timeouts(hanging) == timeouts_before + 1
    metrics = hanging.client.get("/metrics").text
    assert 'skinscan_assessments_total{outcome="timeout"}' in metrics

    # The stuck worker is gone: a fresh pool assesses the next upload ...
    after = hanging.upload(hanging.patient(headers), photos.face, headers)
    assert after.status_code == 201, after.text
    assert after.json()["status"] == "done"
    # ... and a retry of the visit (its second attempt does not hang) ends done.
    done = hanging.retry_to_done(visit_id, headers)
    assert done["assessment"]["concerns"] is not None
    assert "regions" in done["maps"]
    assert _timeouts(hanging) == timeouts_before + 1
