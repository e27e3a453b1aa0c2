"""Finding 1: no body is read before the caller is authenticated, and bodies are capped
per route (large ones only on the upload route, only for admin keys)."""

from __future__ import annotations

import json

import httpx
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.runtime import Runtime
from tests.security.conftest import LiveServer, new_key, raw_request, status_of

HUGE = 190 * 1024 * 1024


def _post(path: str, *, ctype: str, auth: str = "", length: int = HUGE) -> str:
    return (
        f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: {ctype}\n"
        f"Content-Length: {length}\n{auth}"
    )


def _envelope(response: bytes) -> dict[str, object]:
    body = json.loads(response.split(b"\r\n\r\n", 1)[1] or b"{}")
    assert isinstance(body, dict)
    return body["error"]


def test_unauthenticated_huge_bodies_are_refused_from_the_headers(live: LiveServer) -> None:
    # Eight bytes of a 190 MB body: the answer can only come before the body is read.
    for path, ctype in [
        ("/widget/api/messages", "multipart/form-data; boundary=x"),
        ("/widget/api/messages", "application/json"),
        ("/v1/chat/completions", "application/json"),
        ("/admin/knowledge-bases/demo/documents", "multipart/form-data; boundary=x"),
        ("/admin/knowledge-bases", "application/json"),
    ]:
        response = raw_request(live.port, _post(path, ctype=ctype), b'{"a": 1')
        assert status_of(response) == 401, (path, response[:200])
        if response.split(b"\r\n\r\n", 1)[1]:
            assert _envelope(response)["code"] == "unauthorized"


def test_multipart_does_not_raise_the_limit_outside_the_upload_route(
    live: LiveServer, session_factory: sessionmaker[Session]
) -> None:
    client = new_key(session_factory, Role.CLIENT).secret
    auth = f"Authorization: Bearer {client}\n"
    response = raw_request(
        live.port,
        _post("/widget/api/messages", ctype="multipart/form-data; boundary=x", auth=auth),
        b"--x",
    )
    assert status_of(response) == 413
    assert _envelope(response)["code"] == "payload_too_large"


def test_only_admins_may_send_an_upload_and_it_is_capped(
    live: LiveServer, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    client = new_key(session_factory, Role.CLIENT).secret
    admin = new_key(session_factory, Role.ADMIN).secret
    path = "/admin/knowledge-bases/demo/documents"
    ctype = "multipart/form-data; boundary=x"
    refused = raw_request(
        live.port, _post(path, ctype=ctype, auth=f"Authorization: Bearer {client}\n"), b"--x"
    )
    assert status_of(refused) == 403
    over = 4 * runtime.settings.ingestion.max_upload_bytes + 1
    too_big = raw_request(
        live.port,
        _post(path, ctype=ctype, auth=f"Authorization: Bearer {admin}\n", length=over),
        b"--x",
    )
    assert status_of(too_big) == 413


def test_a_streamed_upload_over_the_per_file_limit_is_refused_and_nothing_is_stored(
    live: LiveServer, runtime: Runtime, session_factory: sessionmaker[Session]
) -> None:
    admin = new_key(session_factory, Role.ADMIN).secret
    limit = runtime.settings.ingestion.max_upload_bytes = 64 * 1024
    base = f"http://127.0.0.1:{live.port}"
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        assert http.post("/admin/knowledge-bases", json={"name": "sec"}).status_code == 201
        big = b"a" * (limit + 1)
        response = http.post(
            "/admin/knowledge-bases/sec/documents", files={"files": ("big.md", big)}
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert http.get("/admin/knowledge-bases/sec/documents").json() == []
        ok = http.post(
            "/admin/knowledge-bases/sec/documents", files={"files": ("ok.md", b"# hi\n\nhello")}
        )
        assert ok.status_code == 202
    leftovers = [p for p in runtime.settings.uploads_dir.iterdir() if p.name.startswith(".in-")]
    assert leftovers == []
