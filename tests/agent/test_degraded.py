"""What the customer gets when a part of the llm route fails, and the edges of the agent's
contract: a handoff that survives the LLM failing after it, the service hours on every
handoff, tool-call markup never shown, condensing bounded by its own timeout, retrieval or
storage failing mid-turn, and the running summary confined to its own turn."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.conversation import answering, summary, turns
from app.conversation.models import Conversation, ConversationStatus, Message
from app.conversation.schemas import Done, Error, Handoff, TextDelta, TurnRequest
from app.conversation.state import Prepared
from app.conversation.turns import handle_turn, run_turn
from app.runtime import Runtime
from tests.agent.conftest import last_trace, tool_reply
from tests.llm.scripted_server import ScriptedServer, Status, text_reply

POINTS_Q = "积分抵扣有没有上限，最多能抵订单金额的多少？"
DISPUTE = "这个扣费我不认可，你们这个收费有问题"


def _status(db_session: Session, conversation_id: str) -> ConversationStatus:
    conv = db_session.get(Conversation, conversation_id)
    assert conv is not None
    db_session.refresh(conv)
    return conv.status


async def test_agent_handoff_tells_the_service_hours_once(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    hours = bot.settings.service_hours
    scripted_llm.script(
        tool_reply("request_human", {"reason": "complaint", "summary": "billing dispute"}),
        text_reply("已为您登记投诉。"),
        tool_reply("request_human", {"reason": "complaint", "summary": "again"}),
        text_reply(f"好的，人工客服服务时间为{hours}，请稍候。"),
    )
    req = TurnRequest(channel="test", text=DISPUTE, customer_id="C10001")
    events = [e async for e in handle_turn(bot, req)]
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown.startswith("已为您登记投诉。") and hours in shown
    (handoff,) = [e for e in events if isinstance(e, Handoff)]
    assert hours in handoff.message
    done = events[-1]
    assert isinstance(done, Done)
    assert _status(db_session, done.conversation_id) == ConversationStatus.AWAITING_HUMAN

    # A model that already gave the hours is not repeated.
    out = await run_turn(bot, TurnRequest(channel="test", text=DISPUTE, customer_id="C10002"))
    assert out.handoff and out.answer.count(hours) == 1


async def test_handoff_survives_the_llm_failing_after_it(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    scripted_llm.script(
        tool_reply("request_human", {"reason": "complaint", "summary": "billing dispute"}),
        Status(500),
    )
    out = await run_turn(bot, TurnRequest(channel="test", text=DISPUTE, customer_id="C10001"))
    assert out.handoff and bot.settings.service_hours in out.answer
    assert "人工" in out.answer
    assert _status(db_session, out.conversation_id) == ConversationStatus.AWAITING_HUMAN
    trace = last_trace(db_session)
    assert trace.error and [c["name"] for c in trace.tool_calls] == ["request_human"]


async def test_tool_call_markup_on_the_last_round_is_never_shown(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    # On the round that may not call tools the model calls anyway; vLLM's parser is off
    # for tool_choice "none", so the call arrives as content.
    scripted_llm.script(
        *[tool_reply("get_membership", {}, call_id=f"c{i}") for i in range(4)],
        text_reply(
            "您是银卡会员。",
            '<tool_call>\n{"name": "get_membership", "arguments"',
            ": {}}\n</tool_call>",
        ),
    )
    out = await run_turn(
        bot, TurnRequest(channel="test", text="我的会员等级为什么降了？", customer_id="C10004")
    )
    assert out.answer == "您是银卡会员。"
    stored = db_session.scalars(select(Message.content)).all()
    assert not any("tool_call" in m for m in stored)


async def test_citations_are_stored_in_the_trace(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    scripted_llm.script(text_reply("每100积分可抵扣1元，最多抵扣订单金额的30%。[1]"))
    out = await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q))
    assert out.citations
    trace = last_trace(db_session)
    assert trace.citations == [c.as_dict() for c in out.citations]
    assert trace.citations[0]["source"] == "members.md"
    assert trace.citations[0]["document_id"] and trace.citations[0]["heading_path"]


async def test_condensing_waits_only_its_own_timeout(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    bot.settings.agent.condense_timeout = 0.3
    scripted_llm.script(text_reply("每100积分可抵扣1元。[1]"))
    first = await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q))
    slow = text_reply("never used", first_delay=20.0)
    scripted_llm.script(slow, text_reply("不能转赠。[1]"))
    started = time.perf_counter()
    out = await run_turn(
        bot,
        TurnRequest(channel="test", text="那转赠呢？", conversation_id=first.conversation_id),
    )
    # The answer came from the second reply, long before the slow one would have started.
    assert out.answer == "不能转赠。[1]"
    assert time.perf_counter() - started < 12
    assert last_trace(db_session).timings["condense_ms"] < 10_000


async def test_an_unreachable_llm_is_not_waited_for_twice(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    scripted_llm.script(text_reply("每100积分可抵扣1元。[1]"))
    first = await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q))
    scripted_llm.script(Status(503), text_reply("must not be asked"))
    out = await run_turn(
        bot,
        TurnRequest(channel="test", text="那转赠呢？", conversation_id=first.conversation_id),
    )
    assert out.route == "llm" and out.answer
    assert len(scripted_llm.chat_requests) == 2  # the first answer, the failed condense
    trace = last_trace(db_session)
    assert trace.prompt_version == "extractive-v1" and "LLMUnavailable" in (trace.error or "")


async def test_retrieval_down_still_answers_from_the_tools(
    bot: Runtime,
    scripted_llm: ScriptedServer,
    db_session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def vector_store_down(*_: object) -> None:
        raise ConnectionError("milvus: connection refused")

    monkeypatch.setattr(answering, "retrieve", vector_store_down)
    scripted_llm.script(
        tool_reply("get_bill", {"month": "2026-10"}), text_reply("您10月账单共计128元。")
    )
    out = await run_turn(
        bot,
        TurnRequest(channel="test", text="为什么我上个月流量费翻倍了？", customer_id="C10001"),
    )
    assert out.answer == "您10月账单共计128元。" and out.citations == []
    system = scripted_llm.chat_requests[0].json["messages"][0]["content"]
    assert "没有检索到相关资料" in system
    trace = last_trace(db_session)
    assert trace.error and "retrieval" in trace.error and trace.retrieved == []


async def test_a_turn_failing_inside_kefu_apologises_and_keeps_the_message(
    bot: Runtime, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def router_broken(*_: object) -> None:
        raise RuntimeError("FAQ index unavailable")

    monkeypatch.setattr(turns, "_route", router_broken)
    events = [e async for e in handle_turn(bot, TurnRequest(channel="test", text=POINTS_Q))]
    assert isinstance(events[-1], Done) and events[-1].route == "error"
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "抱歉" in shown and "人工" in shown and "Traceback" not in shown
    messages = db_session.scalars(select(Message).order_by(Message.id)).all()
    assert [m.content for m in messages] == [POINTS_Q, shown]
    trace = last_trace(db_session)
    assert trace.route == "error" and "FAQ index unavailable" in (trace.error or "")


async def test_an_answer_that_cannot_be_stored_ends_with_error_and_a_retry_answers(
    bot: Runtime,
    scripted_llm: ScriptedServer,
    db_session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_persist = turns._persist

    def database_down(*_: object) -> None:
        raise OperationalError("INSERT", {}, ConnectionError("database went away"))

    monkeypatch.setattr(turns, "_persist", database_down)
    scripted_llm.script(
        text_reply("每100积分可抵扣1元。[1]"), text_reply("每100积分可抵扣1元。[1]")
    )
    req = TurnRequest(channel="test", text=POINTS_Q, client_message_id="m-1")
    events = [e async for e in handle_turn(bot, req)]
    assert isinstance(events[-1], Error) and events[-1].code == "unavailable"
    assert "稍后" in events[-1].message
    stored = db_session.scalars(select(Message.content)).all()
    assert stored == [POINTS_Q]  # the customer's message is kept

    monkeypatch.setattr(turns, "_persist", real_persist)
    started = time.perf_counter()
    retry = await run_turn(
        bot,
        TurnRequest(
            channel="test",
            text=POINTS_Q,
            client_message_id="m-1",
            conversation_id=_conversation(db_session),
        ),
    )
    # Answered without waiting out the failed attempt's in-progress marker (15 s).
    assert time.perf_counter() - started < 12
    assert retry.answer == "每100积分可抵扣1元。[1]" and not retry.replayed
    assert db_session.scalars(select(Message.content)).all() == [POINTS_Q, retry.answer]


def _conversation(db_session: Session) -> str:
    conv = db_session.scalar(select(Conversation))
    assert conv is not None
    return conv.id


async def test_a_summary_only_folds_turns_up_to_its_own_answer(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    # A turn's background summary may run after the next message is stored; it must not
    # summarise (and spend an LLM call on) what belongs to the next turn.
    bot.settings.agent.history_turns = 1
    bot.settings.agent.condense = False
    scripted_llm.script(text_reply("每100积分抵1元。[1]"))
    first = await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q))
    await asyncio.gather(*summary.BACKGROUND)
    question, answer = db_session.scalars(select(Message).order_by(Message.id)).all()
    db_session.add(
        Message(conversation_id=first.conversation_id, role="user", content="金卡怎么升级？")
    )
    db_session.commit()
    # The first turn's summary, running late.
    prep = Prepared(first.conversation_id, question.id, ConversationStatus.BOT, [])
    await summary.update_summary(bot, prep, answer.id)
    assert len(scripted_llm.chat_requests) == 1  # the answer; no summary request
