"""Turning streamed deltas into events: tool-call fragments into whole calls, and
``<think>`` blocks left inside ``content`` into reasoning."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.llm.events import ReasoningDelta, TextDelta, ToolCall

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class ThinkTagSplitter:
    """Routes ``<think>…</think>`` found in streamed content to reasoning.

    With vLLM's ``--reasoning-parser qwen3`` the server already does this and content never
    holds the tags; without it (or behind another OpenAI-compatible server) Qwen3 writes its
    thinking inline. Tags may be split across chunks, so a suffix that could begin a tag is
    held back until the next chunk decides. A stray ``</think>`` is dropped, never shown.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._inside = False
        self._after_close = False  # Qwen3 puts blank lines after </think>: not answer text

    def feed(self, text: str) -> list[TextDelta | ReasoningDelta]:
        self._pending += text
        out: list[TextDelta | ReasoningDelta] = []
        while True:
            tags = (THINK_CLOSE,) if self._inside else (THINK_OPEN, THINK_CLOSE)
            hits = [(i, tag) for tag in tags if (i := self._pending.find(tag)) >= 0]
            if not hits:
                break
            index, tag = min(hits)
            self._emit(self._pending[:index], out)
            self._pending = self._pending[index + len(tag) :]
            self._inside = tag == THINK_OPEN
            self._after_close = tag == THINK_CLOSE
        keep = _partial_tag_suffix(self._pending, tags)
        self._emit(self._pending[: len(self._pending) - keep], out)
        self._pending = self._pending[len(self._pending) - keep :]
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        out: list[TextDelta | ReasoningDelta] = []
        self._emit(self._pending, out)
        self._pending = ""
        return out

    def _emit(self, text: str, out: list[TextDelta | ReasoningDelta]) -> None:
        if self._inside:
            if text:
                out.append(ReasoningDelta(text))
            return
        if self._after_close:
            text = text.lstrip()
            if not text:
                return
            self._after_close = False
        if text:
            out.append(TextDelta(text))


def _partial_tag_suffix(text: str, tags: Iterable[str]) -> int:
    """Length of the longest end of ``text`` that is a proper start of one of ``tags``."""
    best = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), best, -1):
            if text.endswith(tag[:size]):
                best = size
                break
    return best


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Collects ``delta.tool_calls`` fragments by ``index`` into whole calls.

    The OpenAI protocol sends a call's id and name in its first fragment and the JSON
    arguments as string pieces in later ones; several calls in one turn carry different
    indexes. Calls are returned complete, in index order, when the turn ends.
    """

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}
        self._last_index: int | None = None

    def __bool__(self) -> bool:
        return bool(self._calls)

    def feed(self, fragments: Iterable[Mapping[str, Any]]) -> None:
        for fragment in fragments:
            index = self._index_of(fragment)
            call = self._calls.setdefault(index, _PartialCall())
            self._last_index = index
            if fragment.get("id") and not call.id:
                call.id = str(fragment["id"])
            function = fragment.get("function") or {}
            # The name comes whole in one fragment; some servers repeat it in every
            # fragment, so it is set once rather than concatenated.
            if function.get("name") and not call.name:
                call.name = str(function["name"])
            if function.get("arguments"):
                call.arguments.append(str(function["arguments"]))

    def _index_of(self, fragment: Mapping[str, Any]) -> int:
        index = fragment.get("index")
        if isinstance(index, int):
            return index
        # No index (not OpenAI-conformant, but seen): a new id starts a new call.
        known_ids = {call.id for call in self._calls.values()}
        if self._last_index is None or (fragment.get("id") and fragment["id"] not in known_ids):
            return len(self._calls)
        return self._last_index

    def finish(self) -> list[ToolCall]:
        return [_complete(self._calls[index]) for index in sorted(self._calls)]


def _complete(call: _PartialCall) -> ToolCall:
    raw = "".join(call.arguments)
    call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
    if not call.name:
        return ToolCall(call_id, "", {}, raw, error="the tool call has no function name")
    if not raw.strip():
        return ToolCall(call_id, call.name, {}, raw)  # a call without parameters
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ToolCall(call_id, call.name, {}, raw, error=f"arguments are not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        kind = type(parsed).__name__
        return ToolCall(
            call_id, call.name, {}, raw, error=f"arguments must be a JSON object, not {kind}"
        )
    return ToolCall(call_id, call.name, parsed, raw)
