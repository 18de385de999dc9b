"""Helpers of the serve tests: photo bodies, the running-service handle, webhook payloads."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient

from skinscan.serve.keys import create_key
from skinscan.serve.services import Services
from skinscan.serve.settings import Settings

WEBHOOK_SECRET = "test-webhook-secret-0123456789"


def jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return encoded.tobytes()


def png(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Photos:
    """Upload bodies made from scikit-image's astronaut (a real face photo)."""

    face: bytes
    face_later: bytes
    crash: bytes
    hang: bytes
    blurred: bytes
    recovered: bytes


@dataclass
class Served:
    """A running app, its settings and services, and ways to make tenants."""

    client: TestClient
    settings: Settings
    services: Services
    backend: str
    webhook: list[dict[str, Any]] = field(default_factory=list)

    def clinic(self, role: str = "clinician") -> dict[str, str]:
        """Headers of a new key (of a new clinic with a unique name)."""
        return self.clinic_keys(roles=(role,))[role]

    def clinic_keys(
        self, roles: tuple[str, ...] = ("clinician", "integration")
    ) -> dict[str, dict[str, str]]:
        """Headers of one key per role, all of one new clinic."""
        name = f"clinic-{secrets.token_hex(4)}"
        headers: dict[str, dict[str, str]] = {}
        with self.services.sessions() as session:
            for role in roles:
                _, key = create_key(session, name, role)
                headers[role] = {"Authorization": f"Bearer {key}"}
            session.commit()
        return headers

    def patient(self, headers: dict[str, str]) -> str:
        response = self.client.post(
            "/api/v1/patients", json={"external_id": secrets.token_hex(6)}, headers=headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def upload(self, patient_id: str, data: bytes, headers: dict[str, str], **form: str) -> Any:
        return self.client.post(
            f"/api/v1/patients/{patient_id}/visits",
            files={"photo": ("photo.jpg", data, "application/octet-stream")},
            data=form,
            headers=headers,
        )

    def retry_to_done(self, visit_id: str, headers: dict[str, str]) -> dict[str, Any]:
        """Retry a failed visit; its second attempt must end ``done`` with a full assessment."""
        retried = self.client.post(f"/api/v1/visits/{visit_id}/retry", headers=headers)
        assert retried.status_code == 200, retried.text
        done: dict[str, Any] = retried.json()
        assert done["status"] == "done"
        assert done["attempts"] == 2
        assert done["error"] is None
        assert done["assessment"]["schema"] == "skinscan.assessment/1"
        return done


def payloads(served: Served) -> list[dict[str, Any]]:
    return [json.loads(item["body"]) for item in served.webhook]
