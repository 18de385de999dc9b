"""A visit's ``skinscan.assessment/1`` as a FHIR R4B Bundle of Observations.

:func:`visit_bundle` builds the Bundle that ``GET /api/v1/visits/{id}/fhir`` answers: one
Observation per concern (severity, grade, one component per measure and per region), the photo
as a Media resource identified by its SHA-256 (no pixel data) and the software as a Device
resource. A photo the quality gate rejected gives one "photo quality" Observation instead of the
concern Observations. Every resource is validated with ``fhir.resources`` (its R4B models,
FHIR 4.3.0, whose Observation, Media, Device and Bundle are those of R4 4.0.1).

Codes come from LOINC, SNOMED CT, DICOM and HL7 terminology only where this module uses a
published code (observation category, media type, modality, data-absent reason, the face as a
body site); the concerns, measures, regions and quality checks have no standard code and use the
skinscan code systems under :data:`SKINSCAN_FHIR`. ``docs/serve/fhir.md`` has the mapping.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.media import Media
from fhir.resources.R4B.observation import Observation

__all__ = [
    "CONCERN_DISPLAYS",
    "CONCERN_SYSTEM",
    "DATA_ABSENT_REASON",
    "FHIR_VERSION",
    "MEASURE_CODES",
    "MEASURE_SYSTEM",
    "OBSERVATION_SYSTEM",
    "PHOTO_SHA256_SYSTEM",
    "QUALITY_ISSUE_SYSTEM",
    "QUALITY_SYSTEM",
    "REGION_DISPLAYS",
    "REGION_SYSTEM",
    "SKINSCAN_FHIR",
    "UCUM",
    "VISIT_SYSTEM",
    "MeasureCode",
    "visit_bundle",
]

#: The FHIR version of the resources :func:`visit_bundle` builds (R4B).
FHIR_VERSION = "4.3.0"

#: Base of skinscan's own code systems and identifier systems.
SKINSCAN_FHIR = "https://skinscan.dev/fhir"
CONCERN_SYSTEM = f"{SKINSCAN_FHIR}/CodeSystem/concern"
MEASURE_SYSTEM = f"{SKINSCAN_FHIR}/CodeSystem/measure"
REGION_SYSTEM = f"{SKINSCAN_FHIR}/CodeSystem/region"
QUALITY_SYSTEM = f"{SKINSCAN_FHIR}/CodeSystem/quality"
QUALITY_ISSUE_SYSTEM = f"{SKINSCAN_FHIR}/CodeSystem/quality-issue"
PHOTO_SHA256_SYSTEM = f"{SKINSCAN_FHIR}/NamingSystem/photo-sha256"
VISIT_SYSTEM = f"{SKINSCAN_FHIR}/NamingSystem/visit"
OBSERVATION_SYSTEM = f"{SKINSCAN_FHIR}/NamingSystem/observation"

UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

# Resource ids are UUIDs derived from the visit, the photo and the models, so the same visit
# always gives the same Bundle and a receiver can update rather than duplicate.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, SKINSCAN_FHIR)

CONCERN_DISPLAYS: dict[str, str] = {
    "redness": "Redness severity",
    "pigment": "Pigmentation severity",
    "texture": "Texture severity",
    "wrinkles": "Wrinkle severity",
}

REGION_DISPLAYS: dict[str, str] = {
    "forehead": "Forehead",
    "glabella": "Glabella",
    "periorbital_left": "Periorbital, left",
    "periorbital_right": "Periorbital, right",
    "undereye_left": "Under-eye, left",
    "undereye_right": "Under-eye, right",
    "cheek_left": "Cheek, left",
    "cheek_right": "Cheek, right",
    "nose": "Nose",
    "nasolabial_left": "Nasolabial, left",
    "nasolabial_right": "Nasolabial, right",
    "perioral": "Perioral",
    "chin": "Chin",
    "site": "Body site (the assessed skin area)",
}


@dataclass(frozen=True)
class MeasureCode:
    """How one measure becomes an Observation component.

    Attributes
    ----------
    display : str
        Display of the component code (in :data:`MEASURE_SYSTEM`, the code is the measure key).
    ucum : str
        UCUM code, ``valueQuantity.code``.
    unit : str
        Human-readable unit, ``valueQuantity.unit``.
    """

    display: str
    ucum: str
    unit: str


#: Every measure key of ``skinscan.measures.MEASURE_KEYS``: component display and UCUM unit.
#: CIELAB differences, indices and ratios are dimensionless in UCUM (``1``); the unit text says
#: which scale they are on.
MEASURE_CODES: dict[str, MeasureCode] = {
    # redness
    "a_star": MeasureCode("Mean a* (CIELAB, D65)", "1", "CIELAB a*"),
    "a_star_p90": MeasureCode("90th percentile of a* (CIELAB, D65)", "1", "CIELAB a*"),
    "erythema_index": MeasureCode("Erythema index, 100·log10(R/G)", "1", "EI units"),
    "red_area_pct": MeasureCode("Share of skin above the blood baseline", "%", "%"),
    "delta_a_star": MeasureCode("Mean a* above the person's baseline", "1", "CIELAB a*"),
    "hemoglobin_mean": MeasureCode("Mean dermal blood volume fraction", "%", "%"),
    "delta_hemoglobin": MeasureCode(
        "Mean dermal blood above the person's baseline", "%", "percentage points"
    ),
    # pigment
    "ita_deg": MeasureCode("Individual typology angle (ITA)", "deg", "°"),
    "ita_category": MeasureCode(
        "ITA skin colour category (0 very light … 5 dark)", "1", "category 0–5"
    ),
    "melanin_index": MeasureCode("Melanin index, 100·log10(1/R)", "1", "MI units"),
    "spot_count": MeasureCode("Pigmented spot count", "{count}", "spots"),
    "spot_area_pct": MeasureCode("Share of skin in pigmented spots", "%", "%"),
    "spot_contrast_de00": MeasureCode("Mean spot colour contrast (CIEDE2000)", "1", "ΔE00"),
    "evenness_sd": MeasureCode("Lightness unevenness, robust SD of L*", "1", "CIELAB L*"),
    "melanin_mean": MeasureCode("Mean epidermal melanin volume fraction", "%", "%"),
    "melanin_variation": MeasureCode(
        "Melanin variation relative to the mean melanin", "1", "ratio"
    ),
    # texture
    "roughness": MeasureCode("Roughness, RMS of the 0.2–1 mm band of L*", "1", "CIELAB L*"),
    "pore_density_per_cm2": MeasureCode("Visible pore density", "/cm2", "per cm²"),
    "pore_mean_size_mm": MeasureCode("Mean pore diameter", "mm", "mm"),
    "glcm_contrast": MeasureCode("GLCM contrast", "1", "grey levels²"),
    "glcm_homogeneity": MeasureCode("GLCM homogeneity (inverse difference)", "1", "1"),
    "glcm_entropy": MeasureCode("GLCM joint entropy", "bit", "bit"),
    # wrinkles
    "length_mm_per_cm2": MeasureCode("Wrinkle length per skin area", "mm/cm2", "mm/cm²"),
    "area_pct": MeasureCode("Share of skin in wrinkles", "%", "%"),
    "count": MeasureCode("Wrinkle count", "{count}", "wrinkles"),
    "mean_width_mm": MeasureCode("Mean wrinkle width", "mm", "mm"),
    "depth_proxy": MeasureCode("Mean wrinkle depth, top-hat of L*", "1", "CIELAB L*"),
}

_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
    "DICOM": "application/dicom",
}

_FACE = {
    "coding": [{"system": SNOMED, "code": "89545001", "display": "Face structure"}],
    "text": "Face",
}
_BODY_SITE = {"text": "Skin site photographed with the body-site protocol (not coded)"}
_CATEGORIES = [
    {
        "coding": [{"system": OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}],
    },
    {
        "coding": [{"system": OBSERVATION_CATEGORY, "code": "imaging", "display": "Imaging"}],
    },
]
_NOT_A_NUMBER = {
    "coding": [
        {"system": DATA_ABSENT_REASON, "code": "not-a-number", "display": "Not a Number (NaN)"}
    ]
}
_UNKNOWN = {"coding": [{"system": DATA_ABSENT_REASON, "code": "unknown", "display": "Unknown"}]}


def visit_bundle(
    visit_id: str,
    patient_id: str,
    taken_at: datetime,
    assessment: Mapping[str, Any],
    photo_sha256: str,
    base_url: str = "",
) -> dict[str, Any]:
    """The FHIR R4B Bundle (type ``collection``) of one visit's assessment.

    Parameters
    ----------
    visit_id : str
        The visit; the Bundle's identifier and the seed of the resource ids.
    patient_id : str
        The patient's id; every Observation and the Media have subject ``Patient/{patient_id}``.
    taken_at : datetime
        When the photo was taken: ``effectiveDateTime`` and ``Media.createdDateTime``. A naive
        datetime is taken as UTC.
    assessment : mapping
        A ``skinscan.assessment/1`` record (``Assessment.to_dict()``, or the stored JSON).
    photo_sha256 : str
        SHA-256 of the photo file, hex; the Media's identifier.
    base_url : str, optional
        FHIR base URL. Given, each ``fullUrl`` is ``{base_url}/{type}/{id}``; empty (default),
        ``urn:uuid:{id}``. References inside the Bundle use the ``fullUrl``.

    Returns
    -------
    dict
        The Bundle as JSON-ready data (``json.dumps(..., allow_nan=False)`` works): a Media for
        the photo, a Device for the software, then one Observation per concern in the order of
        the assessment, or, for a rejected photo (``concerns`` null), one Observation coded
        ``photo-quality`` with value ``rejected`` and one component per quality issue.

    Raises
    ------
    ValueError
        ``photo_sha256`` is not 64 hex digits, or ``fhir.resources`` refuses a resource
        (``pydantic.ValidationError`` is a ``ValueError``).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> import skinscan
    >>> a = skinscan.assess("visit.jpg").to_dict()  # doctest: +SKIP
    >>> b = visit_bundle("v1", "p1", datetime.now(UTC), a, a["photo"]["sha256"])  # doctest: +SKIP
    >>> [e["resource"]["resourceType"] for e in b["entry"]]  # doctest: +SKIP
    ['Media', 'Device', 'Observation', 'Observation', 'Observation', 'Observation']
    """
    sha = photo_sha256.lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"photo_sha256 must be 64 hex digits, got {photo_sha256!r}")
    when = taken_at if taken_at.tzinfo is not None else taken_at.replace(tzinfo=UTC)
    base = base_url.rstrip("/")

    def entry_url(resource_type: str, resource_id: str) -> str:
        return f"{base}/{resource_type}/{resource_id}" if base else f"urn:uuid:{resource_id}"

    subject = {"reference": f"Patient/{patient_id}"}
    concerns = assessment.get("concerns")
    body_site = _body_site(assessment)
    models = list(assessment.get("models") or [])

    media_id = _uuid(f"media/{patient_id}/{sha}")
    media_url = entry_url("Media", media_id)
    device_id = _uuid("device/" + json.dumps(models, sort_keys=True))
    device_url = entry_url("Device", device_id)
    device_ref = {"reference": device_url, "display": _device_display(models)}
    note = [{"text": _note(assessment)}]

    entries: list[tuple[str, Any]] = [
        (
            media_url,
            Media.model_validate(
                _media(media_id, sha, subject, when, body_site, assessment.get("photo"), note)
            ),
        ),
        (device_url, Device.model_validate(_device(device_id, models))),
    ]
    common = {
        "subject": subject,
        "effectiveDateTime": when,
        "bodySite": body_site,
        "device": device_ref,
        "derivedFrom": [{"reference": media_url}],
        "note": note,
    }
    if concerns is None:
        obs_id = _uuid(f"observation/{visit_id}/photo-quality")
        resource = _quality_observation(obs_id, visit_id, assessment.get("quality") or {})
        entries.append(
            (entry_url("Observation", obs_id), Observation.model_validate(resource | common))
        )
    else:
        for concern, result in concerns.items():
            obs_id = _uuid(f"observation/{visit_id}/{concern}")
            resource = _concern_observation(obs_id, visit_id, concern, result)
            entries.append(
                (entry_url("Observation", obs_id), Observation.model_validate(resource | common))
            )

    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": _uuid(f"bundle/{visit_id}"),
            "identifier": {"system": VISIT_SYSTEM, "value": str(visit_id)},
            "type": "collection",
            "entry": [{"fullUrl": url, "resource": resource} for url, resource in entries],
        }
    )
    out: dict[str, Any] = bundle.model_dump(mode="json")
    return out


def _uuid(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _body_site(assessment: Mapping[str, Any]) -> dict[str, Any]:
    """The face (SNOMED CT) for face photos; text only for a body-site photo."""
    concerns = assessment.get("concerns")
    if concerns:
        regions = {name for result in concerns.values() for name in result.get("regions", {})}
        if regions and regions <= {"site"}:
            return _BODY_SITE
        return _FACE
    face = assessment.get("face") or {}
    return _FACE if face.get("found") else _BODY_SITE


def _device_display(models: Sequence[Mapping[str, Any]]) -> str:
    names = ", ".join(f"{m.get('name')} {m.get('version')}" for m in models)
    return f"skinscan ({names})" if names else "skinscan"


def _device(device_id: str, models: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": device_id,
        "deviceName": [{"name": "skinscan", "type": "model-name"}],
        "type": {"text": "Skin photo assessment software"},
        "version": [
            {"type": {"text": str(m.get("name"))}, "value": str(m.get("version"))} for m in models
        ],
        "note": [
            {
                "text": "Versions of the models behind the assessment; the version of "
                "skinscan-classical is the calibration version of the severity scoring table."
            }
        ],
    }


def _media(
    media_id: str,
    sha: str,
    subject: dict[str, str],
    when: datetime,
    body_site: dict[str, Any],
    photo: Mapping[str, Any] | None,
    note: list[dict[str, str]],
) -> dict[str, Any]:
    photo = photo or {}
    content: dict[str, Any] = {"title": f"Photo, SHA-256 {sha}", "creation": when}
    content_type = _CONTENT_TYPES.get(str(photo.get("format", "")).upper())
    if content_type is not None:
        content["contentType"] = content_type
    media: dict[str, Any] = {
        "resourceType": "Media",
        "id": media_id,
        "identifier": [{"system": PHOTO_SHA256_SYSTEM, "value": sha}],
        "status": "completed",
        "type": {"coding": [{"system": MEDIA_TYPE, "code": "image", "display": "Image"}]},
        "modality": {
            "coding": [{"system": DICOM, "code": "XC", "display": "External-camera Photography"}]
        },
        "subject": subject,
        "createdDateTime": when,
        "bodySite": body_site,
        "content": content,
        "note": note,
    }
    for key in ("width", "height"):
        if isinstance(photo.get(key), int) and photo[key] > 0:
            media[key] = photo[key]
    return media


def _note(assessment: Mapping[str, Any]) -> str:
    calibration = assessment.get("calibration") or {}
    method = calibration.get("method") or "none"
    delta = _finite(calibration.get("delta_e00"))
    colour = f"Colour calibration: {method}, " + (
        f"ΔE00 {delta:.2f}." if delta is not None else "ΔE00 not measured."
    )
    quality = assessment.get("quality") or {}
    issues = quality.get("issues") or []
    status = "passed" if quality.get("ok") else "rejected"
    text = f"{colour} Photo quality gate: {status}"
    if issues:
        text += "; " + "; ".join(
            f"{issue.get('level')} {issue.get('code')}: {issue.get('message')}" for issue in issues
        )
    return text + "."


def _quantity(value: float, code: str, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _score(value: Any) -> dict[str, Any]:
    number = _finite(value)
    if number is None:
        return {"dataAbsentReason": _NOT_A_NUMBER}
    return {"valueQuantity": _quantity(number, "{score}", "{score}")}


def _measure_component(key: str, value: Any) -> dict[str, Any]:
    spec = MEASURE_CODES.get(key)
    coding = {"system": MEASURE_SYSTEM, "code": key}
    if spec is not None:
        coding["display"] = spec.display
    component: dict[str, Any] = {"code": {"coding": [coding], "text": key}}
    number = _finite(value)
    if number is None:
        component["dataAbsentReason"] = _NOT_A_NUMBER
    elif spec is None:  # a measure newer than the table: the number, without a unit claim
        component["valueQuantity"] = {"value": number}
    else:
        component["valueQuantity"] = _quantity(number, spec.ucum, spec.unit)
    return component


def _region_component(concern: str, region: str, result: Mapping[str, Any]) -> dict[str, Any]:
    display = REGION_DISPLAYS.get(region, region.replace("_", " ").capitalize())
    return {
        "code": {
            "coding": [{"system": REGION_SYSTEM, "code": region, "display": display}],
            "text": f"{CONCERN_DISPLAYS.get(concern, concern)}, {display}",
        },
        **_score(result.get("severity")),
    }


def _concern_observation(
    obs_id: str, visit_id: str, concern: str, result: Mapping[str, Any]
) -> dict[str, Any]:
    display = CONCERN_DISPLAYS.get(concern, f"{concern.capitalize()} severity")
    grade = result.get("grade")
    grade_component: dict[str, Any] = {
        "code": {
            "coding": [{"system": MEASURE_SYSTEM, "code": "grade", "display": "Grade (0–4)"}],
            "text": "grade",
        }
    }
    if isinstance(grade, int) and not isinstance(grade, bool):
        grade_component["valueInteger"] = grade
    else:
        grade_component["dataAbsentReason"] = _UNKNOWN
    components = [grade_component]
    components += [
        _measure_component(key, value) for key, value in (result.get("measures") or {}).items()
    ]
    components += [
        _region_component(concern, region, region_result)
        for region, region_result in (result.get("regions") or {}).items()
    ]
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "identifier": [{"system": OBSERVATION_SYSTEM, "value": f"{visit_id}/{concern}"}],
        "status": "final",
        "category": _CATEGORIES,
        "code": {
            "coding": [{"system": CONCERN_SYSTEM, "code": concern, "display": display}],
            "text": display,
        },
        **_score(result.get("severity")),
        "component": components,
    }


def _quality_observation(obs_id: str, visit_id: str, quality: Mapping[str, Any]) -> dict[str, Any]:
    components = []
    for issue in quality.get("issues") or []:
        code = str(issue.get("code"))
        component: dict[str, Any] = {
            "code": {
                "coding": [{"system": QUALITY_ISSUE_SYSTEM, "code": code, "display": code}],
                "text": str(issue.get("message") or code),
            },
            "interpretation": [
                {
                    "coding": [{"system": QUALITY_SYSTEM, "code": str(issue.get("level"))}],
                    "text": str(issue.get("level")),
                }
            ],
        }
        value = _finite(issue.get("value"))
        if value is None:
            component["dataAbsentReason"] = _UNKNOWN
        else:
            component["valueQuantity"] = {"value": value}
        limit = _finite(issue.get("limit"))
        if limit is not None:
            component["referenceRange"] = [{"text": f"limit {limit:g}"}]
        components.append(component)
    rejected = not quality.get("ok", False)
    verdict = "rejected" if rejected else "accepted"
    result: dict[str, Any] = {
        "resourceType": "Observation",
        "id": obs_id,
        "identifier": [{"system": OBSERVATION_SYSTEM, "value": f"{visit_id}/photo-quality"}],
        "status": "final",
        "category": [_CATEGORIES[1]],
        "code": {
            "coding": [
                {"system": QUALITY_SYSTEM, "code": "photo-quality", "display": "Photo quality gate"}
            ],
            "text": "Photo quality gate",
        },
        "valueCodeableConcept": {
            "coding": [
                {
                    "system": QUALITY_SYSTEM,
                    "code": verdict,
                    "display": f"{verdict.capitalize()} by the quality gate",
                }
            ],
            "text": f"Photo {verdict} by the quality gate; the concerns were not assessed"
            if rejected
            else f"Photo {verdict} by the quality gate",
        },
    }
    if components:
        result["component"] = components
    return result
