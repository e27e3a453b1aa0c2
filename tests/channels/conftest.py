"""A bot with a small knowledge base, configured for WeChat and WeCom, whose outbound APIs
point at a scripted Tencent server. The runtime (embedder, ingested KB) is built once per
module; each test gets a fresh app and TestClient on it, so the channel state is new."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.channels.tencent.crypto import MsgCrypt
from app.channels.tencent.state import TencentChannels
from app.conversation.schemas import TurnOutcome, TurnRequest
from app.conversation.turns import run_turn
from app.core.cache import InProcessCache, RedisCache
from app.core.config import AnswerCacheSettings, ChannelSettings, LLMSettings, Settings
from app.core.db import make_engine
from app.main import create_app
from app.runtime import Runtime
from tests.channels.tencent_server import TencentServer
from tests.support import POLICY, ingest

# The Official Account of Tencent's OA sample (Python Sample.py, see test_crypto.py) and the
# corp of its WeCom C# sample: the routes then also refuse those published requests as replays.
OA = {"token": "spamtest", "app_id": "wx2c2769f8efd9abc2"}
OA_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CORP = {"token": "QDG6eK", "corp_id": "wx5823bf96d3bd56c7", "agent_id": "1000002"}
CORP_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
REDIS_URL = "redis://127.0.0.1:6379"

FAQ = (
    "question,answer,alt_questions\n"
    "怎么开发票？,在订单详情页点击“申请发票”即可开具电子发票。,发票在哪里开|能开发票吗\n"
    "How long does delivery take?,Orders arrive in 3-5 working days.,when will my parcel arrive\n"
)


@pytest.fixture(scope="module")
def tencent() -> Iterator[TencentServer]:
    with TencentServer() as server:
        yield server


def channel_settings(tencent: TencentServer) -> ChannelSettings:
    return ChannelSettings(
        _env_file=None,  # type: ignore[call-arg]
        wechat_token=OA["token"],  # type: ignore[arg-type]
        wechat_encoding_aes_key=OA_KEY,  # type: ignore[arg-type]
        wechat_app_id=OA["app_id"],
        wechat_app_secret="oa-secret",  # type: ignore[arg-type]
        wecom_token=CORP["token"],  # type: ignore[arg-type]
        wecom_encoding_aes_key=CORP_KEY,  # type: ignore[arg-type]
        wecom_corp_id=CORP["corp_id"],
        wecom_agent_id=CORP["agent_id"],
        wecom_secret="corp-secret",  # type: ignore[arg-type]
        wechat_api_base=tencent.base_url,
        wecom_api_base=tencent.base_url,
    )


def build_bot(
    tmp: Path, template: Path, tencent: TencentServer, *, llm: LLMSettings | None = None
) -> Runtime:
    settings = Settings(
        environment="test",
        data_dir=tmp / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        channels=channel_settings(tencent),
        llm=llm or LLMSettings(_env_file=None),  # type: ignore[call-arg]
        # One bot serves a module whose tests ask the same questions again: a reused answer
        # would skip the slow LLM these tests time (tests/agent covers the answer cache).
        answer_cache=AnswerCacheSettings(_env_file=None, enabled=False),  # type: ignore[call-arg]
    )
    shutil.copy(template, tmp / "kefu.db")
    engine = make_engine(f"sqlite:///{tmp / 'kefu.db'}")
    runtime = Runtime.build(settings, engine=engine, cache=InProcessCache())
    ingest(runtime, {"faq.csv": FAQ, "members.md": POLICY})
    runtime.router  # noqa: B018  (warm: embeds the intent exemplars once, not in a test's budget)
    return runtime


def close_bot(runtime: Runtime) -> None:
    runtime.ingestion.close()
    runtime.index.close()
    runtime.engine.dispose()


@pytest.fixture(scope="module")
def bot(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, tencent: TencentServer
) -> Iterator[Runtime]:
    runtime = build_bot(tmp_path_factory.mktemp("bot"), sqlite_template, tencent)
    yield runtime
    close_bot(runtime)


@pytest.fixture
def client(bot: Runtime, tencent: TencentServer) -> Iterator[TestClient]:
    tencent.reset()
    with TestClient(create_app(runtime=bot)) as c:
        yield c


def plain_mode(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Official Account in plain mode (明文模式): no EncodingAESKey, so kefu accepts
    plain callbacks (with the key set it refuses them)."""
    monkeypatch.setattr(runtime.settings.channels, "wechat_encoding_aes_key", None)


@pytest.fixture
def plain(bot: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    plain_mode(bot, monkeypatch)


def channels_of(client: TestClient) -> TencentChannels:
    channels: TencentChannels = client.app.state.tencent_channels  # type: ignore[attr-defined]
    return channels


def wait_idle(client: TestClient, tencent: TencentServer, timeout: float = 30) -> None:
    """Until every background turn and delivery has finished."""
    channels = channels_of(client)
    tencent.wait_for(lambda: channels.pending == 0, timeout=timeout, what="idle channels")


@pytest.fixture
def oa_crypt() -> MsgCrypt:
    return MsgCrypt(token=OA["token"], encoding_aes_key=OA_KEY, receive_id=OA["app_id"])


@pytest.fixture
def corp_crypt() -> MsgCrypt:
    return MsgCrypt(token=CORP["token"], encoding_aes_key=CORP_KEY, receive_id=CORP["corp_id"])


def message_count(runtime: Runtime) -> Any:
    from sqlalchemy import func, select

    from app.conversation.models import Message

    with runtime.session_factory() as s:
        return s.scalar(select(func.count()).select_from(Message))


@contextmanager
def cache_of(runtime: Runtime, kind: str) -> Iterator[Runtime]:
    """The runtime with its in-process cache, or with a real Redis under a prefix of its own
    (dedup keys, plain-query bindings, access tokens, turn markers)."""
    if kind == "in-process":
        yield runtime
        return
    assert kind == "redis", kind
    cache = RedisCache(REDIS_URL, prefix=f"kefu-test-{uuid.uuid4().hex}:")
    original = runtime.cache
    runtime.cache = cache
    try:
        yield runtime
    finally:
        runtime.cache = original
        cache.close()


@pytest.fixture(params=["in-process", "redis"])
def dedup_bot(request: pytest.FixtureRequest, bot: Runtime) -> Iterator[Runtime]:
    """The bot with in-process dedup, or dedup in a real Redis."""
    with cache_of(bot, request.param) as runtime:
        yield runtime


class Gate:
    """A turn that waits for the test (no sleeps): the slow LLM, deterministically."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started = 0

    async def __call__(self, runtime: Runtime, req: TurnRequest) -> TurnOutcome:
        self.started += 1
        await asyncio.to_thread(self.opened.wait, 30)
        return await run_turn(runtime, req)
