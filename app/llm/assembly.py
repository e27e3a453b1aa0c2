"""Turning streamed deltas into events: tool-call fragments into whole calls, and
``<think>`` and ``<tool_call>`` blocks left inside ``content`` out of the answer text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.llm.events import ReasoningDelta, TextDelta, ToolCall

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
TOOL_OPEN = "<tool_call>"
TOOL_CLOSE = "</tool_call>"
# Opening tag -> its closing tag. Text inside <think> is reasoning; inside <tool_call> it
# is a call the server did not parse, which is never answer text.
BLOCKS = {THINK_OPEN: THINK_CLOSE, TOOL_OPEN: TOOL_CLOSE}
STRAYS = (THINK_CLOSE, TOOL_CLOSE)


class ContentSplitter:
    """Keeps ``<think>…</think>`` and ``<tool_call>…</tool_call>`` out of the answer text.

    With vLLM's ``--reasoning-parser qwen3`` the server already routes thinking to
    ``reasoning`` and content never holds the tags; without it (or behind another
    OpenAI-compatible server) Qwen3 writes its thinking inline. Hermes-style tool calls
    reach content when the server's parser is off, when it could not parse them, or when
    the request said ``tool_choice: "none"`` and the model called anyway: they are counted
    (``dropped_calls``) and never shown. Tags may be split across chunks, so a suffix that
    could begin a tag is held back until the next chunk decides. Stray closing tags are
    dropped.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._inside: str | None = None  # the opening tag of the block we are in
        self._after_close = False  # Qwen3 puts blank lines after a block: not answer text
        self.dropped_calls = 0

    def feed(self, text: str) -> list[TextDelta | ReasoningDelta]:
        self._pending += text
        out: list[TextDelta | ReasoningDelta] = []
        while True:
            tags: tuple[str, ...] = (BLOCKS[self._inside],) if self._inside else (*BLOCKS, *STRAYS)
            hits = [(i, tag) for tag in tags if (i := self._pending.find(tag)) >= 0]
            if not hits:
                break
            index, tag = min(hits)
            self._emit(self._pending[:index], out)
            self._pending = self._pending[index + len(tag) :]
            if tag == TOOL_CLOSE and self._inside == TOOL_OPEN:
                self.dropped_calls += 1
            self._inside = tag if tag in BLOCKS else None
            self._after_close = tag in STRAYS
        keep = _partial_tag_suffix(self._pending, tags)
        self._emit(self._pending[: len(self._pending) - keep], out)
        self._pending = self._pending[len(self._pending) - keep :]
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        out: list[TextDelta | ReasoningDelta] = []
        if self._inside == TOOL_OPEN:
            self.dropped_calls += 1  # an unfinished call is still not answer text
        self._emit(self._pending, out)
        self._pending = ""
        return out

    def _emit(self, text: str, out: list[TextDelta | ReasoningDelta]) -> None:
        if self._inside == THINK_OPEN:
            if text:
                out.append(ReasoningDelta(text))
            return
        if self._inside == TOOL_OPEN:
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
