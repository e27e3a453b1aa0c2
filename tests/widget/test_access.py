"""Who may read a conversation and how often anyone may call: a signed-in customer's history
and live events need that customer's identity, and rate limits are per visitor (with a
site-wide ceiling), not one budget shared by every visitor of a site."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.auth import service as auth_service
from app.auth.models import Role
from app.runtime import Runtime
from app.widget import identity
from app.widget import service as widget_service
from tests.widget.conftest import HostSite, Keys
from tests.widget.test_api import body, headers, parse_sse, visitor_headers


def _secret(runtime: Runtime, key_id: int) -> str:
    return identity.signing_secret(runtime.settings.secret_key.get_secret_value(), key_id)


def _start(api: TestClient, h: dict[str, str], token: str | None) -> str:
    res = api.post("/widget/api/messages", json=body("hello", identity=token), headers=h)
    return str(parse_sse(res.text)[-1][1]["conversation_id"])


def _code(res: httpx.Response) -> tuple[int, str | None]:
    return res.status_code, (res.json().get("error") or {}).get("code") if res.content else None


def _ready(url: str, h: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The live-event stream's first event, over a real socket (the stream never ends)."""
    with httpx.stream("GET", url, headers=h, timeout=15) as res:
        assert res.status_code == 200
        buf = ""
        for text in res.iter_text():
            buf += text
            if "\n\n" in buf:
                return parse_sse(buf.split("\n\n")[0] + "\n\n")
    raise AssertionError("the stream ended before its first event")


def test_a_signed_in_customers_conversation_needs_their_identity(
    api: TestClient, widget_runtime: Runtime, keys: Keys, host_site: HostSite, kefu_url: str
) -> None:
    """The next person on the browser (signed out, or another account) gets 403, so the frame
    starts afresh instead of showing the previous customer's history and replies."""
    secret = _secret(widget_runtime, keys.client_id)
    h = visitor_headers(api, keys.client, host_site.url)
    cid = _start(api, h, identity.sign(secret, "C1001"))
    history = f"/widget/api/conversations/{cid}/messages"
    events = f"/widget/api/conversations/{cid}/events"

    others: list[dict[str, str]] = [{}, {"X-Kefu-Identity": identity.sign(secret, "C2002")}]
    for extra in others:
        assert _code(api.get(history, headers=h | extra)) == (403, "identity_mismatch")
        assert _code(api.get(events, headers=h | extra)) == (403, "identity_mismatch")
    forged = {"X-Kefu-Identity": identity.sign("not-the-secret", "C1001")}
    assert _code(api.get(history, headers=h | forged)) == (401, "invalid_identity")
    assert _code(api.get(events, headers=h | forged)) == (401, "invalid_identity")

    mine = h | {"X-Kefu-Identity": identity.sign(secret, "C1001")}
    res = api.get(history, headers=mine)
    assert res.status_code == 200
    assert res.json()["messages"][0]["content"] == "hello"
    assert _ready(kefu_url + events, mine) == [("ready", {"conversation_id": cid})]

    # An anonymous visitor's conversation is theirs with or without a later sign-in.
    visitor = visitor_headers(api, keys.client, host_site.url)
    anonymous = _start(api, visitor, None)
    for extra in others:
        res = api.get(f"/widget/api/conversations/{anonymous}/messages", headers=visitor | extra)
        assert res.status_code == 200


def _limited_key(runtime: Runtime, origin: str, per_minute: int) -> str:
    with runtime.session_factory() as s:
        new = auth_service.create(
            db_session=s,
            name="busy site",
            role=Role.CLIENT,
            allowed_origins=[origin],
            rate_limit_per_minute=per_minute,
        )
        s.commit()
        return new.secret


def test_rate_limits_are_per_visitor_with_a_site_wide_ceiling(
    api: TestClient,
    widget_runtime: Runtime,
    host_site: HostSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = _limited_key(widget_runtime, host_site.url, per_minute=3)
    h = headers(key, host_site.url)
    missing = f"/widget/api/conversations/{uuid.uuid4().hex}/messages"  # 404s count too

    first = visitor_headers(api, key, host_site.url)
    assert [api.get(missing, headers=first).status_code for _ in range(3)] == [404] * 3
    over = api.get(missing, headers=first)
    assert _code(over) == (429, "rate_limited") and 1 <= int(over.headers["retry-after"]) <= 60
    refused = api.post("/widget/api/messages", json=body("hi"), headers=first)
    assert _code(refused) == (429, "rate_limited")

    # Other visitors of the same site are not held back by the first one.
    for _ in range(4):
        other = visitor_headers(api, key, host_site.url)
        assert api.get(missing, headers=other).status_code == 404
    # A caller without a visitor token counts by address.
    assert [api.get(missing, headers=h).status_code for _ in range(4)] == [404] * 3 + [429]

    # The whole site: at most KEY_CEILING_FACTOR times the per-visitor limit.
    monkeypatch.setattr(widget_service, "KEY_CEILING_FACTOR", 2)
    busy = _limited_key(widget_runtime, host_site.url, per_minute=3)
    codes = [api.get(missing, headers=visitor_headers(api, busy, host_site.url)) for _ in range(7)]
    assert [c.status_code for c in codes] == [404] * 6 + [429]
    assert _code(codes[-1]) == (429, "rate_limited")
