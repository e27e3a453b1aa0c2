"""What LLMClient sends, and what it makes of well-formed streams (scripted endpoint)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import pytest

from app.core.config import LLMSettings
from app.llm import (
    Done,
    LLMClient,
    LLMEvent,
    LLMProtocolError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
    tool_message,
)
from tests.llm.scripted_server import (
    ScriptedServer,
    Status,
    Stream,
    chunk,
    text_reply,
    tool_call_delta,
    usage_chunk,
)

Settings = Callable[..., LLMSettings]
USER = [{"role": "user", "content": "我的话费怎么这么高？"}]


async def collect(client: LLMClient, **kwargs: object) -> list[LLMEvent]:
    events: list[LLMEvent] = []
    async with contextlib.aclosing(client.stream(USER, **kwargs)) as stream:  # type: ignore[arg-type]
        async for event in stream:
            events.append(event)
    return events


async def test_complete_returns_text_usage_and_finish_reason(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(text_reply("您好，", "本月话费", "是 58 元。", usage=(42, 9)))
    async with LLMClient(llm_settings()) as client:
        result = await client.complete(USER)
    assert result.text == "您好，本月话费是 58 元。"
    assert result.reasoning == ""
    assert result.tool_calls == []
    assert result.usage == Usage(42, 9)
    assert result.finish_reason == "stop"
    assert result.attempts == 1
    assert result.first_token_s is not None and 0 <= result.first_token_s <= result.elapsed_s
    assert result.assistant_message() == {"role": "assistant", "content": result.text}


async def test_stream_yields_text_as_it_arrives_then_usage_then_done(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(text_reply("Hel", "lo", " world", finish_reason="length"))
    async with LLMClient(llm_settings()) as client:
        events = await collect(client)
    assert events[:3] == [TextDelta("Hel"), TextDelta("lo"), TextDelta(" world")]
    assert events[3] == Usage(11, 7)
    assert isinstance(events[4], Done) and events[4].finish_reason == "length"
    assert len(events) == 5


async def test_request_body_thinking_off_by_default(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(text_reply("ok"))
    async with LLMClient(llm_settings(api_key="sk-test")) as client:
        await client.complete(USER)
    (request,) = scripted_llm.chat_requests
    body = request.json
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert body["model"] == scripted_llm.model
    assert body["messages"] == USER
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # vLLM reads the switch only inside chat_template_kwargs; a top-level field is ignored.
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert "enable_thinking" not in body
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.7, 0.8, 20)
    assert body["presence_penalty"] == 1.5
    assert body["max_tokens"] == 1024
    assert "tools" not in body and "tool_choice" not in body


async def test_request_body_thinking_on_uses_thinking_sampling(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(text_reply("ok"))
    async with LLMClient(llm_settings()) as client:
        await client.complete(USER, thinking=True, max_tokens=4096, extra_body={"seed": 7})
    body = scripted_llm.chat_requests[0].json
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.6, 0.95, 20)
    assert body["presence_penalty"] == 0.0
    assert body["max_tokens"] == 4096
    assert body["seed"] == 7


async def test_thinking_gets_its_own_token_budget(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    # The thought counts against max_tokens: a thinking call needs room for it and the answer.
    scripted_llm.script(text_reply("a"), text_reply("b"))
    async with LLMClient(llm_settings(max_tokens=300, thinking_max_tokens=3000)) as client:
        await client.complete(USER, thinking=True)
        await client.complete(USER)
    assert [r.json["max_tokens"] for r in scripted_llm.chat_requests] == [3000, 300]


async def test_tools_and_named_tool_choice_are_sent_as_given(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_bill",
                "strict": True,
                "parameters": {
                    "type": "object",
                    "properties": {"month": {"type": "string"}},
                    "required": ["month"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    choice = {"type": "function", "function": {"name": "get_bill"}}
    scripted_llm.script(text_reply("ok"))
    async with LLMClient(llm_settings()) as client:
        await client.complete(USER, tools=tools, tool_choice=choice)
    body = scripted_llm.chat_requests[0].json
    assert body["tools"] == tools
    assert body["tool_choice"] == choice


async def test_two_tool_calls_streamed_in_fragments(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(
        Stream(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "我查一下。"}),
                tool_call_delta(0, call_id="call_a", name="get_bill"),
                tool_call_delta(0, arguments='{"mon'),
                tool_call_delta(0, arguments='th": "2025-'),
                tool_call_delta(0, arguments='06"}'),
                tool_call_delta(1, call_id="call_b", name="get_order"),
                tool_call_delta(1, arguments='{"order_id": '),
                tool_call_delta(1, arguments='"A1", "detail": true}'),
                chunk({}, "tool_calls"),
                usage_chunk(120, 40),
            ]
        )
    )
    async with LLMClient(llm_settings()) as client:
        events = await collect(client)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls == [
        ToolCall("call_a", "get_bill", {"month": "2025-06"}, '{"month": "2025-06"}'),
        ToolCall(
            "call_b",
            "get_order",
            {"order_id": "A1", "detail": True},
            '{"order_id": "A1", "detail": true}',
        ),
    ]
    # Whole calls only after the turn ended; the text before them streamed as usual.
    assert events[0] == TextDelta("我查一下。")
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["TextDelta", "ToolCall", "ToolCall", "Usage", "Done"]
    done = events[-1]
    assert isinstance(done, Done) and done.finish_reason == "tool_calls"


async def test_tool_round_trip_messages(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(
        Stream(
            [
                tool_call_delta(0, call_id="call_a", name="get_bill", arguments='{"month": "6"}'),
                chunk({}, "tool_calls"),
            ]
        ),
        text_reply("6 月话费 58 元。"),
    )
    async with LLMClient(llm_settings()) as client:
        first = await client.complete(USER)
        call = first.tool_calls[0]
        history = [
            *USER,
            first.assistant_message(),
            tool_message(call, {"month": "2025-06", "total": 58}),
        ]
        second = await client.complete(history)
    assert second.text == "6 月话费 58 元。"
    sent = scripted_llm.chat_requests[1].json["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_bill", "arguments": '{"month": "6"}'},
            }
        ],
    }
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "call_a"
    assert json.loads(sent[2]["content"]) == {"month": "2025-06", "total": 58}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ('{"month": "2025-06"', "not valid JSON"),
        ('["2025-06"]', "must be a JSON object, not list"),
        ("null", "must be a JSON object, not NoneType"),
    ],
)
async def test_malformed_tool_arguments_are_reported_not_dropped(
    scripted_llm: ScriptedServer, llm_settings: Settings, raw: str, error: str
) -> None:
    scripted_llm.script(
        Stream(
            [
                tool_call_delta(0, call_id="call_x", name="get_bill"),
                tool_call_delta(0, arguments=raw),
                chunk({}, "tool_calls"),
            ]
        )
    )
    async with LLMClient(llm_settings()) as client:
        result = await client.complete(USER)
    (call,) = result.tool_calls
    assert call.name == "get_bill" and call.id == "call_x"
    assert call.arguments == {}
    assert call.raw_arguments == raw
    assert call.error is not None and error in call.error
    # Echoed to the model as "{}" so the history stays valid JSON for any server.
    assert call.as_message_part()["function"]["arguments"] == "{}"


async def test_tool_call_without_arguments_is_an_empty_object(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(
        Stream([tool_call_delta(0, call_id="c", name="handoff"), chunk({}, "tool_calls")])
    )
    async with LLMClient(llm_settings()) as client:
        result = await client.complete(USER)
    assert result.tool_calls == [ToolCall("c", "handoff", {}, "")]


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
async def test_reasoning_field_becomes_reasoning_not_text(
    scripted_llm: ScriptedServer, llm_settings: Settings, field: str
) -> None:
    # vLLM >= 0.10 sends "reasoning"; older vLLM and other servers "reasoning_content".
    scripted_llm.script(
        Stream(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({field: "用户问话费，"}),
                chunk({field: "先查账单。"}),
                chunk({"content": "稍等。"}),
                chunk({}, "stop"),
            ]
        )
    )
    async with LLMClient(llm_settings()) as client:
        events = await collect(client, thinking=True)
    assert events[:3] == [
        ReasoningDelta("用户问话费，"),
        ReasoningDelta("先查账单。"),
        TextDelta("稍等。"),
    ]


async def test_think_tags_inside_content_are_split_out(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    # No reasoning parser on the server: Qwen3 writes <think>…</think> into content, and
    # the tags may be cut anywhere by the stream.
    scripted_llm.script(text_reply("<thi", "nk>\n先想", "一想</th", "ink>\n\n", "答案", " < 3"))
    async with LLMClient(llm_settings()) as client:
        result = await client.complete(USER, thinking=True)
    assert result.reasoning == "\n先想一想"
    assert result.text == "答案 < 3"


async def test_finish_reason_without_done_marker_still_completes(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    reply = text_reply("ok", usage=None)
    scripted_llm.script(Stream(reply.events, done=False))
    async with LLMClient(llm_settings()) as client:
        result = await client.complete(USER)
    assert (result.text, result.finish_reason, result.usage) == ("ok", "stop", None)


async def test_garbage_in_the_stream_is_a_protocol_error(
    scripted_llm: ScriptedServer, llm_settings: Settings
) -> None:
    scripted_llm.script(Stream(["<html>502 Bad Gateway</html>"]))
    async with LLMClient(llm_settings()) as client:
        with pytest.raises(LLMProtocolError):
            await client.complete(USER)


async def test_health(scripted_llm: ScriptedServer, llm_settings: Settings) -> None:
    async with LLMClient(llm_settings()) as client:
        assert await client.health() is True
        scripted_llm.models_reply = Status(200, {"object": "list", "data": [{"id": "other"}]})
        assert await client.health() is False  # up, but not serving the configured model
        scripted_llm.models_reply = Status(503)
        assert await client.health() is False
    assert [r.path for r in scripted_llm.requests] == ["/v1/models"] * 3
    assert client.breaker_state == "closed"


async def test_health_of_an_endpoint_that_is_down(unused_port: int) -> None:
    settings = LLMSettings(base_url=f"http://127.0.0.1:{unused_port}/v1", _env_file=None)
    async with LLMClient(settings) as client:
        assert await client.health() is False


def test_a_client_needs_an_endpoint() -> None:
    with pytest.raises(ValueError, match="KEFU_LLM_BASE_URL"):
        LLMClient(LLMSettings(base_url=None, _env_file=None))
