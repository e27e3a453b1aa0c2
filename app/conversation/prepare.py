"""The first stage of a turn: check the message, find or start its conversation, store the
message (once, even when the client retries it), and load the history the answer sees."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from app.agent.memory import window
from app.attachments import vision
from app.conversation import images, retries
from app.conversation import service as conversation_service
from app.conversation.answering import answering_kbs
from app.conversation.models import ConversationStatus, MessageRole
from app.conversation.schemas import TurnRequest
from app.conversation.state import Prepared
from app.core.errors import NotFound
from app.core.lang import detect_lang
from app.core.text import message_text, require_text
from app.runtime import Runtime


def _text(runtime: Runtime, req: TurnRequest) -> str:
    """The message's text; with images it may be empty (stored as a placeholder)."""
    if (req.images or req.attachment_ids) and not req.text.strip():
        require_text(req.text)
        return vision.prompts().text("placeholder", req.lang_hint or detect_lang(req.text))
    return message_text(req.text, limit=runtime.settings.limits.max_message_chars)


def _prepare_once(runtime: Runtime, req: TurnRequest) -> Prepared:
    images.check_count(runtime, req)
    text = _text(runtime, req)
    with runtime.session_factory.begin() as db_session:
        conv = None
        if req.conversation_id:
            conv = conversation_service.get(
                db_session=db_session, conversation_id=req.conversation_id
            )
            if conv is None:
                raise NotFound(f"conversation {req.conversation_id!r} not found")
        elif req.external_user_id:
            # Channels without conversation ids (WeChat, the OpenAI `user` field) continue the
            # user's open conversation.
            conv = conversation_service.find_open(
                db_session=db_session, channel=req.channel, external_user_id=req.external_user_id
            )
        if conv is not None and conv.status == ConversationStatus.CLOSED:
            # An agent closed it: a new message starts a new conversation (Done carries its id).
            conv = None
        if conv is not None and conv.customer_id and conv.customer_id != req.customer_id:
            # Started by another (or a now logged-out) customer: their history and records
            # must not reach this one, so this message starts a new conversation.
            conv = None
        if conv is None:
            conv = conversation_service.create(
                db_session=db_session,
                channel=req.channel,
                external_user_id=req.external_user_id,
                customer_id=req.customer_id,
            )
        elif req.customer_id and conv.customer_id is None:
            conv.customer_id = req.customer_id  # a visitor who logged in mid-conversation
        found = None
        stored: list[images.TurnImage] = []
        if req.client_message_id:
            found = conversation_service.find_by_client_id(
                db_session=db_session,
                conversation_id=conv.id,
                client_message_id=req.client_message_id,
            )
            if found is not None and found[1] is not None:
                reply = found[1]
                return Prepared(
                    conv.id,
                    found[0].id,
                    conv.status,
                    [],
                    reply_id=reply.id,
                    replay=retries.stored_outcome(conv.id, reply),
                )
        if found is not None:
            # A retry of a message still being answered (or waiting for a person): never
            # store it twice; the caller waits for the first answer or answers it once.
            user = found[0]
            pending = True
            stored = images.stored_with(runtime, db_session, message_id=user.id)
        else:
            user = conversation_service.add_message(
                db_session=db_session,
                conversation=conv,
                role=MessageRole.USER,
                content=text,
                client_message_id=req.client_message_id,
            )
            pending = False
            stored = images.store(
                runtime,
                db_session,
                req,
                owner=req.external_user_id or conv.external_user_id or conv.id,
                conversation_id=conv.id,
                message_id=user.id,
            )
            # Before the commit: a concurrent retry of this message must see it being answered.
            runtime.cache.set(retries.marker(user.id), "1", ttl=retries.MARKER_TTL)
        agent_settings = runtime.settings.agent
        rows = conversation_service.recent(
            db_session=db_session,
            conversation_id=conv.id,
            before_id=user.id,
            turns=agent_settings.history_turns,
        )
        rows = images.with_readings(db_session, rows)
        _, kept = window(
            [(role, content) for _, role, content in rows],
            max_turns=agent_settings.history_turns,
            max_tokens=agent_settings.history_tokens,
        )
        start_id = rows[len(rows) - len(kept)][0] if kept else user.id
        prepared = Prepared(
            conv.id,
            user.id,
            conv.status,
            kept,
            customer_id=conv.customer_id,
            summary=conv.summary,
            summary_marker=conv.summary_message_id,
            history_start_id=start_id,
            channel=conv.channel,
            pending=pending,
            lang_hint=req.lang_hint,
            kbs=answering_kbs(runtime, db_session),
        )
        prepared.images = stored
        return prepared


def prepare(runtime: Runtime, req: TurnRequest) -> Prepared:
    try:
        return _prepare_once(runtime, req)
    except IntegrityError:
        if not req.client_message_id:
            raise
        # The same client message arrived twice at once and the other copy was stored
        # first: this one is now a retry of it.
        return _prepare_once(runtime, req)
