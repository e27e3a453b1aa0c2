"""Widget keys, host origins, conversation ownership and history: what the routes check first.

A widget key is a *publishable* client key: it lives in the host page, so it identifies a
deployment rather than proving anything. What it grants is bounded by its allowed origins
(enforced by the browser through CSP ``frame-ancestors``) and by conversation ids being
unguessable and tied to the key that created them.
"""

from __future__ import annotations

import logging
import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.attachments import service as attachment_service
from app.auth import origins
from app.auth import service as auth_service
from app.auth.models import ApiKey, Role
from app.conversation import service as conversation_service
from app.conversation.models import Conversation, ConversationStatus, Message, MessageRole
from app.core.config import Settings
from app.core.errors import AppError, Forbidden, NotFound, Unauthorized, Unprocessable
from app.core.ratelimit import RateLimiter
from app.core.text import message_text, require_text
from app.feedback import service as feedback_service
from app.widget import identity
from app.widget.schemas import WidgetHistory, WidgetMessageIn, WidgetMessageOut

log = logging.getLogger(__name__)

CHANNEL = "web"
_VISIBLE_ROLES = (MessageRole.USER, MessageRole.ASSISTANT, MessageRole.AGENT)
_VISITOR = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Every visitor of a site shares its key: each visitor gets the key's normal per-minute
# limit, and the whole site this many times as much.
KEY_CEILING_FACTOR = 50


def authenticate(*, db_session: Session, secret: str) -> ApiKey:
    """The client key behind a publishable secret (401 unknown, 403 revoked or not a client key)."""
    try:
        key = auth_service.authenticate(db_session=db_session, secret=secret)
    except auth_service.InvalidKey as exc:
        raise Unauthorized(str(exc)) from exc
    except auth_service.RevokedKey as exc:
        raise Forbidden(str(exc)) from exc
    require_client_role(key)
    return key


def require_client_role(key: ApiKey) -> None:
    # An admin key pasted into a public page would hand the whole admin API to every visitor.
    if key.role != Role.CLIENT:
        raise Forbidden("the widget takes a client key", code="wrong_key_role")


def rate_visitor(visitor_id: str | None, client_ip: str | None) -> str:
    """Whom a widget call counts against: the frame's visitor id, else the caller's address."""
    if visitor_id and _VISITOR.match(visitor_id):
        return f"visitor:{visitor_id}"
    return f"ip:{client_ip or 'unknown'}"


def check_rate(*, limiter: RateLimiter, settings: Settings, key: ApiKey, visitor: str) -> None:
    """429 once a visitor, or the whole site, is over its requests per minute. Blocking.

    The client IP is limited before this (``ClientIpLimit``): a caller inventing visitor ids
    runs out of its IP's allowance long before it could use up the site's ceiling.
    """
    limit = key.rate_limit_per_minute or settings.limits.default_rate_per_minute
    ceiling = limit * KEY_CEILING_FACTOR
    verdict = limiter.hit(f"widget-visitor:{key.id}", visitor, limit)
    if not verdict.allowed:
        raise _rate_limited(
            f"rate limit of {limit} requests per minute per visitor exceeded", verdict.retry_after
        )
    verdict = limiter.hit("widget-site", str(key.id), ceiling)
    if not verdict.allowed:
        raise _rate_limited(
            f"this site's rate limit of {ceiling} requests per minute exceeded",
            verdict.retry_after,
        )


def _rate_limited(message: str, retry_after: int) -> AppError:
    return AppError(
        message, code="rate_limited", status_code=429, headers={"Retry-After": str(retry_after)}
    )


def require_publishable(key: ApiKey) -> None:
    """Only a key bound to sites may sit in a page: the frame's URL holds it in the clear,
    where a private (/v1) key would be readable by anyone and usable from anywhere."""
    if not key.allowed_origins:
        raise Forbidden(
            "the widget frame takes a publishable key (one with allowed origins); create "
            "one with `kefu keys create --role client --origin https://your.site`",
            code="private_key",
        )


def page_origin(origin: str) -> origins.Origin:
    """The host page's origin as the browser reports it (422 if it is none)."""
    try:
        return origins.parse(origin)
    except origins.InvalidOrigin as exc:
        raise Unprocessable(str(exc), code="invalid_origin") from exc


def _allowed(key: ApiKey) -> list[origins.Origin]:
    allowed = []
    for value in key.allowed_origins:
        try:
            allowed.append(origins.parse(value.strip().rstrip("/"), pattern=True))
        except origins.InvalidOrigin:
            # Stored before origins were validated: such a value must not reach the CSP
            # header, and skipping it only ever narrows where the key works.
            log.warning("skipping an invalid allowed origin", extra={"key_id": key.id})
    return allowed


def check_origin(key: ApiKey, origin: str | None) -> str:
    """The declared host origin, if this key may be embedded there (an empty list: anywhere)."""
    if not origin:
        raise Forbidden("the host page origin is missing", code="origin_not_allowed")
    page = page_origin(origin)
    if key.allowed_origins and not any(allowed.matches(page) for allowed in _allowed(key)):
        raise Forbidden(f"this widget key may not be embedded on {page}", code="origin_not_allowed")
    return str(page)


