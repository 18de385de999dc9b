"""The FHIR Bundle of a visit, built from real assessments of a real photo."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

import skinscan
from skinscan.measures import MEASURE_KEYS
from skinscan.scoring import CALIBRATION_VERSION
from skinscan.serve.fhir import (
    CONCERN_SYSTEM,
    DATA_ABSENT_REASON,
    MEASURE_CODES,
    MEASURE_SYSTEM,
    PHOTO_SHA256_SYSTEM,
    QUALITY_ISSUE_SYSTEM,
    QUALITY_SYSTEM,
    REGION_DISPLAYS,
    REGION_SYSTEM,
    UCUM,
    visit_bundle,
)
from skinscan.validation import sample_faces

TAKEN_AT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
CONCERNS = ("redness", "pigment", "texture", "wrinkles")


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return sample_faces()["astronaut"]


@pytest.fixture(scope="module")
def accepted(face: np.ndarray) -> dict[str, Any]:
    assessment = skinscan.assess(face).to_dict()
    assert assessment["concerns"] is not None
    return assessment


@pytest.fixture(scope="module")
def rejected(face: np.ndarray) -> dict[str, Any]:
    assessment = skinscan.assess(cv2.GaussianBlur(face, (0, 0), 8)).to_dict()
    assert assessment["concerns"] is None
    return assessment


@pytest.fixture(scope="module")
def body_site(face: np.ndarray) -> dict[str, Any]:
    cheek = np.ascontiguousarray(face[700:1100, 350:750])
    assessment = skinscan.assess(cheek, protocol="body-site").to_dict()
    assert assessment["concerns"] is not None
    return assessment


def _bundle(assessment: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return visit_bundle(
        "visit-1", "patient-7", TAKEN_AT, assessment, assessment["photo"]["sha256"], **kwargs
    )


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def _by_url(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def _concern_observations(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for obs in _resources(bundle, "Observation"):
        coding = obs["code"]["coding"][0]
        if coding["system"] == CONCERN_SYSTEM:
            out[coding["code"]] = obs
    return out


def _components(obs: dict[str, Any], system: str) -> dict[str, dict[str, Any]]:
    return {
        c["code"]["coding"][0]["code"]: c
        for c in obs.get("component", [])
        if c["code"]["coding"][0]["system"] == system
    }


def test_bundle_validates_and_round_trips(accepted: dict[str, Any]) -> None:
    bundle = _bundle(accepted)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    parsed = Bundle.model_validate(bundle)
    assert parsed.model_dump(mode="json") == bundle
    assert json.loads(json.dumps(bundle, allow_nan=False)) == bundle
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == [
        "Media",
        "Device",
        *["Observation"] * 4,
    ]


def test_one_observation_per_concern_with_context(accepted: dict[str, Any]) -> None:
    bundle = _bundle(accepted)
    observations = _concern_observations(bundle)
    assert sorted(observations) == sorted(CONCERNS)
    resources = _by_url(bundle)
    for concern, obs in observations.items():
        assert obs["status"] == "final"
        assert {c["coding"][0]["code"] for c in obs["category"]} == {"exam", "imaging"}
        assert obs["subject"] == {"reference": "Patient/patient-7"}
        assert obs["effectiveDateTime"] == "2024-05-01T09:30:00Z"
        assert obs["bodySite"]["coding"] == [
            {"system": "http://snomed.info/sct", "code": "89545001", "display": "Face structure"}
        ]
        assert resources[obs["device"]["reference"]]["resourceType"] == "Device"
        assert f"skinscan-classical {CALIBRATION_VERSION}" in obs["device"]["display"]
        (derived,) = obs["derivedFrom"]
        assert resources[derived["reference"]]["resourceType"] == "Media"
        assert obs["valueQuantity"] == {
            "value": accepted["concerns"][concern]["severity"],
            "unit": "{score}",
            "system": UCUM,
            "code": "{score}",
        }
        assert "Colour calibration: gray" in obs["note"][0]["text"]
        assert "quality gate: passed" in obs["note"][0]["text"]


def test_components_per_measure_and_region(accepted: dict[str, Any]) -> None:
    observations = _concern_observations(_bundle(accepted))
    for concern in CONCERNS:
        result = accepted["concerns"][concern]
        obs = observations[concern]
        measures = _components(obs, MEASURE_SYSTEM)
        assert measures.pop("grade")["valueInteger"] == result["grade"]
        assert list(measures) == list(MEASURE_KEYS[concern])
        for key, component in measures.items():
            quantity = component["valueQuantity"]
            assert quantity["value"] == result["measures"][key]
            assert quantity["system"] == UCUM
            assert quantity["code"] == MEASURE_CODES[key].ucum
        regions = _components(obs, REGION_SYSTEM)
        assert list(regions) == list(result["regions"])
        assert len(regions) == 13
        for region, component in regions.items():
            assert component["valueQuantity"]["value"] == result["regions"][region]["severity"]
            assert component["valueQuantity"]["code"] == "{score}"
        assert len(obs["component"]) == 1 + len(MEASURE_KEYS[concern]) + len(regions)


def test_units_of_named_measures(accepted: dict[str, Any]) -> None:
    observations = _concern_observations(_bundle(accepted))

    def unit(concern: str, key: str) -> str:
        code: str = _components(observations[concern], MEASURE_SYSTEM)[key]["valueQuantity"]["code"]
        return code

    assert unit("redness", "red_area_pct") == "%"
    assert unit("redness", "a_star") == "1"
    assert unit("pigment", "ita_deg") == "deg"
    assert unit("texture", "pore_density_per_cm2") == "/cm2"
    assert unit("texture", "pore_mean_size_mm") == "mm"
    assert unit("wrinkles", "length_mm_per_cm2") == "mm/cm2"
    assert unit("wrinkles", "count") == "{count}"


def test_measure_table_covers_every_measure_key() -> None:
    keys = [key for concern in MEASURE_KEYS.values() for key in concern]
    assert len(keys) == len(set(keys)), "a measure code must name one measure"
    assert set(MEASURE_CODES) == set(keys)
    allowed = {"1", "%", "deg", "mm", "/cm2", "mm/cm2", "{count}", "bit"}
    assert {code.ucum for code in MEASURE_CODES.values()} <= allowed


def test_device_names_models_and_versions(accepted: dict[str, Any]) -> None:
    (device,) = _resources(_bundle(accepted), "Device")
    versions = {v["type"]["text"]: v["value"] for v in device["version"]}
    assert versions == {m["name"]: m["version"] for m in accepted["models"]}
    assert versions["skinscan-classical"] == CALIBRATION_VERSION
    assert device["deviceName"][0]["name"] == "skinscan"


def test_media_carries_sha256_and_no_pixel_data(accepted: dict[str, Any]) -> None:
    (media,) = _resources(_bundle(accepted), "Media")
    assert media["identifier"] == [
        {"system": PHOTO_SHA256_SYSTEM, "value": accepted["photo"]["sha256"]}
    ]
    assert media["subject"] == {"reference": "Patient/patient-7"}
    assert media["createdDateTime"] == "2024-05-01T09:30:00Z"
    assert (media["width"], media["height"]) == (1400, 1400)
    assert "data" not in media["content"]
    assert "url" not in media["content"]
    assert "contentType" not in media["content"]  # an array has no file format


def test_rejected_photo_gives_one_quality_observation(rejected: dict[str, Any]) -> None:
    bundle = _bundle(rejected)
    Bundle.model_validate(bundle)
    json.dumps(bundle, allow_nan=False)
    assert _concern_observations(bundle) == {}
    (obs,) = _resources(bundle, "Observation")
    assert obs["code"]["coding"][0] == {
        "system": QUALITY_SYSTEM,
        "code": "photo-quality",
        "display": "Photo quality gate",
    }
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == "rejected"
    assert obs["status"] == "final"
    issues = _components(obs, QUALITY_ISSUE_SYSTEM)
    assert list(issues) == [issue["code"] for issue in rejected["quality"]["issues"]]
    assert "blur" in issues
    blur = next(i for i in rejected["quality"]["issues"] if i["code"] == "blur")
    assert issues["blur"]["valueQuantity"]["value"] == blur["value"]
    assert issues["blur"]["interpretation"][0]["text"] == "reject"
    resources = _by_url(bundle)
    assert resources[obs["derivedFrom"][0]["reference"]]["resourceType"] == "Media"
    assert resources[obs["device"]["reference"]]["resourceType"] == "Device"
    assert obs["subject"] == {"reference": "Patient/patient-7"}
    assert "rejected" in obs["note"][0]["text"]


def test_missing_measures_use_data_absent_reason(accepted: dict[str, Any]) -> None:
    assessment = copy.deepcopy(accepted)
    assessment["concerns"]["texture"]["measures"]["pore_mean_size_mm"] = None
    assessment["concerns"]["texture"]["measures"]["glcm_entropy"] = float("nan")
    assessment["concerns"]["texture"]["regions"]["chin"]["severity"] = None
    bundle = _bundle(assessment)
    Bundle.model_validate(bundle)
    json.dumps(bundle, allow_nan=False)
    texture = _concern_observations(bundle)["texture"]
    measures = _components(texture, MEASURE_SYSTEM)
    for key in ("pore_mean_size_mm", "glcm_entropy"):
        assert "valueQuantity" not in measures[key]
        assert measures[key]["dataAbsentReason"]["coding"][0] == {
            "system": DATA_ABSENT_REASON,
            "code": "not-a-number",
            "display": "Not a Number (NaN)",
        }
    assert "valueQuantity" in measures["roughness"]
    chin = _components(texture, REGION_SYSTEM)["chin"]
    assert "valueQuantity" not in chin
    assert chin["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"


def test_body_site_photo_has_text_only_body_site(body_site: dict[str, Any]) -> None:
    bundle = _bundle(body_site)
    Bundle.model_validate(bundle)
    observations = _concern_observations(bundle)
    assert sorted(observations) == sorted(CONCERNS)
    for obs in observations.values():
        assert "coding" not in obs["bodySite"]
        assert obs["bodySite"]["text"]
        assert list(_components(obs, REGION_SYSTEM)) == ["site"]
    (device,) = _resources(bundle, "Device")
    # Exactly the models behind the record (the classical measures, and any trained model).
    assert [(v["type"]["text"], v["value"]) for v in device["version"]] == [
        (m["name"], m["version"]) for m in body_site["models"]
    ]
    assert "skinscan-classical" in {v["type"]["text"] for v in device["version"]}


def test_full_urls_and_references(accepted: dict[str, Any]) -> None:
    default = _bundle(accepted)
    assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in default["entry"])
    assert _bundle(accepted) == default  # the same visit gives the same ids

    based = _bundle(accepted, base_url="https://ehr.example/fhir/")
    Bundle.model_validate(based)
    for e in based["entry"]:
        resource = e["resource"]
        assert (
            e["fullUrl"] == f"https://ehr.example/fhir/{resource['resourceType']}/{resource['id']}"
        )
    urls = {e["fullUrl"] for e in based["entry"]}
    for obs in _resources(based, "Observation"):
        assert obs["device"]["reference"] in urls
        assert obs["derivedFrom"][0]["reference"] in urls


def test_taken_at_time_zones(accepted: dict[str, Any]) -> None:
    sha = accepted["photo"]["sha256"]
    naive = visit_bundle("v", "p", datetime(2024, 5, 1, 9, 30), accepted, sha)
    obs = _resources(naive, "Observation")[0]
    assert obs["effectiveDateTime"] == "2024-05-01T09:30:00Z"
    paris = timezone(timedelta(hours=2))
    local = visit_bundle("v", "p", datetime(2024, 5, 1, 11, 30, tzinfo=paris), accepted, sha)
    stamp = _resources(local, "Observation")[0]["effectiveDateTime"]
    assert datetime.fromisoformat(stamp) == TAKEN_AT


def test_bad_sha256_is_refused(accepted: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="64 hex"):
        visit_bundle("v", "p", TAKEN_AT, accepted, "not-a-hash")


def test_docs_match_the_code() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "serve" / "fhir.md").read_text(encoding="utf-8")
    for concern, keys in MEASURE_KEYS.items():
        for key in keys:
            code = MEASURE_CODES[key]
            row = f"| {concern} | `{key}` | {code.display} | `{code.ucum}` | {code.unit} |"
            assert row in docs
    for region, display in REGION_DISPLAYS.items():
        assert f"| `{region}` | {display} |" in docs
    examples = re.findall(r"```json\n(.*?)```", docs, flags=re.S)
    Bundle.model_validate(json.loads(examples[0]))
    Observation.model_validate(json.loads(examples[1]))
