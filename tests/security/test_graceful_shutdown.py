"""Finding 4: SIGTERM during ingestion stops within a bounded time; the job it was running
goes back to the queue, and the next instance (same Milvus Lite file) finishes everything."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import Role
from tests.conftest import fresh_pg_database
from tests.security.conftest import KefuServe
from tests.security.test_durable_jobs import _policy
from tests.support import wait_until


def test_sigterm_during_ingestion_exits_promptly_and_requeues(tmp_path: Path) -> None:
    with fresh_pg_database("kefu_term") as url:
        engine = create_engine(url)
        with Session(engine) as s:
            admin = auth_service.create(db_session=s, name="ops", role=Role.ADMIN).secret
            s.commit()
        env = {
            "KEFU_ENVIRONMENT": "test",
            "KEFU_SECRET_KEY": "term-test-secret-0123456789",
            "KEFU_DATA_DIR": str(tmp_path / "data"),
            "KEFU_DATABASE_URL": url,
            "KEFU_INGEST_SHUTDOWN_SECONDS": "10",
        }
        server = KefuServe(env, log=tmp_path / "serve.log").start()
        try:
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=60
            ) as http:
                assert http.post("/admin/knowledge-bases", json={"name": "sec"}).status_code == 201
                files = [("files", (f"p{i}.md", _policy(i, 400))) for i in range(6)]
                response = http.post("/admin/knowledge-bases/sec/documents", files=files)
                assert response.status_code == 202

            def count(status: str) -> int:
                with engine.connect() as conn:
                    return int(
                        conn.scalar(
                            text("SELECT count(*) FROM ingestion_jobs WHERE status = :s"),
                            {"s": status},
                        )
                        or 0
                    )

            wait_until(lambda: count("running") == 1, timeout=60, what="a job to start")
            assert server.proc is not None
            start = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(timeout=40)
            stopped_in = time.monotonic() - start
            assert stopped_in < 30, f"took {stopped_in:.1f} s to stop"
            # Nothing left claimed by the dead process: all unfinished work is queued.
            assert count("running") == 0
            assert count("queued") >= 1
            done_before = count("succeeded")

            server.start()
            # Ready once warm: the models and indexes load after the port opens.
            wait_until(
                lambda: httpx.get(server.url + "/readyz", timeout=30).status_code == 200,
                timeout=120,
                what="the next instance to be ready",
            )

            # The backlog is long (that is the point); the next instance working on it is enough.
            wait_until(
                lambda: count("succeeded") > done_before,
                timeout=120,
                what="the next instance to resume the queued jobs",
            )
        finally:
            server.stop()
            engine.dispose()
