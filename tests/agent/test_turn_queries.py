"""What one agent turn asks the database for: the answering knowledge bases once, however
many stages (routing, the answer cache's scope, retrieval) need them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.runtime import Runtime
from tests.llm.scripted_server import ScriptedServer, text_reply


async def test_an_agent_turn_lists_the_knowledge_bases_once(
    bot: Runtime, scripted_llm: ScriptedServer
) -> None:
    listed: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if (
            "FROM knowledge_bases" in statement
            and "WHERE" not in statement.split("FROM knowledge_bases")[1][:40]
        ):
            listed.append(statement)

    scripted_llm.script(text_reply("积分不能兑换现金，可在下单时抵扣。[1]"))
    event.listen(bot.engine, "before_cursor_execute", count)
    try:
        out = await run_turn(
            bot, TurnRequest(channel="test", text="积分抵扣有没有上限，最多能抵订单金额的多少？")
        )
    finally:
        event.remove(bot.engine, "before_cursor_execute", count)
    assert out.route == "llm" and out.citations  # routed, cache scope, retrieved, answered
    assert len(listed) == 1, listed
