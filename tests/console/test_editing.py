"""The console's JSON and form routes behind the pages: uploads (and a failed file's
reason), delete and reindex, FAQ pairs (add, stale edits, bad input, the last pair) and API
keys with their origins. One live runtime for the module (tests.console.conftest)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from app.auth import service as auth_service
from app.knowledge_bases import faqs
from app.main import create_app
from app.runtime import Runtime
from knowledge import service as knowledge_service
from tests.console.conftest import ADMIN
from tests.console.support import page_token, sign_in


@pytest.fixture(scope="module")
def admin(console_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=console_runtime)) as c:
        assert sign_in(c, ADMIN).status_code == 303
        c.headers["X-CSRF-Token"] = page_token(c, "/console/users")
        yield c


def documents(admin: TestClient) -> dict[str, dict[str, object]]:
    return {d["name"]: d for d in admin.get("/console/knowledge/kbs/shop/documents").json()}


def wait_for(admin: TestClient, name: str, *states: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        doc = documents(admin).get(name)
        if doc is not None and doc["status"] in states:
            return doc
        time.sleep(0.1)
    raise AssertionError(f"{name} never reached {states}")


def test_upload_failed_reason_delete_and_reindex(admin: TestClient) -> None:
    files = [("files", ("broken.docx", b"this is not a zip file", "application/octet-stream"))]
    without = admin.post(
        "/console/knowledge/kbs/shop/documents", files=files, headers={"X-CSRF-Token": ""}
    )
    assert without.status_code == 403 and "broken.docx" not in documents(admin)
    refused = admin.post(
        "/console/knowledge/kbs/shop/documents", files=[("files", ("x.exe", b"MZ", "a/b"))]
    )
    assert refused.status_code == 415 and "unsupported" in refused.json()["error"]["message"]

    accepted = admin.post("/console/knowledge/kbs/shop/documents", files=files)
    assert accepted.status_code == 202
    failed = wait_for(admin, "broken.docx", "failed")
    assert failed["error"]  # the reason the page shows beside the file
    page = admin.get("/console/knowledge", headers={"Accept": "text/html"})
    assert str(failed["error"]).split(":")[0] in page.text

    gone = admin.delete(f"/console/knowledge/kbs/shop/documents/{failed['id']}")
    assert gone.status_code == 204 and "broken.docx" not in documents(admin)
    jobs = admin.post("/console/knowledge/kbs/shop/reindex").json()["jobs"]
    assert jobs and wait_for(admin, "faq.csv", "ready")["version"] == jobs[0]["version"]


def faq_pairs(admin: TestClient, q: str = "") -> str:
    return admin.get("/console/faq", params={"q": q}, headers={"Accept": "text/html"}).text


def test_faq_pairs_add_edit_and_delete(admin: TestClient, console_runtime: Runtime) -> None:
    added = admin.post(
        "/console/faq/kbs/shop/pairs",
        data={
            "question": "Do you ship to Macau?",
            "answer": "Yes, to Macau in 2 days.",
            "paraphrases": "macau delivery\nship to macau",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    wait_for(admin, "faq-editor.csv", "ready")
    assert "Yes, to Macau in 2 days." in faq_pairs(admin, "macau")

    bad = admin.post(
        "/console/faq/kbs/shop/pairs",
        data={"question": "Q?", "answer": "A.", "paraphrases": "one | two"},
    )
    assert bad.status_code == 422 and "cannot contain" in bad.text

    with console_runtime.session_factory() as s:
        kb = knowledge_service.get_kb(db_session=s, ref="shop")
        assert kb is not None
        [entry] = [
            e
            for e in faqs.list_pairs(db_session=s, runtime=console_runtime, kb=kb)
            if e.question == "Do you ship to Macau?"
        ]
    assert set(entry.variants) == {"macau delivery", "ship to macau"}
    edited = admin.post(
        f"/console/faq/kbs/shop/pairs/{entry.chunk_id}",
        data={"question": "Do you ship to Macau?", "answer": "Yes, in 3 days."},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    wait_for(admin, "faq-editor.csv", "ready")
    # The pair's id named the old version: an edit against it now is refused, not applied.
    stale = admin.post(
        f"/console/faq/kbs/shop/pairs/{entry.chunk_id}",
        data={"question": "Do you ship to Macau?", "answer": "Overwritten?"},
    )
    assert stale.status_code == 409 and "reload" in stale.text
    assert "Yes, in 3 days." in faq_pairs(admin, "macau")

    with console_runtime.session_factory() as s:
        kb = knowledge_service.get_kb(db_session=s, ref="shop")
        assert kb is not None
        [entry] = [
            e
            for e in faqs.list_pairs(db_session=s, runtime=console_runtime, kb=kb)
            if e.document_id == documents(admin)["faq-editor.csv"]["id"]
        ]
    deleted = admin.post(
        f"/console/faq/kbs/shop/pairs/{entry.chunk_id}/delete", follow_redirects=False
    )
    assert deleted.status_code == 303
    assert "faq-editor.csv" not in documents(admin)  # the last pair took its file along
    assert "Macau" not in faq_pairs(admin, "macau")


def test_api_keys_origins_and_revocation(admin: TestClient, console_runtime: Runtime) -> None:
    bad = admin.post(
        "/console/settings/keys",
        data={
            "name": "site",
            "role": "client",
            "allowed_origins": "https://ok.example\nnot an origin",
        },
    )
    assert bad.status_code == 422 and "invalid origin" in bad.text
    created = admin.post(
        "/console/settings/keys",
        data={"name": "site", "role": "client", "allowed_origins": "https://shop.example"},
    )
    assert created.status_code == 200
    secret = created.text.split('id="new-key-secret">')[1].split("<")[0]
    assert secret.startswith("kefu_") and f'value="{secret}"' in created.text  # the snippet's key
    with console_runtime.session_factory() as s:
        key = auth_service.authenticate(db_session=s, secret=secret)
        assert key.allowed_origins == ["https://shop.example"]
        key_id = key.id
    moved = admin.post(
        f"/console/settings/keys/{key_id}/origins",
        data={"allowed_origins": "https://a.example\nhttps://*.b.example"},
    )
    assert moved.status_code == 200
    revoked = admin.post(f"/console/settings/keys/{key_id}/revoke")
    assert (
        revoked.status_code == 200
        and f'data-key="{key_id}" data-name="site" data-revoked="1"' in revoked.text
    )
    with console_runtime.session_factory() as s:
        with pytest.raises(auth_service.RevokedKey):
            auth_service.authenticate(db_session=s, secret=secret)
        key = auth_service.get(db_session=s, key_id=key_id)
        assert key is not None and key.allowed_origins == [
            "https://a.example",
            "https://*.b.example",
        ]


def test_a_bad_or_taken_knowledge_base_name_is_shown_on_the_page(admin: TestClient) -> None:
    html = {"Accept": "text/html"}
    for name, status, says in (
        ("bad name!", 422, "invalid knowledge base name"),
        ("123", 422, "all digits"),
        ("shop", 409, "already exists"),
    ):
        page = admin.post("/console/knowledge/kbs", data={"name": name}, headers=html)
        assert page.status_code == status and 'id="knowledge-error"' in page.text
        assert says in page.text
    made = admin.post("/console/knowledge/kbs", data={"name": "manuals"}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].startswith("/console/knowledge?kb=")
