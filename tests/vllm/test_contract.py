"""Contract tests: LLMClient against a real vLLM (CPU) serving a tiny random Qwen3.

The model's words are noise, so these assert the protocol: what vLLM accepts from kefu
and the shape of what comes back (streamed deltas, reasoning routed by the qwen3 parser,
hermes tool calls constrained by a strict schema, the tool-result round trip).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.core.config import LLMSettings
from app.llm import (
    Done,
    LLMBadRequest,
    LLMClient,
    LLMEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
    tool_message,
)
from app.routing import tiebreak
from tests.vllm.conftest import VLLMServer

USER = [
    {"role": "system", "content": "你是云帆通信的客服助手。"},
    {"role": "user", "content": "我上个月的话费是多少？"},
]
MONTHS = ["2025-05", "2025-06"]
BILL_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_bill",
        "description": "Look up the customer's bill for one month.",
        "strict": True,
        # Bounded on purpose: a random model fills every free slot with noise, so each value
        # is an enum, a boolean or a short string.
        "parameters": {
            "type": "object",
            "properties": {
                "month": {"type": "string", "enum": MONTHS},
                "itemised": {"type": "boolean"},
                "note": {"type": "string", "maxLength": 8},
            },
            "required": ["month", "itemised", "note"],
            "additionalProperties": False,
        },
    },
}
NAMED = {"type": "function", "function": {"name": "get_bill"}}


@pytest.fixture
async def client(vllm_server: VLLMServer) -> AsyncIterator[LLMClient]:
    settings = LLMSettings(
        _env_file=None,
        base_url=vllm_server.base_url,
        model=vllm_server.model,
        first_token_timeout=60,  # a CPU, two cores, shared with the test process
        total_timeout=120,
        max_tokens=16,
        max_retries=0,
    )
    async with LLMClient(settings) as llm:
        yield llm


def seeded(**extra: Any) -> dict[str, Any]:
    return {"seed": 1234, **extra}


def no_whitespace(server: VLLMServer) -> dict[str, Any]:
    """logit_bias that keeps the random model from padding JSON with whitespace forever
    (see tiny_qwen3.whitespace_token_ids)."""
    return {"logit_bias": {str(i): -100 for i in server.meta["whitespace_token_ids"]}}


async def events_of(client: LLMClient, *args: Any, **kwargs: Any) -> list[LLMEvent]:
    events: list[LLMEvent] = []
    async with contextlib.aclosing(client.stream(*args, **kwargs)) as stream:
        async for event in stream:
            events.append(event)
    return events


async def test_health_lists_the_served_model(client: LLMClient) -> None:
    assert await client.health() is True
    assert client.breaker_state == "closed"


async def test_streaming_with_thinking_off_has_no_reasoning(client: LLMClient) -> None:
    events = await events_of(client, USER, max_tokens=12, extra_body=seeded())
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1, "text should arrive in several deltas"
    assert not [e for e in events if isinstance(e, ReasoningDelta)]
    usage = [e for e in events if isinstance(e, Usage)]
    assert len(usage) == 1 and usage[0].prompt_tokens > 10
    assert 0 < usage[0].completion_tokens <= 12
    done = events[-1]
    assert isinstance(done, Done) and done.finish_reason in {"length", "stop"}
    assert done.first_token_s is not None and done.first_token_s <= done.elapsed_s


async def test_thinking_on_streams_reasoning_separately(client: LLMClient) -> None:
    # With thinking on, vLLM's qwen3 parser files everything before </think> as reasoning;
    # the random model never closes it, so all of this answer is reasoning.
    result = await client.complete(USER, thinking=True, max_tokens=8, extra_body=seeded())
    assert result.reasoning
    assert result.text == ""
    assert result.usage is not None and 0 < result.usage.completion_tokens <= 8


async def test_named_tool_call_with_a_strict_schema(
    client: LLMClient, vllm_server: VLLMServer
) -> None:
    result = await client.complete(
        USER,
        tools=[BILL_TOOL],
        tool_choice=NAMED,
        max_tokens=200,
        extra_body=seeded(**no_whitespace(vllm_server)),
    )
    assert result.finish_reason == "stop", result
    (call,) = result.tool_calls
    assert call.name == "get_bill"
    assert call.error is None, call.raw_arguments
    assert call.id
    args = call.arguments
    assert set(args) == {"month", "itemised", "note"}
    assert args["month"] in MONTHS
    assert isinstance(args["itemised"], bool)
    assert isinstance(args["note"], str) and len(args["note"]) <= 8


async def test_tool_result_round_trip_is_accepted_and_answered(
    client: LLMClient, vllm_server: VLLMServer
) -> None:
    first = await client.complete(
        USER,
        tools=[BILL_TOOL],
        tool_choice=NAMED,
        max_tokens=200,
        extra_body=seeded(**no_whitespace(vllm_server)),
    )
    (call,) = first.tool_calls
    history = [
        *USER,
        first.assistant_message(),
        tool_message(call, {"month": call.arguments["month"], "total_yuan": 58.0}),
    ]
    second = await client.complete(history, tools=[BILL_TOOL], max_tokens=8, extra_body=seeded())
    assert second.finish_reason in {"length", "stop", "tool_calls"}
    assert second.usage is not None and first.usage is not None
    # The history (with the call and its result) reached the model's prompt.
    assert second.usage.prompt_tokens > first.usage.prompt_tokens


async def test_auto_tool_choice_is_accepted(client: LLMClient) -> None:
    events = await events_of(client, USER, tools=[BILL_TOOL], max_tokens=8, extra_body=seeded())
    assert isinstance(events[-1], Done)
    assert all(isinstance(e, TextDelta | ToolCall | Usage | Done) for e in events)


async def test_a_request_vllm_refuses_is_a_bad_request(client: LLMClient) -> None:
    with pytest.raises(LLMBadRequest) as caught:
        await client.complete(USER, max_tokens=100_000)  # beyond --max-model-len 2048
    assert caught.value.status_code == 400
    assert client.breaker_state == "closed"


async def test_tiebreak_response_format_constrains_the_reply(
    client: LLMClient, vllm_server: VLLMServer
) -> None:
    # The router's tie-breaker asks for JSON by schema (structured outputs): even a random
    # model's reply must parse and name one of the two routes.
    messages = [
        {"role": "system", "content": "Route this message."},
        {"role": "user", "content": '{"message": "运费多少", "faq_question": "运费怎么算？"}'},
    ]
    extra = {"response_format": tiebreak.RESPONSE_FORMAT, **no_whitespace(vllm_server)}
    result = await client.complete(
        messages, max_tokens=tiebreak.MAX_TOKENS, extra_body=seeded(**extra)
    )
    assert json.loads(result.text)["route"] in {"faq", "agent"}
