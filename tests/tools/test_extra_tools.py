"""The operator's LangChain tools (KEFU_EXTRA_TOOLS): loaded by allowlist, refused at startup
when unsafe or misnamed, and run with the conversation's customer injected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings, ToolSettings, get_settings
from app.customers.source import BusinessData
from app.runtime import Runtime
from app.tools import extra
from app.tools.binding import ToolBindingError
from app.tools.schemas import TOOL_NAMES
from app.tools.service import ToolContext, ToolRunner
from tests.tools import warranty

WARRANTY = "tests.tools.warranty:warranty_lookup"
C1 = ToolContext(customer_id="C10001", conversation_id="conv-1", customer_phone="13800010001")


def _load(*specs: str, allowed: tuple[str, ...] = ("warranty_lookup",)) -> list[Any]:
    return extra.load(list(specs), allowed=allowed, reserved=TOOL_NAMES)


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    warranty.CALLS.clear()


def _runner(*specs: str, allowed: tuple[str, ...] = ("warranty_lookup",)) -> ToolRunner:
    # Only the operator's tools run here: the business data is never called.
    return ToolRunner(cast(BusinessData, object()), extra=_load(*specs, allowed=allowed))


def test_a_tool_a_list_or_a_factory_and_only_the_allowed_ones() -> None:
    assert [t.name for t in _load(WARRANTY)] == ["warranty_lookup"]
    assert [t.name for t in _load("tests.tools.warranty:make_tools")] == ["warranty_lookup"]
    both = _load("tests.tools.warranty:TOOLS", allowed=("store_hours", "warranty_lookup"))
    assert [t.name for t in both] == ["warranty_lookup", "store_hours"]  # delete_account left out
    assert extra.load([], allowed=(), reserved=TOOL_NAMES) == []


def test_the_customer_is_injected_and_never_in_the_schema() -> None:
    (bound,) = _load(WARRANTY)
    assert bound.customer_arg == "customer_id" and bound.needs_customer is True
    assert bound.definition["function"]["strict"] is True
    assert bound.parameters == {
        "type": "object",
        "properties": {"serial": {"type": "string"}},
        "required": ["serial"],
        "additionalProperties": False,
    }
    runner = _runner(WARRANTY)
    assert [t["function"]["name"] for t in runner.definitions] == [*TOOL_NAMES, "warranty_lookup"]
    assert "customer_id" not in json.dumps(runner.definitions)


@pytest.mark.parametrize(
    ("specs", "allowed", "words"),
    [
        (["tests.tools.warranty"], ("x",), "package.module:attr"),
        (["tests.tools.no_such_module:x"], ("x",), "cannot import 'tests.tools.no_such_module'"),
        (["tests.tools.warranty:nothing"], ("x",), "has no 'nothing'"),
        (["tests.tools.warranty:WARRANTIES"], ("x",), "not a LangChain BaseTool"),
        ([WARRANTY], (), "KEFU_EXTRA_TOOLS_ALLOWED is empty"),
        ([WARRANTY], ("warranty_lookup", "warranty"), "names warranty, which"),
        ([WARRANTY, "tests.tools.warranty:make_tools"], ("x",), "already defined"),
        (
            ["tests.tools.warranty:chosen_customer"],
            ("chosen_customer",),
            "lets the model choose 'customer_id'",
        ),
        (["tests.tools.warranty:needs_tenant"], ("needs_tenant",), "cannot fill: tenant"),
    ],
)
def test_bad_configuration_is_refused_with_its_reason(
    specs: list[str], allowed: tuple[str, ...], words: str
) -> None:
    with pytest.raises(ToolBindingError, match=words.replace("(", r"\(")):
        extra.load(specs, allowed=allowed, reserved=TOOL_NAMES)


def test_a_name_taken_by_kefus_own_tools_is_refused() -> None:
    with pytest.raises(ToolBindingError, match="'warranty_lookup' is already defined"):
        extra.load([WARRANTY], allowed=("warranty_lookup",), reserved=("warranty_lookup",))


def test_settings_read_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_EXTRA_TOOLS", f"{WARRANTY}, tests.tools.warranty:TOOLS")
    monkeypatch.setenv("KEFU_EXTRA_TOOLS_ALLOWED", "warranty_lookup,store_hours")
    tools = ToolSettings(_env_file=None)  # type: ignore[call-arg]
    assert tools.extra_tools == [WARRANTY, "tests.tools.warranty:TOOLS"]
    assert tools.extra_tools_allowed == ["warranty_lookup", "store_hours"]


def test_the_service_does_not_start_with_a_bad_entry(tmp_path: Path) -> None:
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        tools=ToolSettings(extra_tools=["tests.tools.warranty:chosen_customer"]),
    )
    with pytest.raises(ToolBindingError, match="KEFU_EXTRA_TOOLS_ALLOWED is empty"):
        Runtime.build(settings)


@pytest.mark.parametrize("command", [["serve"], ["chat", "-m", "你好"]])
def test_the_commands_refuse_it_in_one_line(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("KEFU_EXTRA_TOOLS", "tests.tools.warranty:chosen_customer")
    monkeypatch.setenv("KEFU_EXTRA_TOOLS_ALLOWED", "chosen_customer")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, command)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "error: tool 'chosen_customer' lets the model choose 'customer_id'" in result.output
    assert not (tmp_path / "cli").exists()  # refused before anything was created


async def test_runs_for_the_conversations_customer() -> None:
    runner = _runner(WARRANTY)
    found = await runner.run("warranty_lookup", '{"serial": "SN12345"}', C1)
    assert found == {"serial": "SN12345", "covered_until": "2027-03-31"}
    assert warranty.CALLS == [("C10001", "SN12345")]


async def test_identity_is_checked_as_for_kefus_own_tools() -> None:
    runner = _runner(WARRANTY)
    other = await runner.run("warranty_lookup", {"serial": "SN1", "customer_id": "C10002"}, C1)
    assert other["error"] == "not_allowed"
    anonymous = ToolContext(customer_id=None, conversation_id="conv-anon")
    assert (await runner.run("warranty_lookup", {"serial": "SN1"}, anonymous))[
        "error"
    ] == "login_required"
    assert warranty.CALLS == []


async def test_failures_come_back_as_results_the_model_can_read() -> None:
    runner = _runner("tests.tools.warranty:TOOLS", allowed=("warranty_lookup", "store_hours"))
    failed = await runner.run("warranty_lookup", {"serial": "SN-BROKEN"}, C1)
    assert failed == {
        "error": "failed",
        "message": "the warranty system rejected the serial number; ask again",
    }
    wrong = await runner.run("warranty_lookup", {"serial": 5}, C1)
    assert wrong["error"] == "invalid_arguments" and wrong["field"] == "serial"
    assert await runner.run("store_hours", {"city": "杭州"}, C1) == {"result": "杭州: 10:00-22:00"}
    assert (await runner.run("delete_account", {"reason": "x"}, C1))["error"] == "unknown_tool"
