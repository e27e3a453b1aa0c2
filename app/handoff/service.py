"""Human handoff: agents claim, answer, release and close conversations.

Every state change is one compare-and-set UPDATE, so when two agents claim at once the
database picks exactly one winner; each change also stores a system message as its audit
trail. Live events go out only after the transaction commits, so whoever reacts to an event
and reloads finds the change stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from starlette.concurrency import run_in_threadpool

from app.conversation import service as conversation_service
from app.conversation.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageRole,
    TurnTrace,
)
from app.core.bus import HANDOFF_TOPIC, Event, channel_topic, conversation_topic
from app.core.errors import Conflict, NotFound
from app.core.text import message_text
from app.handoff.schemas import ConversationOut, MessageOut, QueueItem
from app.observability import metrics
from app.runtime import Runtime

log = logging.getLogger(__name__)

PREVIEW_CHARS = 200
Status = ConversationStatus


@dataclass
class Change:
    conversation: ConversationOut
    message: MessageOut | None = None
    replayed: bool = False
    # (topic, event) pairs, published after the commit.
    events: list[tuple[str, Event]] = field(default_factory=list)


# -- reads ---------------------------------------------------------------------------------


def queue(
    *, db_session: Session, statuses: Sequence[ConversationStatus], limit: int = 100
) -> list[QueueItem]:
    """Conversations with or waiting for a human: unclaimed first, then the longest waiting."""
    of_conv = Message.conversation_id == Conversation.id
    # The bot is silent once it hands off, so its last reply marks when the wait began.
    last_bot = (
        select(func.max(Message.created_at))
        .where(of_conv, Message.role == MessageRole.ASSISTANT)
        .correlate(Conversation)
        .scalar_subquery()
    )
    waiting_since = func.coalesce(last_bot, Conversation.created_at)
    last_customer = (
        select(func.substr(Message.content, 1, PREVIEW_CHARS))
        .where(of_conv, Message.role == MessageRole.USER)
        .order_by(Message.id.desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    count = select(func.count(Message.id)).where(of_conv).correlate(Conversation).scalar_subquery()
    unclaimed_first = case((Conversation.status == Status.AWAITING_HUMAN, 0), else_=1)
    rows = db_session.execute(
        select(Conversation, waiting_since, last_customer, count)
        .where(Conversation.status.in_(statuses))
        .order_by(unclaimed_first, waiting_since, Conversation.id)
        .limit(limit)
    ).all()
    return [
        QueueItem(
            id=conv.id,
            channel=conv.channel,
            status=conv.status,
            assigned_agent=conv.assigned_agent,
            customer_id=conv.customer_id,
            external_user_id=conv.external_user_id,
            waiting_since=since,
            last_message_at=conv.last_message_at,
            last_customer_message=preview,
            message_count=int(n),
        )
        for conv, since, preview, n in rows
    ]


def detail(
    *, db_session: Session, conversation_id: str
) -> tuple[Conversation, list[Message], list[TurnTrace]]:
    conv = _require(db_session, conversation_id)
    messages = db_session.scalars(
        select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)
    ).all()
    traces = db_session.scalars(
        select(TurnTrace).where(TurnTrace.conversation_id == conv.id).order_by(TurnTrace.id)
    ).all()
    return conv, list(messages), list(traces)


# -- changes -------------------------------------------------------------------------------


def claim(*, db_session: Session, conversation_id: str, agent: str) -> Change:
    """Take a conversation from the queue, or proactively from the bot. Idempotent per agent."""
    since = _waiting_since(db_session, conversation_id)
    won = conversation_service.compare_and_set(
        db_session=db_session,
        conversation_id=conversation_id,
        allowed=Conversation.status.in_((Status.AWAITING_HUMAN, Status.BOT)),
        status=Status.HUMAN,
        assigned_agent=agent,
    )
    conv = _require(db_session, conversation_id)
    if won:
        if since is not None:
            waited = datetime.now(UTC) - (since if since.tzinfo else since.replace(tzinfo=UTC))
            metrics.HANDOFF_WAIT.observe(max(0.0, waited.total_seconds()))
        return _changed(db_session, conv, "claimed", agent, f"claimed by {agent}")
    if conv.status == Status.HUMAN and conv.assigned_agent == agent:
        return Change(ConversationOut.model_validate(conv))
    if conv.status == Status.HUMAN:
        raise Conflict(
            f"conversation is already claimed by {conv.assigned_agent}",
            code="already_claimed",
            details={"assigned_agent": conv.assigned_agent},
        )
    raise _closed(conv) if conv.status == Status.CLOSED else _changed_meanwhile(conv)


def release(*, db_session: Session, conversation_id: str, agent: str) -> Change:
    """Hand the conversation back to the bot (from its holder, or unclaimed from the queue)."""
    won = conversation_service.compare_and_set(
        db_session=db_session,
        conversation_id=conversation_id,
        allowed=or_(
            and_(Conversation.status == Status.HUMAN, Conversation.assigned_agent == agent),
            Conversation.status == Status.AWAITING_HUMAN,
        ),
        status=Status.BOT,
        assigned_agent=None,
    )
    conv = _require(db_session, conversation_id)
    if won:
        return _changed(db_session, conv, "released", agent, f"released to the bot by {agent}")
    if conv.status == Status.BOT:
        return Change(ConversationOut.model_validate(conv))
    if conv.status == Status.HUMAN:
        raise _not_holder(conv)
    raise _closed(conv) if conv.status == Status.CLOSED else _changed_meanwhile(conv)


def close(*, db_session: Session, conversation_id: str, agent: str | None) -> Change:
    """End the conversation. With an agent named, another agent's conversation is refused."""
    allowed: ColumnElement[bool] = Conversation.status != Status.CLOSED
    if agent is not None:
        allowed = and_(
            allowed,
            or_(Conversation.status != Status.HUMAN, Conversation.assigned_agent == agent),
        )
    won = conversation_service.compare_and_set(
        db_session=db_session,
        conversation_id=conversation_id,
        allowed=allowed,
        status=Status.CLOSED,
    )
    conv = _require(db_session, conversation_id)
    if won:
        note = f"closed by {agent}" if agent else "closed"
        return _changed(db_session, conv, "closed", agent, note)
    if conv.status == Status.CLOSED:
        return Change(ConversationOut.model_validate(conv))
    if conv.status == Status.HUMAN:
        raise _not_holder(conv)
    raise _changed_meanwhile(conv)


