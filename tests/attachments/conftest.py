"""One kefu for the module (its embedding model and knowledge base take seconds), with two
scripted OpenAI-protocol endpoints on loopback: the vision model and the chat model. Each
records the requests it gets, so a test sees what reached which model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from app.attachments.models import Attachment
from app.attachments.vision import VisionClient
from app.auth import service as auth_service
from app.auth.models import Role
from app.conversation.models import Message
from app.core.cache import InProcessCache
from app.core.config import (
    AgentSettings,
    AnswerCacheSettings,
    LLMSettings,
    RoutingSettings,
    Settings,
    VisionSettings,
)
from app.core.db import make_engine
from app.main import create_app
from app.runtime import Runtime
from tests.channels.conftest import channel_settings
from tests.channels.tencent_server import TencentServer
from tests.llm.scripted_server import ScriptedServer, text_reply
from tests.served import free_port
from tests.support import SHOP, ingest

DESCRIPTION = (
    "1. 文字：订单号 DD20261206-7788，状态：配送失败，错误代码 E-4021\n"
    "2. 内容：一张订单页面的截图，显示配送失败。\n"
    "3. 编号：DD20261206-7788，E-4021"
)


@dataclass
class Kefu:
    runtime: Runtime
    client: TestClient
    vl: ScriptedServer
    llm: ScriptedServer
    tencent: TencentServer
    admin: str
    client_key: str

    def counts(self) -> tuple[int, int]:
        """Stored (attachments, messages)."""
        with self.runtime.session_factory() as s:
            return (
                s.scalar(select(func.count()).select_from(Attachment)) or 0,
                s.scalar(select(func.count()).select_from(Message)) or 0,
            )

    def files(self) -> list[Path]:
        root = self.runtime.settings.attachments_dir
        return [p for p in root.rglob("*") if p.is_file()]

    def script_reading(self, answer: str, description: str = DESCRIPTION) -> None:
        self.vl.script(text_reply(description))
        self.llm.script(text_reply(answer))


def vision_settings(base_url: str | None, **values: Any) -> VisionSettings:
    return VisionSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=base_url,
        model="scripted-vl",
        max_retries=0,
        first_token_timeout=5.0,
        total_timeout=10.0,
        **values,
    )


@pytest.fixture(scope="module")
def kefu(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Kefu]:
    tmp = tmp_path_factory.mktemp("attachments")
    db = tmp / "kefu.db"
    shutil.copy(sqlite_template, db)
    with ScriptedServer(model="scripted-vl") as vl, ScriptedServer() as llm, TencentServer() as tc:
        settings = Settings(
            channels=channel_settings(tc),
            environment="test",
            data_dir=tmp / "data",
            secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
            llm=LLMSettings(
                _env_file=None,  # type: ignore[call-arg]
                base_url=llm.base_url,
                model=llm.model,
                max_retries=0,
                first_token_timeout=5.0,
                total_timeout=20.0,
            ),
            vision=vision_settings(vl.base_url, max_image_bytes=2 * 1024 * 1024),
            routing=RoutingSettings(_env_file=None, tiebreak=False),  # type: ignore[call-arg]
            agent=AgentSettings(_env_file=None, condense=False),  # type: ignore[call-arg]
            answer_cache=AnswerCacheSettings(_env_file=None, enabled=False),  # type: ignore[call-arg]
        )
        engine = make_engine(f"sqlite:///{db}")
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        rt = Runtime.build(settings, engine=engine, session_factory=factory, cache=InProcessCache())
        ingest(rt, SHOP)
        rt.router  # noqa: B018  (warm: the intent exemplars are embedded once, not in a turn)
        with factory() as s:
            admin = auth_service.create(db_session=s, name="admin", role=Role.ADMIN).secret
            key = auth_service.create(db_session=s, name="client", role=Role.CLIENT).secret
            s.commit()
        try:
            with TestClient(create_app(runtime=rt)) as client:
                yield Kefu(rt, client, vl, llm, tc, admin, key)
        finally:
            rt.close()


@pytest.fixture
def vision_down(kefu: Kefu) -> Iterator[None]:
    """The vision endpoint refuses connections (nothing listens on its port)."""
    working = kefu.runtime.vision
    kefu.runtime.vision = VisionClient(vision_settings(f"http://127.0.0.1:{free_port()}/v1"))
    yield
    kefu.runtime.vision = working


def vl_image_urls(server: ScriptedServer) -> list[str]:
    """The image URLs the vision model was sent, in order."""
    urls = []
    for request in server.chat_requests:
        for message in request.json["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else []:
                if part["type"] == "image_url":
                    urls.append(part["image_url"]["url"])
    return urls


def prompt_text(request_json: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content")) for m in request_json["messages"])
