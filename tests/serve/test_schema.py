"""Property-based tests of the whole HTTP API from its own OpenAPI schema (schemathesis).

Every operation of the app's ``/openapi.json`` is called in-process (ASGI) with generated valid
and invalid requests, and every answer goes through all of schemathesis' checks: never a 5xx,
a documented status code, content type and headers, a body that matches the documented schema,
invalid data refused, authentication enforced. The whole module runs once per database: SQLite
in a temporary data folder, then a fresh PostgreSQL database (skipped, with the reason, when no
server is reachable) — the same service, so the same answers.

Path parameters name real objects part of the time (a patient with an assessed visit, a visit a
stopped service left behind, a patient and visit of another clinic), so the success paths run as
well as the 404s. Uploads get random bytes (422 with a code). The generated run is repeated with
an integration key (reads only, never pixels) and with no valid key at all. Explicit requests
(real face photos, a retry, overlays, duplicates) go through the same checks and must get a
given status; the requests that once answered 500 are kept as regressions.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import strategies as st
from serve_support import Photos, sha256
from starlette.types import Receive, Scope, Send

from skinscan.serve import Settings, create_app, crud
from skinscan.serve.keys import authenticate, create_key
from skinscan.serve.services import Services

PATIENTS = "/api/v1/patients"
PATIENT = PATIENTS + "/{patient_id}"
UPLOAD = PATIENT + "/visits"
VISIT = "/api/v1/visits/{visit_id}"
MULTIPART = "multipart/form-data"

#: Reproducible runs of at most this many generated requests per operation (explicit and
#: coverage examples come on top); no deadline: an upload waits for its assessment (~1 s).
RUN_SETTINGS = hypothesis.settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

#: A photo the decoder cannot read is valid for the schema (any bytes) yet refused: 422 with a
#: code (413 past the size limit), which the positive-data check must accept for uploads.
CONFIG = """
[[operations]]
include-operation-id = "create_visit"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "413", "422"]
"""


def _openapi_document() -> dict[str, Any]:
    """What ``GET /openapi.json`` of the service answers (it depends on the routes only)."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(data_dir=Path(folder), environment="test"))
        document = app.openapi()
        app.state.services.engine.dispose()
    return document


@dataclass
class Known:
    """Ids of objects that exist, filled in once the app runs; generated paths use them."""

    ids: dict[str, list[str]] = field(default_factory=dict)

    def strategy(self, name: str) -> st.SearchStrategy[str]:
        return st.deferred(lambda: st.sampled_from(self.ids[name]))


