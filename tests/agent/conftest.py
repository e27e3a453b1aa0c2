"""A bot with a small knowledge base, the demo customers and a scripted LLM endpoint."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.cache import InProcessCache
from app.core.config import LLMSettings, Settings
from app.customers.demo import load_demo
from app.knowledge_bases import service as kb_service
from app.runtime import Runtime
from tests.llm.scripted_server import ScriptedServer, Stream, chunk, tool_call_delta, usage_chunk

FAQ = (
    "question,answer,alt_questions\n"
    "How long does delivery take?,Orders arrive in 3-5 working days.,when will my parcel arrive\n"
    "怎么开发票？,在订单详情页点击“申请发票”即可开具电子发票。,发票在哪里开|能开发票吗\n"
)
POLICY = (
    "# 会员政策\n\n## 积分兑换\n\n每100积分可在结算时抵扣1元，单笔最多抵扣订单金额的30%。"
    "积分不能兑换现金，也不能转赠他人。\n\n## 等级\n\n年度消费满5000元升级为金卡会员。\n"
)
BILLING = (
    "# Billing and data overage\n\n## Overage\n\nData used beyond the plan's allowance is "
    "charged at 5 yuan per GB, billed in the following month's bill.\n"
)


def tool_reply(name: str, arguments: dict[str, Any], *, call_id: str = "call_1") -> Stream:
    """One streamed tool call, the way vLLM's hermes parser sends it."""
    args = json.dumps(arguments, ensure_ascii=False)
    return Stream(
        [
            chunk({"role": "assistant", "content": ""}),
            tool_call_delta(0, call_id=call_id, name=name, arguments=""),
            tool_call_delta(0, arguments=args[: len(args) // 2]),
            tool_call_delta(0, arguments=args[len(args) // 2 :]),
            chunk({}, "tool_calls"),
            usage_chunk(100, 20),
        ]
    )


def reasoning_reply(thinking: str, answer: str) -> Stream:
    return Stream(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning": thinking}),
            chunk({"content": answer}),
            chunk({}, "stop"),
            usage_chunk(100, 50),
        ]
    )


@pytest.fixture
def backend() -> str:
    return "sqlite"  # eager ingestion runs in a thread beside the test's session


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def _llm_settings(server: ScriptedServer, **overrides: Any) -> LLMSettings:
    for name in list(os.environ):
        if name.startswith("KEFU_LLM_"):
            del os.environ[name]
    values: dict[str, Any] = {
        "base_url": server.base_url,
        "model": server.model,
        "max_retries": 0,
        "first_token_timeout": 5.0,
        "total_timeout": 20.0,
    }
    values.update(overrides)
    return LLMSettings(_env_file=None, **values)


@pytest.fixture
def agent_settings(tmp_path: Path, scripted_llm: ScriptedServer) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        llm=_llm_settings(scripted_llm),
    )


@pytest.fixture
def bot(
    agent_settings: Settings,
    db_bind: Engine | Connection,
    session_factory: sessionmaker[Session],
) -> Iterator[Runtime]:
    engine = db_bind if isinstance(db_bind, Engine) else db_bind.engine
    rt = Runtime.build(
        agent_settings, engine=engine, session_factory=session_factory, cache=InProcessCache()
    )
    with session_factory() as s:
        load_demo(db_session=s)
        kb = kb_service.create_kb(db_session=s, runtime=rt, name="shop", description="")
        s.commit()
        kb_service.upload(
            db_session=s,
            runtime=rt,
            kb=kb,
            uploads=[
                kb_service.Upload(filename="faq.csv", data=FAQ.encode()),
                kb_service.Upload(filename="members.md", data=POLICY.encode()),
                kb_service.Upload(filename="billing.md", data=BILLING.encode()),
            ],
        )
    rt.ingestion.drain(timeout=120)
    yield rt
    rt.ingestion.close()
    rt.index.close()
