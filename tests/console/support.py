"""Signing in to the console from tests: accounts, the CSRF token of a page, a session."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from app.console import service
from app.console.models import ConsoleRole

_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
PASSWORD = "correct horse battery"


def make_user(
    session_factory: sessionmaker[Session],
    name: str,
    role: ConsoleRole,
    *,
    password: str = PASSWORD,
    display_name: str | None = None,
) -> int:
    with session_factory() as s:
        new = service.create(
            db_session=s, name=name, role=role, password=password, display_name=display_name
        )
        s.commit()
        return new.user.id


def csrf_of(html: str) -> str:
    found = _META.search(html)
    assert found, "no csrf-token meta on the page"
    return found.group(1)


def sign_in(
    client: TestClient | httpx.Client, name: str, password: str = PASSWORD
) -> httpx.Response:
    """Sign in as a browser does: the form's page first (its anonymous cookie and token)."""
    page = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"name": name, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def page_token(client: TestClient | httpx.Client, path: str) -> str:
    return csrf_of(client.get(path, headers={"Accept": "text/html"}).text)