def frame_ancestors(key: ApiKey) -> str:
    if not key.allowed_origins:
        return "*"
    # A key whose every stored origin is invalid allows no site, not every site.
    return " ".join(str(o) for o in _allowed(key)) or "'none'"


def external_user_id(key_id: int, visitor_id: str) -> str:
    return f"key:{key_id}:{visitor_id}"


def owned_conversation(
    *, db_session: Session, key: ApiKey, conversation_id: str, visitor: str | None
) -> Conversation:
    """The conversation, if this key started it and, when anonymous, this visitor (the holder
    of the server-issued visitor token); otherwise 404 (existence is not revealed)."""
    conv = conversation_service.get(db_session=db_session, conversation_id=conversation_id)
    owner = f"key:{key.id}:"
    if (
        conv is None
        or conv.channel != CHANNEL
        or not (conv.external_user_id or "").startswith(owner)
        or (
            conv.customer_id is None
            and (visitor is None or conv.external_user_id != external_user_id(key.id, visitor))
        )
    ):
        raise NotFound(f"conversation {conversation_id!r} not found")
    return conv


def visitor_of(settings: Settings, key: ApiKey, token: str | None) -> str | None:
    return identity.verify_visitor(settings.secret_key.get_secret_value(), key.id, token)


def new_visitor_token(settings: Settings, key: ApiKey) -> tuple[str, str]:
    visitor = uuid.uuid4().hex
    return visitor, identity.visitor_token(settings.secret_key.get_secret_value(), key.id, visitor)


def verified_customer(settings: Settings, key: ApiKey, token: str | None) -> str | None:
    if not token:
        return None
    secret = identity.signing_secret(settings.secret_key.get_secret_value(), key.id)
    return identity.verify(token, secret, max_age=settings.channels.widget_identity_max_age)


def check_identity(conversation: Conversation, customer_id: str | None) -> None:
    """403 unless the signed-in customer (None: nobody) may see this conversation."""
    if conversation.customer_id and conversation.customer_id != customer_id:
        # Someone else (or nobody) is signed in now: a customer's conversation stays theirs.
        raise Forbidden("the signed-in customer changed", code="identity_mismatch")


def visible_conversation(
    *,
    db_session: Session,
    settings: Settings,
    key: ApiKey,
    conversation_id: str,
    token: str | None,
    visitor: str | None,
) -> Conversation:
    """A conversation for history and live events: the key's, and the current customer's
    (or, anonymous, the current visitor's)."""
    customer_id = verified_customer(settings, key, token)
    conv = owned_conversation(
        db_session=db_session, key=key, conversation_id=conversation_id, visitor=visitor
    )
    check_identity(conv, customer_id)
    return conv


def plan_turn(
    *,
    db_session: Session,
    settings: Settings,
    key: ApiKey,
    body: WidgetMessageIn,
    customer_id: str | None,
    visitor: str,
) -> str | None:
    """The conversation the message goes to (None: a new one). Refuses before streaming
    whatever would fail, so errors get a JSON envelope. Retries of a message are the turn's
    business: it replays, waits for or answers them."""
    if body.attachment_ids and not body.text.strip():
        require_text(body.text)  # the images are the message
    else:
        message_text(body.text, limit=settings.limits.max_message_chars)
    if body.attachment_ids:
        # Refused here, before the stream starts, so the error has its JSON envelope.
        if len(body.attachment_ids) > settings.vision.max_images_per_turn:
            raise Unprocessable(
                f"at most {settings.vision.max_images_per_turn} images in one message",
                code="too_many_images",
            )
        attachment_service.unsent_uploads(
            db_session=db_session,
            attachment_ids=body.attachment_ids,
            owner=external_user_id(key.id, visitor),
        )
    if body.conversation_id:
        conv: Conversation | None = owned_conversation(
            db_session=db_session, key=key, conversation_id=body.conversation_id, visitor=visitor
        )
    else:
        # The same lookup the turn makes, so a retry of a first message finds its conversation.
        conv = conversation_service.find_open(
            db_session=db_session,
            channel=CHANNEL,
            external_user_id=external_user_id(key.id, visitor),
        )
    if conv is None:
        return None
    if conv.status == ConversationStatus.CLOSED:
        raise AppError("this conversation is closed", code="conversation_closed", status_code=409)
    check_identity(conv, customer_id)
    return conv.id


def history(*, db_session: Session, conversation: Conversation, limit: int = 200) -> WidgetHistory:
    rows = db_session.scalars(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.role.in_(_VISIBLE_ROLES))
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    rated = feedback_service.for_messages(db_session=db_session, message_ids=[m.id for m in rows])
    images = attachment_service.ids_by_message(
        db_session=db_session, message_ids=[m.id for m in rows]
    )
    return WidgetHistory(
        conversation_id=conversation.id,
        status=conversation.status.value,
        messages=[
            WidgetMessageOut(
                id=m.id,
                role=m.role.value,
                content=m.content,
                client_message_id=m.client_message_id,
                citations=m.citations or [],
                created_at=m.created_at,
                agent=m.author if m.role == MessageRole.AGENT else None,
                feedback=rated[m.id].rating.value if m.id in rated else None,
                attachments=images.get(m.id, []),
            )
            for m in reversed(rows)
        ],
    )
