"""``/metrics`` on a real server: the families are there, and they move when traffic flows."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.auth.models import Role
from app.main import create_app
from tests.llm.scripted_server import Status, text_reply
from tests.observability.conftest import Ops
from tests.openai_compat.conftest import new_key
from tests.support import ingest, wait_until

QUESTION = "积分抵扣有没有上限？最多能抵订单金额的多少？"
FAMILIES = {
    "kefu_http_requests": "counter",
    "kefu_http_request_duration_seconds": "histogram",
    "kefu_turns": "counter",
    "kefu_turn_duration_seconds": "histogram",
    "kefu_handoffs": "counter",
    "kefu_llm_requests": "counter",
    "kefu_llm_ttft_seconds": "histogram",
    "kefu_llm_tokens": "counter",
    "kefu_llm_breaker_state": "gauge",
    "kefu_retrieval_seconds": "histogram",
    "kefu_answer_cache": "counter",
    "kefu_ingestion_jobs": "counter",
    "kefu_ingestion_jobs_queued": "gauge",
    "kefu_ingestion_jobs_running": "gauge",
    "kefu_handoff_queue_length": "gauge",
    "kefu_handoff_wait_seconds": "histogram",
}


def test_every_family_is_exported(ops: Ops) -> None:
    samples = ops.scrape()
    for name, kind in FAMILIES.items():
        assert samples.families.get(name) == kind, (name, samples.families.get(name))
    # Series that exist before anything happened: a rate over them starts at 0, not "no data".
    assert ("kefu_answer_cache_total", frozenset({("result", "hit")})) in samples
    assert samples.value("kefu_llm_breaker_state") == 0


def test_an_answer_moves_the_turn_llm_retrieval_and_http_series(ops: Ops) -> None:
    before = ops.scrape()
    ops.llm.script(text_reply("单笔最多可抵扣", "订单金额的30% [1]。", usage=(120, 9)))
    resp = ops.chat(QUESTION)
    assert resp.status_code == 200, resp.text
    assert resp.json()["kefu"]["route"] == "llm"
    chat = {"method": "POST", "route": "/v1/chat/completions", "status": "200"}
    # The request is counted when its response has gone out, a moment after the client has it.
    wait_until(
        lambda: (
            ops.scrape().value("kefu_http_requests_total", **chat)
            > before.value("kefu_http_requests_total", **chat)
        ),
        timeout=10,
        what="the request to be counted",
    )
    after = ops.scrape()

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    turn = {"channel": "openai", "route": "llm"}
    assert moved("kefu_turns_total", **turn) == 1
    assert moved("kefu_turn_duration_seconds_count", **turn, stage="first_token") == 1
    assert moved("kefu_turn_duration_seconds_count", **turn, stage="end") == 1
    # Time to the end of the turn includes the time to its first token.
    assert moved("kefu_turn_duration_seconds_sum", **turn, stage="end") >= moved(
        "kefu_turn_duration_seconds_sum", **turn, stage="first_token"
    )
    assert moved("kefu_llm_requests_total", outcome="success") == 1
    assert moved("kefu_llm_ttft_seconds_count") == 1
    assert moved("kefu_llm_tokens_total", kind="prompt") == 120
    assert moved("kefu_llm_tokens_total", kind="completion") == 9
    assert moved("kefu_retrieval_seconds_count") == 1
    assert moved("kefu_http_requests_total", **chat) == 1
    assert moved("kefu_http_request_duration_seconds_count", **chat) == 1


def test_llm_failures_are_counted_by_outcome(ops: Ops) -> None:
    before = ops.scrape()
    ops.llm.script(Status(400))
    resp = ops.chat("积分能不能转赠给别人？会员积分的规则是什么？")
    assert resp.status_code == 200  # the customer still gets an answer without the LLM
    after = ops.scrape()
    assert (
        after.value("kefu_llm_requests_total", outcome="bad_request")
        - before.value("kefu_llm_requests_total", outcome="bad_request")
        == 1
    )
    assert after.value("kefu_llm_requests_total", outcome="success") == before.value(
        "kefu_llm_requests_total", outcome="success"
    )


def test_routes_are_labelled_by_template_never_by_raw_path(ops: Ops) -> None:
    for name in ("no-such-kb-1", "no-such-kb-2"):
        httpx.get(f"{ops.root}/admin/knowledge-bases/{name}", timeout=10)  # 401: no key
    httpx.get(f"{ops.root}/nowhere/at/all", timeout=10)
    wait_until(
        lambda: ops.scrape().value("kefu_http_requests_total", route="unmatched") >= 1,
        timeout=10,
        what="the 404 to be counted",
    )
    samples = ops.scrape()
    routes = {dict(ls).get("route") for n, ls in samples if n == "kefu_http_requests_total"}
    assert not any(r and "no-such-kb" in r for r in routes)
    assert (
        samples.value("kefu_http_requests_total", route="/admin/knowledge-bases/{kb}", status="401")
        >= 2
    )
    assert samples.value("kefu_http_requests_total", route="unmatched", status="404") >= 1


def test_ingestion_jobs_and_queue_gauges(ops: Ops) -> None:
    before = ops.scrape()
    ingest(ops.runtime, {"returns.md": "# 退货\n\n七天无理由退货，运费由买家承担。\n"}, kb="more")
    after = ops.scrape()
    assert (
        after.value("kefu_ingestion_jobs_total", status="succeeded")
        - before.value("kefu_ingestion_jobs_total", status="succeeded")
        == 1
    )
    # Drained: nothing waits for a worker.
    assert after.value("kefu_ingestion_jobs_queued") == 0
    assert after.value("kefu_handoff_queue_length") >= 0


def test_a_handoff_is_queued_and_its_wait_measured_when_claimed(ops: Ops) -> None:
    before = ops.scrape()
    resp = ops.chat("我要投诉，给我转人工客服")
    assert resp.status_code == 200, resp.text
    assert resp.json()["kefu"]["route"] == "handoff"
    conversation = resp.json()["kefu"]["conversation_id"]
    middle = ops.scrape()
    assert (
        middle.value("kefu_handoff_queue_length") == before.value("kefu_handoff_queue_length") + 1
    )
    assert (
        middle.value("kefu_handoffs_total", channel="openai")
        == before.value("kefu_handoffs_total", channel="openai") + 1
    )

    admin, _ = new_key(ops.runtime, Role.ADMIN)
    claimed = httpx.post(
        f"{ops.root}/admin/conversations/{conversation}/claim",
        headers={"Authorization": f"Bearer {admin}"},
        json={"agent": "alice"},
        timeout=10,
    )
    assert claimed.status_code == 200, claimed.text
    after = ops.scrape()
    assert after.value("kefu_handoff_queue_length") == before.value("kefu_handoff_queue_length")
    assert (
        after.value("kefu_handoff_wait_seconds_count")
        == before.value("kefu_handoff_wait_seconds_count") + 1
    )


# -- who may read /metrics -----------------------------------------------------------------


def test_without_a_token_only_private_addresses_are_answered(ops: Ops) -> None:
    ops.scrape()  # the fixture's server is on 127.0.0.1
    for host, status in (
        ("1.2.3.4", 401),
        ("2a00:1450::1", 401),
        ("10.1.2.3", 200),
        ("::ffff:192.168.0.4", 200),
    ):
        with TestClient(create_app(runtime=ops.runtime), client=(host, 40000)) as client:
            resp = client.get("/metrics")
        assert resp.status_code == status, (host, resp.text)
        if status == 401:
            assert resp.json()["error"]["code"] == "unauthorized"
            assert resp.headers["www-authenticate"] == "Bearer"


def test_with_a_token_every_caller_needs_it(ops: Ops, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops.runtime.settings.observability, "token", SecretStr("s3cret-scrape"))
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic s3cret-scrape"},
    ):
        resp = httpx.get(f"{ops.root}/metrics", headers=headers, timeout=10)  # from loopback
        assert resp.status_code == 401, headers
        assert resp.json()["error"]["code"] == "unauthorized"
    samples = ops.scrape(Authorization="Bearer s3cret-scrape")
    assert "kefu_turns" in samples.families


def test_metrics_can_be_switched_off(ops: Ops, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops.runtime.settings.observability, "enabled", False)
    assert httpx.get(f"{ops.root}/metrics", timeout=10).status_code == 404
