"""Helpers shared by tests: a small ingested knowledge base, and polling instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from app.knowledge_bases import service as kb_service
from app.runtime import Runtime

# The small shop knowledge base several suites answer from: two FAQ pairs and a policy.
FAQ = (
    "question,answer,alt_questions\n"
    "How long does delivery take?,Orders arrive in 3-5 working days.,when will my parcel arrive\n"
    "怎么开发票？,在订单详情页点击“申请发票”即可开具电子发票。,发票在哪里开|能开发票吗\n"
)
POLICY = (
    "# 会员政策\n\n## 积分兑换\n\n每100积分可在结算时抵扣1元，单笔最多抵扣订单金额的30%。"
    "积分不能兑换现金，也不能转赠他人。\n\n## 等级\n\n年度消费满5000元升级为金卡会员。\n"
)
SHOP = {"faq.csv": FAQ, "members.md": POLICY}


def ingest(
    runtime: Runtime, files: Mapping[str, str | bytes], *, kb: str = "shop", timeout: float = 120
) -> None:
    """Create knowledge base ``kb`` and index ``files`` (name → content) through the real
    upload path, waiting until every document is ready."""
    with runtime.session_factory() as s:
        created = kb_service.create_kb(db_session=s, runtime=runtime, name=kb, description="")
        s.commit()
        kb_service.upload(
            db_session=s,
            runtime=runtime,
            kb=created,
            uploads=[
                kb_service.Upload(
                    filename=name, data=data.encode() if isinstance(data, str) else data
                )
                for name, data in files.items()
            ],
        )
    runtime.ingestion.drain(timeout=timeout)


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll a condition another thread or process makes true (not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
