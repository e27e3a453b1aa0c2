"""Turns with KEFU_EMBEDDING_BACKEND=openai: routed, retrieved and answered through the
served model; with the embedding server gone, an apology and the offer of a human."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.agent import prompts as agent_prompts
from app.conversation.schemas import TurnRequest
from app.conversation.turns import run_turn
from app.core.config import EmbeddingSettings, Settings
from app.runtime import Runtime
from tests.agent.conftest import _llm_settings, last_trace
from tests.llm.scripted_server import ScriptedServer, text_reply
from tests.retrieval.served_models import E5_MODEL, EMBEDDINGS, ServedModels

QUESTION = "积分抵扣有没有上限，最多能抵订单金额的多少？"


@pytest.fixture
def served() -> Iterator[ServedModels]:
    with ServedModels() as server:
        yield server


@pytest.fixture
def agent_settings(tmp_path: Path, scripted_llm: ScriptedServer, served: ServedModels) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        llm=_llm_settings(scripted_llm),
        embedding=EmbeddingSettings(  # type: ignore[call-arg]
            _env_file=None,
            backend="openai",
            base_url=served.base_url,
            model=E5_MODEL,
            dim=384,
            max_retries=0,
        ),
    )


async def test_a_turn_through_the_served_embedding_model(
    bot: Runtime, scripted_llm: ScriptedServer, served: ServedModels, db_session: Session
) -> None:
    scripted_llm.script(text_reply("每100积分抵扣1元，最多抵扣订单金额的30%。[1]"))
    before = len(served.requests(EMBEDDINGS))

    out = await run_turn(bot, TurnRequest(channel="test", text=QUESTION))

    assert "30%" in out.answer and out.citations
    trace = last_trace(db_session)
    assert trace.route == "llm" and trace.retrieved[0]["source"] == "members.md"
    # The message was embedded by the server, once: routing and search share it. (The
    # router's intent examples go first, on its first use.)
    asked = [t for body in served.requests(EMBEDDINGS)[before:] for t in body["input"]]
    assert asked.count(f"query: {QUESTION}") == 1


async def test_with_the_embedding_server_gone_the_customer_is_offered_a_human(
    bot: Runtime, served: ServedModels, db_session: Session
) -> None:
    served.stop()
    out = await run_turn(bot, TurnRequest(channel="test", text=QUESTION))
    hours = bot.settings.service_hours
    assert out.answer == agent_prompts.load().failed("zh", hours=hours)
    assert "EmbeddingUnavailable" in (last_trace(db_session).error or "")
