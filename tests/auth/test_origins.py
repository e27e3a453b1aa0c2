"""Allowed origins of widget keys: exactly one CSP host-source each, normalised, or refused
with a message naming the value (they are written into the frame's CSP header)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth import origins
from app.auth import service as auth_service
from app.auth.models import ApiKey, Role


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("https://www.example.com", "https://www.example.com"),
        ("HTTPS://Shop.Example.COM", "https://shop.example.com"),
        ("https://shop.example.com/", "https://shop.example.com"),
        ("https://shop.example.com:443", "https://shop.example.com"),
        ("http://shop.example.com:80/", "http://shop.example.com"),
        ("http://shop.example.com:443", "http://shop.example.com:443"),
        ("https://shop.example.com:8443", "https://shop.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://例子.中国", "https://xn--fsqu00a.xn--fiqs8s"),
        ("https://*.example.com", "https://*.example.com"),
        ("https://*.Shop.Example.com:8443/", "https://*.shop.example.com:8443"),
    ],
)
def test_origins_are_normalised(value: str, normalised: str) -> None:
    assert str(origins.parse(value, pattern=True)) == normalised


@pytest.mark.parametrize(
    "value",
    [
        "",
        "*",
        "https://*",
        "https://*.com",
        "https://a.*.example.com",
        "https://*example.com",
        "https://example.*",
        "*://example.com",
        "https://example.com:*",
        "example.com",
        "//example.com",
        "ftp://example.com",
        "javascript://example.com",
        "https://example.com/path",
        "https://example.com//",
        "https://example.com?",
        "https://example.com/?q=1",
        "https://example.com#top",
        "https://user@example.com",
        "https://example.com https://evil.com",
        " https://example.com",
        "https://example.com\n",
        "https://example.com;script-src *",
        "https://example.com,https://evil.com",
        "https://example.com'",
        'https://"example.com"',
        "https://exa\\mple.com",
        "https://exa_mple.com",
        "https://-example.com",
        "https://example.com.",
        "https://example..com",
        "https://%65xample.com",
        "https://example.com:0",
        "https://example.com:65536",
        "https://example.com:",
        "https://example.com:８０",
        "http://256.1.1.1",
        "http://010.0.0.1",
        "http://1.2.3",
        "http://[::1]:8000",
        "https://" + "a" * 64 + ".com",
    ],
)
def test_anything_else_is_refused_by_name(value: str) -> None:
    with pytest.raises(origins.InvalidOrigin) as err:
        origins.parse(value, pattern=True)
    assert repr(value[:200]) in str(err.value)


def test_a_wildcard_matches_subdomains_only_on_its_scheme_and_port() -> None:
    allowed = origins.parse("https://*.example.com", pattern=True)
    assert allowed.matches(origins.parse("https://shop.example.com"))
    assert allowed.matches(origins.parse("https://a.b.example.com:443"))
    assert not allowed.matches(origins.parse("https://example.com"))
    assert not allowed.matches(origins.parse("https://badexample.com"))
    assert not allowed.matches(origins.parse("http://shop.example.com"))
    assert not allowed.matches(origins.parse("https://shop.example.com:8443"))
    exact = origins.parse("http://localhost:3000", pattern=True)
    assert exact.matches(origins.parse("http://LOCALHOST:3000/"))
    assert not exact.matches(origins.parse("http://localhost:3001"))


def test_a_page_origin_is_never_a_wildcard_but_may_be_ipv6() -> None:
    with pytest.raises(origins.InvalidOrigin):
        origins.parse("https://*.example.com")
    assert str(origins.parse("http://[0:0::1]:8000")) == "http://[::1]:8000"


def test_the_service_stores_normalised_origins_or_nothing(db_session: Session) -> None:
    new = auth_service.create(
        db_session=db_session,
        name="site",
        role=Role.CLIENT,
        allowed_origins=[
            "HTTPS://WWW.Example.com/",
            "https://www.example.com:443",
            "https://*.example.com",
        ],
    )
    assert new.key.allowed_origins == ["https://www.example.com", "https://*.example.com"]
    before = db_session.scalar(select(func.count()).select_from(ApiKey))
    with pytest.raises(origins.InvalidOrigin):
        auth_service.create(
            db_session=db_session,
            name="bad",
            role=Role.CLIENT,
            allowed_origins=["https://ok.example.com", "https://x.com; frame-ancestors *"],
        )
    assert db_session.scalar(select(func.count()).select_from(ApiKey)) == before


@pytest.mark.parametrize(
    "bad", ["https://shop.example.com/checkout", "*", "https://a.com 'unsafe-inline'"]
)
def test_the_admin_api_refuses_a_bad_origin_with_the_envelope(
    client: TestClient, admin_secret: str, db_session: Session, bad: str
) -> None:
    auth = {"Authorization": f"Bearer {admin_secret}"}
    before = db_session.scalar(select(func.count()).select_from(ApiKey))
    res = client.post(
        "/admin/api-keys",
        json={"name": "shop", "role": "client", "allowed_origins": ["https://ok.example.com", bad]},
        headers=auth,
    )
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == "validation_error"
    assert repr(bad) in error["message"] and "allowed_origins.1" in error["message"]
    assert error["details"][0]["loc"] == ["body", "allowed_origins", 1]
    assert db_session.scalar(select(func.count()).select_from(ApiKey)) == before


def test_the_admin_api_stores_normalised_origins(client: TestClient, admin_secret: str) -> None:
    res = client.post(
        "/admin/api-keys",
        json={
            "name": "shop",
            "role": "client",
            "allowed_origins": ["HTTPS://Shop.Example.com:443/", "https://shop.example.com"],
        },
        headers={"Authorization": f"Bearer {admin_secret}"},
    )
    assert res.status_code == 201, res.text
    assert res.json()["allowed_origins"] == ["https://shop.example.com"]
