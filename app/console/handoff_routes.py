"""The handoff workspace (agents and admins): the live queue, claim, reply, canned replies,
release and close, with the customer's records beside the chat.

The page is HTML; its script (``static/handoff.js``) talks JSON to the routes below and
follows the queue over server-sent events. Every change goes through ``app.handoff``'s
compare-and-set service, as the admin API's do: the console acts as the signed-in person
(their login holds the conversation, their display name signs the replies), so two agents
never hold one conversation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse

from app.console import i18n
from app.console.dependencies import AdminUser, AgentUser, still_signed_in
from app.console.web import render
from app.conversation.models import ConversationStatus
from app.customers.schemas import CustomerProfile
from app.deps import RuntimeDep, SessionDep
from app.handoff import canned, feed, service
from app.handoff.customer import customer_profile
from app.handoff.schemas import (
    AgentMessageOut,
    CannedReplyIn,
    CannedReplyOut,
    ConversationDetail,
    ConversationOut,
    QueueItem,
)
from app.handoff.transcript import transcript

router = APIRouter(prefix="/console/handoff", include_in_schema=False)
WAITING_OR_HELD = (ConversationStatus.AWAITING_HUMAN, ConversationStatus.HUMAN)
# The words handoff.js shows; the page hands them over as JSON.
SCRIPT_WORDS = (
    "handoff.held_by",
    "handoff.yours",
    "handoff.waiting",
    "handoff.empty",
    "handoff.no_customer",
    "handoff.customer_unavailable",
    "handoff.reconnecting",
    "handoff.live",
    "handoff.membership",
    "handoff.orders",
    "handoff.bills",
    "handoff.points",
    "who.user",
    "who.assistant",
    "who.system",
    "role.agent",
    "status.bot",
    "status.awaiting_human",
    "status.human",
    "status.closed",
    "conv.image",
    "conv.image_open",
)


class ReplyIn(BaseModel):
    text: str = Field(description="Checked against the message length limit by the service.")
    client_message_id: str | None = Field(None, min_length=1, max_length=64)


@router.get("")
def workspace(
    request: Request, user: AgentUser, db_session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    t = i18n.translator(i18n.language(request))
    return render(
        request,
        "handoff.html",
        {
            "queue": service.queue(db_session=db_session, statuses=WAITING_OR_HELD),
            "canned": canned.list_replies(db_session=db_session),
            "words": {key: t(key) for key in SCRIPT_WORDS},
            "max_chars": runtime.settings.limits.max_message_chars,
        },
        user=user,
        active="handoff",
    )


@router.get("/queue", response_model=list[QueueItem])
def queue(
    user: AgentUser, db_session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[QueueItem]:
    return service.queue(db_session=db_session, statuses=WAITING_OR_HELD, limit=limit)


@router.get("/events", response_class=StreamingResponse)
async def events(user: AgentUser, runtime: RuntimeDep) -> StreamingResponse:
    # The cookie was checked once, when the stream opened; a sign-out everywhere or a
    # disabled account must end a stream that stays open for hours.
    async def allowed() -> bool:
        return await still_signed_in(runtime, user.session)

    return feed.stream(runtime.bus, ready=True, allowed=allowed)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
def conversation(
    conversation_id: str, user: AgentUser, db_session: SessionDep
) -> ConversationDetail:
    return transcript(db_session=db_session, conversation_id=conversation_id)


@router.get("/conversations/{conversation_id}/customer", response_model=CustomerProfile)
async def customer(conversation_id: str, user: AgentUser, runtime: RuntimeDep) -> CustomerProfile:
    return await customer_profile(runtime, conversation_id)


@router.post("/conversations/{conversation_id}/claim", response_model=ConversationOut)
async def claim(conversation_id: str, user: AgentUser, runtime: RuntimeDep) -> ConversationOut:
    done = await service.apply(
        runtime, service.claim, conversation_id=conversation_id, agent=user.name
    )
    return done.conversation


@router.post(
    "/conversations/{conversation_id}/messages", response_model=AgentMessageOut, status_code=201
)
async def reply(
    conversation_id: str, body: ReplyIn, user: AgentUser, runtime: RuntimeDep
) -> AgentMessageOut:
    done = await service.apply(
        runtime,
        service.post_message,
        conversation_id=conversation_id,
        agent=user.name,
        display_name=user.display_name,
        text=body.text,
        max_chars=runtime.settings.limits.max_message_chars,
        client_message_id=body.client_message_id,
    )
    assert done.message is not None
    return AgentMessageOut(
        conversation=done.conversation, message=done.message, replayed=done.replayed
    )


@router.post("/conversations/{conversation_id}/release", response_model=ConversationOut)
async def release(conversation_id: str, user: AgentUser, runtime: RuntimeDep) -> ConversationOut:
    done = await service.apply(
        runtime, service.release, conversation_id=conversation_id, agent=user.name
    )
    return done.conversation


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close(conversation_id: str, user: AgentUser, runtime: RuntimeDep) -> ConversationOut:
    done = await service.apply(
        runtime, service.close, conversation_id=conversation_id, agent=user.name
    )
    return done.conversation


@router.get("/canned", response_model=list[CannedReplyOut])
def canned_replies(user: AgentUser, db_session: SessionDep) -> list[CannedReplyOut]:
    return [CannedReplyOut.model_validate(r) for r in canned.list_replies(db_session=db_session)]


@router.post("/canned", response_model=CannedReplyOut, status_code=201)
def add_canned(body: CannedReplyIn, user: AdminUser, db_session: SessionDep) -> CannedReplyOut:
    made = canned.create(db_session=db_session, title=body.title, text=body.text, author=user.name)
    return CannedReplyOut.model_validate(made)


@router.put("/canned/{reply_id}", response_model=CannedReplyOut)
def edit_canned(
    reply_id: int, body: CannedReplyIn, user: AdminUser, db_session: SessionDep
) -> CannedReplyOut:
    edited = canned.update(
        db_session=db_session, reply_id=reply_id, title=body.title, text=body.text, author=user.name
    )
    return CannedReplyOut.model_validate(edited)


@router.delete("/canned/{reply_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_canned(reply_id: int, user: AdminUser, db_session: SessionDep) -> Response:
    canned.delete(db_session=db_session, reply_id=reply_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
