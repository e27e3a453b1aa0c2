"""The widget over HTTP: the embed script, the frame page and the frame's streaming API."""

from __future__ import annotations

import hashlib
import html
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.auth import service as auth_service
from app.auth.dependencies import bearer_secret
from app.auth.models import ApiKey, Role
from app.conversation.models import Conversation
from app.conversation.schemas import TurnRequest
from app.core.db import session_scope
from app.core.errors import AppError, NotFound, Unprocessable
from app.deps import AdminKey, RuntimeDep, SessionDep, SettingsDep
from app.feedback import service as feedback_service
from app.feedback.schemas import FeedbackIn, FeedbackOut
from app.runtime import Runtime
from app.widget import identity, service, sse
from app.widget.schemas import WidgetHistory, WidgetMessageIn, WidgetSecret

router = APIRouter(tags=["widget"])

STATIC = Path(__file__).parent / "static"
KEEPALIVE_SECONDS = 15.0
_ASSETS = {"frame.js": "application/javascript", "frame.css": "text/css"}
_FRAME_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
)
_STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
VISITOR_TOKEN = "X-Kefu-Visitor-Token"


@cache
def _asset(name: str) -> tuple[bytes, str]:
    data = (STATIC / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def _widget_key(
    runtime: Runtime, secret: str, origin: str | None, token: str | None, client_ip: str | None
) -> tuple[ApiKey, str | None]:
    with session_scope(runtime.session_factory) as db_session:
        key = service.authenticate(db_session=db_session, secret=secret)
        service.check_origin(key, origin)
        db_session.expunge(key)
    visitor = service.visitor_of(runtime.settings, key, token)
    service.check_rate(
        limiter=runtime.limiter,
        settings=runtime.settings,
        key=key,
        visitor=service.rate_visitor(visitor, client_ip),
    )
    return key, visitor


async def widget_key(
    request: Request,
    runtime: RuntimeDep,
    x_kefu_origin: Annotated[str | None, Header(description="The host page's origin")] = None,
    x_kefu_visitor_token: Annotated[
        str | None,
        Header(description="The visitor token the server issued (frame page or a response)"),
    ] = None,
) -> ApiKey:
    # Not ClientKey: its rate limit is per key, and every visitor of a site shares the key.
    secret = bearer_secret(request)
    client_ip = request.scope.get("state", {}).get("client_ip")
    key, visitor = await run_in_threadpool(
        _widget_key, runtime, secret, x_kefu_origin, x_kefu_visitor_token, client_ip
    )
    request.state.api_key = key
    request.state.visitor = visitor
    return key


WidgetKey = Annotated[ApiKey, Depends(widget_key)]


def current_visitor(request: Request, key: WidgetKey) -> str | None:
    """The visitor id from a valid server-issued token, None without one."""
    visitor: str | None = request.state.visitor
    return visitor


VisitorDep = Annotated[str | None, Depends(current_visitor)]
# The signed identity the host page gave the frame: a signed-in customer's conversation is
# shown to that customer only.
IdentityHeader = Annotated[str | None, Header(alias="X-Kefu-Identity", max_length=1024)]


@router.get("/widget.js", include_in_schema=False)
def widget_js() -> Response:
    data, _ = _asset("widget.js")
    return Response(
        data,
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/widget/static/{name}", include_in_schema=False)
def widget_asset(name: str) -> Response:
    if name not in _ASSETS:
        raise NotFound(f"no widget asset {name!r}")
    data, _ = _asset(name)
    # Referenced with a content hash by the frame page, so it can be cached for long.
    return Response(
        data,
        media_type=f"{_ASSETS[name]}; charset=utf-8",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def _frame_key(runtime: Runtime, secret: str, origin: str) -> tuple[ApiKey, str]:
    with session_scope(runtime.session_factory) as db_session:
        key = service.authenticate(db_session=db_session, secret=secret)
        service.require_publishable(key)
        declared = service.check_origin(key, origin)
        db_session.expunge(key)
        return key, declared


@router.get("/widget/frame", include_in_schema=False)
async def widget_frame(
    request: Request,
    runtime: RuntimeDep,
    key: Annotated[str, Query(max_length=128)] = "",
    origin: Annotated[str, Query(max_length=256)] = "",
    lang: Annotated[str, Query(max_length=8)] = "",
) -> Response:
    try:
        api_key, declared = await run_in_threadpool(_frame_key, runtime, key, origin)
    except AppError as exc:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        # Shown inside the host page's iframe: a readable page, not JSON.
        page = (
            "<!doctype html><meta charset=utf-8><title>kefu</title>"
            f"<p>{html.escape(exc.message)}</p>"
        )
        return HTMLResponse(
            page, status_code=exc.status_code, headers={"Cache-Control": "no-store"}
        )
    template, _ = _asset("frame.html")
    values = {
        "key": key,
        "origin": declared,
        "lang": "en" if lang.lower().startswith("en") else "zh",
        "bot_name": runtime.settings.bot_name,
        "company": runtime.settings.company_name,
        "max_chars": str(runtime.settings.limits.max_message_chars),
        # Used when the frame has none stored yet, so even a first message's retry is the
        # same visitor's.
        "visitor_token": service.new_visitor_token(runtime.settings, api_key)[1],
        "js_version": _asset("frame.js")[1],
        "css_version": _asset("frame.css")[1],
    }
    page = template.decode()
    for name, value in values.items():
        page = page.replace("{{" + name + "}}", html.escape(value, quote=True))
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": _FRAME_CSP.format(
                ancestors=service.frame_ancestors(api_key)
            ),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _plan(
    runtime: Runtime, key: ApiKey, body: WidgetMessageIn, visitor: str
) -> tuple[str | None, str | None]:
    customer_id = service.verified_customer(runtime.settings, key, body.identity)
    with session_scope(runtime.session_factory) as db_session:
        conversation_id = service.plan_turn(
            db_session=db_session,
            settings=runtime.settings,
            key=key,
            body=body,
            customer_id=customer_id,
            visitor=visitor,
        )
    return conversation_id, customer_id


@router.post(
    "/widget/api/messages",
    summary="Send a visitor's message; the answer streams back as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def post_message(
    body: WidgetMessageIn, key: WidgetKey, visitor: VisitorDep, runtime: RuntimeDep
) -> Response:
    headers = dict(_STREAM_HEADERS)
    if visitor is None:
        # A visitor without a token is a new one: the server picks the id, so nobody can
        # step into another visitor's conversations by naming their id.
        visitor, headers[VISITOR_TOKEN] = service.new_visitor_token(runtime.settings, key)
    conversation_id, customer_id = await run_in_threadpool(_plan, runtime, key, body, visitor)
    req = TurnRequest(
        channel=service.CHANNEL,
        text=body.text,
        conversation_id=conversation_id,
        external_user_id=service.external_user_id(key.id, visitor),
        customer_id=customer_id,
        client_message_id=body.client_message_id,
        attachment_ids=tuple(body.attachment_ids),
        lang_hint=body.lang,
    )
    return StreamingResponse(
        sse.turn_stream(runtime, req, keepalive=KEEPALIVE_SECONDS),
        media_type="text/event-stream",
        headers=headers,
    )


def visible_conversation(
    conversation_id: str,
    key: WidgetKey,
    visitor: VisitorDep,
    db_session: SessionDep,
    settings: SettingsDep,
    x_kefu_identity: IdentityHeader = None,
) -> Conversation:
    """The conversation in the path, if this visitor (or signed-in customer) may see it."""
    return service.visible_conversation(
        db_session=db_session,
        settings=settings,
        key=key,
        conversation_id=conversation_id,
        token=x_kefu_identity,
        visitor=visitor,
    )


VisibleConversation = Annotated[Conversation, Depends(visible_conversation)]


@router.get("/widget/api/conversations/{conversation_id}/messages", response_model=WidgetHistory)
def conversation_messages(conv: VisibleConversation, db_session: SessionDep) -> WidgetHistory:
    return service.history(db_session=db_session, conversation=conv)


@router.post(
    "/widget/api/conversations/{conversation_id}/messages/{message_id}/feedback",
    response_model=FeedbackOut,
    summary="Rate one of the bot's answers (thumbs up or down, optional comment)",
)
def message_feedback(
    message_id: int, body: FeedbackIn, conv: VisibleConversation, db_session: SessionDep
) -> FeedbackOut:
    return feedback_service.rate(
        db_session=db_session,
        message_id=message_id,
        owns=lambda c: c.id == conv.id,
        body=body,
        source=service.CHANNEL,
    )


def _check_visible(
    runtime: Runtime, key: ApiKey, conversation_id: str, token: str | None, visitor: str | None
) -> None:
    with session_scope(runtime.session_factory) as db_session:
        service.visible_conversation(
            db_session=db_session,
            settings=runtime.settings,
            key=key,
            conversation_id=conversation_id,
            token=token,
            visitor=visitor,
        )


@router.get(
    "/widget/api/conversations/{conversation_id}/events",
    summary="Live agent messages and status changes as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def conversation_events(
    conversation_id: str,
    key: WidgetKey,
    visitor: VisitorDep,
    runtime: RuntimeDep,
    request: Request,
    x_kefu_identity: IdentityHeader = None,
) -> Response:
    await run_in_threadpool(_check_visible, runtime, key, conversation_id, x_kefu_identity, visitor)
    return StreamingResponse(
        sse.live_events(
            runtime,
            conversation_id,
            keepalive=KEEPALIVE_SECONDS,
            is_disconnected=request.is_disconnected,
        ),
        media_type="text/event-stream",
        headers=_STREAM_HEADERS,
    )


@router.get(
    "/admin/api-keys/{key_id}/widget-secret",
    response_model=WidgetSecret,
    tags=["admin: api keys"],
    summary="The secret a host site signs visitor identities with, for one client key",
)
def widget_secret(
    key_id: int, _: AdminKey, db_session: SessionDep, settings: SettingsDep
) -> WidgetSecret:
    key = auth_service.get(db_session=db_session, key_id=key_id)
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.role != Role.CLIENT:
        raise Unprocessable("only client keys have a widget identity secret")
    return WidgetSecret(
        key_id=key.id,
        secret=identity.signing_secret(settings.secret_key.get_secret_value(), key.id),
        max_age=settings.channels.widget_identity_max_age,
    )
