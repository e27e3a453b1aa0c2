"""A whole agent turn against the real vLLM server (tiny random Qwen3): the request kefu
builds (system prompt with passages, strict tools derived from LangChain tools, an
operator's among them, history) is one vLLM accepts, and whatever the random model produces
(text, tool calls, garbage arguments) the turn ends with an answer stored and a trace, never
an exception."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from app.conversation.models import TurnTrace
from app.conversation.schemas import Done, TextDelta, TurnRequest
from app.conversation.turns import handle_turn
from app.core.cache import InProcessCache
from app.core.config import LLMSettings, Settings, ToolSettings
from app.customers.demo import load_demo
from app.knowledge_bases import service as kb_service
from app.runtime import Runtime
from tests.vllm.conftest import VLLMServer

POLICY = "# 会员政策\n\n## 积分兑换\n\n每100积分可在结算时抵扣1元，单笔最多抵扣订单金额的30%。\n"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def vllm_bot(
    vllm_server: VLLMServer,
    tmp_path: Path,
    db_bind: Engine | Connection,
    session_factory: sessionmaker[Session],
) -> Iterator[Runtime]:
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        llm=LLMSettings(
            _env_file=None,
            base_url=vllm_server.base_url,
            model=vllm_server.model,
            first_token_timeout=60,
            total_timeout=120,
            max_tokens=16,
            max_retries=0,
        ),
    )
    settings.agent.max_tool_rounds = 1
    # An operator's LangChain tool beside kefu's: vLLM must accept its derived strict schema too.
    settings.tools = ToolSettings(
        extra_tools=["tests.tools.warranty:warranty_lookup"],
        extra_tools_allowed=["warranty_lookup"],
    )
    engine = db_bind if isinstance(db_bind, Engine) else db_bind.engine
    rt = Runtime.build(
        settings, engine=engine, session_factory=session_factory, cache=InProcessCache()
    )
    with session_factory() as s:
        load_demo(db_session=s)
        kb = kb_service.create_kb(db_session=s, runtime=rt, name="shop", description="")
        s.commit()
        kb_service.upload(
            db_session=s,
            runtime=rt,
            kb=kb,
            uploads=[kb_service.Upload(filename="members.md", data=POLICY.encode())],
        )
    rt.ingestion.drain(timeout=120)
    yield rt
    rt.ingestion.close()
    rt.index.close()


async def test_agent_turn_against_real_vllm(vllm_bot: Runtime, db_session: Session) -> None:
    req = TurnRequest(
        channel="test", text="积分抵扣有没有上限，最多能抵订单金额的多少？", customer_id="C10001"
    )
    events = [e async for e in handle_turn(vllm_bot, req)]
    done = events[-1]
    assert isinstance(done, Done) and done.route == "llm" and done.message_id is not None
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip()
    trace = db_session.scalar(select(TurnTrace).where(TurnTrace.message_id == done.message_id))
    assert trace is not None
    # vLLM accepted kefu's request (a refusal would be an LLMBadRequest fallback).
    assert trace.error is None, trace.error
    assert trace.prompt_version == "agent-v2" and trace.prompt_tokens > 200
