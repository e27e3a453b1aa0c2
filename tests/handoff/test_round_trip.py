"""The whole handoff through the API: a customer asks for a human, an agent claims and replies,
the customer's side receives it live, the bot stays silent, then gets the conversation back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.conversation import service as conversation_service
from app.conversation.models import Conversation, ConversationStatus, Message
from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.bus import channel_topic, conversation_topic
from app.main import create_app
from app.runtime import Runtime


@pytest.fixture
async def api(bot: Runtime, admin: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime=bot)
    # In the test's event loop, so the in-process bus reaches the test's subscribers.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://kefu", headers=admin
        ) as client:
            yield client


def _roles(db_session: Session, conv_id: str) -> list[str]:
    roles = db_session.scalars(
        select(Message.role).where(Message.conversation_id == conv_id).order_by(Message.id)
    ).all()
    return [r.value for r in roles]


async def test_customer_to_agent_and_back(
    bot: Runtime, api: httpx.AsyncClient, db_session: Session
) -> None:
    asked = await run_turn(
        bot, TurnRequest(channel="web", text="我要转人工", external_user_id="visitor-7")
    )
    assert asked.route == "handoff" and asked.handoff
    assert bot.settings.service_hours in asked.answer
    conv_id = asked.conversation_id
    assert conv_id

    queue = (await api.get("/admin/handoff/queue")).json()
    assert [(i["id"], i["status"]) for i in queue] == [(conv_id, "awaiting_human")]
    assert queue[0]["last_customer_message"] == "我要转人工"
    detail = (await api.get(f"/admin/conversations/{conv_id}")).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    assert [t["route"] for t in detail["traces"]] == ["handoff"]
    assert detail["traces"][0]["message_id"] == detail["messages"][1]["id"]

    async with (
        bot.bus.subscribe(conversation_topic(conv_id)) as widget,
        bot.bus.subscribe(channel_topic("web")) as channel,
    ):
        claimed = await api.post(f"/admin/conversations/{conv_id}/claim", json={"agent": "alice"})
        assert claimed.status_code == 200
        status = await widget.get(timeout=5)
        assert status == {
            "type": "status",
            "conversation_id": conv_id,
            "status": "human",
            "agent": "alice",
        }

        sent = await api.post(
            f"/admin/conversations/{conv_id}/messages",
            json={"agent": "alice", "text": "您好，我是人工客服 Alice，请问有什么可以帮您？"},
        )
        assert sent.status_code == 201, sent.text
        live = await widget.get(timeout=5)
        assert live is not None and live["type"] == "agent_message"
        assert live["content"] == "您好，我是人工客服 Alice，请问有什么可以帮您？"
        assert live["agent"] == "alice" and live["conversation_id"] == conv_id
        assert live["message_id"] == sent.json()["message"]["id"] and live["created_at"]

        # Push channels get the same events with the channel user to deliver to.
        on_channel = [await channel.get(timeout=5), await channel.get(timeout=5)]
        assert [e["type"] for e in on_channel if e] == ["status", "agent_message"]
        assert all(e and e["external_user_id"] == "visitor-7" for e in on_channel)

        # While a human holds it, the bot is silent and the customer's message reaches the agent.
        held = await run_turn(
            bot, TurnRequest(channel="web", text="好的谢谢", conversation_id=conv_id)
        )
        assert held.route == "human" and held.answer == ""
        echoed = await widget.get(timeout=5)
        assert echoed is not None and echoed["type"] == "customer_message"
        assert echoed["content"] == "好的谢谢"

        released = await api.post(
            f"/admin/conversations/{conv_id}/release", json={"agent": "alice"}
        )
        assert released.json()["status"] == "bot"
        back = await widget.get(timeout=5)
        assert back is not None and back["type"] == "status" and back["status"] == "bot"

    again = await run_turn(bot, TurnRequest(channel="web", text="你好", conversation_id=conv_id))
    assert again.route == "smalltalk" and again.answer
    assert _roles(db_session, conv_id) == [
        "user",
        "assistant",
        "system",  # claimed by alice
        "agent",
        "user",
        "system",  # released
        "user",
        "assistant",
    ]
    # The agent's reply is part of the history the bot answers from next.
    past = conversation_service.history(
        db_session=db_session, conversation_id=conv_id, before_id=None, turns=10
    )
    assert ("assistant", "您好，我是人工客服 Alice，请问有什么可以帮您？") in past

    closed = await api.post(f"/admin/conversations/{conv_id}/close")
    assert closed.json()["status"] == "closed"
    conv = db_session.get(Conversation, conv_id, populate_existing=True)
    assert conv is not None and conv.status == ConversationStatus.CLOSED
    # The channel user's next message opens a new conversation.
    fresh = await run_turn(
        bot, TurnRequest(channel="web", text="你好", external_user_id="visitor-7")
    )
    assert fresh.conversation_id != conv_id
