"""Dify's External Knowledge API against a real ingested knowledge base.

Each case mirrors what Dify does (langgenius/dify):
- ``api/services/external_knowledge_service.py`` ``check_endpoint_and_api_key``: the
  registration probe posts to ``{endpoint}/retrieval`` with only an Authorization header and
  no body, and rejects the endpoint on 403, 404 or 502 (anything else, 401 included, passes).
- ``fetch_external_knowledge_retrieval``: posts ``json.dumps(params)`` with
  ``Content-Type: application/json``: ``knowledge_id``, ``query``,
  ``retrieval_setting {top_k, score_threshold}`` (threshold 0.0 when disabled) and
  ``metadata_condition`` only when set; reads ``records`` on 200, nothing otherwise.
- ``api/core/rag/retrieval/dataset_retrieval.py``: each record's ``metadata`` must be an
  object, its ``document_id`` becomes the source's document id, ``score`` the source's score.
- Error bodies and codes as in Dify's External Knowledge API docs: 1001, 1002 (403), 2001 (404).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.dify import service
from app.retrieval import service as retrieval_service
from tests.dify.conftest import DifyApp

POLICY_QUESTION = "积分抵扣有没有上限？最多能抵订单金额的多少？"


def dify_post(
    app: DifyApp, body: dict[str, Any] | None, *, headers: dict[str, str] | None = None
) -> Any:
    """A request as Dify's httpx call sends it (body pre-serialised, JSON content type)."""
    sent = {"Content-Type": "application/json", **(app.auth() if headers is None else headers)}
    content = None if body is None else json.dumps(body)
    return app.client.post("/dify/retrieval", content=content, headers=sent)


def body(query: str = POLICY_QUESTION, *, kb: str = "shop", top_k: int = 5, **extra: Any) -> Any:
    return {
        "knowledge_id": kb,
        "query": query,
        "retrieval_setting": {"top_k": top_k, "score_threshold": extra.pop("threshold", 0.0)},
        **extra,
    }


