"""Client message ids under pressure: a retry while the first attempt is still answering, the
same message twice at once, a first attempt that died, and messages to closed conversations."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.conversation import service as conversation_service
from app.conversation.models import Conversation, ConversationStatus, Message, MessageRole
from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.runtime import Runtime
from tests.llm.scripted_server import ScriptedServer, text_reply

QUESTION = "积分抵扣有没有上限，最多能抵订单金额的多少？"


def _count(db_session: Session, **where: object) -> int:
    stmt = select(func.count()).select_from(Message)
    for key, value in where.items():
        stmt = stmt.where(getattr(Message, key) == value)
    return int(db_session.scalar(stmt) or 0)


async def test_retry_while_the_first_attempt_answers_gets_that_answer(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    first = await run_turn(bot, TurnRequest(channel="test", text="你好"))
    cid = first.conversation_id
    scripted_llm.script(text_reply("每100积分抵1元", "。[1]", first_delay=1.5))
    req = TurnRequest(channel="test", text=QUESTION, conversation_id=cid, client_message_id="m-1")
    a, b = await asyncio.gather(run_turn(bot, req), run_turn(bot, req))
    assert a.answer == b.answer == "每100积分抵1元。[1]"
    assert sorted([a.replayed, b.replayed]) == [False, True]
    assert len(scripted_llm.chat_requests) == 1  # answered once
    db_session.expire_all()
    assert _count(db_session, client_message_id="m-1") == 1
    assert _count(db_session, conversation_id=cid, role=MessageRole.ASSISTANT) == 2


async def test_retry_after_a_first_attempt_that_died_is_answered_once(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    bot.settings.llm.total_timeout = 0.5  # how long a retry waits for the first attempt
    with bot.session_factory.begin() as s:
        conv = conversation_service.create(
            db_session=s, channel="test", external_user_id=None, customer_id=None
        )
        conversation_service.add_message(
            db_session=s,
            conversation=conv,
            role=MessageRole.USER,
            content=QUESTION,
            client_message_id="m-2",
        )  # stored, then the process died before answering
        cid = conv.id
    scripted_llm.script(text_reply("单笔最多抵扣30%。[1]"))
    req = TurnRequest(channel="test", text=QUESTION, conversation_id=cid, client_message_id="m-2")
    out = await run_turn(bot, req)
    assert out.answer == "单笔最多抵扣30%。[1]" and not out.replayed
    again = await run_turn(bot, req)
    assert again.replayed and again.answer == out.answer
    db_session.expire_all()
    assert _count(db_session, client_message_id="m-2") == 1
    assert _count(db_session, conversation_id=cid, role=MessageRole.ASSISTANT) == 1


async def test_a_closed_conversation_is_not_continued(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    first = await run_turn(bot, TurnRequest(channel="test", text="你好"))
    with bot.session_factory.begin() as s:
        conv = s.get(Conversation, first.conversation_id)
        assert conv is not None
        conv.status = ConversationStatus.CLOSED
    out = await run_turn(
        bot, TurnRequest(channel="test", text="谢谢", conversation_id=first.conversation_id)
    )
    assert out.conversation_id != first.conversation_id
    new = db_session.get(Conversation, out.conversation_id)
    assert new is not None and new.status == ConversationStatus.BOT
    assert _count(db_session, conversation_id=first.conversation_id) == 2


async def test_a_retry_waits_while_the_first_attempt_is_alive(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    """The retry waits on the first attempt's in-progress marker (refreshed while it runs),
    not on a clock, and repeats its answer."""
    scripted_llm.script(text_reply("每100积分抵1元。[1]", first_delay=4.0))
    first = await run_turn(bot, TurnRequest(channel="test", text="你好"))
    req = TurnRequest(
        channel="test",
        text=QUESTION,
        conversation_id=first.conversation_id,
        client_message_id="m-3",
    )
    a, b = await asyncio.gather(run_turn(bot, req), run_turn(bot, req))
    assert a.answer == b.answer == "每100积分抵1元。[1]"
    assert sorted([a.replayed, b.replayed]) == [False, True]
    assert len(scripted_llm.chat_requests) == 1


async def test_a_replay_carries_the_stored_reply_id(bot: Runtime, db_session: Session) -> None:
    from app.conversation.schemas import Done
    from app.conversation.turns import handle_turn

    req = TurnRequest(channel="test", text="你好", client_message_id="m-4")
    first = [e async for e in handle_turn(bot, req)][-1]
    assert isinstance(first, Done) and first.message_id is not None
    again_req = TurnRequest(
        channel="test", text="你好", client_message_id="m-4", conversation_id=first.conversation_id
    )
    again = [e async for e in handle_turn(bot, again_req)][-1]
    assert isinstance(again, Done) and again.replayed
    assert again.message_id == first.message_id


async def test_another_customer_never_continues_a_conversation(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    a = await run_turn(bot, TurnRequest(channel="test", text="你好", customer_id="C10001"))
    as_b = await run_turn(
        bot,
        TurnRequest(
            channel="test", text="你好", customer_id="C10002", conversation_id=a.conversation_id
        ),
    )
    logged_out = await run_turn(
        bot, TurnRequest(channel="test", text="你好", conversation_id=a.conversation_id)
    )
    ids = {a.conversation_id, as_b.conversation_id, logged_out.conversation_id}
    assert len(ids) == 3
    conv_a = db_session.get(Conversation, a.conversation_id)
    assert conv_a is not None and conv_a.customer_id == "C10001"
    assert _count(db_session, conversation_id=a.conversation_id) == 2

    anonymous = await run_turn(bot, TurnRequest(channel="test", text="你好"))
    logged_in = await run_turn(
        bot,
        TurnRequest(
            channel="test",
            text="你好",
            customer_id="C10003",
            conversation_id=anonymous.conversation_id,
        ),
    )
    assert logged_in.conversation_id == anonymous.conversation_id  # logging in keeps it
