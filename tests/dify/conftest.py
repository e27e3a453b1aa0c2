"""One kefu app for the Dify contract tests: a migrated SQLite copy, a small knowledge base
ingested once (Chinese policy, English shipping guide, bilingual FAQ), the demo customers,
and keys of each role. Built once per package: the embedding model and the ingestion take
seconds, and every test reads only (or talks as its own Dify end user)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.cache import InProcessCache
from app.core.config import LLMSettings, Settings
from app.core.db import make_engine
from app.customers.demo import load_demo
from app.knowledge_bases import service as kb_service
from app.main import create_app
from app.runtime import Runtime

FAQ = (
    "question,answer,alt_questions\n"
    "How long does delivery take?,Orders arrive in 3-5 working days.,when will my parcel arrive\n"
    "怎么开发票？,在订单详情页点击“申请发票”即可开具电子发票。,发票在哪里开|能开发票吗\n"
)
POLICY = (
    "# 会员政策\n\n## 积分兑换\n\n每100积分可在结算时抵扣1元，单笔最多抵扣订单金额的30%。"
    "积分不能兑换现金，也不能转赠他人。\n\n## 等级\n\n年度消费满5000元升级为金卡会员。"
    "金卡会员享受生日双倍积分。\n"
)
SHIPPING = (
    "# Shipping guide\n\n## Carriers\n\nWe ship with SF Express and JD Logistics. Orders placed "
    "before 16:00 leave the warehouse the same day.\n\n## Remote areas\n\nParcels to Xinjiang "
    "and Tibet take 5-8 working days and cost 20 yuan extra.\n"
)
DOCUMENTS = {"faq.csv": FAQ, "members.md": POLICY, "shipping.md": SHIPPING}


@dataclass(frozen=True)
class DifyApp:
    client: TestClient
    runtime: Runtime
    kb_id: int
    dify_key: str
    client_key: str
    admin_key: str
    limited_key: str  # a dify key allowed one request a minute

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.dify_key}"}


@pytest.fixture(scope="package")
def dify_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DifyApp]:
    tmp = tmp_path_factory.mktemp("dify")
    shutil.copy(sqlite_template, tmp / "kefu.db")
    settings = Settings(
        environment="test",
        data_dir=tmp / "data",
        secret_key="test-secret-0123456789abcdef",
        log_json=True,
        llm=LLMSettings(_env_file=None, base_url=None),
    )
    settings.channels.public_base_url = "https://kefu.example.com/"
    engine = make_engine(f"sqlite:///{tmp / 'kefu.db'}")
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    runtime = Runtime.build(
        settings, engine=engine, session_factory=factory, cache=InProcessCache()
    )
    with factory() as s:
        kb = kb_service.create_kb(db_session=s, runtime=runtime, name="shop", description="")
        s.commit()
        kb_id = kb.id
        kb_service.upload(
            db_session=s,
            runtime=runtime,
            kb=kb,
            uploads=[
                kb_service.Upload(filename=name, data=text.encode())
                for name, text in DOCUMENTS.items()
            ],
        )
        load_demo(db_session=s)
        keys = {
            role: auth_service.create(
                db_session=s, name=f"test-{role}", role=role, rate_limit_per_minute=100_000
            ).secret
            for role in (Role.DIFY, Role.CLIENT, Role.ADMIN)
        }
        limited = auth_service.create(
            db_session=s, name="limited", role=Role.DIFY, rate_limit_per_minute=1
        ).secret
        s.commit()
    runtime.ingestion.drain(timeout=120)
    with TestClient(create_app(runtime=runtime)) as client:
        yield DifyApp(
            client=client,
            runtime=runtime,
            kb_id=kb_id,
            dify_key=keys[Role.DIFY],
            client_key=keys[Role.CLIENT],
            admin_key=keys[Role.ADMIN],
            limited_key=limited,
        )
    runtime.close()
    engine.dispose()
