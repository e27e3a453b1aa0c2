"""A key's allowed origins as the widget enforces them: wildcard subdomains, and values
stored before origins were validated, which must never reach the frame's CSP header."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.auth import service as auth_service
from app.auth.models import ApiKey, Role
from app.runtime import Runtime
from app.widget import service as widget_service
from tests.widget.test_api import body, headers


def _key(runtime: Runtime, allowed: list[str], *, raw: bool = False) -> str:
    with runtime.session_factory() as s:
        new = auth_service.create(
            db_session=s, name="origins", role=Role.CLIENT, allowed_origins=[] if raw else allowed
        )
        if raw:
            new.key.allowed_origins = allowed  # as an older version stored them: unchecked
        s.commit()
        return new.secret


def _ancestors(csp: str) -> str:
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    return directives["frame-ancestors"]


def _frame(api: TestClient, key: str, origin: str) -> tuple[int, str | None]:
    res = api.get("/widget/frame", params={"key": key, "origin": origin})
    if res.status_code != 200:
        return res.status_code, res.json()["error"]["code"]
    return 200, _ancestors(res.headers["content-security-policy"])


def test_a_wildcard_key_works_on_subdomains_only(api: TestClient, widget_runtime: Runtime) -> None:
    key = _key(widget_runtime, ["https://*.example.com"])
    assert _frame(api, key, "https://shop.example.com") == (200, "https://*.example.com")
    assert _frame(api, key, "https://m.shop.example.com") == (200, "https://*.example.com")
    for elsewhere in (
        "https://example.com",
        "http://shop.example.com",
        "https://shop.example.com:8443",
        "https://shopexample.com",
        "https://example.com.evil.com",
    ):
        assert _frame(api, key, elsewhere) == (403, "origin_not_allowed"), elsewhere
    # A page cannot claim a pattern as its origin.
    assert _frame(api, key, "https://*.example.com") == (422, "invalid_origin")

    res = api.post(
        "/widget/api/messages", json=body("hello"), headers=headers(key, "https://m.example.com")
    )
    assert res.status_code == 200 and "event: done" in res.text


def test_origins_stored_unchecked_never_reach_the_csp_header(
    api: TestClient, widget_runtime: Runtime
) -> None:
    key = _key(
        widget_runtime,
        [
            "https://ok.example.com/",
            "https://x.com; script-src *",
            "*",
            "HTTP://Dev.Example.com:80",
        ],
        raw=True,
    )
    expected = "https://ok.example.com http://dev.example.com"
    assert _frame(api, key, "https://ok.example.com") == (200, expected)
    assert _frame(api, key, "http://dev.example.com") == (200, expected)
    assert _frame(api, key, "https://x.com") == (403, "origin_not_allowed")
    assert _frame(api, key, "https://evil.example") == (403, "origin_not_allowed")

    # Nothing valid left: the key works nowhere, not everywhere.
    nowhere = _key(widget_runtime, ["*", "https://a.com https://b.com"], raw=True)
    assert _frame(api, nowhere, "https://a.com") == (403, "origin_not_allowed")
    assert _frame(api, nowhere, "https://evil.example") == (403, "origin_not_allowed")
    assert widget_service.frame_ancestors(ApiKey(allowed_origins=["*"])) == "'none'"
    assert widget_service.frame_ancestors(ApiKey(allowed_origins=[])) == "*"
