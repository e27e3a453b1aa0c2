"""`kefu ingest` as users run it (a subprocess) with KEFU_EMBEDDING_BACKEND=openai."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.retrieval.served_models import E5_MODEL, EMBEDDINGS, ServedModels


def test_kefu_ingest_embeds_through_the_served_model(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "returns.md").write_text("# Returns\n\nUnopened items can be returned in 7 days.\n")
    data = tmp_path / "data"
    with ServedModels(api_key="sk-e") as served:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        env.update(
            KEFU_DATA_DIR=str(data),
            KEFU_EMBEDDING_BACKEND="openai",
            KEFU_EMBEDDING_BASE_URL=served.base_url,
            KEFU_EMBEDDING_MODEL=E5_MODEL,
            KEFU_EMBEDDING_API_KEY="sk-e",
        )
        out = subprocess.run(
            [sys.executable, "-m", "app.cli", "ingest", str(kb_dir), "--kb", "shop"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        embedded = [t for body in served.requests(EMBEDDINGS) for t in body["input"]]
    assert out.returncode == 0, out.stderr
    assert "returns.md" in out.stderr and "ready" in out.stderr
    assert any(t.startswith("passage: ") and "7 days" in t for t in embedded)
    with sqlite3.connect(data / "kefu.db") as db:
        rows = db.execute("select embedding_model, embedding_dim from knowledge_bases").fetchall()
    assert rows == [(E5_MODEL, 384)]
