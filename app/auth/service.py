"""API keys: created once and shown once, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import origins
from app.auth.models import ApiKey, Role
from app.core.db import utcnow

KEY_PREFIX = "kefu_"
_KEY_RE = re.compile(r"^kefu_[A-Za-z0-9_-]{40,64}$")
_LOOKUP_CHARS = len(KEY_PREFIX) + 8


class InvalidKey(Exception):
    """Malformed or unknown: the caller is not authenticated (401)."""


class RevokedKey(Exception):
    """A real key that has been revoked (403)."""


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_well_formed(secret: str) -> bool:
    return bool(_KEY_RE.match(secret))


def create(
    *,
    db_session: Session,
    name: str,
    role: Role,
    rate_limit_per_minute: int | None = None,
    allowed_origins: list[str] | None = None,
) -> NewKey:
    """A new key; origins.InvalidOrigin (nothing stored) if an allowed origin is not one."""
    allowed = origins.normalise_allowed(allowed_origins or [])
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        role=role,
        prefix=secret[:_LOOKUP_CHARS],
        key_hash=hash_key(secret),
        rate_limit_per_minute=rate_limit_per_minute,
        allowed_origins=allowed,
        revoked=False,
    )
    db_session.add(key)
    db_session.flush()
    return NewKey(key=key, secret=secret)


def list_keys(*, db_session: Session, include_revoked: bool = True) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked.is_(False))
    return list(db_session.scalars(stmt))


def get(*, db_session: Session, key_id: int) -> ApiKey | None:
    return db_session.get(ApiKey, key_id)


def revoke(*, db_session: Session, key_id: int) -> ApiKey | None:
    key = db_session.get(ApiKey, key_id)
    if key is not None and not key.revoked:
        key.revoked = True
        key.revoked_at = utcnow()
        db_session.flush()
    return key


def authenticate(*, db_session: Session, secret: str) -> ApiKey:
    """Return the key for ``secret`` or raise InvalidKey / RevokedKey."""
    if not is_well_formed(secret):
        raise InvalidKey("malformed API key")
    digest = hash_key(secret)
    candidates = db_session.scalars(
        select(ApiKey).where(ApiKey.prefix == secret[:_LOOKUP_CHARS])
    ).all()
    for key in candidates:
        if hmac.compare_digest(key.key_hash, digest):
            if key.revoked:
                raise RevokedKey("API key has been revoked")
            return key
    raise InvalidKey("unknown API key")


def set_allowed_origins(*, db_session: Session, key_id: int, allowed: list[str]) -> ApiKey | None:
    """Replace a key's allowed host-page origins; origins.InvalidOrigin (nothing changed)."""
    normalised = origins.normalise_allowed(allowed)
    key = db_session.get(ApiKey, key_id)
    if key is not None:
        key.allowed_origins = normalised
        db_session.flush()
    return key
