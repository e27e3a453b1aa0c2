"""A bot with a small knowledge base, the demo customers and a scripted LLM endpoint."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.conversation.models import TurnTrace
from app.core.cache import InProcessCache
from app.core.config import LLMSettings, RoutingSettings, Settings
from app.core.db import make_engine
from app.customers.demo import load_demo
from app.runtime import Runtime
from tests.knowledge.conftest import release_lite
from tests.llm.scripted_server import ScriptedServer, Stream, chunk, tool_call_delta, usage_chunk
from tests.support import SHOP, ingest

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


def last_trace(db_session: Session) -> TurnTrace:
    """The newest turn's trace."""
    trace = db_session.scalar(select(TurnTrace).order_by(TurnTrace.id.desc()))
    assert trace is not None
    return trace


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
        # These tests script the LLM's requests one by one; whether a question falls in the
        # tie-breaker's band depends on the FAQ model, so the tie-breaker is on only in its
        # own tests (test_tiebreak_turns.py).
        routing=RoutingSettings(_env_file=None, tiebreak=False),  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
def bot_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Settings:
    """The bot's database and data directory, demo customers loaded and the knowledge base
    indexed, once per session: a test's bot starts from a copy instead of indexing again
    (Milvus Lite takes most of a second per document). Returns the settings it was built with;
    a bot whose indexing settings differ (another embedding model) indexes for itself."""
    root = tmp_path_factory.mktemp("agent-bot")
    shutil.copy(sqlite_template, root / "kefu.db")
    settings = Settings(
        environment="test",
        data_dir=root / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
    )
    engine = make_engine(f"sqlite:///{root / 'kefu.db'}")
    rt = Runtime.build(settings, engine=engine, cache=InProcessCache())
    with rt.session_factory() as s:
        load_demo(db_session=s)
        s.commit()
    ingest(rt, {**SHOP, "billing.md": BILLING})
    rt.close()
    release_lite(Path(settings.milvus_uri))  # its file complete on disk before it is copied
    return settings


def _indexes_alike(a: Settings, b: Settings) -> bool:
    return (a.embedding, a.ingestion, a.milvus) == (b.embedding, b.ingestion, b.milvus)


def _from_template(template: Settings, settings: Settings, engine: Engine) -> None:
    """The template's database over the test's (nothing has connected to it yet) and its data
    directory as the test's, the stored originals' paths pointed at the copies."""
    assert engine.url.database, engine.url
    engine.dispose()
    assert engine.pool.checkedout() == 0, "the test's database was in use before the bot"
    shutil.copy(template.data_dir.parent / "kefu.db", engine.url.database)
    shutil.copytree(template.data_dir, settings.data_dir, dirs_exist_ok=True)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE documents SET storage_path = replace(storage_path, :old, :new)"),
            {"old": str(template.data_dir), "new": str(settings.data_dir)},
        )


@pytest.fixture
def bot(
    request: pytest.FixtureRequest,
    agent_settings: Settings,
    db_bind: Engine | Connection,
    session_factory: sessionmaker[Session],
) -> Iterator[Runtime]:
    engine = db_bind if isinstance(db_bind, Engine) else db_bind.engine
    defaults = Settings(environment="test", secret_key="test-secret-0123456789abcdef")  # type: ignore[arg-type]
    copied = _indexes_alike(agent_settings, defaults)
    if copied:
        _from_template(request.getfixturevalue("bot_template"), agent_settings, engine)
    rt = Runtime.build(
        agent_settings, engine=engine, session_factory=session_factory, cache=InProcessCache()
    )
    if not copied:
        with session_factory() as s:
            load_demo(db_session=s)
            s.commit()
        ingest(rt, {**SHOP, "billing.md": BILLING})
    yield rt
    rt.ingestion.close()
    rt.index.close()
