"""The handoff workspace's live feed over a real socket ends when its session does: a sign-out
everywhere (or a disabled account) is noticed by a stream that stays open for hours."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.console.models import ConsoleRole
from app.core.bus import HANDOFF_TOPIC
from app.handoff import feed as handoff_feed
from app.main import create_app
from app.runtime import Runtime
from tests.console.support import PASSWORD, csrf_of, make_user
from tests.handoff.conftest import serving


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the feed holds no database state; the session check is one query


async def _sign_in(client: httpx.AsyncClient, name: str) -> None:
    page = await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={"name": name, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text


async def _blocks(response: httpx.Response) -> AsyncIterator[str]:
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
        elif block:
            yield "\n".join(block)
            block = []


async def test_signing_out_everywhere_ends_an_open_feed(
    runtime: Runtime, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff_feed, "KEEPALIVE_SECONDS", 0.2)
    make_user(session_factory, "bo", ConsoleRole.AGENT)
    async with (
        serving(create_app(runtime=runtime)) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10) as agent,
    ):
        await _sign_in(agent, "bo")
        async with agent.stream("GET", "/console/handoff/events") as feed:
            assert feed.status_code == 200
            blocks = _blocks(feed)

            async def next_block() -> str:
                while True:
                    block = await asyncio.wait_for(anext(blocks), 5)
                    if block != ": keep-alive":
                        return block

            assert await next_block() == "retry: 3000\n: connected"
            assert await next_block() == "event: ready\ndata: {}"
            # While signed in, events arrive.
            await runtime.bus.publish(
                HANDOFF_TOPIC, {"type": "queue", "action": "waiting", "conversation_id": "c1"}
            )
            assert '"conversation_id": "c1"' in await next_block()
            # The same user signs out everywhere from another tab.
            token = csrf_of(
                (await agent.get("/console/handoff", headers={"Accept": "text/html"})).text
            )
            out = await agent.post("/console/logout-everywhere", data={"csrf_token": token})
            assert out.status_code == 303
            await runtime.bus.publish(
                HANDOFF_TOPIC, {"type": "queue", "action": "waiting", "conversation_id": "c2"}
            )
            assert await next_block() == "event: signed_out\ndata: {}"
            # ...and nothing after it: the stream is over.
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(anext(blocks), 5)
