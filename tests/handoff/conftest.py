"""Fixtures for the handoff API: conversations in a given state, API keys, a live server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.auth import service as auth_service
from app.auth.models import Role
from app.conversation import service as conversation_service
from app.conversation.models import ConversationStatus, MessageRole
from app.routing import Router
from app.runtime import Runtime

MakeConversation = Callable[..., str]


@pytest.fixture(scope="session")
def shared_router() -> Iterator[Router]:
    """One router (it embeds its exemplars for seconds) for every runtime in these tests."""
    from app.core.config import Settings
    from knowledge.index import KnowledgeIndex

    settings = Settings(environment="development")
    index = KnowledgeIndex(settings)
    yield Router(index.embedder, service_hours=settings.service_hours)
    index.close()


@pytest.fixture
def bot(runtime: Runtime, shared_router: Router) -> Runtime:
    runtime.__dict__["router"] = shared_router  # fills the cached property
    return runtime


def headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def admin(admin_secret: str) -> dict[str, str]:
    return headers(admin_secret)


@pytest.fixture
def client_key(session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as s:
        new = auth_service.create(db_session=s, name="widget", role=Role.CLIENT)
        s.commit()
    return headers(new.secret)


def make_conversation(
    factory: sessionmaker[Session],
    *,
    status: ConversationStatus = ConversationStatus.AWAITING_HUMAN,
    channel: str = "web",
    external_user_id: str | None = None,
    assigned_agent: str | None = None,
    customer_id: str | None = None,
    messages: tuple[tuple[MessageRole, str], ...] = (
        (MessageRole.USER, "我要转人工"),
        (MessageRole.ASSISTANT, "好的，正在为您转接人工客服。"),
    ),
) -> str:
    with factory.begin() as s:
        conv = conversation_service.create(
            db_session=s,
            channel=channel,
            external_user_id=external_user_id,
            customer_id=customer_id,
        )
        conv.status, conv.assigned_agent = status, assigned_agent
        for role, content in messages:
            conversation_service.add_message(
                db_session=s, conversation=conv, role=role, content=content
            )
        return conv.id


@pytest.fixture
def conversation(session_factory: sessionmaker[Session]) -> MakeConversation:
    def make(**kwargs: object) -> str:
        return make_conversation(session_factory, **kwargs)  # type: ignore[arg-type]

    return make


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """The app on a real loopback socket, served from the running event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not server.started:
            if task.done() or asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("the test server did not start")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
