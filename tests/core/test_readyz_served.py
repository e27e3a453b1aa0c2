"""/readyz with served embeddings and reranking: the embedding endpoint is required (every
turn is routed by embedding it), the reranker optional (degraded: searches keep the fused
order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.cache import InProcessCache
from app.core.config import EmbeddingSettings, RerankerSettings, Settings
from app.main import create_app
from app.runtime import Runtime
from tests.retrieval.served_models import E5_MODEL, ServedModels


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def served() -> Iterator[ServedModels]:
    with ServedModels() as server:
        yield server


def _components(client: TestClient) -> tuple[int, dict[str, Any]]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.session_factory() as s:
        admin = auth_service.create(db_session=s, name="ops", role=Role.ADMIN).secret
        s.commit()
    resp = client.get("/readyz", headers={"Authorization": f"Bearer {admin}"})
    return resp.status_code, resp.json()["components"]


def test_readyz_reports_the_served_models(
    settings: Settings, runtime: Runtime, served: ServedModels
) -> None:
    settings.embedding = EmbeddingSettings(  # type: ignore[call-arg]
        _env_file=None, backend="openai", base_url=served.base_url, model=E5_MODEL, dim=384
    )
    settings.reranking = RerankerSettings(  # type: ignore[call-arg]
        _env_file=None, backend="http", base_url=served.base_url, model="bge-reranker-v2-m3"
    )
    rt = Runtime.build(
        settings,
        engine=runtime.engine,
        session_factory=runtime.session_factory,
        cache=InProcessCache(),
    )
    with TestClient(create_app(runtime=rt, warm=False)) as client:
        status, components = _components(client)
        assert status == 200
        assert components["embedding"]["state"] == "ready"
        assert components["embedding"]["detail"] == f"{E5_MODEL} (384d)"
        assert components["reranker"]["state"] == "ready"

        served.stop()
        status, components = _components(client)
        assert status == 503
        assert components["embedding"]["state"] == "down"
        assert "ConnectError" in components["embedding"]["detail"]
        assert components["reranker"]["state"] == "degraded"