def post_message(
    *,
    db_session: Session,
    conversation_id: str,
    agent: str,
    text: str,
    max_chars: int,
    client_message_id: str | None = None,
    display_name: str | None = None,
) -> Change:
    """Store the holding agent's reply; its event delivers it on the customer's channel.

    ``agent`` is who holds the conversation (a unique login); the customer sees the message
    under ``display_name`` (by default the login), stored as its author.
    """
    text = message_text(text, limit=max_chars)
    author = display_name or agent
    # The row lock orders this against a concurrent release or close of the same conversation.
    conv = _require(db_session, conversation_id, lock=True)
    if client_message_id:
        stored = db_session.scalar(
            select(Message).where(
                Message.conversation_id == conv.id,
                Message.client_message_id == client_message_id,
            )
        )
        if stored is not None:
            if (
                stored.role != MessageRole.AGENT
                or stored.content != text
                or stored.author not in (None, author)
            ):
                raise Conflict(
                    "client_message_id was already used for another message",
                    code="client_message_id_reused",
                )
            return Change(
                ConversationOut.model_validate(conv),
                MessageOut.model_validate(stored),
                replayed=True,
            )
    if conv.status != Status.HUMAN or conv.assigned_agent != agent:
        raise _not_holder(conv)
    msg = conversation_service.add_message(
        db_session=db_session,
        conversation=conv,
        role=MessageRole.AGENT,
        content=text,
        client_message_id=client_message_id,
        author=author,
    )
    event: Event = {
        "type": "agent_message",
        "conversation_id": conv.id,
        "message_id": msg.id,
        "content": msg.content,
        "agent": author,
        "created_at": msg.created_at.isoformat(),
    }
    log.info("agent replied", extra={"conversation_id": conv.id, "agent": agent})
    return Change(
        ConversationOut.model_validate(conv),
        MessageOut.model_validate(msg),
        events=_to_customer(conv, event),
    )


