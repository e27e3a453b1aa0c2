"""The agents' side of human handoff: the queue, a conversation's history and trace, and the
changes (claim, reply, release, close); plus a live feed for agents' consoles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import still_active
from app.conversation.models import ConversationStatus
from app.customers.schemas import CustomerProfile
from app.deps import AdminKey, RuntimeDep, SessionDep
from app.handoff import canned, feed, service
from app.handoff.customer import customer_profile
from app.handoff.schemas import (
    AgentBody,
    AgentMessageIn,
    AgentMessageOut,
    CannedReplyIn,
    CannedReplyOut,
    CloseBody,
    ConversationDetail,
    ConversationOut,
    QueueItem,
    QueueStatus,
)
from app.handoff.transcript import transcript

router = APIRouter(tags=["admin: handoff"])


@router.get("/admin/handoff/queue", response_model=list[QueueItem])
def queue(
    _: AdminKey,
    db_session: SessionDep,
    status: Annotated[list[QueueStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[QueueItem]:
    wanted = [ConversationStatus(s) for s in status or ("awaiting_human", "human")]
    return service.queue(db_session=db_session, statuses=wanted, limit=limit)


@router.get("/admin/conversations/{conversation_id}", response_model=ConversationDetail)
def conversation_detail(
    conversation_id: str, _: AdminKey, db_session: SessionDep
) -> ConversationDetail:
    return transcript(db_session=db_session, conversation_id=conversation_id)


@router.get("/admin/conversations/{conversation_id}/customer", response_model=CustomerProfile)
async def customer(conversation_id: str, _: AdminKey, runtime: RuntimeDep) -> CustomerProfile:
    """The conversation's customer's records (bills, orders, membership) from the business
    data the agent's tools read; 404 when the conversation has no known customer."""
    return await customer_profile(runtime, conversation_id)


@router.post("/admin/conversations/{conversation_id}/claim", response_model=ConversationOut)
async def claim(
    conversation_id: str, body: AgentBody, _: AdminKey, runtime: RuntimeDep
) -> ConversationOut:
    done = await service.apply(
        runtime, service.claim, conversation_id=conversation_id, agent=body.agent
    )
    return done.conversation


@router.post(
    "/admin/conversations/{conversation_id}/messages",
    response_model=AgentMessageOut,
    status_code=201,
)
async def send_message(
    conversation_id: str, body: AgentMessageIn, _: AdminKey, runtime: RuntimeDep
) -> AgentMessageOut:
    done = await service.apply(
        runtime,
        service.post_message,
        conversation_id=conversation_id,
        agent=body.agent,
        text=body.text,
        max_chars=runtime.settings.limits.max_message_chars,
        client_message_id=body.client_message_id,
        display_name=body.display_name,
    )
    assert done.message is not None
    return AgentMessageOut(
        conversation=done.conversation, message=done.message, replayed=done.replayed
    )


@router.post("/admin/conversations/{conversation_id}/release", response_model=ConversationOut)
async def release(
    conversation_id: str, body: AgentBody, _: AdminKey, runtime: RuntimeDep
) -> ConversationOut:
    done = await service.apply(
        runtime, service.release, conversation_id=conversation_id, agent=body.agent
    )
    return done.conversation


@router.post("/admin/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close(
    conversation_id: str, _: AdminKey, runtime: RuntimeDep, body: CloseBody | None = None
) -> ConversationOut:
    agent = body.agent if body else None
    done = await service.apply(runtime, service.close, conversation_id=conversation_id, agent=agent)
    return done.conversation


@router.get(
    "/admin/handoff/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
    summary="Live queue changes and customer messages (server-sent events)",
)
async def events(key: AdminKey, runtime: RuntimeDep) -> StreamingResponse:
    # The key was checked when the stream opened; revoking it must end a stream that stays
    # open for hours.
    async def allowed() -> bool:
        return await run_in_threadpool(still_active, runtime, key.id)

    return feed.stream(runtime.bus, allowed=allowed)


@router.get("/admin/canned-replies", response_model=list[CannedReplyOut])
def canned_replies(_: AdminKey, db_session: SessionDep) -> list[CannedReplyOut]:
    return [CannedReplyOut.model_validate(r) for r in canned.list_replies(db_session=db_session)]


@router.post("/admin/canned-replies", response_model=CannedReplyOut, status_code=201)
def add_canned_reply(body: CannedReplyIn, key: AdminKey, db_session: SessionDep) -> CannedReplyOut:
    reply = canned.create(db_session=db_session, title=body.title, text=body.text, author=key.name)
    return CannedReplyOut.model_validate(reply)


@router.put("/admin/canned-replies/{reply_id}", response_model=CannedReplyOut)
def edit_canned_reply(
    reply_id: int, body: CannedReplyIn, key: AdminKey, db_session: SessionDep
) -> CannedReplyOut:
    reply = canned.update(
        db_session=db_session, reply_id=reply_id, title=body.title, text=body.text, author=key.name
    )
    return CannedReplyOut.model_validate(reply)


@router.delete("/admin/canned-replies/{reply_id}", status_code=204)
def delete_canned_reply(reply_id: int, _: AdminKey, db_session: SessionDep) -> None:
    canned.delete(db_session=db_session, reply_id=reply_id)
