"""The whole support agent as an OpenAI chat model: a request becomes one customer turn, the
turn's reply events become a `chat.completion` (here) or a stream of `chat.completion.chunk`s
(`streaming`).

kefu keeps each conversation's history in its database, so of the request's messages only
the last user message is the customer's turn. Earlier messages matter only when no stored
conversation continues: then they seed a new one, so a stateless client's follow-up question
is still understood in context.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from app.attachments.intake import CleanImage
from app.auth.models import ApiKey
from app.conversation import service as conversation_service
from app.conversation.models import MessageRole
from app.conversation.schemas import (
    Citation,
    Citations,
    Done,
    Error,
    Handoff,
    ReplyEvent,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnRequest,
)
from app.conversation.turns import handle_turn
from app.core.config import Settings
from app.core.errors import AppError, Forbidden, NotFound, Unprocessable, database_unavailable
from app.core.text import estimate_tokens, message_text, require_text
from app.openai_compat.schemas import (
    MODEL_ID,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    KefuTurn,
    ModelCard,
    Usage,
)
from app.runtime import Runtime

log = logging.getLogger(__name__)

CHANNEL = "openai"
# A fixed date, so the model list is the same on every process and restart.
MODEL_CREATED = 1735689600
# The customer message is stored before the answer is made: an SDK's automatic retry after a
# server error would send the customer's message a second time.
NO_RETRY = {"x-should-retry": "false"}


def model_card() -> ModelCard:
    return ModelCard(created=MODEL_CREATED)


def check_model(model: str) -> None:
    if model != MODEL_ID:
        raise NotFound(
            f"The model '{model}' does not exist; this endpoint serves '{MODEL_ID}'.",
            code="model_not_found",
            details={"param": "model"},
        )


def last_user(body: ChatCompletionRequest) -> ChatMessage:
    last = next((m for m in reversed(body.messages) if m.role == "user"), None)
    if last is None:
        raise Unprocessable("messages must contain a user message", details={"param": "messages"})
    return last


def customer_text(
    body: ChatCompletionRequest, settings: Settings, *, with_images: bool = False
) -> str:
    """The customer's turn: the last user message, checked as a turn would check it (before
    anything is stored for it)."""
    last = last_user(body)
    limit = settings.limits.max_message_chars
    for earlier in body.messages:
        if earlier is not last:
            # Earlier turns seed the stored history: refused here, not in the database.
            require_text(earlier.text(), param="messages")
    if with_images and not last.text().strip():
        require_text(last.text(), param="messages")
        return ""  # the images are the message
    return message_text(last.text(), limit=limit, param="messages")


def require_private_key(key: ApiKey) -> None:
    """Refuse publishable keys: one with allowed origins is a widget's, readable in its page."""
    if key.allowed_origins:
        raise Forbidden(
            "this key is a widget key (it has allowed origins) and is public in web pages; "
            "/v1 takes a client key without allowed origins",
            code="publishable_key",
        )


def owner_prefix(key_id: int) -> str:
    return f"key:{key_id}:"


def external_user_id(key_id: int, user: str | None) -> str:
    """The stored end-user id: OpenAI's `user`, within the key's own namespace, so another key
    sending the same `user` never reaches this key's conversations. Without a `user` every
    request is its own end user. The column holds 128 characters: longer ids are digested."""
    if user is None:
        return f"{owner_prefix(key_id)}anon:{uuid.uuid4().hex}"
    stored = f"{owner_prefix(key_id)}user:{user}"
    if len(stored) <= 128:
        return stored
    return f"{owner_prefix(key_id)}sha256:{hashlib.sha256(user.encode()).hexdigest()}"


def _earlier_turns(body: ChatCompletionRequest, settings: Settings) -> list[tuple[str, str]]:
    last_user = max(i for i, m in enumerate(body.messages) if m.role == "user")
    keep = settings.agent.history_turns * 2
    if keep == 0:
        return []
    limit = settings.limits.max_message_chars
    turns = [
        (m.role, m.text().strip()[:limit])
        for m in body.messages[:last_user]
        if m.role in ("user", "assistant")
    ]
    return [(role, text) for role, text in turns if text][-keep:]


