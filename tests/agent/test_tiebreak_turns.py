"""The tie-breaker inside a turn: an uncertain message is settled by one structured call
before the agent runs, and the trace keeps why the router chose."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.conversation.turns import TurnRequest, run_turn
from app.runtime import Runtime
from tests.agent.conftest import last_trace
from tests.llm.scripted_server import ScriptedServer, text_reply

QUESTION = "how many days until a parcel gets to me?"


def _band_everything(bot: Runtime) -> None:
    # Which messages fall in the band depends on the FAQ model; the test is about the flow.
    bot.settings.routing.tiebreak = True
    bot.settings.routing.tiebreak_low, bot.settings.routing.tiebreak_high = 0.0, 1.0


async def test_an_faq_verdict_answers_from_the_faq_without_the_agent(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    _band_everything(bot)
    scripted_llm.script(text_reply('{"route": "faq"}'))
    out = await run_turn(bot, TurnRequest(channel="test", text=QUESTION))
    assert out.route == "faq" and out.answer == "Orders arrive in 3-5 working days."
    assert len(scripted_llm.chat_requests) == 1  # the tie-breaker only
    assert "response_format" in scripted_llm.chat_requests[0].json
    signals = last_trace(db_session).route_signals
    assert signals["tiebreak"] == 1.0 and "p_faq" in signals and "margin" in signals


async def test_an_agent_verdict_goes_on_to_the_agent(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    _band_everything(bot)
    scripted_llm.script(text_reply('{"route": "agent"}'), text_reply("3-5 working days. [1]"))
    out = await run_turn(bot, TurnRequest(channel="test", text=QUESTION))
    assert out.route == "llm" and out.answer.startswith("3-5 working days.")
    requests = scripted_llm.chat_requests
    assert len(requests) == 2 and "response_format" not in requests[1].json
    assert last_trace(db_session).route_signals["tiebreak"] == 0.0


async def test_tiebreak_off_sends_nothing_extra(
    bot: Runtime, scripted_llm: ScriptedServer, db_session: Session
) -> None:
    _band_everything(bot)
    bot.settings.routing.tiebreak = False
    scripted_llm.script(text_reply("3-5 working days. [1]"))
    await run_turn(bot, TurnRequest(channel="test", text=QUESTION))
    assert all("response_format" not in r.json for r in scripted_llm.chat_requests)
    assert "tiebreak" not in last_trace(db_session).route_signals
