"""The dev set's `needs_account_data` questions reach the agent and its tool calls read the
conversation's own customer's records, never anyone else's.

The model is scripted (it asks for the tool a competent model would), so what is under test
is kefu: routing these questions to the agent, offering strict tools, running the call for
the customer the channel authenticated, and feeding the result back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.cache import InProcessCache
from app.core.config import Settings
from app.customers.demo import load_demo
from app.knowledge_bases import service as kb_service
from app.runtime import Runtime
from tests.agent.conftest import tool_reply
from tests.conftest import DEV_SET
from tests.llm.scripted_server import ScriptedServer, text_reply

# The tool a correct answer needs, per question (bill, membership or order records).
EXPECTED_TOOL = {
    "q005": "get_bill",
    "q008": "get_bill",
    "q014": "get_bill",
    "q035": "get_membership",
    "q036": "get_membership",
    "q049": "get_bill",
    "q050": "get_bill",
    "q053": "get_membership",
    "q068": "get_order",
    "q069": "get_bill",
    "q081": "get_bill",
    "q082": "get_membership",
    "q087": "get_bill",
    "q088": "get_bill",
    "q105": "get_bill",
}
CUSTOMERS = ["C10001", "C10002", "C10003", "C10004", "C10005"]

# The dev set lives beside the repository (../shared); a lone clone has none, as for the
# other dev-set suites (tests/ingestion/test_dev_kb.py).
pytestmark = pytest.mark.skipif(
    not (DEV_SET / "questions.jsonl").is_file(), reason=f"{DEV_SET} not present (KEFU_DEV_SET)"
)


def _questions() -> list[dict[str, object]]:
    lines = (DEV_SET / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [q for q in rows if q["needs_account_data"]]


@pytest.fixture
def dev_bot(
    agent_settings: Settings,
    db_bind: Engine | Connection,
    session_factory: sessionmaker[Session],
) -> Iterator[Runtime]:
    engine = db_bind if isinstance(db_bind, Engine) else db_bind.engine
    rt = Runtime.build(
        agent_settings, engine=engine, session_factory=session_factory, cache=InProcessCache()
    )
    files = sorted(p for p in Path(DEV_SET / "kb").iterdir() if p.is_file())
    with session_factory() as s:
        load_demo(db_session=s)
        kb = kb_service.create_kb(db_session=s, runtime=rt, name="dev", description="")
        s.commit()
        kb_service.upload(
            db_session=s,
            runtime=rt,
            kb=kb,
            uploads=[kb_service.Upload(filename=p.name, data=p.read_bytes()) for p in files],
        )
    rt.ingestion.drain(timeout=600)
    yield rt
    rt.ingestion.close()
    rt.index.close()


async def test_account_questions_call_the_right_tool_for_their_own_customer(
    dev_bot: Runtime, scripted_llm: ScriptedServer
) -> None:
    dev_bot.settings.agent.condense = False  # one scripted exchange per question
    dev_bot.settings.routing.tiebreak = False
    questions = _questions()
    assert {str(q["id"]) for q in questions} == set(EXPECTED_TOOL)
    for i, q in enumerate(questions):
        qid, customer = str(q["id"]), CUSTOMERS[i % len(CUSTOMERS)]
        tool = EXPECTED_TOOL[qid]
        args = {"month": "2026-10"} if tool == "get_bill" else {}
        scripted_llm.script(tool_reply(tool, args, call_id=f"call_{qid}"), text_reply("OK"))
        seen = len(scripted_llm.chat_requests)
        history = q["history"]
        assert isinstance(history, list)
        conversation_id = None
        # Earlier turns of the labelled conversation are told by the customer first; with the
        # LLM scripted for the question only, replay them as stored messages.
        if history:
            conversation_id = _seed(dev_bot, history, customer)
        out = await run_turn(
            dev_bot,
            TurnRequest(
                channel="test",
                text=str(q["question"]),
                customer_id=customer,
                conversation_id=conversation_id,
            ),
        )
        assert out.route == "llm", (qid, out.route)
        requests = scripted_llm.chat_requests[seen:]
        assert len(requests) == 2, qid
        offered = {t["function"]["name"] for t in requests[0].json["tools"]}
        assert tool in offered
        tool_msg = requests[1].json["messages"][-1]
        assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == f"call_{qid}"
        result = json.loads(tool_msg["content"])
        assert "error" not in result, (qid, result)
        others = [c for c in CUSTOMERS if c != customer]
        assert not any(other in tool_msg["content"] for other in others), qid
        if tool != "get_order":
            assert result["customer_id"] == customer, qid


def _seed(runtime: Runtime, history: list[dict[str, str]], customer: str) -> str:
    from app.conversation import service as conversation_service
    from app.conversation.models import MessageRole

    with runtime.session_factory.begin() as s:
        conv = conversation_service.create(
            db_session=s, channel="test", external_user_id=None, customer_id=customer
        )
        for turn in history:
            role = MessageRole.USER if turn["role"] == "user" else MessageRole.ASSISTANT
            conversation_service.add_message(
                db_session=s, conversation=conv, role=role, content=turn["content"]
            )
        return conv.id
