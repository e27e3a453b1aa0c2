"""The custom-tool OpenAPI document, parsed the way Dify parses it, and its two tools called
the way Dify's API tool calls them.

Mirrors langgenius/dify ``api/core/tools/utils/parser.py``
(``ApiBasedToolSchemaParser.parse_openapi_to_tool_bundle``: ``servers[0].url`` + path per
operation, body properties as parameters with a ``$ref`` resolved one level, types read from
a plain ``type``, ``operationId`` within ``^[a-zA-Z0-9_-]{1,64}$``) and
``api/core/tools/custom_tool/tool.py`` (``ApiTool.do_http_request``: a JSON body of the given
parameters, omitted optionals left out or sent as null depending on the release, and the
API key as ``Authorization: Bearer <key>``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.dify.conftest import DifyApp

OPERATION_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PLAIN_TYPES = {"string", "number", "integer", "boolean"}

# The parts of the OpenAPI 3.0 schema (spec.openapis.org/oas/3.0/schema) this document uses,
# strict where Dify's parser depends on them.
_SCHEMA_OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"enum": ["object", "array", "string", "number", "integer", "boolean"]},
        "properties": {"type": "object", "additionalProperties": {"$ref": "#/$defs/schema"}},
        "required": {"type": "array", "items": {"type": "string"}},
        "items": {"$ref": "#/$defs/schema"},
        "description": {"type": "string"},
        "maxLength": {"type": "integer", "minimum": 0},
    },
}
OPENAPI_3_SUBSET: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.0\.\d+$"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
        },
        "servers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"type": "string", "pattern": "^https?://[^/]+.*[^/]$"}},
            },
        },
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"enum": ["get", "post", "put", "delete", "patch"]},
                "additionalProperties": {"$ref": "#/$defs/operation"},
            },
        },
        "components": {
            "type": "object",
            "properties": {
                "securitySchemes": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"enum": ["http", "apiKey"]}},
                    },
                }
            },
        },
        "security": {"type": "array", "items": {"type": "object"}},
    },
    "$defs": {
        "schema": _SCHEMA_OBJECT,
        "operation": {
            "type": "object",
            "required": ["operationId", "responses"],
            "properties": {
                "operationId": {"type": "string", "pattern": OPERATION_ID.pattern},
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "requestBody": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {
                        "content": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "required": ["schema"],
                                "properties": {"schema": {"$ref": "#/$defs/schema"}},
                            },
                        }
                    },
                },
                "responses": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": "^[1-5][0-9][0-9]$|^default$"},
                    "additionalProperties": {"type": "object", "required": ["description"]},
                },
            },
        },
    },
}


def dify_tools(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What Dify's parser makes of the document: operationId -> url, method, parameters."""
    server_url = doc["servers"][0]["url"]
    tools: dict[str, dict[str, Any]] = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            params: dict[str, dict[str, Any]] = {}
            for content in operation.get("requestBody", {}).get("content", {}).values():
                schema = content["schema"]
                if "$ref" in schema:  # resolved one level, as Dify does
                    node: Any = doc
                    for part in schema["$ref"].split("/")[1:]:
                        node = node[part]
                    schema = node
                for name, prop in schema.get("properties", {}).items():
                    params[name] = {
                        "type": prop.get("type"),
                        "required": name in schema.get("required", []),
                    }
            tools[operation["operationId"]] = {
                "url": server_url + path,
                "method": method,
                "parameters": params,
                "summary": operation.get("description") or operation.get("summary"),
            }
    return tools


@pytest.fixture(scope="module")
def doc(dify_app: DifyApp) -> dict[str, Any]:
    resp = dify_app.client.get("/dify/openapi.json")  # Dify imports it by URL, without a key
    assert resp.status_code == 200
    loaded: dict[str, Any] = resp.json()
    return loaded


def call_tool(app: DifyApp, tool: dict[str, Any], arguments: dict[str, Any]) -> Any:
    path = urlsplit(tool["url"]).path
    return app.client.request(tool["method"].upper(), path, json=arguments, headers=app.auth())


