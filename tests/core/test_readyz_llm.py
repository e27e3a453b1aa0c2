"""/readyz reports the LLM and the vision model: ready when the endpoint answers, degraded
(never 503) when it is down or the client's circuit breaker is open, since the bot still
answers without them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.cache import InProcessCache
from app.core.config import LLMSettings, Settings, VisionSettings
from app.llm import LLMError
from app.main import create_app
from app.runtime import Runtime
from tests.llm.scripted_server import ScriptedServer, Status


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def _client(settings: Settings, runtime_parts: Runtime, base_url: str) -> TestClient:
    settings.llm = LLMSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=base_url,
        model="scripted-model",
        max_retries=0,
        breaker_failures=1,
        breaker_reset=600,
    )
    rt = Runtime.build(
        settings,
        engine=runtime_parts.engine,
        session_factory=runtime_parts.session_factory,
        cache=InProcessCache(),
    )
    return TestClient(create_app(runtime=rt))


def _llm_state(client: TestClient) -> tuple[int, str, str]:
    # Details (error strings) are shown to admin keys only.
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.session_factory() as s:
        admin = auth_service.create(db_session=s, name="ops", role=Role.ADMIN).secret
        s.commit()
    resp = client.get("/readyz", headers={"Authorization": f"Bearer {admin}"})
    llm = resp.json()["components"]["llm"]
    return resp.status_code, llm["state"], llm["detail"]


def test_llm_ready_then_degraded_when_the_breaker_opens(
    settings: Settings, runtime: Runtime, scripted: ScriptedServer
) -> None:
    with _client(settings, runtime, scripted.base_url) as client:
        assert _llm_state(client)[:2] == (200, "ready")
        rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert rt.llm is not None
        scripted.script(Status(500))
        with pytest.raises(LLMError):
            client.portal.call(  # type: ignore[union-attr]
                rt.llm.complete, [{"role": "user", "content": "hi"}]
            )
        status, state, detail = _llm_state(client)
        assert (status, state) == (200, "degraded") and "breaker" in detail


def test_unreachable_llm_is_degraded_not_unavailable(settings: Settings, runtime: Runtime) -> None:
    with _client(settings, runtime, "http://127.0.0.1:1/v1") as client:
        status, state, _ = _llm_state(client)
        assert (status, state) == (200, "degraded")


def test_vision_model_is_reported_beside_the_llm(
    settings: Settings, runtime: Runtime, scripted: ScriptedServer
) -> None:
    with _client(settings, runtime, scripted.base_url) as client:
        assert _component(client, "vision")[:2] == (200, "not_configured")
    settings.vision = VisionSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=scripted.base_url,
        model="scripted-model",
    )
    with _client(settings, runtime, scripted.base_url) as client:
        assert _component(client, "vision")[:2] == (200, "ready")
    settings.vision = VisionSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url="http://127.0.0.1:1/v1",
        model="qwen3-vl",
    )
    with _client(settings, runtime, scripted.base_url) as client:
        status, state, detail = _component(client, "vision")
        # Images still reach a person: degraded, never unavailable.
        assert (status, state) == (200, "degraded") and "qwen3-vl" in detail


def _component(client: TestClient, name: str) -> tuple[int, str, str]:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.session_factory() as s:
        admin = auth_service.create(db_session=s, name="ops", role=Role.ADMIN).secret
        s.commit()
    resp = client.get("/readyz", headers={"Authorization": f"Bearer {admin}"})
    found = resp.json()["components"][name]
    return resp.status_code, found["state"], found.get("detail", "")
