"""Upload through the API, index in a real `kefu worker` over Redis, search through the API;
and a worker killed mid-document leaves exactly one copy of each chunk once restarted."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.config import Settings
from app.main import create_app
from app.runtime import Runtime
from knowledge.models import Document
from tests.e2e.conftest import Worker
from tests.support import wait_until


@pytest.fixture
def api(
    e2e_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Runtime, str]]:
    yield from _api(e2e_env, monkeypatch)


@pytest.fixture
def api_without_broker(
    e2e_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Runtime, str]]:
    """The API while its broker is down (restarting): nothing listens on port 1."""
    yield from _api({**e2e_env, "KEFU_CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}, monkeypatch)


def _api(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Runtime, str]]:
    for key, value in env.items():
        if key.startswith("KEFU_"):
            monkeypatch.setenv(key, value)
    runtime = Runtime.build(Settings())
    assert not runtime.ingestion.eager
    with runtime.session_factory.begin() as s:
        secret = auth_service.create(db_session=s, name="e2e", role=Role.ADMIN).secret
    with TestClient(create_app(runtime=runtime)) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client, runtime, secret
    runtime.close()


def _doc(runtime: Runtime, name: str) -> Document | None:
    with runtime.session_factory() as s:
        return s.scalar(select(Document).where(Document.name == name))


def _status(runtime: Runtime, name: str) -> str | None:
    doc = _doc(runtime, name)
    return doc.status.value if doc else None


def _upload(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    resp = client.post("/admin/knowledge-bases/e2e/documents", files=[("files", (name, data))])
    assert resp.status_code == 202, resp.text
    return dict(resp.json()["results"][0])


def _sources(client: TestClient, query: str) -> list[str]:
    resp = client.post("/admin/knowledge-bases/e2e/search", json={"query": query})
    assert resp.status_code == 200, resp.text
    return [h["content"] for h in resp.json()["hits"]]


def test_worker_indexes_replaces_and_deletes(
    api: tuple[TestClient, Runtime, str], start_worker: Callable[[], Worker]
) -> None:
    client, runtime, _ = api
    assert client.post("/admin/knowledge-bases", json={"name": "e2e"}).status_code == 201
    ready = client.get("/readyz").json()["components"]
    assert ready["broker"]["state"] == "ready" and ready["broker"]["backend"] == "redis"
    assert ready["vector_store"]["backend"] == "milvus"

    _upload(client, "warranty.md", b"# Warranty\n\nPhones carry a 12-month warranty.\n")
    assert _status(runtime, "warranty.md") == "queued"  # nothing indexes until a worker runs
    worker = start_worker()
    wait_until(lambda: _status(runtime, "warranty.md") == "ready", timeout=120, what="indexing")
    assert any("12-month" in c for c in _sources(client, "how long is the phone warranty"))

    _upload(client, "warranty.md", b"# Warranty\n\nPhones carry a 24-month warranty.\n")
    wait_until(
        lambda: (d := _doc(runtime, "warranty.md")) is not None and d.indexed_version == 2,
        timeout=120,
        what="version 2",
    )
    contents = _sources(client, "how long is the phone warranty")
    assert any("24-month" in c for c in contents) and not any("12-month" in c for c in contents)

    assert client.delete("/admin/knowledge-bases/e2e/documents/warranty.md").status_code == 204
    assert not any("warranty" in c.lower() for c in _sources(client, "phone warranty"))

    # The worker's pool process counted both jobs; its main process serves the sum.
    scrape = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=10)
    assert scrape.status_code == 200
    succeeded = re.search(
        r'^kefu_ingestion_jobs_total\{status="succeeded"\} (\S+)$', scrape.text, re.M
    )
    assert succeeded is not None and float(succeeded.group(1)) >= 2  # both versions indexed


def _big_markdown(sections: int) -> bytes:
    parts = ["# Service handbook\n"]
    for i in range(sections):
        parts.append(f"\n## Topic {i}\n\n")
        parts.append(
            " ".join(
                f"Rule {i}.{j}: customers on plan {i} may request service item {j} "
                f"within {j + 3} days, and the fee is {i + j} yuan."
                for j in range(40)
            )
        )
    return "\n".join(parts).encode()


def test_killed_worker_leaves_one_copy_of_each_chunk(
    api: tuple[TestClient, Runtime, str],
    start_worker: Callable[[], Worker],
    tmp_path: Path,
) -> None:
    client, runtime, _ = api
    assert client.post("/admin/knowledge-bases", json={"name": "e2e"}).status_code == 201
    job_id = _upload(client, "handbook.md", _big_markdown(20))["job"]["id"]
    doc_id = _doc(runtime, "handbook.md").id  # type: ignore[union-attr]
    store = runtime.index.current_store()

    worker = start_worker()
    wait_until(lambda: store.count(document_id=doc_id) > 0, timeout=120, what="first batches")
    worker.kill()
    partial = store.count(document_id=doc_id)
    assert _status(runtime, "handbook.md") != "ready", "the document finished before the kill"

    start_worker()
    wait_until(lambda: _status(runtime, "handbook.md") == "ready", timeout=300, what="re-run")
    doc = _doc(runtime, "handbook.md")
    assert doc is not None and doc.chunk_count > partial
    assert store.count(document_id=doc_id) == doc.chunk_count
    chunks = store.get_chunks(document_id=doc_id)
    assert sorted(c.ordinal for c in chunks) == list(range(doc.chunk_count))
    job = client.get(f"/admin/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["attempts"] == 2


def test_an_upload_the_broker_could_not_take_is_indexed_once_it_can(
    api_without_broker: tuple[TestClient, Runtime, str], start_worker: Callable[[], Worker]
) -> None:
    """The job could not be sent (the broker was restarting): the upload is accepted, the
    document stays queued with no error, and a worker's sweep sends it once a lease period
    has passed, so it is indexed without anyone uploading it again."""
    client, runtime, _ = api_without_broker
    assert client.post("/admin/knowledge-bases", json={"name": "e2e"}).status_code == 201
    job_id = _upload(client, "warranty.md", b"# Warranty\n\nPhones carry a 12-month warranty.\n")[
        "job"
    ]["id"]
    doc = _doc(runtime, "warranty.md")
    assert doc is not None and (doc.status.value, doc.error) == ("queued", None)
    assert client.get(f"/admin/jobs/{job_id}").json()["status"] == "queued"

    start_worker()  # on the broker that is up
    wait_until(lambda: _status(runtime, "warranty.md") == "ready", timeout=120, what="sweep")
    job = client.get(f"/admin/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["attempts"] == 1
