"""The same endpoint with kefu's LLM agent switched on: the agent's LLM is a scripted
OpenAI-protocol server, the client is the official `openai` package."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai import OpenAI
from sqlalchemy import select

from app.conversation.models import Conversation, Message, MessageRole
from app.core.config import LLMSettings
from app.runtime import Runtime
from tests.llm.scripted_server import ScriptedServer, Stream, chunk, text_reply, tool_call_delta
from tests.openai_compat.conftest import build_runtime, new_key, serve, watch_hang_up
from tests.support import wait_until

QUESTION = "积分抵扣有没有上限？最多能抵订单金额的多少？"


@dataclass(frozen=True)
class Agent:
    sdk: OpenAI
    llm: ScriptedServer
    runtime: Runtime
    key_id: int


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Agent]:
    with ScriptedServer() as llm:
        settings = LLMSettings(_env_file=None, base_url=llm.base_url, model=llm.model)
        rt = build_runtime(tmp_path_factory.mktemp("openai-llm"), sqlite_template, llm=settings)
        try:
            with serve(rt) as base_url:
                secret, key_id = new_key(rt)
                sdk = OpenAI(base_url=base_url, api_key=secret, max_retries=0)
                yield Agent(sdk, llm, rt, key_id)
        finally:
            rt.close()


def test_streamed_agent_answer_with_citation(agent: Agent) -> None:
    agent.llm.script(text_reply("单笔最多可抵扣", "订单金额的30% [1]。"))
    chunks = list(
        agent.sdk.chat.completions.create(
            model="kefu", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == "单笔最多可抵扣订单金额的30% [1]。"
    assert len(pieces) >= 2  # streamed as the model produced it, not in one piece
    extra = chunks[-1].model_extra or {}
    assert extra["kefu"]["route"] == "llm"
    assert [c["n"] for c in extra["citations"]] == [1]
    assert extra["citations"][0]["source"] == "members.md"
    sent = agent.llm.chat_requests[-1].json
    assert QUESTION in json.dumps(sent["messages"], ensure_ascii=False)
    assert sent["model"] == agent.llm.model  # kefu's own model settings, not the client's


def test_agent_tool_calls_are_reported_not_returned(agent: Agent) -> None:
    arguments = json.dumps({"reason": "complaint", "summary": "customer wants a person"})
    agent.llm.script(
        Stream(
            [
                tool_call_delta(0, call_id="call-1", name="request_human", arguments=arguments),
                chunk({}, "tool_calls"),
            ]
        ),
        text_reply("已为您转接人工客服。"),
    )
    completion = agent.sdk.chat.completions.create(
        model="kefu",
        user="llm-user-1",
        messages=[{"role": "user", "content": QUESTION}],
        tools=[{"type": "function", "function": {"name": "noop", "parameters": {}}}],
    )
    message = completion.choices[0].message
    # The agent adds the service hours to a handoff answer that lacks them.
    assert message.content is not None and message.tool_calls is None
    assert message.content.startswith("已为您转接人工客服。") and "服务时间" in message.content
    assert completion.choices[0].finish_reason == "stop"
    kefu = (completion.model_extra or {})["kefu"]
    assert [c["name"] for c in kefu["tool_calls"]] == ["request_human"]
    assert kefu["tool_calls"][0]["arguments"]["reason"] == "complaint"
    assert kefu["tool_calls"][0]["result"]["handoff"] is True
    assert kefu["handoff"] and kefu["handoff"]["reason"] == "complaint"
    # The client's own `tools` are not offered to kefu's LLM: the agent has its own.
    offered = {t["function"]["name"] for t in agent.llm.chat_requests[-2].json.get("tools", [])}
    assert "noop" not in offered and "request_human" in offered


def _replies(agent: Agent, user: str) -> list[str]:
    with agent.runtime.session_factory() as s:
        return list(
            s.scalars(
                select(Message.content)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Conversation.external_user_id == f"key:{agent.key_id}:user:{user}",
                    Message.role == MessageRole.ASSISTANT,
                )
            )
        )


def test_a_client_hanging_up_mid_answer_still_gets_it_stored(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn is not cancelled with the response: the whole answer is stored, so the
    client's retry (or the admin console) finds it."""
    abandoned = watch_hang_up(monkeypatch)
    agent.llm.script(text_reply("单笔最多可抵扣", "订单金额的30% [1]。", delay=0.5))
    user = f"hang-up-{uuid.uuid4().hex[:8]}"
    stream = agent.sdk.chat.completions.create(
        model="kefu", user=user, messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    for piece in stream:
        if piece.choices and piece.choices[0].delta.content:
            break
    stream.close()
    assert abandoned.wait(10), "the server did not notice the hang-up"
    assert _replies(agent, user) == []  # the LLM is still answering
    wait_until(lambda: bool(_replies(agent, user)), timeout=15, what="the answer to be stored")
    assert _replies(agent, user) == ["单笔最多可抵扣订单金额的30% [1]。"]
