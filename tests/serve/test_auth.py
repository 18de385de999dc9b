"""Keys, roles, tenancy: 401 without a valid key, 403 for integration writes, 404 across clinics."""

from __future__ import annotations

from typing import Any

import pytest
from serve_support import Photos, Served

from skinscan.serve.keys import revoke_key


@pytest.fixture(scope="module")
def world(served: Served, photos: Photos) -> dict[str, Any]:
    """Clinic A with a patient and an assessed visit; clinic B with its own keys."""
    a = served.clinic_keys()
    b = served.clinic_keys()
    patient_id = served.patient(a["clinician"])
    visit = served.upload(patient_id, photos.face, a["clinician"])
    assert visit.status_code == 201, visit.text
    return {"a": a, "b": b, "patient": patient_id, "visit": visit.json()["id"]}


def _endpoints(world: dict[str, Any], photos: Photos) -> list[tuple[str, str, dict[str, Any]]]:
    patient, visit = world["patient"], world["visit"]
    upload = {"files": {"photo": ("p.jpg", photos.face_later, "image/jpeg")}}
    return [
        ("GET", f"/api/v1/patients/{patient}", {}),
        ("GET", f"/api/v1/patients/{patient}/progress", {}),
        ("POST", f"/api/v1/patients/{patient}/visits", upload),
        ("GET", f"/api/v1/visits/{visit}", {}),
        ("POST", f"/api/v1/visits/{visit}/retry", {}),
        ("GET", f"/api/v1/visits/{visit}/fhir", {}),
        ("GET", f"/api/v1/visits/{visit}/photo", {}),
        ("GET", f"/api/v1/visits/{visit}/maps/regions", {}),
    ]


def test_another_clinics_patients_and_visits_are_not_found(
    served: Served, world: dict[str, Any], photos: Photos
) -> None:
    for method, path, extra in _endpoints(world, photos):
        response = served.client.request(method, path, headers=world["b"]["clinician"], **extra)
        assert response.status_code == 404, (method, path, response.text)
    # ... and nothing was written for clinic A meanwhile.
    patient = served.client.get(
        f"/api/v1/patients/{world['patient']}", headers=world["a"]["integration"]
    ).json()
    assert len(patient["visits"]) == 1


def test_integration_keys_read_but_do_not_write(
    served: Served, world: dict[str, Any], photos: Photos
) -> None:
    integration = world["a"]["integration"]
    assert (
        served.client.post(
            "/api/v1/patients", json={"external_id": "x"}, headers=integration
        ).status_code
        == 403
    )
    for method, path, extra in _endpoints(world, photos):
        response = served.client.request(method, path, headers=integration, **extra)
        if method == "POST" or path.endswith(("/photo", "/maps/regions")):
            assert response.status_code == 403, (method, path)
        else:
            assert response.status_code == 200, (method, path, response.text)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nonsense", "Bearer sks_000000000000_wrong", "Basic dXNlcjpwYXNz", "Bearer "],
    ids=["missing", "malformed", "unknown", "not-bearer", "empty"],
)
def test_requests_without_a_valid_key_are_unauthorised(
    served: Served, world: dict[str, Any], photos: Photos, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    paths = [("POST", "/api/v1/patients", {"json": {"external_id": "x"}})]
    paths += _endpoints(world, photos)
    for method, path, extra in paths:
        response = served.client.request(method, path, headers=headers, **extra)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_wrong_secret_for_a_real_key_id_is_unauthorised(
    served: Served, world: dict[str, Any]
) -> None:
    real = world["a"]["clinician"]["Authorization"]
    prefix, key_id, _secret = real.split("_", 2)
    forged = {"Authorization": f"{prefix}_{key_id}_{'A' * 43}"}
    response = served.client.get(f"/api/v1/patients/{world['patient']}", headers=forged)
    assert response.status_code == 401


def test_a_revoked_key_is_unauthorised(served: Served, world: dict[str, Any]) -> None:
    headers = served.clinic()
    patient_id = served.patient(headers)
    key_id = headers["Authorization"].split("_")[1]
    with served.services.sessions() as session:
        assert revoke_key(session, key_id) is not None
        session.commit()
    assert served.client.get(f"/api/v1/patients/{patient_id}", headers=headers).status_code == 401


def test_external_ids_are_unique_per_clinic(served: Served, world: dict[str, Any]) -> None:
    body = {"external_id": "shared-id"}
    for clinic in ("a", "b"):
        first = served.client.post(
            "/api/v1/patients", json=body, headers=world[clinic]["clinician"]
        )
        assert first.status_code == 201
    again = served.client.post("/api/v1/patients", json=body, headers=world["a"]["clinician"])
    assert again.status_code == 409
