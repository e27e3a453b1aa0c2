"""A real `kefu worker` over Redis with KEFU_EMBEDDING_BACKEND=openai and KEFU_RERANKER=http:
the worker embeds through the served model, the API searches through it and reranks."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
from tests.retrieval.served_models import (
    E5_MODEL,
    EMBEDDINGS,
    RERANK,
    ServedModels,
    keyword_score,
)
from tests.support import wait_until

POLICY = "# Warranty\n\nPhones carry a 12-month warranty.\n\n## Batteries\n\nBatteries: 6 months.\n"


@pytest.fixture
def served() -> Iterator[ServedModels]:
    with ServedModels() as server:
        yield server


@pytest.fixture
def e2e_env(e2e_env: dict[str, str], served: ServedModels) -> dict[str, str]:
    return {
        **e2e_env,
        "KEFU_EMBEDDING_BACKEND": "openai",
        "KEFU_EMBEDDING_BASE_URL": served.base_url,
        "KEFU_EMBEDDING_MODEL": E5_MODEL,
        "KEFU_EMBEDDING_DIM": "384",
        "KEFU_RERANKER": "http",
        "KEFU_RERANKER_BASE_URL": served.base_url,
        "KEFU_RERANKER_MODEL": "BAAI/bge-reranker-v2-m3",
    }


@pytest.fixture
def api(e2e_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for key, value in e2e_env.items():
        if key.startswith("KEFU_"):
            monkeypatch.setenv(key, value)
    runtime = Runtime.build(Settings())
    assert not runtime.ingestion.eager and runtime.reranker is not None
    with runtime.session_factory.begin() as s:
        secret = auth_service.create(db_session=s, name="e2e", role=Role.ADMIN).secret
    with TestClient(create_app(runtime=runtime)) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client
    runtime.close()


def test_worker_embeds_through_the_served_model(
    api: TestClient, start_worker: Callable[[], Worker], served: ServedModels
) -> None:
    runtime: Runtime = api.app.state.runtime  # type: ignore[attr-defined]
    created = api.post("/admin/knowledge-bases", json={"name": "e2e"})
    assert created.status_code == 201 and created.json()["embedding_model"] == E5_MODEL
    resp = api.post(
        "/admin/knowledge-bases/e2e/documents",
        files=[("files", ("warranty.md", POLICY.encode()))],
    )
    assert resp.status_code == 202, resp.text
    start_worker()

    def ready() -> bool:
        with runtime.session_factory() as s:
            doc = s.scalar(select(Document).where(Document.name == "warranty.md"))
            return doc is not None and doc.status.value == "ready"

    wait_until(ready, timeout=120, what="the worker indexing through the served model")
    passages = [t for b in served.requests(EMBEDDINGS) for t in b["input"] if "12-month" in t]
    assert passages and all(t.startswith("passage: ") for t in passages)

    served.rerank_score = keyword_score("Batteries")
    resp = api.post("/admin/knowledge-bases/e2e/search", json={"query": "phone warranty"})
    assert resp.status_code == 200, resp.text
    hits = resp.json()["hits"]
    assert "Batteries" in hits[0]["content"] and hits[0]["rerank_score"] >= 1.0
    assert served.requests(RERANK)[-1]["query"] == "phone warranty"
