"""A demo clinic for a first look: a key, one patient and three visits loaded through the API.

``skinscan serve --demo`` creates the clinic ``demo`` and a clinician key (printed), starts the
service, and uploads three visits of one patient through the running API, as a clinic would:
the sample face (scikit-image's astronaut, public domain) beside a colour chart, with erythema
painted by the spectral phantom at levels 3, 2 and 0 a month apart — a redness treatment that
works — each photographed separately (exposure, white balance, framing, noise).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np

__all__ = ["DEMO_CLINIC", "DEMO_PATIENT", "demo_visits", "load_demo"]

DEMO_CLINIC = "demo"
DEMO_PATIENT = "demo-patient-001"
#: Painted erythema level at each visit, a month apart.
DEMO_REDNESS = (3, 2, 0)


def demo_visits(*, seed: int = 0) -> list[tuple[datetime, bytes]]:
    """The demo patient's visits: (taken_at, JPEG bytes), oldest first."""
    from skinscan.datasets.phantom import render_face
    from skinscan.datasets.recapture import apply_recapture, sample_recapture
    from skinscan.standardise.face import analyse_face, facial_skin
    from skinscan.validation import repeatability_scene, sample_faces

    face = sample_faces()["astronaut"]
    geometry = analyse_face(face)
    if geometry is None:  # the bundled sample always has a face; guard for the type checker
        raise RuntimeError("the sample face was not found")
    landmarks = geometry.detection.landmarks
    skin = facial_skin(face, landmarks)
    rng = np.random.default_rng(seed)
    first = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
    visits = []
    for i, level in enumerate(DEMO_REDNESS):
        painted = render_face(
            face,
            to_canonical=geometry.to_canonical,
            skin=skin,
            mm_per_px=geometry.mm_per_px,
            seed=seed,
            redness=level,
        ).srgb_u8()
        photo = apply_recapture(repeatability_scene(painted), sample_recapture(rng))
        visits.append((first + timedelta(days=30 * i), photo))
    return visits


def load_demo(base_url: str, key: str, *, timeout_s: float = 120.0) -> str | None:
    """Upload the demo patient's visits to a running service; return the patient id.

    Waits for ``/healthz``; does nothing (returns None) when the clinic already has the demo
    patient, so restarting ``skinscan serve --demo`` does not duplicate it.
    """
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s) as client:
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the service at {base_url} did not come up")
            time.sleep(0.2)
        created = client.post("/api/v1/patients", json={"external_id": DEMO_PATIENT})
        if created.status_code == 409:
            return None
        created.raise_for_status()
        patient_id = str(created.json()["id"])
        for taken_at, photo in demo_visits():
            answer = client.post(
                f"/api/v1/patients/{patient_id}/visits",
                files={"photo": ("visit.jpg", photo, "image/jpeg")},
                data={"taken_at": taken_at.isoformat()},
            )
            answer.raise_for_status()
    return patient_id
