"""Upload-and-index tests on SQLite: eager ingestion runs in a thread beside the request,
which a single savepoint-bound PostgreSQL connection cannot share (PostgreSQL is covered by
the worker end-to-end test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def admin(client: TestClient, admin_secret: str) -> Callable[..., Any]:
    """Call the admin API as the admin key: admin("post", "/path", json=...)."""

    def call(method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {admin_secret}", **kwargs.pop("headers", {})}
        return client.request(method, path, headers=headers, **kwargs)

    return call


@pytest.fixture
def drain(client: TestClient) -> Callable[[], None]:
    def wait() -> None:
        client.app.state.runtime.ingestion.drain(timeout=120)  # type: ignore[attr-defined]

    return wait


@pytest.fixture
def kb(admin: Callable[..., Any]) -> Iterator[str]:
    resp = admin("post", "/admin/knowledge-bases", json={"name": "shop", "description": "t"})
    assert resp.status_code == 201, resp.text
    yield "shop"
