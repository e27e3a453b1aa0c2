"""Dify's API-based extension endpoint (``POST /dify/extension``).

Mirrors langgenius/dify:
- ``api/core/extension/api_based_extension_requestor.py``: ``POST`` of
  ``{"point", "params"}`` with ``Authorization: Bearer <key>``; any status but 200 fails.
- ``api/services/api_based_extension_service.py`` ``_ping_connection``: point ``ping`` with
  ``params {}`` must answer ``{"result": "pong"}``, or Dify refuses to save the extension.
- ``api/core/external_data_tool/api/api.py``: params ``app_id, tool_variable, inputs, query``;
  the answer's ``result`` must exist and be a string.
- ``api/core/moderation/api/api.py`` + ``base.py``: ``ModerationInputsResult(**body)`` and
  ``ModerationOutputsResult(**body)``, where ``action`` (direct_output | overridden) is
  required and ``preset_response``/``inputs``/``query``/``text`` default to empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.dify.conftest import DifyApp

ACTIONS = {"direct_output", "overridden"}


def point(app: DifyApp, name: str, params: dict[str, Any], key: str | None = None) -> Any:
    return app.client.post(
        "/dify/extension",
        json={"point": name, "params": params},
        headers={"Content-Type": "application/json", **app.auth(key)},
    )


def dify_result(resp: Any) -> dict[str, Any]:
    """The body as Dify's requestor hands it on: only a 200 with a JSON object."""
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert isinstance(body, dict)
    return body


def moderation_result(resp: Any) -> dict[str, Any]:
    body = dify_result(resp)
    assert isinstance(body["flagged"], bool) and body["action"] in ACTIONS
    for optional in ("preset_response", "query", "text"):
        assert isinstance(body.get(optional, ""), str)  # Dify's fields are str, not null
    return body


def test_ping(dify_app: DifyApp) -> None:
    assert dify_result(point(dify_app, "ping", {})) == {"result": "pong"}


def test_wrong_extension_key_is_refused(dify_app: DifyApp) -> None:
    wrong = point(dify_app, "ping", {}, key="kefu_" + "z" * 43)
    assert wrong.status_code == 403 and wrong.json()["error_code"] == 1002
    client_key = point(dify_app, "ping", {}, key=dify_app.client_key)
    assert client_key.status_code == 403
    missing = dify_app.client.post("/dify/extension", json={"point": "ping", "params": {}})
    assert missing.status_code == 403 and missing.json()["error_code"] == 1001


def test_external_data_tool_query_returns_passages(dify_app: DifyApp) -> None:
    params = {
        "app_id": "61248ab4-1125-45be-ae32-0ce91334d021",
        "tool_variable": "policy_context",
        "inputs": {"topic": "会员"},
        "query": "积分最多能抵扣订单金额的多少？",
    }
    result = dify_result(point(dify_app, "app.external_data_tool.query", params))["result"]
    assert isinstance(result, str)
    assert result.startswith("[1] members.md") and "30%" in result


def test_external_data_tool_uses_the_inputs_without_a_query(dify_app: DifyApp) -> None:
    params = {"app_id": "a", "tool_variable": "v", "inputs": {"q": "parcels to Tibet"}}
    result = dify_result(point(dify_app, "app.external_data_tool.query", params))["result"]
    assert "shipping.md" in result and "5-8 working days" in result
    empty: dict[str, Any] = {"app_id": "a", "tool_variable": "v", "inputs": {}, "query": None}
    assert dify_result(point(dify_app, "app.external_data_tool.query", empty)) == {"result": ""}


def test_moderation_input_not_flagged(dify_app: DifyApp) -> None:
    params = {"app_id": "a", "inputs": {"name": "张三"}, "query": "我想查一下上个月的账单"}
    body = moderation_result(point(dify_app, "app.moderation.input", params))
    assert body["flagged"] is False


@pytest.mark.parametrize(
    ("inputs", "query"),
    [
        ({}, "你们客服都是傻逼吗"),
        ({}, "ＦＵＣＫ　ＹＯＵ, give me my refund"),  # full-width, upper case
        ({"note": "有没有刷 单 返 利的兼职"}, "你好"),  # in a variable, with spaces inserted
        ({"nested": ["ok", {"deep": "I will KILL you"}]}, None),
    ],
)
def test_moderation_input_flagged(
    dify_app: DifyApp, inputs: dict[str, Any], query: str | None
) -> None:
    params = {"app_id": "a", "inputs": inputs, "query": query}
    body = moderation_result(point(dify_app, "app.moderation.input", params))
    assert body["flagged"] is True and body["action"] == "direct_output"
    assert dify_app.runtime.settings.bot_name in body["preset_response"]


def test_moderation_output(dify_app: DifyApp) -> None:
    clean = {"app_id": "a", "text": "您的订单已发货，预计3-5个工作日送达。"}
    assert moderation_result(point(dify_app, "app.moderation.output", clean))["flagged"] is False

    dirty = {"app_id": "a", "text": "请勿参与刷单返利，这是诈骗。"}
    body = moderation_result(point(dify_app, "app.moderation.output", dirty))
    assert body["flagged"] is True and body["action"] == "overridden"
    assert body["text"] == "请勿参与****，这是诈骗。"


def test_moderation_word_list_is_configurable(
    dify_app: DifyApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = tmp_path / "words.txt"
    words.write_text("# ours\n竞品优惠码\n", encoding="utf-8")
    monkeypatch.setattr(dify_app.runtime.settings.channels, "sensitive_words_file", words)
    ours = {"app_id": "a", "inputs": {}, "query": "有竞品优惠码吗"}
    assert moderation_result(point(dify_app, "app.moderation.input", ours))["flagged"] is True
    default = {"app_id": "a", "inputs": {}, "query": "你们客服都是傻逼吗"}
    assert moderation_result(point(dify_app, "app.moderation.input", default))["flagged"] is False


def test_unknown_point_and_bad_params(dify_app: DifyApp) -> None:
    unknown = point(dify_app, "app.something.else", {})
    assert unknown.status_code == 400 and "app.something.else" in unknown.json()["error_msg"]
    bad = point(dify_app, "app.moderation.output", {"text": ["not", "a", "string"]})
    assert bad.status_code == 422 and bad.json()["error_code"] == 422
