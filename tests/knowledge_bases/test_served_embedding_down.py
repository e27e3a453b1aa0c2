"""The admin API with KEFU_EMBEDDING_BACKEND=openai when the embedding server goes away:
searches answer 503 naming it, an upload is kept and its document marked failed with the
reason, and nothing already indexed is touched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.config import EmbeddingSettings, Settings
from tests.retrieval.served_models import E5_MODEL, ServedModels

POLICY = "# 退货政策\n\n## 无理由退货\n\n未拆封商品签收后7天内可无理由退货。\n"


@pytest.fixture
def served() -> Iterator[ServedModels]:
    with ServedModels() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, served: ServedModels) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        embedding=EmbeddingSettings(  # type: ignore[call-arg]
            _env_file=None,
            backend="openai",
            base_url=served.base_url,
            model=E5_MODEL,
            dim=384,
            max_retries=0,
            timeout=5,
        ),
    )


def test_embedding_server_down(
    admin: Callable[..., Any], kb: str, drain: Callable[[], None], served: ServedModels
) -> None:
    files = [("files", ("policy.md", POLICY.encode()))]
    assert admin("post", f"/admin/knowledge-bases/{kb}/documents", files=files).status_code == 202
    drain()
    search = {"query": "退货要几天"}
    hits = admin("post", f"/admin/knowledge-bases/{kb}/search", json=search).json()["hits"]
    assert hits and hits[0]["source"] == "policy.md"

    served.stop()
    resp = admin("post", f"/admin/knowledge-bases/{kb}/search", json=search)
    assert resp.status_code == 503, resp.text
    error = resp.json()["error"]
    assert error["code"] == "embedding_unavailable" and "ConnectError" in error["message"]

    files = [("files", ("later.md", "# 发票\n\n在订单详情页申请电子发票。\n".encode()))]
    assert admin("post", f"/admin/knowledge-bases/{kb}/documents", files=files).status_code == 202
    drain()
    docs = {d["name"]: d for d in admin("get", f"/admin/knowledge-bases/{kb}/documents").json()}
    assert docs["policy.md"]["status"] == "ready" and docs["policy.md"]["chunk_count"] >= 1
    assert docs["later.md"]["status"] == "failed"
    assert "EmbeddingUnavailable" in docs["later.md"]["error"]
