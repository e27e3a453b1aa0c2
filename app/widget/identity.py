"""Signed visitor identities: the host site vouches for a logged-in customer.

Token: ``base64url(json({"customer_id", "exp"})) + "." + hex(HMAC-SHA256(secret, payload_b64))``.
The signing secret is derived per client key from ``settings.secret_key``, so operators can hand
one to each host site without a schema change, and rotating ``secret_key`` revokes them all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time

from app.core import secret_key as secret_key_module
from app.core.errors import Unauthorized

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,64}$")
_MAX_TOKEN_CHARS = 1024
_HEX_MAC = re.compile(r"^[0-9a-fA-F]{64}$")


def signing_secret(secret_key: str, key_id: int) -> str:
    """The secret a host site signs identities with, for one client key."""
    if secret_key_module.is_known_default(secret_key):
        # Anyone could sign as any customer with a published key, in any environment.
        raise RuntimeError("refusing to sign with a known default secret key")
    return hmac.new(
        secret_key.encode(), f"widget-identity:{key_id}".encode(), hashlib.sha256
    ).hexdigest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, customer_id: str, *, expires_in: int = 600, now: float | None = None) -> str:
    """What a host site does (shown here for tests and docs; sites use their own language)."""
    exp = int((now if now is not None else time.time()) + expires_in)
    payload = _b64encode(
        json.dumps({"customer_id": customer_id, "exp": exp}, separators=(",", ":")).encode()
    )
    return f"{payload}.{_mac(secret, payload)}"


def verify(token: str, secret: str, *, max_age: int, now: float | None = None) -> str:
    """The customer id a valid token vouches for; ``Unauthorized`` for anything else.

    ``max_age`` bounds how far in the future ``exp`` may lie, so a site cannot mint tokens
    that outlive the operator's policy.
    """
    now = now if now is not None else time.time()
    payload, sep, mac = token.partition(".")
    # The MAC's shape first: compare_digest raises on non-ASCII str, and a 500 helps nobody.
    if not sep or len(token) > _MAX_TOKEN_CHARS or not _HEX_MAC.match(mac):
        raise Unauthorized("malformed identity token", code="invalid_identity")
    if not hmac.compare_digest(_mac(secret, payload).encode(), mac.lower().encode()):
        raise Unauthorized("identity signature does not match", code="invalid_identity")
    try:
        claims = json.loads(_b64decode(payload))
    except (ValueError, binascii.Error) as exc:
        raise Unauthorized("malformed identity token", code="invalid_identity") from exc
    if not isinstance(claims, dict):
        raise Unauthorized("malformed identity token", code="invalid_identity")
    customer_id, exp = claims.get("customer_id"), claims.get("exp")
    if not isinstance(customer_id, str) or not _CUSTOMER_ID.match(customer_id):
        raise Unauthorized("identity has no valid customer_id", code="invalid_identity")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Unauthorized("identity has no valid exp", code="invalid_identity")
    if exp <= now:
        raise Unauthorized("identity has expired", code="identity_expired")
    if exp > now + max_age:
        raise Unauthorized(
            f"identity expires more than {max_age} s from now", code="invalid_identity"
        )
    return customer_id


def visitor_token(secret_key: str, key_id: int, visitor_id: str) -> str:
    """What the server gives a widget visitor: their id, signed for one key. Anonymous
    conversations are shown only to the holder of the token they were started with."""
    return f"{visitor_id}.{_visitor_mac(secret_key, key_id, visitor_id)}"


def verify_visitor(secret_key: str, key_id: int, token: str | None) -> str | None:
    """The visitor id of a valid token for this key; None for anything else."""
    if not token or len(token) > 200:
        return None
    visitor_id, _, mac = token.rpartition(".")
    if not _VISITOR_ID.match(visitor_id) or not _HEX_VISITOR_MAC.match(mac):
        return None
    expected = _visitor_mac(secret_key, key_id, visitor_id)
    return visitor_id if hmac.compare_digest(expected, mac) else None


_VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_HEX_VISITOR_MAC = re.compile(r"^[0-9a-f]{64}$")


def _visitor_mac(secret_key: str, key_id: int, visitor_id: str) -> str:
    return hmac.new(
        secret_key.encode(), f"widget-visitor:{key_id}:{visitor_id}".encode(), hashlib.sha256
    ).hexdigest()
