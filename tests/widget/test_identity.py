"""Signed visitor identities: only the host site's secret makes a token the service accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from app.core.errors import Unauthorized
from app.widget import identity

SECRET = identity.signing_secret("server-secret-0123456789", 7)
NOW = 1_700_000_000.0


def test_a_signed_token_yields_its_customer() -> None:
    token = identity.sign(SECRET, "C1001", expires_in=300, now=NOW)
    assert identity.verify(token, SECRET, max_age=3600, now=NOW) == "C1001"


def test_a_token_signed_the_documented_way_verifies() -> None:
    # What docs/widget.md tells host sites to do, written out independently.
    payload = base64.urlsafe_b64encode(
        json.dumps({"customer_id": "C2", "exp": int(NOW) + 60}).encode()
    ).rstrip(b"=")
    mac = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
    assert identity.verify(f"{payload.decode()}.{mac}", SECRET, max_age=3600, now=NOW) == "C2"


def test_secrets_differ_per_key_and_per_server_secret() -> None:
    assert identity.signing_secret("server-secret-0123456789", 8) != SECRET
    assert identity.signing_secret("another-secret-0123456789", 7) != SECRET


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: identity.sign(SECRET, "C1", expires_in=-1, now=NOW), "identity_expired"),
        (lambda: identity.sign("not-the-secret", "C1", now=NOW), "invalid_identity"),
        # exp further away than the operator's max age
        (lambda: identity.sign(SECRET, "C1", expires_in=7200, now=NOW), "invalid_identity"),
        (lambda: identity.sign(SECRET, "C1 <script>", now=NOW), "invalid_identity"),
        (lambda: "garbage", "invalid_identity"),
        (lambda: "e30." + "0" * 64, "invalid_identity"),
        # Non-ASCII MACs once crashed the comparison (TypeError, a 500).
        (lambda: "e30." + "é" * 64, "invalid_identity"),
        (lambda: identity.sign(SECRET, "C1", now=NOW)[:-1] + "码", "invalid_identity"),
        (lambda: identity.sign(SECRET, "C1", now=NOW) + "0", "invalid_identity"),
    ],
)
def test_bad_tokens_are_refused(make: object, code: str) -> None:
    assert callable(make)
    with pytest.raises(Unauthorized) as err:
        identity.verify(make(), SECRET, max_age=3600, now=NOW)
    assert err.value.code == code and err.value.status_code == 401


def test_a_tampered_payload_is_refused() -> None:
    token = identity.sign(SECRET, "C1", now=NOW)
    payload, mac = token.split(".")
    forged = (
        base64.urlsafe_b64encode(json.dumps({"customer_id": "C9", "exp": int(NOW) + 60}).encode())
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(Unauthorized):
        identity.verify(f"{forged}.{mac}", SECRET, max_age=3600, now=NOW)
    assert payload != forged