def prepare(
    runtime: Runtime,
    key: ApiKey,
    body: ChatCompletionRequest,
    images: tuple[CleanImage, ...] = (),
) -> TurnRequest:
    """The turn this request asks for; seeds a new conversation from the earlier messages
    when none continues. Blocking: run it in a worker thread."""
    text = customer_text(body, runtime.settings, with_images=bool(images))
    user = external_user_id(key.id, body.user)
    conversation_id = body.conversation_id
    with runtime.session_factory.begin() as db_session:
        if conversation_id:
            conv = conversation_service.get(db_session=db_session, conversation_id=conversation_id)
            # Another channel's conversation, or another key's, is not this caller's to answer
            # in (404: whether it exists is not revealed).
            if (
                conv is None
                or conv.channel != CHANNEL
                or not (conv.external_user_id or "").startswith(owner_prefix(key.id))
            ):
                raise NotFound(
                    f"conversation {conversation_id!r} not found",
                    details={"param": "conversation_id"},
                )
        elif body.user is None or (
            conversation_service.find_open(
                db_session=db_session, channel=CHANNEL, external_user_id=user
            )
            is None
        ):
            earlier = _earlier_turns(body, runtime.settings)
            if earlier:
                conv = conversation_service.create(
                    db_session=db_session,
                    channel=CHANNEL,
                    external_user_id=user,
                    customer_id=None,
                )
                for role, content in earlier:
                    conversation_service.add_message(
                        db_session=db_session,
                        conversation=conv,
                        role=MessageRole.USER if role == "user" else MessageRole.ASSISTANT,
                        content=content,
                    )
                conversation_id = conv.id
    return TurnRequest(
        channel=CHANNEL,
        text=text,
        conversation_id=conversation_id,
        external_user_id=user,
        client_message_id=body.client_message_id,
        images=images,
    )


@dataclass
class Turn:
    """The reply events of one turn, collected."""

    text: list[str] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    handoff: Handoff | None = None
    done: Done | None = None
    error: Error | None = None

    def add(self, event: ReplyEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, Citations):
            self.citations.extend(event.items)
        elif isinstance(event, ToolCallStarted):
            self.tool_calls.append({"name": event.name, "arguments": event.arguments})
        elif isinstance(event, ToolCallFinished):
            pending = [c for c in self.tool_calls if c["name"] == event.name and "result" not in c]
            if pending:
                pending[0]["result"] = event.result
            else:
                self.tool_calls.append({"name": event.name, "result": event.result})
        elif isinstance(event, Handoff):
            self.handoff = event
        elif isinstance(event, Done):
            self.done = event
        else:
            self.error = event

    @property
    def answer(self) -> str:
        return "".join(self.text)

    def kefu(self, conversation_id: str | None) -> KefuTurn:
        done = self.done
        return KefuTurn(
            conversation_id=done.conversation_id if done else conversation_id or "",
            message_id=done.message_id if done else None,
            route=done.route if done else "",
            intent=done.intent if done else None,
            handoff=(
                {"reason": self.handoff.reason, "message": self.handoff.message}
                if self.handoff
                else None
            ),
            tool_calls=self.tool_calls,
            replayed=done.replayed if done else False,
            cached=done.cached if done else False,
        )

    def usage(self, req: TurnRequest) -> Usage:
        prompt, completion = estimate_tokens(req.text), estimate_tokens(self.answer)
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def internal_error(exc: Exception) -> AppError:
    """The error a failed turn answers: 503 for a database outage (retrying later helps),
    otherwise a logged 500."""
    outage = database_unavailable(exc)
    if outage is not None:
        log.warning("openai-compatible turn: database unavailable")
        return outage
    log.error("openai-compatible turn failed", exc_info=exc)
    return AppError(
        "internal server error", code="internal_error", status_code=500, headers=NO_RETRY
    )


async def complete(runtime: Runtime, req: TurnRequest) -> ChatCompletion:
    """The whole turn as one `chat.completion`."""
    turn = Turn()
    try:
        async for event in handle_turn(runtime, req):
            turn.add(event)
    except AppError:
        raise
    except Exception as exc:
        raise internal_error(exc) from exc
    if turn.error is not None:
        # "unavailable": the answer could not be stored (the database went away mid-turn);
        # the customer's message is kept and its client_message_id retried later answers it.
        status = 503 if turn.error.code == "unavailable" else 500
        raise AppError(
            turn.error.message, code=turn.error.code, status_code=status, headers=NO_RETRY
        )
    return ChatCompletion(
        id=completion_id(),
        created=int(time.time()),
        choices=[Choice(message=AssistantMessage(content=turn.answer))],
        usage=turn.usage(req),
        citations=[c.as_dict() for c in turn.citations],
        kefu=turn.kefu(req.conversation_id),
    )
