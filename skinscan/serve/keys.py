"""API keys: creation, listing, revocation and authentication.

A key reads ``sks_<key id>_<secret>``. The key id (12 hex digits) is not secret: it names the
key in listings, logs and the audit trail. The secret is 32 random bytes (URL-safe base64); only
its SHA-256 is stored, which is enough for a secret of that entropy (no slow hash is needed,
there is nothing to guess).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from skinscan.serve.models import ROLES, ApiKey, Clinic, utcnow

__all__ = [
    "KEY_PREFIX",
    "AuthContext",
    "KeyInfo",
    "authenticate",
    "create_key",
    "get_or_create_clinic",
    "hash_secret",
    "key_parts",
    "list_keys",
    "revoke_key",
    "secret_matches",
]

KEY_PREFIX = "sks"


@dataclass(frozen=True)
class AuthContext:
    """Who is calling: the key, its clinic and its role."""

    key_id: str
    clinic_id: str
    role: str

    @property
    def can_write(self) -> bool:
        return self.role == "clinician"


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed (never its secret)."""

    key_id: str
    clinic: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a key's secret part."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split(key: str) -> tuple[str, str] | None:
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def key_parts(key: str) -> tuple[str, str] | None:
    """``(key id, SHA-256 of the secret)`` of a well-formed key; None for a malformed one.

    What :func:`authenticate` compares with the stored row, for callers that look the row up
    themselves (:class:`skinscan.serve.ledger.ReadLedger` checks many keys in one query).
    """
    split = _split(key)
    if split is None:
        return None
    return split[0], hash_secret(split[1])


def secret_matches(stored_sha256: str, presented_sha256: str) -> bool:
    """Whether a presented secret's hash is the stored one (constant-time comparison)."""
    return hmac.compare_digest(stored_sha256, presented_sha256)


def get_or_create_clinic(session: Session, name: str) -> Clinic:
    """The clinic called ``name``, created if new."""
    clinic = session.scalar(select(Clinic).where(Clinic.name == name))
    if clinic is None:
        clinic = Clinic(name=name)
        session.add(clinic)
        session.flush()
    return clinic


def create_key(session: Session, clinic_name: str, role: str) -> tuple[KeyInfo, str]:
    """Create a key for ``clinic_name`` (creating the clinic if new).

    Parameters
    ----------
    session : Session
        Open session; the caller commits.
    clinic_name : str
        The clinic (tenant) the key belongs to.
    role : {"clinician", "integration"}
        ``clinician`` reads and writes; ``integration`` only reads.

    Returns
    -------
    (KeyInfo, str)
        The key's listing and the full key — shown once, never stored.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not clinic_name.strip():
        raise ValueError("the clinic name is empty")
    clinic = get_or_create_clinic(session, clinic_name.strip())
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(id=key_id, clinic_id=clinic.id, role=role, secret_sha256=hash_secret(secret))
    session.add(row)
    session.flush()
    info = KeyInfo(key_id, clinic.name, role, row.created_at, None)
    return info, f"{KEY_PREFIX}_{key_id}_{secret}"


def list_keys(session: Session, clinic_name: str | None = None) -> list[KeyInfo]:
    """Every key (of one clinic if ``clinic_name`` is given), oldest first."""
    query = select(ApiKey, Clinic.name).join(Clinic).order_by(ApiKey.created_at, ApiKey.id)
    if clinic_name is not None:
        query = query.where(Clinic.name == clinic_name)
    return [
        KeyInfo(key.id, name, key.role, key.created_at, key.revoked_at)
        for key, name in session.execute(query).all()
    ]


def revoke_key(session: Session, key_id: str) -> KeyInfo | None:
    """Revoke a key by its id; None if there is no such key. Revoking twice keeps the first time."""
    key = session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return KeyInfo(key.id, key.clinic.name, key.role, key.created_at, key.revoked_at)


def authenticate(session: Session, key: str) -> AuthContext | None:
    """The caller behind a full key, or None for an unknown, malformed or revoked key."""
    split = _split(key)
    if split is None:
        return None
    key_id, secret = split
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if not secret_matches(row.secret_sha256, hash_secret(secret)):
        return None
    return AuthContext(key_id=row.id, clinic_id=row.clinic_id, role=row.role)