class Gateway:
    """The running app behind one ASGI entry point that outlives it, its lifespan left alone.

    The schema's operations keep the ASGI app they were collected with, so the app the fixture
    starts later is reached through this. Schemathesis would also end an app's lifespan after
    every test item (stopping the worker pool, migrating and recovering again on the next
    request); the fixture runs the one lifespan of the module instead.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert self.app is not None, "the `world` fixture starts the app"
        await self.app(scope, receive, send)


KNOWN = Known()
GATEWAY = Gateway()

schema = schemathesis.openapi.from_dict(
    _openapi_document(), config=schemathesis.Config.from_str(CONFIG)
)
schema.app = GATEWAY


@schema.hook
def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
    """Generated paths also name objects that exist (of the key's clinic, or of another)."""
    names = re.findall(r"{(\w+)}", context.operation.path)
    existing = st.fixed_dictionaries({name: KNOWN.strategy(name) for name in names})
    return st.one_of(existing, strategy)


@dataclass(frozen=True)
class World:
    """The running service and what the requests can refer to."""

    client: TestClient
    clinician: dict[str, str]
    integration: dict[str, str]
    external_id: str
    patient_id: str
    visit_id: str
    interrupted_visit_id: str
    failed_visit_id: str
    foreign_patient_id: str


def _keys(services: Services, clinic: str) -> dict[str, dict[str, str]]:
    headers: dict[str, dict[str, str]] = {}
    with services.sessions() as session:
        for role in ("clinician", "integration"):
            _, key = create_key(session, clinic, role)
            headers[role] = {"Authorization": f"Bearer {key}"}
        session.commit()
    return headers


def _new_patient(client: TestClient, headers: dict[str, str], external_id: str = "") -> str:
    external_id = external_id or f"patient-{secrets.token_hex(4)}"
    response = client.post(PATIENTS, json={"external_id": external_id}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _upload(client: TestClient, headers: dict[str, str], patient_id: str, photo: bytes) -> str:
    response = client.post(
        UPLOAD.format(patient_id=patient_id),
        files={"photo": ("photo.jpg", photo, "image/jpeg")},
        data={"taken_at": "2024-01-10T09:00:00Z"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "done", response.text
    return str(response.json()["id"])


def _interrupted_visit(
    services: Services, headers: dict[str, str], patient_id: str, photo_sha256: str
) -> str:
    """A visit a stopped service left pending: now failed, ``interrupted``, retryable.

    Recorded the way an upload records it, then recovered the way a starting service does.
    """
    with services.sessions() as session:
        auth = authenticate(session, headers["Authorization"].removeprefix("Bearer "))
        assert auth is not None
        patient = crud.get_patient(session, auth.clinic_id, patient_id)
        assert patient is not None
        visit, created = crud.record_visit(
            session,
            auth,
            patient,
            sha256=photo_sha256,
            photo={},  # the photo's row exists already
            taken_at=crud.utcnow(),
            route="POST " + UPLOAD,
        )
        assert created
        visit_id = visit.id
        assert crud.recover_interrupted(session) == 1
    return visit_id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, photos: Photos
) -> Iterator[World]:
    """The service in a fresh data folder and database, with two clinics' patients and visits.

    SQLite (the file in the data folder), or a fresh PostgreSQL database. One worker process;
    an upload waits for its assessment, so no assessment outlives the request that started it
    (requests come from two event loops: the client's and schemathesis').
    """
    backend = request.param
    database_url = None
    if backend == "postgresql":
        database_url = request.getfixturevalue("postgres_databases")()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp(f"schema-{backend}"),
        database_url=database_url,
        environment="test",
        workers=1,
        sync_wait_s=60.0,
    )
    app = create_app(settings)
    services: Services = app.state.services
    with TestClient(app) as client:
        keys = _keys(services, f"clinic-{secrets.token_hex(4)}")
        clinician = keys["clinician"]
        external_id = f"patient-{secrets.token_hex(4)}"
        patient_id = _new_patient(client, clinician, external_id)
        visit_id = _upload(client, clinician, patient_id, photos.face)
        face = sha256(photos.face)

        def interrupted() -> str:
            return _interrupted_visit(services, clinician, _new_patient(client, clinician), face)

        # Another clinic's patient and visit: as invisible as ids that do not exist.
        foreign = _keys(services, f"clinic-{secrets.token_hex(4)}")["clinician"]
        foreign_patient = _new_patient(client, foreign, external_id)
        foreign_visit = _interrupted_visit(services, foreign, foreign_patient, face)
        fuzzed = interrupted()
        KNOWN.ids = {
            "patient_id": [patient_id, foreign_patient],
            "visit_id": [visit_id, fuzzed, foreign_visit],
            "name": ["regions", "calibrated", "texture", "pigment"],
        }
        GATEWAY.app = app
        try:
            yield World(
                client=client,
                clinician=clinician,
                integration=keys["integration"],
                external_id=external_id,
                patient_id=patient_id,
                visit_id=visit_id,
                interrupted_visit_id=interrupted(),
                failed_visit_id=interrupted(),
                foreign_patient_id=foreign_patient,
            )
        finally:
            GATEWAY.app = None
            KNOWN.ids = {}


def test_the_schema_is_what_the_service_serves(world: World) -> None:
    assert world.client.get("/openapi.json").json() == schema.raw_schema


# -- generated requests ------------------------------------------------------------------------


@schema.parametrize()
@RUN_SETTINGS
def test_api_with_a_clinician_key(case: Any, world: World) -> None:
    case.call_and_validate(headers=world.clinician)


@schema.parametrize()
@RUN_SETTINGS
def test_api_with_an_integration_key(case: Any, world: World) -> None:
    case.call_and_validate(headers=world.integration)


@schema.parametrize()
@RUN_SETTINGS
def test_api_without_a_valid_key(case: Any, world: World) -> None:
    case.call_and_validate()


# -- explicit requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A hand-picked request, the key it is sent with, and the answer it must get."""

    case: Any
    headers: dict[str, str]
    status: int
    code: str | None = None


def _examples(world: World, photos: Photos) -> dict[str, Example]:
    patient = {"patient_id": world.patient_id}
    visit = {"visit_id": world.visit_id}
    clinician, integration = world.clinician, world.integration

    def case(method: str, path: str, **parameters: str) -> Any:
        return schema[path][method].Case(path_parameters=parameters or None)

    def create(external_id: str) -> Any:
        return schema[PATIENTS]["POST"].Case(body={"external_id": external_id})

    def upload(photo: bytes, patient_id: str = world.patient_id, **form: str) -> Any:
        body: dict[str, Any] = {"photo": photo, **form}
        return schema[UPLOAD]["POST"].Case(
            path_parameters={"patient_id": patient_id}, body=body, media_type=MULTIPART
        )

    maps = VISIT + "/maps/{name}"
    return {
        "new patient": Example(create(f"patient-{secrets.token_hex(4)}"), clinician, 201),
        "external id taken": Example(create(world.external_id), clinician, 409),
        "new photo": Example(
            upload(photos.face_later, taken_at="2024-03-01T09:00:00+01:00"), clinician, 201
        ),
        "photo uploaded before": Example(upload(photos.face), clinician, 200),
        "truncated photo": Example(
            upload(photos.face[: len(photos.face) // 3]), clinician, 422, "truncated"
        ),
        "empty photo": Example(upload(b""), clinician, 422, "empty"),
        "text, not a photo": Example(upload(b"notes\n" * 20), clinician, 422, "not_an_image"),
        "taken_at not a time": Example(upload(photos.face, taken_at="yesterday"), clinician, 422),
        "another clinic's patient": Example(
            upload(photos.face, world.foreign_patient_id), clinician, 404
        ),
        "upload, integration key": Example(upload(photos.face), integration, 403),
        "patient": Example(case("GET", PATIENT, **patient), clinician, 200),
        "progress": Example(case("GET", PATIENT + "/progress", **patient), integration, 200),
        "visit": Example(case("GET", VISIT, **visit), integration, 200),
        "FHIR bundle": Example(case("GET", VISIT + "/fhir", **visit), integration, 200),
        "FHIR of a failed visit": Example(
            case("GET", VISIT + "/fhir", visit_id=world.failed_visit_id), clinician, 409
        ),
        "photo": Example(case("GET", VISIT + "/photo", **visit), clinician, 200),
        "photo, integration key": Example(case("GET", VISIT + "/photo", **visit), integration, 403),
        "overlay": Example(case("GET", maps, **visit, name="regions"), clinician, 200),
        "no such overlay": Example(case("GET", maps, **visit, name="nothing"), clinician, 404),
        "overlay outside": Example(case("GET", maps, **visit, name="../regions"), clinician, 404),
        "retry an interrupted visit": Example(
            case("POST", VISIT + "/retry", visit_id=world.interrupted_visit_id), clinician, 200
        ),
        "retry a done visit": Example(case("POST", VISIT + "/retry", **visit), clinician, 409),
        "health": Example(case("GET", "/healthz"), {}, 200),
    }


EXAMPLES = [
    "new patient",
    "external id taken",
    "new photo",
    "photo uploaded before",
    "truncated photo",
    "empty photo",
    "text, not a photo",
    "taken_at not a time",
    "another clinic's patient",
    "upload, integration key",
    "patient",
    "progress",
    "visit",
    "FHIR bundle",
    "FHIR of a failed visit",
    "photo",
    "photo, integration key",
    "overlay",
    "no such overlay",
    "overlay outside",
    "retry an interrupted visit",
    "retry a done visit",
    "health",
]


@pytest.mark.parametrize("name", EXAMPLES)
def test_explicit_request(name: str, world: World, photos: Photos) -> None:
    examples = _examples(world, photos)
    assert sorted(examples) == sorted(EXAMPLES)
    example = examples[name]
    response = example.case.call_and_validate(headers=example.headers)
    assert response.status_code == example.status, response.text
    if example.code is not None:
        assert response.json()["detail"]["code"] == example.code


# -- regressions: requests that answered 500 ---------------------------------------------------


ID_ROUTES = [
    ("GET", PATIENT),
    ("GET", PATIENT + "/progress"),
    ("POST", UPLOAD),
    ("GET", VISIT),
    ("POST", VISIT + "/retry"),
    ("GET", VISIT + "/fhir"),
    ("GET", VISIT + "/photo"),
    ("GET", VISIT + "/maps/regions"),
]


@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
def test_an_id_holding_nul_answers_422(world: World, method: str, route: str) -> None:
    # PostgreSQL text cannot hold NUL: the query failed (500).
    client, headers = world.client, world.clinician
    path = route.format(patient_id="a%00b", visit_id="a%00b")
    files = {"photo": ("photo.jpg", b"\xff\xd8", "image/jpeg")} if method == "POST" else None
    response = client.request(method, path, headers=headers, files=files)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"external_id": "a\\u0000b"}', "NUL, which PostgreSQL text cannot hold"),
        (b'{"external_id": "a\\ud800b"}', "a lone surrogate, which is not Unicode text"),
        (b'{"external_id": "ok", "\\udfff": 1}', "a lone surrogate in an unknown field"),
    ],
)
def test_an_external_id_no_database_can_store_answers_422(
    world: World, body: bytes, why: str
) -> None:
    # Each answered 500: the insert failed, or the 422 echoing the input could not be encoded.
    client, headers = world.client, world.clinician
    json_headers = {**headers, "Content-Type": "application/json"}
    response = client.post(PATIENTS, content=body, headers=json_headers)
    assert response.status_code == 422, (why, response.text)
    assert response.content.isascii()
    assert response.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize("taken_at", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_taken_at_out_of_range_in_utc_answers_422(
    world: World, photos: Photos, taken_at: str
) -> None:
    # A real photo passed every check, then converting taken_at to UTC overflowed (500).
    client, headers = world.client, world.clinician
    patient_id = _new_patient(client, headers)
    response = client.post(
        UPLOAD.format(patient_id=patient_id),
        files={"photo": ("photo.jpg", photos.face_later, "image/jpeg")},
        data={"taken_at": taken_at},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "taken_at"]
    visits = client.get(PATIENT.format(patient_id=patient_id), headers=headers).json()["visits"]
    assert visits == []
