"""Request and response bodies of the HTTP API (Create / Public pairs, snake_case fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CodedError",
    "ConcernProgress",
    "ErrorDetail",
    "Health",
    "PatientCreate",
    "PatientPublic",
    "PlainError",
    "ProgressPublic",
    "SeriesPoint",
    "SignificantChange",
    "TrendPublic",
    "ValidationErrors",
    "VisitError",
    "VisitPublic",
    "VisitSummary",
]

VisitStatus = Literal["pending", "running", "done", "failed"]


class ErrorDetail(BaseModel):
    """The ``detail`` of a 413/422 answer: a machine code and one line for a person."""

    code: str = Field(description="e.g. `truncated`, `not_an_image`, `file_too_large`")
    message: str


class CodedError(BaseModel):
    """An error answer with a machine code: 409 of a retry or FHIR export, 413, 422 of a photo."""

    detail: ErrorDetail


class PlainError(BaseModel):
    """An error answer with one line for a person: 401, 403, 404, 409 of a patient."""

    detail: str


class ValidationErrors(BaseModel):
    """422 for a request that does not match the schema: one entry per offending field."""

    detail: list[dict[str, Any]]


class PatientCreate(BaseModel):
    """A new pseudonymous patient: the clinic's own identifier, nothing that names a person."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(
        min_length=1,
        max_length=200,
        # No NUL (PostgreSQL text cannot hold one); checking the pattern also refuses text that
        # is not Unicode (a lone surrogate from a JSON escape), which no database can store.
        pattern=r"^[^\x00]*$",
        description="Unique per clinic.",
    )


class VisitSummary(BaseModel):
    """A visit in the patient's list."""

    id: str
    taken_at: datetime
    status: VisitStatus
    quality_ok: bool | None = Field(description="None until assessed.")
    severities: dict[str, float] | None = Field(
        description="Severity 0–100 per concern; None until assessed or when rejected."
    )


class PatientPublic(BaseModel):
    """A patient and their visits, oldest first."""

    id: str
    external_id: str
    created_at: datetime
    visits: list[VisitSummary]


class VisitError(BaseModel):
    """Why a visit failed; ``retryable`` visits can be re-run with ``POST …/retry``."""

    code: str
    message: str
    retryable: bool


class VisitPublic(BaseModel):
    """A visit: its photo, status and, once done, its ``skinscan.assessment/1`` record."""

    id: str
    patient_id: str
    photo_sha256: str
    taken_at: datetime
    status: VisitStatus
    attempts: int
    duplicate: bool = Field(
        default=False, description="True when this photo had already been uploaded for the patient."
    )
    error: VisitError | None = None
    assessment: dict[str, Any] | None = Field(
        default=None, description="skinscan.assessment/1, once status is `done`."
    )
    maps: list[str] = Field(
        default_factory=list, description="Overlay names, for `GET /visits/{id}/maps/{name}`."
    )
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None


class SeriesPoint(BaseModel):
    """One assessed visit in a concern's series (severity None: rejected by the quality gate)."""

    visit_id: str
    taken_at: datetime
    severity: float | None
    grade: int | None


class TrendPublic(BaseModel):
    """Least-squares rate of change (points per 30 days) with its 95 % interval."""

    n: int
    span_days: float
    slope_per_30_days: float | None
    ci95: list[float] | None
    direction: Literal["improving", "worsening", "stable", "undetermined"]


class SignificantChange(BaseModel):
    """The latest change between consecutive assessed visits larger than MDC95."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    delta: float | None
    mdc95: float | None
    direction: str


class ConcernProgress(BaseModel):
    """One concern over the patient's visits."""

    series: list[SeriesPoint]
    trend: TrendPublic
    latest_significant_change: SignificantChange | None


class ProgressPublic(BaseModel):
    """Per concern: the series over assessed visits, its trend, the latest significant change."""

    patient_id: str
    visits: int = Field(description="Assessed visits (status `done`) in the series.")
    concerns: dict[str, ConcernProgress]


class Health(BaseModel):
    """Liveness and database reachability."""

    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    version: str
