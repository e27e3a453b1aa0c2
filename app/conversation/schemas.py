"""A channel-neutral turn in, one stream of reply events out: what every channel consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.attachments.intake import CleanImage


@dataclass(frozen=True)
class TurnRequest:
    channel: str
    text: str
    conversation_id: str | None = None
    external_user_id: str | None = None
    # Set by the channel from a verified identity, never from what the customer typed.
    customer_id: str | None = None
    client_message_id: str | None = None
    # Images checked and re-encoded by the channel (``app.attachments.intake.clean``), and
    # the widget's uploads (stored already, unsent) this message carries.
    images: tuple[CleanImage, ...] = ()
    attachment_ids: tuple[int, ...] = ()
    # The language the channel shows the customer (the widget's), for a reply to images sent
    # without a word: text, when there is any, says more.
    lang_hint: str | None = None


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    document_id: int
    chunk_id: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    kind: str = "doc"
    excerpt: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "source": self.source,
            "document_id": self.document_id,
            "chunk_id": self.chunk_id,
            "heading_path": list(self.heading_path),
            "page": self.page,
            "kind": self.kind,
            "excerpt": self.excerpt,
        }


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Citations:
    items: tuple[Citation, ...]


@dataclass(frozen=True)
class Handoff:
    reason: str
    message: str


@dataclass(frozen=True)
class ToolCallStarted:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolCallFinished:
    name: str
    result: dict[str, Any]


@dataclass(frozen=True)
class Done:
    conversation_id: str
    message_id: int | None
    route: str
    intent: str | None = None
    replayed: bool = False  # a retried client message: the stored answer, not a new one
    cached: bool = False  # reused from the answer cache, not asked of the LLM


@dataclass(frozen=True)
class Error:
    code: str
    message: str


ReplyEvent = TextDelta | Citations | Handoff | ToolCallStarted | ToolCallFinished | Done | Error


@dataclass
class TurnOutcome:
    """Everything a turn produced, for channels that answer in one piece (WeChat, --json)."""

    conversation_id: str = ""
    # The stored answer's id (what feedback names); None when a person holds the conversation.
    message_id: int | None = None
    answer: str = ""
    route: str = ""
    intent: str | None = None
    citations: list[Citation] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    handoff: bool = False
    replayed: bool = False
    cached: bool = False
    # Set when the answer could not be stored (the stream ended with ``Error``).
    error: str | None = None
