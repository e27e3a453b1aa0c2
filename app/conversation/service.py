"""Conversations, messages and traces in SQL: single-entity queries, session passed in."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.conversation.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    TurnTrace,
)
from app.core.db import utcnow
from app.core.logging import scrub


def get(*, db_session: Session, conversation_id: str) -> Conversation | None:
    return db_session.get(Conversation, conversation_id)


def create(
    *,
    db_session: Session,
    channel: str,
    external_user_id: str | None,
    customer_id: str | None,
    conversation_id: str | None = None,
) -> Conversation:
    conv = Conversation(channel=channel, external_user_id=external_user_id, customer_id=customer_id)
    if conversation_id:
        conv.id = conversation_id
    db_session.add(conv)
    db_session.flush()
    return conv


def find_by_client_id(
    *, db_session: Session, conversation_id: str, client_message_id: str
) -> tuple[Message, Message | None] | None:
    """The customer message with this client id and the answer it got, if any."""
    user_msg = db_session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.client_message_id == client_message_id,
        )
    )
    if user_msg is None:
        return None
    reply = db_session.scalar(
        select(Message).where(Message.reply_to_id == user_msg.id).order_by(Message.id).limit(1)
    )
    return user_msg, reply


def reply_to(*, db_session: Session, message_id: int) -> Message | None:
    return db_session.scalar(
        select(Message).where(Message.reply_to_id == message_id).order_by(Message.id).limit(1)
    )


def add_message(
    *,
    db_session: Session,
    conversation: Conversation,
    role: MessageRole,
    content: str,
    client_message_id: str | None = None,
    reply_to_id: int | None = None,
    route: str | None = None,
    citations: list[dict[str, Any]] | None = None,
    author: str | None = None,
    latency_ms: int | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> Message:
    msg = Message(
        conversation_id=conversation.id,
        role=role,
        content=content,
        client_message_id=client_message_id,
        reply_to_id=reply_to_id,
        route=route,
        citations=citations or [],
        author=author,
        latency_ms=latency_ms,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
    db_session.add(msg)
    conversation.last_message_at = utcnow()
    db_session.flush()
    return msg


def recent(
    *, db_session: Session, conversation_id: str, before_id: int | None, turns: int
) -> list[tuple[int, str, str]]:
    """The last ``turns`` exchanges before a message, oldest first, as (id, role, content)."""
    if turns <= 0:
        return []
    stmt = select(Message.id, Message.role, Message.content).where(
        Message.conversation_id == conversation_id,
        Message.role.in_((MessageRole.USER, MessageRole.ASSISTANT, MessageRole.AGENT)),
    )
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    rows = db_session.execute(stmt.order_by(Message.id.desc()).limit(turns * 2)).all()
    return [
        (msg_id, "user" if role == MessageRole.USER else "assistant", content)
        for msg_id, role, content in reversed(rows)
    ]


def history(
    *, db_session: Session, conversation_id: str, before_id: int | None, turns: int
) -> list[tuple[str, str]]:
    """The last ``turns`` exchanges before a message, oldest first, as (role, content)."""
    rows = recent(
        db_session=db_session, conversation_id=conversation_id, before_id=before_id, turns=turns
    )
    return [(role, content) for _, role, content in rows]


def unsummarised(
    *, db_session: Session, conversation_id: str, after_id: int | None, before_id: int
) -> list[tuple[int, str, str]]:
    """Messages after the summary marker and before ``before_id`` (the oldest kept turn)."""
    stmt = select(Message.id, Message.role, Message.content).where(
        Message.conversation_id == conversation_id,
        Message.role.in_((MessageRole.USER, MessageRole.ASSISTANT, MessageRole.AGENT)),
        Message.id < before_id,
    )
    if after_id is not None:
        stmt = stmt.where(Message.id > after_id)
    rows = db_session.execute(stmt.order_by(Message.id)).all()
    return [
        (msg_id, "user" if role == MessageRole.USER else "assistant", content)
        for msg_id, role, content in rows
    ]


def save_summary(
    *,
    db_session: Session,
    conversation_id: str,
    expected_marker: int | None,
    marker: int,
    text: str,
) -> bool:
    """Store a new running summary unless another turn already moved the marker."""
    conv = db_session.get(Conversation, conversation_id, with_for_update=True)
    if conv is None or conv.summary_message_id != expected_marker:
        return False
    conv.summary, conv.summary_message_id = text, marker
    return True


def set_status(*, conversation: Conversation, status: ConversationStatus) -> None:
    conversation.status = status


def compare_and_set(
    *, db_session: Session, conversation_id: str, allowed: ColumnElement[bool], **values: Any
) -> bool:
    """Change a conversation only while ``allowed`` holds, in one UPDATE: of two concurrent
    changes (two agents claiming, a claim and the bot's handoff) exactly one wins."""
    result = db_session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, allowed)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


def queue_for_human(*, db_session: Session, conversation_id: str) -> bool:
    """Move a conversation the bot holds to the human queue; False when it is not the bot's
    any more (an agent claimed it meanwhile)."""
    return compare_and_set(
        db_session=db_session,
        conversation_id=conversation_id,
        allowed=Conversation.status == ConversationStatus.BOT,
        status=ConversationStatus.AWAITING_HUMAN,
    )


# A trace is for operators debugging a turn: the customer's personal numbers are masked in
# it, as in the logs (the message itself keeps them: the conversation needs its words).
_MASKED_TRACE_FIELDS = ("search_query", "tool_calls", "error")


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    return value


def add_trace(
    *, db_session: Session, conversation_id: str, message_id: int, **fields: Any
) -> TurnTrace:
    for name in _MASKED_TRACE_FIELDS:
        if name in fields:
            fields[name] = _masked(fields[name])
    trace = TurnTrace(conversation_id=conversation_id, message_id=message_id, **fields)
    db_session.add(trace)
    db_session.flush()
    return trace


def find_open(*, db_session: Session, channel: str, external_user_id: str) -> Conversation | None:
    """The latest conversation of this channel user that is not closed (channels without their
    own conversation ids, such as WeChat or the OpenAI ``user`` field, continue it)."""
    return db_session.scalar(
        select(Conversation)
        .where(
            Conversation.channel == channel,
            Conversation.external_user_id == external_user_id,
            Conversation.status != ConversationStatus.CLOSED,
        )
        .order_by(Conversation.created_at.desc(), Conversation.id.desc())
        .limit(1)
    )
