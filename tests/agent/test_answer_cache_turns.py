"""The answer cache in real turns against the scripted LLM: a repeated general question is
answered without an LLM request; an account question, a tool-using answer, a follow-up and a
question whose document changed are not."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.knowledge_bases import service as kb_service
from app.runtime import Runtime
from knowledge import service as knowledge_service
from tests.agent.conftest import last_trace, tool_reply
from tests.llm.scripted_server import ScriptedServer, text_reply
from tests.support import POLICY

POINTS_Q = "积分最多能抵订单金额的多少"
ANSWER = "单笔最多抵扣订单金额的30%。[1]"


async def test_a_repeated_general_question_is_answered_without_the_llm(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    scripted_llm.script(text_reply(ANSWER))
    first = await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q))
    assert not first.cached and len(scripted_llm.chat_requests) == 1

    again = await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q + "？"))
    assert len(scripted_llm.chat_requests) == 1  # no second request
    assert again.cached and again.route == "llm"
    assert again.answer == first.answer == ANSWER
    assert [c.source for c in again.citations] == [c.source for c in first.citations]
    trace = last_trace(db_session)
    assert trace.route_signals["answer_cache"] > 0.9
    assert trace.prompt_version == "agent-v2" and trace.model == scripted_llm.model
    assert "answer_cache_ms" in trace.timings


async def test_account_questions_and_tool_answers_are_never_reused(
    bot: Runtime, scripted_llm: ScriptedServer
) -> None:
    account_q = "我这个月的账单是多少钱"
    scripted_llm.script(
        text_reply("请问要查哪个月？"),
        text_reply("请问要查哪个月？"),
        tool_reply("get_bill", {"month": "2026-10"}),
        text_reply("流量超额按每GB 5元计。[1]"),
        text_reply("流量超额按每GB 5元计。[1]"),
    )
    for _ in range(2):
        out = await run_turn(bot, TurnRequest(channel="test", text=account_q, customer_id="C10001"))
        assert not out.cached
    assert len(scripted_llm.chat_requests) == 2

    overage_q = "流量超出套餐以后怎么收费"
    first = await run_turn(bot, TurnRequest(channel="test", text=overage_q))
    assert [c["name"] for c in first.tool_calls] == ["get_bill"]
    again = await run_turn(bot, TurnRequest(channel="test", text=overage_q))
    assert not again.cached and len(scripted_llm.chat_requests) == 5


async def test_follow_ups_and_answers_given_in_context_are_not_reused(
    bot: Runtime, scripted_llm: ScriptedServer
) -> None:
    # Condensing and summaries ask the LLM too: enough replies for all of them.
    scripted_llm.script(*[text_reply("年度消费满5000元升级为金卡会员。[1]") for _ in range(12)])
    upgrade_q, points_q = "怎样才能升级金卡会员", "积分能不能转给家人用"
    first = await run_turn(bot, TurnRequest(channel="test", text=upgrade_q))
    assert not first.cached
    # A question that stands alone is answered from the cache mid-conversation too...
    conv = first.conversation_id
    again = await run_turn(bot, TurnRequest(channel="test", text=upgrade_q, conversation_id=conv))
    assert again.cached
    # ...but an elliptical follow-up is not, and an answer given with earlier turns in view
    # is not kept for others.
    followup = await run_turn(
        bot, TurnRequest(channel="test", text="那金卡呢？", conversation_id=conv)
    )
    assert not followup.cached
    await run_turn(bot, TurnRequest(channel="test", text=points_q, conversation_id=conv))
    fresh = await run_turn(bot, TurnRequest(channel="test", text=points_q))
    assert not fresh.cached


async def test_a_new_document_version_ends_the_cached_answers(
    bot: Runtime, scripted_llm: ScriptedServer
) -> None:
    scripted_llm.script(text_reply(ANSWER), text_reply("单笔最多抵扣订单金额的50%。[1]"))
    await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q))
    ingest_again(bot)
    after = await run_turn(bot, TurnRequest(channel="test", text=POINTS_Q))
    assert not after.cached and after.answer == "单笔最多抵扣订单金额的50%。[1]"
    assert len(scripted_llm.chat_requests) == 2


def ingest_again(bot: Runtime) -> None:
    """Upload members.md again with new content (version 2) and wait until it is indexed."""
    with bot.session_factory() as s:
        kb = knowledge_service.get_kb(db_session=s, ref="shop")
        assert kb is not None
        kb_service.upload(
            db_session=s,
            runtime=bot,
            kb=kb,
            uploads=[
                kb_service.Upload(filename="members.md", data=POLICY.replace("30%", "50%").encode())
            ],
        )
    bot.ingestion.drain(timeout=120)