async def apply(runtime: Runtime, change: Callable[..., Change], **kwargs: Any) -> Change:
    """Run one change in its own transaction, commit, then publish its events."""

    def run() -> Change:
        with runtime.session_factory.begin() as db_session:
            return change(db_session=db_session, **kwargs)

    done = await run_in_threadpool(run)
    for topic, event in done.events:
        try:
            await runtime.bus.publish(topic, event)
        except Exception:  # stored already: a client reloading the history still sees it
            log.exception("publishing a handoff event failed", extra={"topic": topic})
    return done


# -- helpers -------------------------------------------------------------------------------


def _waiting_since(db_session: Session, conversation_id: str) -> datetime | None:
    """When a queued conversation began to wait (as the queue shows it); None otherwise."""
    last_bot = (
        select(func.max(Message.created_at))
        .where(Message.conversation_id == conversation_id, Message.role == MessageRole.ASSISTANT)
        .scalar_subquery()
    )
    return db_session.scalar(
        select(func.coalesce(last_bot, Conversation.created_at)).where(
            Conversation.id == conversation_id, Conversation.status == Status.AWAITING_HUMAN
        )
    )


def _require(db_session: Session, conversation_id: str, *, lock: bool = False) -> Conversation:
    conv = db_session.get(
        Conversation, conversation_id, populate_existing=True, with_for_update=lock or None
    )
    if conv is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    return conv


def _changed(
    db_session: Session, conv: Conversation, action: str, agent: str | None, note: str
) -> Change:
    conversation_service.add_message(
        db_session=db_session, conversation=conv, role=MessageRole.SYSTEM, content=note
    )
    log.info(
        "handoff change",
        extra={"conversation_id": conv.id, "action": action, "agent": agent},
    )
    status: Event = {
        "type": "status",
        "conversation_id": conv.id,
        "status": conv.status.value,
        "agent": agent,
    }
    queue_event: Event = {
        "type": "queue",
        "action": action,
        "conversation_id": conv.id,
        "channel": conv.channel,
        "status": conv.status.value,
        "assigned_agent": conv.assigned_agent,
    }
    return Change(
        ConversationOut.model_validate(conv),
        events=[*_to_customer(conv, status), (HANDOFF_TOPIC, queue_event)],
    )


def _to_customer(conv: Conversation, event: Event) -> list[tuple[str, Event]]:
    on_channel = {**event, "channel": conv.channel, "external_user_id": conv.external_user_id}
    return [(conversation_topic(conv.id), event), (channel_topic(conv.channel), on_channel)]


def _not_holder(conv: Conversation) -> Conflict:
    if conv.status == Status.CLOSED:
        return _closed(conv)
    if conv.status == Status.HUMAN:
        return Conflict(
            f"conversation is held by {conv.assigned_agent}",
            code="not_holder",
            details={"status": conv.status.value, "assigned_agent": conv.assigned_agent},
        )
    return Conflict(
        "claim the conversation first",
        code="not_claimed",
        details={"status": conv.status.value, "assigned_agent": None},
    )


def _closed(conv: Conversation) -> Conflict:
    return Conflict(
        "conversation is closed",
        code="conversation_closed",
        details={"status": conv.status.value, "assigned_agent": conv.assigned_agent},
    )


def _changed_meanwhile(conv: Conversation) -> Conflict:
    # Another change committed between the refused UPDATE and this read; the caller retries.
    return Conflict(
        "the conversation changed meanwhile; reload it and retry",
        code="conflict",
        details={"status": conv.status.value, "assigned_agent": conv.assigned_agent},
    )