def records(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    out: list[dict[str, Any]] = resp.json()["records"]
    return out


def test_probe_without_body_with_the_right_key_passes_registration(dify_app: DifyApp) -> None:
    # check_endpoint_and_api_key: httpx.post(endpoint, headers={"Authorization": ...}).
    client: TestClient = dify_app.client
    resp = client.post("/dify/retrieval", headers=dify_app.auth())
    assert resp.status_code not in (403, 404, 502)
    assert resp.status_code == 422
    assert resp.json()["error_code"] == 422 and "error_msg" in resp.json()


def test_probe_with_a_wrong_key_fails_registration(dify_app: DifyApp) -> None:
    resp = dify_app.client.post("/dify/retrieval", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 403
    assert resp.json()["error_code"] == 1002


@pytest.mark.parametrize(
    "header",
    [None, "", "Token abc", "Bearer", "Bearer ", "Bearer two words", "Basic dXNlcjpwYXNz"],
)
def test_malformed_authorization_header_is_1001(dify_app: DifyApp, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    resp = dify_post(dify_app, body(), headers=headers)
    assert resp.status_code == 403
    payload = resp.json()
    assert payload["error_code"] == 1001 and payload["error_msg"]
    assert "error" not in payload  # Dify's format, not the service's envelope


@pytest.mark.parametrize("secret", ["not-a-kefu-key", "kefu_" + "x" * 43, "kefu_" + "A" * 50])
def test_wrong_key_is_1002(dify_app: DifyApp, secret: str) -> None:
    resp = dify_post(dify_app, body(), headers={"Authorization": f"Bearer {secret}"})
    assert resp.status_code == 403
    assert resp.json()["error_code"] == 1002


def test_a_client_key_is_refused_and_an_admin_key_admitted(dify_app: DifyApp) -> None:
    refused = dify_post(dify_app, body(), headers=dify_app.auth(dify_app.client_key))
    assert refused.status_code == 403 and refused.json()["error_code"] == 1002
    assert records(dify_post(dify_app, body(), headers=dify_app.auth(dify_app.admin_key)))


# What a caller may post with a wrong key: not JSON, cut short, JSON of the wrong shape.
BAD_BODIES = ["{not json", '{"knowledge_id": "shop", "query": ', "null", "[]", '{"query": 1}']
AUTHENTICATED_ROUTES = [
    "/dify/retrieval",
    "/dify/tools/ask",
    "/dify/tools/order",
    "/dify/extension",
]


@pytest.mark.parametrize("route", AUTHENTICATED_ROUTES)
@pytest.mark.parametrize("content", BAD_BODIES)
@pytest.mark.parametrize(
    ("header", "code"),
    [("Bearer kefu_" + "x" * 43, 1002), ("Token abc", 1001), (None, 1001)],
)
def test_auth_is_checked_before_the_body(
    dify_app: DifyApp, route: str, content: str, header: str | None, code: int
) -> None:
    """FastAPI parses JSON before it solves dependencies: a wrong key with a malformed body
    must still be 403 with Dify's code, never a 422 that tells the caller about the body."""
    auth = {} if header is None else {"Authorization": header}
    resp = dify_app.client.post(
        route, content=content, headers={"Content-Type": "application/json", **auth}
    )
    assert resp.status_code == 403, resp.text
    assert resp.json()["error_code"] == code and "error" not in resp.json()


@pytest.mark.parametrize("route", AUTHENTICATED_ROUTES)
@pytest.mark.parametrize("content", [None, *BAD_BODIES])
def test_the_right_key_with_a_bad_body_is_422(
    dify_app: DifyApp, route: str, content: str | None
) -> None:
    # None: Dify's registration probe (no body), which must not be refused as a wrong key.
    resp = dify_app.client.post(
        route, content=content, headers={"Content-Type": "application/json", **dify_app.auth()}
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error_code"] == 422 and resp.json()["error_msg"].startswith("invalid")


def test_unknown_knowledge_base_is_2001(dify_app: DifyApp) -> None:
    for ref in ("no-such-kb", "987654"):
        resp = dify_post(dify_app, body(kb=ref))
        assert resp.status_code == 404
        assert resp.json()["error_code"] == 2001


def test_knowledge_base_by_name_or_id(dify_app: DifyApp) -> None:
    by_name = records(dify_post(dify_app, body()))
    by_id = records(dify_post(dify_app, body(kb=str(dify_app.kb_id))))
    assert by_name and by_name == by_id


def test_records_as_dify_reads_them(dify_app: DifyApp) -> None:
    found = records(dify_post(dify_app, body()))
    assert found[0]["title"] == "members.md" and "30%" in found[0]["content"]
    for record in found:
        assert set(record) >= {"content", "score", "title", "metadata"}
        assert isinstance(record["metadata"], dict)
        assert isinstance(record["metadata"]["document_id"], str)
        assert record["metadata"]["document_id"].isdigit()
        assert isinstance(record["score"], float) and 0.0 <= record["score"] <= 1.0
        assert record["content"].strip() and record["title"]


@pytest.mark.parametrize(
    "condition",
    [
        {},  # absent: Dify leaves it out when unset
        {"metadata_condition": None},
        {"metadata_condition": {"logical_operator": "and", "conditions": None}},
        {"metadata_condition": {"conditions": []}},
    ],
)
def test_no_metadata_condition_means_no_filter(
    dify_app: DifyApp, condition: dict[str, Any]
) -> None:
    plain = records(dify_post(dify_app, body()))
    assert records(dify_post(dify_app, body(**condition))) == plain


@pytest.mark.parametrize("name", ["document_name", ["document_name"], ["title", "source"]])
def test_metadata_condition_name_as_string_or_list(dify_app: DifyApp, name: Any) -> None:
    cond = {
        "logical_operator": "and",
        "conditions": [{"name": name, "comparison_operator": "is", "value": "shipping.md"}],
    }
    found = records(dify_post(dify_app, body(metadata_condition=cond)))
    assert found and {r["title"] for r in found} == {"shipping.md"}


def test_metadata_condition_on_kind_and_with_or(dify_app: DifyApp) -> None:
    faq_only = {"conditions": [{"name": "kind", "comparison_operator": "is", "value": "faq"}]}
    found = records(dify_post(dify_app, body("发票怎么开", metadata_condition=faq_only)))
    assert found and {r["metadata"]["kind"] for r in found} == {"faq"}

    either = {
        "logical_operator": "or",
        "conditions": [
            {"name": "document_name", "comparison_operator": "is", "value": "members.md"},
            {"name": "document_name", "comparison_operator": "start with", "value": "ship"},
        ],
    }
    titles = {r["title"] for r in records(dify_post(dify_app, body(metadata_condition=either)))}
    assert titles == {"members.md", "shipping.md"}

    both = {**either, "logical_operator": "and"}
    assert records(dify_post(dify_app, body(metadata_condition=both))) == []

    not_in = {
        "conditions": [
            {"name": "source", "comparison_operator": "not in", "value": ["faq.csv", "members.md"]}
        ]
    }
    titles = {r["title"] for r in records(dify_post(dify_app, body(metadata_condition=not_in)))}
    assert titles == {"shipping.md"}


@pytest.mark.parametrize(
    "item",
    [
        {"name": "author", "comparison_operator": "is", "value": "alice"},
        {"name": "author", "comparison_operator": "is not", "value": "alice"},
        {"name": "document_name", "comparison_operator": "before", "value": "2026-01-01"},
        {"name": "document_name", "comparison_operator": "frobnicate", "value": "x"},
        {"name": "page", "comparison_operator": ">", "value": "many"},
    ],
)
def test_unknown_fields_and_operators_match_nothing(
    dify_app: DifyApp, item: dict[str, Any]
) -> None:
    resp = dify_post(dify_app, body(metadata_condition={"conditions": [item]}))
    assert records(resp) == []


def test_top_k_is_respected(dify_app: DifyApp) -> None:
    assert len(records(dify_post(dify_app, body(top_k=1)))) == 1
    assert len(records(dify_post(dify_app, body(top_k=3)))) == 3
    unset = body()
    unset["retrieval_setting"]["top_k"] = None  # a Dify dataset whose top_k was never set
    assert 1 <= len(records(dify_post(dify_app, unset))) <= 5


def test_score_threshold_filters(dify_app: DifyApp) -> None:
    everything = records(dify_post(dify_app, body(top_k=10)))
    scores = sorted(r["score"] for r in everything)
    assert len(scores) >= 3 and scores[0] < scores[-1]
    cut = scores[len(scores) // 2]
    kept = records(dify_post(dify_app, body(top_k=10, threshold=cut)))
    assert kept and all(r["score"] >= cut for r in kept)
    assert len(kept) == sum(1 for s in scores if s >= cut)
    assert records(dify_post(dify_app, body(top_k=10, threshold=1.0))) == []


def test_the_best_record_answers_an_english_question(dify_app: DifyApp) -> None:
    found = records(dify_post(dify_app, body("How long do parcels to Tibet take?", top_k=3)))
    assert found[0]["title"] == "shipping.md" and "5-8 working days" in found[0]["content"]
    assert found[0]["metadata"]["lang"] == "en"


def test_blank_query_has_no_records(dify_app: DifyApp) -> None:
    assert records(dify_post(dify_app, body("   "))) == []


def test_invalid_settings_are_422_in_dify_format(dify_app: DifyApp) -> None:
    resp = dify_post(dify_app, body(top_k=0))
    assert resp.status_code == 422
    assert resp.json()["error_code"] == 422 and "top_k" in resp.json()["error_msg"]


def test_rate_limit_in_dify_format(dify_app: DifyApp) -> None:
    headers = dify_app.auth(dify_app.limited_key)
    assert dify_post(dify_app, body(), headers=headers).status_code == 200
    resp = dify_post(dify_app, body(), headers=headers)
    assert resp.status_code == 429 and resp.json()["error_code"] == 429
    assert 1 <= int(resp.headers["retry-after"]) <= 60


def test_keyword_only_hits_get_a_comparable_cosine(dify_app: DifyApp) -> None:
    # Hits found by BM25 alone carry no dense score; the one computed for them must be the
    # cosine Milvus would have reported, or the threshold would treat them differently.
    rt = dify_app.runtime
    with rt.session_factory() as s:
        kb = service.find_kb(db_session=s, ref="shop")
        hits = retrieval_service.search(
            db_session=s, index=rt.index, kbs=[kb], query=POLICY_QUESTION
        )
    dense = [h for h in hits if h.dense_score is not None]
    assert dense
    stripped = [dataclasses.replace(h, dense_score=None) for h in dense]
    assert service._cosines(rt.index, POLICY_QUESTION, stripped) == pytest.approx(
        service._cosines(rt.index, POLICY_QUESTION, dense), abs=1e-4
    )
