"""A customer turn end to end without an LLM: routing, FAQ verbatim answers, extractive
answers with citations, handoff, retries answered once, and the stored trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.conversation.models import Conversation, ConversationStatus, Message, TurnTrace
from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.errors import NotFound, Unprocessable
from app.runtime import Runtime
from tests.support import SHOP, ingest


@pytest.fixture
def backend() -> str:
    return "sqlite"  # eager ingestion runs in a thread beside the test's session


@pytest.fixture
def bot(runtime: Runtime) -> Iterator[Runtime]:
    ingest(runtime, SHOP)
    yield runtime


async def test_routes_and_answers(bot: Runtime, db_session: Session) -> None:
    hello = await run_turn(bot, TurnRequest(channel="test", text="hello there"))
    assert hello.route == "smalltalk" and hello.answer and not hello.citations

    faq = await run_turn(bot, TurnRequest(channel="test", text="when will my parcel get here?"))
    assert faq.route == "faq"
    assert faq.answer == "Orders arrive in 3-5 working days."
    assert [c.source for c in faq.citations] == ["faq.csv"]

    policy = await run_turn(
        bot, TurnRequest(channel="test", text="积分抵扣有没有上限？最多能抵订单金额的多少？")
    )
    assert policy.route == "llm"
    assert "30%" in policy.answer and policy.citations[0].source == "members.md"
    trace = db_session.scalar(select(TurnTrace).order_by(TurnTrace.id.desc()))
    assert trace is not None and trace.route == "llm" and trace.retrieved
    assert trace.search_query and "route_ms" in trace.timings and "retrieve_ms" in trace.timings


async def test_nothing_relevant_offers_a_human(bot: Runtime) -> None:
    out = await run_turn(
        bot, TurnRequest(channel="test", text="Can I bring my dog on the rocket to Mars?")
    )
    assert out.route == "llm" and not out.citations
    assert "human" in out.answer.lower()


async def test_handoff_then_the_bot_stays_silent(bot: Runtime, db_session: Session) -> None:
    first = await run_turn(bot, TurnRequest(channel="test", text="转人工"))
    assert first.route == "handoff" and first.handoff
    assert bot.settings.service_hours in first.answer
    conv = db_session.get(Conversation, first.conversation_id)
    assert conv is not None and conv.status == ConversationStatus.AWAITING_HUMAN

    later = await run_turn(
        bot,
        TurnRequest(channel="test", text="还在吗", conversation_id=first.conversation_id),
    )
    assert later.route == "human" and later.answer == ""
    roles = db_session.scalars(
        select(Message.role).where(Message.conversation_id == first.conversation_id)
    ).all()
    assert [r.value for r in roles] == ["user", "assistant", "user"]


async def test_a_retried_message_is_answered_once(bot: Runtime, db_session: Session) -> None:
    req = TurnRequest(channel="test", text="怎么开发票", client_message_id="c-1")
    first = await run_turn(bot, req)
    again = await run_turn(
        bot,
        TurnRequest(
            channel="test",
            text="怎么开发票",
            client_message_id="c-1",
            conversation_id=first.conversation_id,
        ),
    )
    assert again.replayed and again.answer == first.answer
    assert [c.chunk_id for c in again.citations] == [c.chunk_id for c in first.citations]
    count = db_session.scalar(
        select(func.count())
        .select_from(Message)
        .where(Message.conversation_id == first.conversation_id)
    )
    assert count == 2


async def test_follow_up_uses_the_history(bot: Runtime) -> None:
    first = await run_turn(bot, TurnRequest(channel="test", text="积分可以怎么用？能抵现金吗"))
    follow = await run_turn(
        bot,
        TurnRequest(channel="test", text="那最多能抵多少？", conversation_id=first.conversation_id),
    )
    assert follow.route == "llm" and follow.citations
    assert follow.citations[0].source == "members.md"


async def test_bad_turns_change_nothing(bot: Runtime, db_session: Session) -> None:
    before = db_session.scalar(select(func.count()).select_from(Message))
    with pytest.raises(NotFound):
        await run_turn(bot, TurnRequest(channel="test", text="hi", conversation_id="nope"))
    with pytest.raises(Unprocessable):
        await run_turn(bot, TurnRequest(channel="test", text="   "))
    with pytest.raises(Unprocessable):
        await run_turn(bot, TurnRequest(channel="test", text="x" * 5000))
    assert db_session.scalar(select(func.count()).select_from(Message)) == before
