"""A transcript as the conversations page shows it: each bot answer beside its trace.

The template only lays out what is here; pairing messages with traces, picking the latency
and shaping tool calls for display happen in this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.handoff.schemas import ConversationDetail, MessageOut, TraceOut


@dataclass(frozen=True)
class ToolCallView:
    name: str
    arguments: str
    result: str
    ms: float | None


@dataclass(frozen=True)
class PassageView:
    source: str
    chunk_id: str
    score: float | None
    dense_score: float | None
    cited: bool
    excerpt: str = ""
    heading: str = ""


@dataclass
class Entry:
    message: MessageOut
    trace: TraceOut | None = None
    latency_ms: float | None = None
    passages: list[PassageView] = field(default_factory=list)
    tool_calls: list[ToolCallView] = field(default_factory=list)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


def _score(value: Any) -> float | None:
    return round(float(value), 4) if isinstance(value, int | float) else None


def _passages(trace: TraceOut) -> list[PassageView]:
    """What the answer drew on: the retrieved passages in rank order, marked when cited,
    with the excerpt the customer was shown; then any cited passage not among them."""
    cited = {str(c.get("chunk_id")): c for c in trace.citations}
    views = []
    for hit in trace.retrieved:
        chunk = str(hit.get("chunk_id", ""))
        citation = cited.pop(chunk, None) or {}
        views.append(
            PassageView(
                source=str(hit.get("source", "")),
                chunk_id=chunk,
                score=_score(hit.get("score")),
                dense_score=_score(hit.get("dense_score")),
                cited=bool(citation),
                excerpt=str(citation.get("excerpt", "")),
                heading=" › ".join(citation.get("heading_path") or []),
            )
        )
    for chunk, citation in cited.items():
        views.append(
            PassageView(
                source=str(citation.get("source", "")),
                chunk_id=chunk,
                score=None,
                dense_score=None,
                cited=True,
                excerpt=str(citation.get("excerpt", "")),
                heading=" › ".join(citation.get("heading_path") or []),
            )
        )
    return views


def _tool_calls(trace: TraceOut) -> list[ToolCallView]:
    return [
        ToolCallView(
            name=str(call.get("name", "")),
            arguments=_json(call.get("arguments", {})),
            result=_json(call.get("result", {})),
            ms=_score(call.get("ms")),
        )
        for call in trace.tool_calls
    ]


def entries(detail: ConversationDetail) -> list[Entry]:
    traces = {t.message_id: t for t in detail.traces}
    out = []
    for msg in detail.messages:
        trace = traces.get(msg.id)
        if trace is None:
            out.append(Entry(msg, latency_ms=msg.latency_ms))
            continue
        total = trace.timings.get("total_ms")
        out.append(
            Entry(
                msg,
                trace,
                latency_ms=total if total is not None else msg.latency_ms,
                passages=_passages(trace),
                tool_calls=_tool_calls(trace),
            )
        )
    return out
