"""Pure pieces of the client: think-tag splitting, tool-call assembly, the breaker."""

from __future__ import annotations

import pytest

from app.llm import ReasoningDelta, TextDelta, ToolCall
from app.llm.assembly import ContentSplitter, ToolCallAssembler
from app.llm.breaker import CircuitBreaker


def split(*pieces: str) -> tuple[str, str]:
    splitter = ContentSplitter()
    events = [e for p in pieces for e in splitter.feed(p)] + splitter.flush()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    return text, reasoning


@pytest.mark.parametrize(
    ("pieces", "text", "reasoning"),
    [
        (["plain answer"], "plain answer", ""),
        (["<think>\nplan\n</think>\n\nanswer"], "answer", "\nplan\n"),
        (["<", "t", "h", "i", "n", "k", ">", "x", "<", "/", "think>", "y"], "y", "x"),
        (["<think>\n\n</think>\n\n", "answer"], "answer", "\n\n"),
        (["a < b and a <th", "ing> too"], "a < b and a <thing> too", ""),
        (["answer</think>"], "answer", ""),  # a stray closing tag is never shown
        (["<think>unfinished"], "", "unfinished"),
        (["x <thin"], "x <thin", ""),  # a partial tag at the very end is released
        # Hermes tool calls the server did not parse never reach the customer.
        (['Let me check.<tool_call>\n{"name": "get_bill"}\n</tool_call>'], "Let me check.", ""),
        (["a<tool", "_call>{", "}</tool_", "call>\n\nb"], "ab", ""),
        (['<think>x</think>ok<tool_call>{"name"'], "ok", "x"),  # cut off inside a call
        (["<think>a <tool_call> b</think>c"], "c", "a <tool_call> b"),  # quoted in thinking
        (["done</tool_call>"], "done", ""),
    ],
)
def test_think_tag_splitter(pieces: list[str], text: str, reasoning: str) -> None:
    assert split(*pieces) == (text, reasoning)


def test_splitter_counts_the_calls_it_drops() -> None:
    splitter = ContentSplitter()
    splitter.feed('<tool_call>{"name": "a"}</tool_call> and <tool_call>{"name"')
    splitter.flush()
    assert splitter.dropped_calls == 2


def test_splitter_streams_text_without_waiting_for_the_end() -> None:
    splitter = ContentSplitter()
    assert splitter.feed("你好") == [TextDelta("你好")]
    assert splitter.feed("，<") == [TextDelta("，")]  # "<" might open a tag: held
    assert splitter.feed("3") == [TextDelta("<3")]


def test_assembler_without_indexes_splits_calls_by_id() -> None:
    assembler = ToolCallAssembler()
    assembler.feed([{"id": "a", "function": {"name": "f", "arguments": '{"x"'}}])
    assembler.feed([{"function": {"arguments": ": 1}"}}])
    assembler.feed([{"id": "b", "function": {"name": "g", "arguments": "{}"}}])
    assert assembler.finish() == [
        ToolCall("a", "f", {"x": 1}, '{"x": 1}'),
        ToolCall("b", "g", {}, "{}"),
    ]


def test_assembler_keeps_a_repeated_name_once_and_invents_a_missing_id() -> None:
    assembler = ToolCallAssembler()
    assembler.feed([{"index": 0, "function": {"name": "get_bill", "arguments": "{"}}])
    assembler.feed([{"index": 0, "function": {"name": "get_bill", "arguments": "}"}}])
    (call,) = assembler.finish()
    assert call.name == "get_bill" and call.arguments == {} and call.error is None
    assert call.id.startswith("call_")


def test_assembler_reports_a_call_without_a_name() -> None:
    assembler = ToolCallAssembler()
    assembler.feed([{"index": 0, "id": "c", "function": {"arguments": "{}"}}])
    (call,) = assembler.finish()
    assert call.error is not None and "name" in call.error


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> str:
    # A function, so mypy does not carry a narrowed state from one assert to the next.
    return breaker.state


def test_breaker_states() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, reset=10, clock=clock)
    assert breaker.acquire() and state(breaker) == "closed"
    breaker.record_failure()
    assert breaker.acquire()
    breaker.record_success()  # a success in between resets the count
    breaker.record_failure()
    assert state(breaker) == "closed"
    breaker.record_failure()
    assert state(breaker) == "open" and not breaker.acquire()

    clock.now = 10
    assert state(breaker) == "half_open"
    assert breaker.acquire()  # the probe
    assert not breaker.acquire()  # only one
    breaker.release()  # the probe was cancelled: no verdict, the next call probes
    assert breaker.acquire()
    breaker.record_failure()
    assert state(breaker) == "open"

    clock.now = 20
    assert breaker.acquire()
    breaker.record_success()
    assert state(breaker) == "closed" and breaker.consecutive_failures == 0
