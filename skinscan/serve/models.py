"""The database tables, as typed SQLAlchemy 2 ORM classes.

Ids are opaque UUID strings (``str(uuid4())``), except ``api_keys.id`` (the short, non-secret key
id shown by ``skinscan keys list``) and ``audit_log.id`` (an integer sequence). Times are stored
in UTC and come back timezone-aware on every backend.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ROLES",
    "VISIT_STATUSES",
    "ApiKey",
    "AuditEntry",
    "Base",
    "Clinic",
    "Patient",
    "Photo",
    "UTCDateTime",
    "Visit",
    "new_id",
    "utcnow",
]

ROLES = ("clinician", "integration")
VISIT_STATUSES = ("pending", "running", "done", "failed")


def new_id() -> str:
    """A new opaque id (a random UUID as a string)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and returned timezone-aware (SQLite keeps no zone itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: JSON on SQLite, JSONB on PostgreSQL.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base of the service's tables."""


class Clinic(Base):
    """A tenant: every patient, visit and key belongs to exactly one clinic."""

    __tablename__ = "clinics"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="clinic")


class ApiKey(Base):
    """An API key: only the SHA-256 of its secret part is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    clinic: Mapped[Clinic] = relationship(back_populates="keys")


class Patient(Base):
    """A pseudonymous patient: the clinic's own ``external_id`` and nothing identifying."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("clinic_id", "external_id", name="uq_patients_clinic_ext"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    visits: Mapped[list[Visit]] = relationship(
        back_populates="patient", order_by="(Visit.taken_at, Visit.created_at)"
    )


class Photo(Base):
    """An uploaded photo file, addressed by the SHA-256 of its bytes (stored once)."""

    __tablename__ = "photos"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Visit(Base):
    """One photo of one patient and its assessment (``skinscan.assessment/1`` once done)."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("patient_id", "photo_sha256", name="uq_visits_patient_photo"),
        Index("ix_visits_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    photo_sha256: Mapped[str] = mapped_column(ForeignKey("photos.sha256"))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")
    assessment: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    error_retryable: Mapped[bool | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    patient: Mapped[Patient] = relationship(back_populates="visits")


class AuditEntry(Base):
    """Who (clinic, key) read or wrote which patient or visit, through which route, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    clinic_id: Mapped[str] = mapped_column(String(36), index=True)
    key_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(8))
    patient_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    visit_id: Mapped[str | None] = mapped_column(String(36), default=None)
    route: Mapped[str] = mapped_column(String(200))