def test_document_is_openapi_3_as_dify_needs(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(OPENAPI_3_SUBSET).validate(doc)
    assert doc["servers"][0]["url"] == "https://kefu.example.com"  # from settings, no slash
    assert "$ref" not in str(doc["paths"])  # flat bodies: Dify resolves one level only


def test_the_validator_rejects_what_dify_cannot_import(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(OPENAPI_3_SUBSET)
    broken = {**doc, "paths": {"/dify/tools/ask": {"post": {"operationId": "ask support"}}}}
    assert not validator.is_valid(broken)
    assert not validator.is_valid({**doc, "servers": []})


def test_every_operation_is_one_tool_with_plain_typed_parameters(doc: dict[str, Any]) -> None:
    tools = dify_tools(doc)
    assert set(tools) == {"ask_support_agent", "lookup_order"}
    for name, tool in tools.items():
        assert OPERATION_ID.match(name)
        assert tool["summary"]
        assert tool["parameters"] and all(
            p["type"] in PLAIN_TYPES for p in tool["parameters"].values()
        )
    assert tools["ask_support_agent"]["parameters"] == {
        "question": {"type": "string", "required": True},
        "user": {"type": "string", "required": True},
        "customer_id": {"type": "string", "required": False},
    }
    assert tools["lookup_order"]["parameters"]["customer_id"]["required"] is True
    assert tools["lookup_order"]["parameters"]["order_id"]["required"] is False


def test_ask_tool_answers_with_citations_and_keeps_the_conversation(
    dify_app: DifyApp, doc: dict[str, Any]
) -> None:
    tool = dify_tools(doc)["ask_support_agent"]
    first = call_tool(
        dify_app,
        tool,
        {"question": "积分抵扣有没有上限？最多能抵订单金额的多少？", "user": "u-ask-1"},
    )
    assert first.status_code == 200, first.text
    out = first.json()
    assert out["route"] == "llm" and "30%" in out["answer"] and not out["handoff"]
    assert out["citations"][0]["source"] == "members.md"
    again = call_tool(
        dify_app, tool, {"question": "怎么开发票", "user": "u-ask-1", "customer_id": None}
    )
    assert again.status_code == 200 and again.json()["conversation_id"] == out["conversation_id"]
    other = call_tool(dify_app, tool, {"question": "怎么开发票", "user": "u-ask-2"})
    assert other.json()["conversation_id"] != out["conversation_id"]


def test_ask_tool_reports_a_handoff(dify_app: DifyApp, doc: dict[str, Any]) -> None:
    tool = dify_tools(doc)["ask_support_agent"]
    out = call_tool(dify_app, tool, {"question": "转人工", "user": "u-handoff"}).json()
    assert out["handoff"] is True and out["route"] == "handoff"


def test_order_tool(dify_app: DifyApp, doc: dict[str, Any]) -> None:
    tool = dify_tools(doc)["lookup_order"]
    found = call_tool(dify_app, tool, {"customer_id": "C10001", "order_id": "YF202610280311"})
    assert found.status_code == 200, found.text
    order = found.json()
    assert order["id"] == "YF202610280311" and order["customer_id"] == "C10001"
    assert order["status_label"] == "已取消" and order["amount"] == "39.00"

    latest = call_tool(dify_app, tool, {"customer_id": "C10001", "order_id": None}).json()
    assert latest["count"] >= 1 and latest["orders"][0]["id"] == "YF202610280311"

    foreign = call_tool(dify_app, tool, {"customer_id": "C10002", "order_id": "YF202610280311"})
    assert foreign.status_code == 200 and foreign.json()["error"] == "not_allowed"
    missing = call_tool(dify_app, tool, {"customer_id": "C10001", "order_id": "YF209901010000"})
    assert missing.json()["error"] == "not_found"
    # The advice names the tool as Dify's model knows it.
    message = missing.json()["message"]
    assert "lookup_order with order_id null" in message and "get_order" not in message


def test_tools_need_a_dify_key(dify_app: DifyApp) -> None:
    resp = dify_app.client.post(
        "/dify/tools/order",
        json={"customer_id": "C10001"},
        headers=dify_app.auth(dify_app.client_key),
    )
    assert resp.status_code == 403 and resp.json()["error_code"] == 1002
    resp = dify_app.client.post("/dify/tools/ask", json={"question": "hi", "user": "u"})
    assert resp.status_code == 403 and resp.json()["error_code"] == 1001


def test_tool_errors_come_back_in_dify_format(dify_app: DifyApp) -> None:
    resp = dify_app.client.post(
        "/dify/tools/ask", json={"question": "x" * 5000, "user": "u-long"}, headers=dify_app.auth()
    )
    assert resp.status_code == 422
    assert resp.json()["error_code"] == 422 and resp.json()["error_msg"]
