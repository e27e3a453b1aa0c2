"""The tool definitions are strict, valid JSON Schema, derived by LangChain from kefu's tools
without the injected identity, unchanged on the wire; the runner enforces the same rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest

from app.customers.models import TicketCategory
from app.customers.source import BusinessData
from app.tools import arguments
from app.tools.builtin import Desk, builtin_tools
from app.tools.schemas import TOOL_NAMES, Category, definition
from app.tools.service import ToolRunner

# No tool runs here: the source is never called.
RUNNER = ToolRunner(cast(BusinessData, object()))
TOOLS = RUNNER.definitions
# The hand-written definitions vLLM was sent before the tools were LangChain tools.
WIRE = json.loads((Path(__file__).parent / "data" / "wire_tools.json").read_text("utf-8"))


def parameters(name: str) -> dict[str, Any]:
    return RUNNER.parameters(name)


def _walk(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema]
    for sub in schema.get("properties", {}).values():
        found += _walk(sub)
    return found


def test_definitions_come_from_the_langchain_tools_and_match_the_wire() -> None:
    tools = builtin_tools(Desk(RUNNER.source))
    assert TOOLS == [definition(t) for t in tools] == WIRE
    for tool in tools:
        # The customer is injected by kefu: LangChain's own input schema has it, the model's
        # does not.
        assert "customer_id" in tool.get_input_schema().model_fields
        assert "customer_id" not in json.dumps(definition(tool))
    assert set(Category.__args__) == {c.value for c in TicketCategory}


def test_names_and_shape() -> None:
    assert (
        RUNNER.names
        == TOOL_NAMES
        == (
            "get_bill",
            "get_order",
            "get_membership",
            "create_ticket",
            "request_human",
        )
    )
    # Every tool but the handoff reads or writes the customer's records: login first.
    needs_login = {t.name for t in builtin_tools(Desk(RUNNER.source)) if t.needs_customer}
    assert needs_login == set(TOOL_NAMES) - {"request_human"}
    for tool in TOOLS:
        assert tool["type"] == "function"
        fn = tool["function"]
        assert fn["strict"] is True and 40 < len(fn["description"]) < 600
        assert set(fn) == {"name", "description", "strict", "parameters"}


@pytest.mark.parametrize("tool", TOOLS, ids=TOOL_NAMES)
def test_strict_mode_rules(tool: dict[str, Any]) -> None:
    params = tool["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(params)
    for node in _walk(params):
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if "object" in types:
            assert node["additionalProperties"] is False
            assert node["required"] == list(node["properties"])  # every property required
        if "string" in types and "enum" not in node:
            assert 0 < node["maxLength"] <= 500  # bounded strings
    # No tool can be pointed at another customer.
    for name in params["properties"]:
        assert name not in {"customer_id", "phone", "account", "account_id", "user_id"}


def test_month_pattern_and_nullable_values() -> None:
    month = parameters("get_bill")["properties"]["month"]
    assert month["pattern"] == r"^\d{4}-\d{2}$"
    assert parameters("get_order")["properties"]["order_id"]["type"] == ["string", "null"]
    assert parameters("get_membership") == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


GOOD = {
    "get_bill": {"month": "2026-10"},
    "get_order": {"order_id": None},
    "get_membership": {},
    "create_ticket": {"category": "billing", "summary": "十月账单有异议", "reference": "2026-10"},
    "request_human": {"reason": "complaint", "summary": "客户要投诉"},
}
BAD = {
    "get_bill": [{"month": "2026/10"}, {"month": "202610"}, {}, {"month": "2026-10", "x": 1}],
    "get_order": [{"order_id": "YF 1"}, {"order_id": "Y" * 33}, {"order_id": 5}],
    "get_membership": [{"customer_id": "C10002"}],
    "create_ticket": [
        {"category": "refund", "summary": "一个问题的描述", "reference": None},
        {"category": "order", "summary": "x" * 501, "reference": None},
        {"category": "order", "summary": "hi", "reference": None},
    ],
    "request_human": [{"reason": "bored", "summary": "x"}, {"reason": "other", "summary": ""}],
}


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_runner_checks_agree_with_jsonschema(name: str) -> None:
    validator = jsonschema.Draft202012Validator(parameters(name))
    assert validator.is_valid(GOOD[name])
    arguments.check(GOOD[name], parameters(name))
    for bad in BAD[name]:
        assert not validator.is_valid(bad), bad
        with pytest.raises(arguments.ArgumentError):
            arguments.check(bad, parameters(name))


def test_definitions_are_copies() -> None:
    tools = RUNNER.definitions
    tools[0]["function"]["parameters"]["properties"].clear()
    assert parameters("get_bill")["properties"]
