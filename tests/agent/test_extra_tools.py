"""An operator's LangChain tool, added by configuration (KEFU_EXTRA_TOOLS), called by the
agent for the conversation's customer, who never appears in what the model is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.conversation.schemas import ToolCallFinished, TurnRequest
from app.conversation.turns import handle_turn, run_turn
from app.core.config import Settings, ToolSettings
from app.runtime import Runtime
from tests.agent.conftest import _llm_settings, last_trace, tool_reply
from tests.llm.scripted_server import ScriptedServer, text_reply
from tests.tools import warranty

QUESTION = "我买的耳机序列号SN12345还在保修期内吗？"


@pytest.fixture
def agent_settings(tmp_path: Path, scripted_llm: ScriptedServer) -> Settings:
    warranty.CALLS.clear()
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        llm=_llm_settings(scripted_llm),
        tools=ToolSettings(
            extra_tools=["tests.tools.warranty:TOOLS"], extra_tools_allowed=["warranty_lookup"]
        ),
    )


async def test_the_agent_calls_the_operators_tool_for_its_customer(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    scripted_llm.script(
        tool_reply("warranty_lookup", {"serial": "SN12345"}),
        text_reply("您的耳机保修到2027年3月31日。"),
    )
    req = TurnRequest(channel="test", text=QUESTION, customer_id="C10001")
    events = [e async for e in handle_turn(bot, req)]

    assert warranty.CALLS == [("C10001", "SN12345")]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(e.name, e.result) for e in finished] == [
        ("warranty_lookup", {"serial": "SN12345", "covered_until": "2027-03-31"})
    ]
    first, second = (r.json for r in scripted_llm.chat_requests)
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    # The allowlist let one of the module's three tools through.
    assert set(offered) == {
        "get_bill",
        "get_order",
        "get_membership",
        "create_ticket",
        "request_human",
        "warranty_lookup",
    }
    assert offered["warranty_lookup"]["strict"] is True
    assert offered["warranty_lookup"]["parameters"]["properties"] == {"serial": {"type": "string"}}
    # Whose warranty it is came from the conversation, never from or to the model.
    assert "customer_id" not in json.dumps(first["tools"])
    assert "C10001" not in json.dumps(first) + json.dumps(second)
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and "2027-03-31" in tool_message["content"]
    assert last_trace(db_session).tool_calls[0]["name"] == "warranty_lookup"


async def test_another_customer_named_by_the_model_is_refused(
    bot: Runtime, scripted_llm: ScriptedServer
) -> None:
    scripted_llm.script(
        tool_reply("warranty_lookup", {"serial": "SN12345", "customer_id": "C10002"}),
        text_reply("抱歉，只能查询您本人的设备。"),
    )
    await run_turn(bot, TurnRequest(channel="test", text=QUESTION, customer_id="C10001"))
    result = json.loads(scripted_llm.chat_requests[1].json["messages"][-1]["content"])
    assert result["error"] == "not_allowed"
    assert warranty.CALLS == []
