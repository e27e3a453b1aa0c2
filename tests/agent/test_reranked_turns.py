"""A turn with KEFU_RERANKER=http: the passages the agent gets follow the reranker, the trace
keeps both scores, and with the reranker down the answer still comes in the fused order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.config import RerankerSettings, Settings
from app.runtime import Runtime
from tests.agent.conftest import _llm_settings, last_trace
from tests.llm.scripted_server import ScriptedServer, text_reply
from tests.retrieval.served_models import RERANK, ServedModels, keyword_score

QUESTION = "积分抵扣有没有上限，最多能抵订单金额的多少？"


@pytest.fixture
def rerank_server() -> Iterator[ServedModels]:
    with ServedModels(api_key="sk-rerank") as server:
        yield server


@pytest.fixture
def agent_settings(
    tmp_path: Path, scripted_llm: ScriptedServer, rerank_server: ServedModels
) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        llm=_llm_settings(scripted_llm),
        reranking=RerankerSettings(  # type: ignore[call-arg]
            _env_file=None,
            backend="http",
            base_url=rerank_server.base_url,
            model="BAAI/bge-reranker-v2-m3",
            api_key="sk-rerank",
            timeout=2.0,
        ),
    )


async def test_the_agent_reads_passages_in_the_rerankers_order(
    bot: Runtime, scripted_llm: ScriptedServer, rerank_server: ServedModels, db_session: Session
) -> None:
    # The scripted reranker puts the billing document first, whatever fusion thought.
    rerank_server.rerank_score = keyword_score("5 yuan per GB")
    scripted_llm.script(text_reply("每100积分抵扣1元，最多抵扣订单金额的30%。[1]"))

    out = await run_turn(bot, TurnRequest(channel="test", text=QUESTION))

    assert "30%" in out.answer
    (rerank_body,) = rerank_server.requests(RERANK)
    assert rerank_body["query"] == QUESTION and len(rerank_body["documents"]) > 1
    retrieved = last_trace(db_session).retrieved
    assert retrieved[0]["source"] == "billing.md"
    scores = [r["rerank_score"] for r in retrieved]
    assert scores == sorted(scores, reverse=True)
    # The fused score and rank are kept beside the reranker's.
    assert retrieved[0]["fused_rank"] > 1 and all(r["score"] > 0 for r in retrieved)
    system = scripted_llm.chat_requests[0].json["messages"][0]["content"]
    assert system.index("5 yuan per GB") < system.index("每100积分")


async def test_with_the_reranker_down_the_answer_comes_in_the_fused_order(
    bot: Runtime, scripted_llm: ScriptedServer, rerank_server: ServedModels, db_session: Session
) -> None:
    rerank_server.stop()
    scripted_llm.script(text_reply("每100积分抵扣1元，最多抵扣订单金额的30%。[1]"))

    out = await run_turn(bot, TurnRequest(channel="test", text=QUESTION))

    assert "30%" in out.answer and out.citations
    retrieved = last_trace(db_session).retrieved
    assert retrieved[0]["source"] == "members.md"
    assert all("rerank_score" not in r for r in retrieved)
