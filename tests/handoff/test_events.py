"""The agents' live feed over a real socket: queue changes, customer messages, keep-alives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.auth import service as auth_service
from app.auth.models import Role
from app.conversation.models import ConversationStatus
from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.bus import HANDOFF_TOPIC, InProcessBus
from app.handoff import feed as handoff_feed
from app.main import create_app
from app.runtime import Runtime
from tests.handoff.conftest import MakeConversation, serving


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the feed holds no database state; one backend is enough


async def _blocks(response: httpx.Response) -> AsyncIterator[list[str]]:
    """Server-sent event blocks (the lines between blank lines)."""
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
        elif block:
            yield block
            block = []


def _event(block: list[str]) -> tuple[str, dict[str, Any]]:
    fields = dict(line.split(": ", 1) for line in block if not line.startswith(":"))
    return fields["event"], json.loads(fields["data"])


async def test_console_feed(
    runtime: Runtime,
    admin: dict[str, str],
    conversation: MakeConversation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handoff_feed, "KEEPALIVE_SECONDS", 0.2)
    conv_id = conversation()
    held_id = conversation(status=ConversationStatus.HUMAN, assigned_agent="bob")

    async with (
        serving(create_app(runtime=runtime)) as base_url,
        httpx.AsyncClient(base_url=base_url, headers=admin, timeout=10) as client,
    ):
        async with client.stream("GET", "/admin/handoff/events") as feed:
            await _follow(feed, client, runtime, conv_id, held_id)
        # A console that goes away leaves no subscription behind.
        bus = runtime.bus
        assert isinstance(bus, InProcessBus)
        deadline = asyncio.get_running_loop().time() + 5
        while HANDOFF_TOPIC in bus._subs:
            assert asyncio.get_running_loop().time() < deadline, "the feed kept its subscription"
            await asyncio.sleep(0.01)


async def _follow(
    feed: httpx.Response, client: httpx.AsyncClient, runtime: Runtime, conv_id: str, held_id: str
) -> None:
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/event-stream")
    blocks = _blocks(feed)

    async def next_block() -> list[str]:
        return await asyncio.wait_for(anext(blocks), 5)

    assert await next_block() == ["retry: 3000", ": connected"]

    claimed = await client.post(f"/admin/conversations/{conv_id}/claim", json={"agent": "al"})
    assert claimed.status_code == 200
    kind, data = _event(await _skip_keepalives(next_block))
    assert kind == "queue"
    assert data == {
        "type": "queue",
        "action": "claimed",
        "conversation_id": conv_id,
        "channel": "web",
        "status": "human",
        "assigned_agent": "al",
    }

    # A customer writing into a held conversation reaches the agents' consoles.
    out = await run_turn(
        runtime, TurnRequest(channel="web", text="人呢？", conversation_id=held_id)
    )
    assert out.route == "human"
    kind, data = _event(await _skip_keepalives(next_block))
    assert kind == "customer_message"
    assert data["conversation_id"] == held_id and data["content"] == "人呢？"

    assert await next_block() == [": keep-alive"]  # nothing else happened


async def _skip_keepalives(next_block: Any) -> list[str]:
    while True:
        block: list[str] = await next_block()
        if block != [": keep-alive"]:
            return block


async def test_a_handoff_puts_the_conversation_in_the_queue_live(bot: Runtime) -> None:
    """The documented `waiting` queue event: consoles learn of a new conversation to take."""
    async with bot.bus.subscribe(HANDOFF_TOPIC) as sub:
        asked = await run_turn(
            bot, TurnRequest(channel="web", text="我要转人工", external_user_id="visitor-9")
        )
        assert asked.route == "handoff"
        event = await sub.get(timeout=5)
    assert event == {
        "type": "queue",
        "action": "waiting",
        "conversation_id": asked.conversation_id,
        "channel": "web",
        "status": "awaiting_human",
    }


async def test_revoking_the_key_ends_an_open_feed(
    runtime: Runtime, session_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff_feed, "KEEPALIVE_SECONDS", 0.2)
    with session_factory() as s:
        watcher = auth_service.create(db_session=s, name="ops-dashboard", role=Role.ADMIN)
        key_id, secret = watcher.key.id, watcher.secret
        s.commit()
    async with (
        serving(create_app(runtime=runtime)) as base_url,
        httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=10
        ) as client,
        client.stream("GET", "/admin/handoff/events") as feed,
    ):
        blocks = _blocks(feed)
        assert await asyncio.wait_for(anext(blocks), 5) == ["retry: 3000", ": connected"]
        with session_factory() as s:
            auth_service.revoke(db_session=s, key_id=key_id)
            s.commit()
        await runtime.bus.publish(HANDOFF_TOPIC, {"type": "queue", "action": "waiting"})
        block = await asyncio.wait_for(anext(blocks), 5)
        while block == [": keep-alive"]:
            block = await asyncio.wait_for(anext(blocks), 5)
        assert block == ["event: signed_out", "data: {}"]
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(blocks), 5)
