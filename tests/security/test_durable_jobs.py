"""Finding 3: ingestion jobs survive a crash. A start re-runs what a dead process left
queued or running, never a job a live worker holds; a stuck document re-uploaded is retried."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import Role
from app.core.db import utcnow
from app.knowledge_bases import service as kb_service
from app.runtime import Runtime
from ingestion import leases
from knowledge import service as knowledge_service
from knowledge.models import Document, DocumentStatus, IngestionJob, JobStatus
from tests.conftest import fresh_pg_database
from tests.security.conftest import KefuServe
from tests.support import wait_until


def _policy(n: int, paragraphs: int = 120) -> bytes:
    body = "\n\n".join(
        f"## 第{n}章 第{p}条\n\n第{n}号政策第{p}条：办理业务{p}需要携带有效证件，"
        f"费用为{n * 100 + p}元，处理时限为{p % 7 + 1}个工作日。"
        for p in range(paragraphs)
    )
    return f"# 政策{n}\n\n{body}\n".encode()


def _upload(runtime: Runtime, files: dict[str, bytes]) -> None:
    with runtime.session_factory() as s:
        found = knowledge_service.get_kb(db_session=s, ref="sec")
        if found is None:
            found = kb_service.create_kb(db_session=s, runtime=runtime, name="sec", description="")
            s.commit()
        kb_service.upload(
            db_session=s,
            runtime=runtime,
            kb=found,
            uploads=[kb_service.Upload(filename=n, data=d) for n, d in files.items()],
        )


def _job(s: Session, doc: Document, **values: object) -> IngestionJob:
    job = IngestionJob(kb_id=doc.kb_id, document_id=doc.id, version=doc.version, **values)
    s.add(job)
    s.flush()
    return job


def test_recover_reruns_dead_jobs_but_not_a_live_workers(pg_runtime: Runtime) -> None:
    rt = pg_runtime
    _upload(rt, {f"p{i}.md": _policy(i, 5) for i in range(4)})
    rt.ingestion.drain(timeout=120)
    past, future = utcnow() - timedelta(minutes=5), utcnow() + timedelta(hours=1)
    with rt.session_factory.begin() as s:
        docs = {d.name: d for d in s.scalars(select(Document))}
        for d in docs.values():
            d.status = DocumentStatus.INDEXING
        dead = _job(
            s,
            docs["p0.md"],
            status=JobStatus.RUNNING,
            attempts=1,
            lease_owner="dead:1",
            lease_until=past,
        ).id
        queued = _job(s, docs["p1.md"], status=JobStatus.QUEUED).id
        live = _job(
            s,
            docs["p2.md"],
            status=JobStatus.RUNNING,
            attempts=1,
            lease_owner="other-host:2",
            lease_until=future,
        ).id
        spent = _job(
            s,
            docs["p3.md"],
            status=JobStatus.RUNNING,
            attempts=5,
            lease_owner="dead:3",
            lease_until=past,
        ).id

    assert sorted(rt.ingestion.recover()) == sorted([dead, queued])
    # A duplicate delivery of the live worker's job (a redelivered message) is a no-op too.
    rt.ingestion.enqueue(live)
    rt.ingestion.drain(timeout=120)

    with rt.session_factory() as s:
        jobs = {j.id: j for j in s.scalars(select(IngestionJob))}
        assert (jobs[dead].status, jobs[dead].attempts) == (JobStatus.SUCCEEDED, 2)
        assert (jobs[queued].status, jobs[queued].attempts) == (JobStatus.SUCCEEDED, 1)
        assert (jobs[live].status, jobs[live].attempts) == (JobStatus.RUNNING, 1)
        assert jobs[live].lease_owner == "other-host:2"
        assert jobs[spent].status == JobStatus.FAILED and "5 attempts" in (jobs[spent].error or "")
        states = {d.name: d.status for d in s.scalars(select(Document))}
    assert states["p0.md"] == states["p1.md"] == DocumentStatus.READY


def test_reupload_of_a_document_that_is_not_ready_retries_it(pg_runtime: Runtime) -> None:
    rt = pg_runtime
    _upload(rt, {"stuck.md": _policy(7, 5)})
    rt.ingestion.drain(timeout=120)
    with rt.session_factory.begin() as s:
        doc = s.scalars(select(Document)).one()
        doc.status = DocumentStatus.INDEXING  # what a crash left, with its job gone
    with rt.session_factory() as s:
        kb = s.scalars(select(Document)).one().knowledge_base
        outcome = kb_service.upload(
            db_session=s,
            runtime=rt,
            kb=kb,
            uploads=[kb_service.Upload(filename="stuck.md", data=_policy(7, 5))],
        )[0]
        assert outcome.duplicate is False and outcome.job is not None
    rt.ingestion.drain(timeout=120)
    with rt.session_factory() as s:
        assert s.scalars(select(Document)).one().status == DocumentStatus.READY


def test_kill_9_during_a_multi_file_upload_loses_no_job(tmp_path: Path) -> None:
    with fresh_pg_database("kefu_kill") as url:
        engine = create_engine(url)
        with Session(engine) as s:
            admin = auth_service.create(db_session=s, name="ops", role=Role.ADMIN).secret
            s.commit()
        env = {
            "KEFU_ENVIRONMENT": "test",
            "KEFU_SECRET_KEY": "kill-test-secret-0123456789",
            "KEFU_DATA_DIR": str(tmp_path / "data"),
            "KEFU_DATABASE_URL": url,
            # A short lease, so the restart need not wait long for the dead process's.
            "KEFU_INGEST_LEASE_SECONDS": "2",
        }
        server = KefuServe(env, log=tmp_path / "serve.log").start()
        headers = {"Authorization": f"Bearer {admin}"}
        try:
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
                assert http.post("/admin/knowledge-bases", json={"name": "sec"}).status_code == 201
                files = [("files", (f"p{i}.md", _policy(i))) for i in range(5)]
                assert (
                    http.post("/admin/knowledge-bases/sec/documents", files=files).status_code
                    == 202
                )

            def running() -> bool:
                with engine.connect() as conn:
                    return bool(
                        conn.scalar(
                            text("SELECT count(*) FROM ingestion_jobs WHERE status = 'running'")
                        )
                    )

            wait_until(running, timeout=60, what="a job to start")
            server.kill9()
            with engine.connect() as conn:
                left = dict(
                    conn.execute(
                        text("SELECT status, count(*) FROM ingestion_jobs GROUP BY status")
                    ).all()
                )
            assert left.get("running") == 1 and left.get("queued", 0) >= 1, left

            server.start()

            def all_ready() -> bool:
                with engine.connect() as conn:
                    states = conn.execute(text("SELECT status FROM documents")).scalars().all()
                return len(states) == 5 and set(states) == {"ready"}

            wait_until(all_ready, timeout=240, what="every document to be indexed after restart")
            with engine.connect() as conn:
                attempts = (
                    conn.execute(text("SELECT attempts FROM ingestion_jobs ORDER BY id"))
                    .scalars()
                    .all()
                )
            # The one killed mid-run ran twice; none ran more (no job was taken twice).
            assert sorted(attempts) == [1, 1, 1, 1, 2]
        finally:
            server.stop()
            engine.dispose()


def test_the_sweep_resends_a_job_whose_message_was_lost_once_a_lease_has_passed(
    pg_runtime: Runtime,
) -> None:
    """With a broker, a queued job's message may never have been sent (the broker was
    restarting) or may be lost with the broker's data: the workers' sweep sends a queued job
    nobody took within a lease period again, and a dead worker's running job; each once per
    lease period, however many workers sweep."""
    rt = pg_runtime
    _upload(rt, {f"q{i}.md": _policy(i, 3) for i in range(3)})
    rt.ingestion.drain(timeout=120)
    old = utcnow() - timedelta(minutes=5)
    with rt.session_factory.begin() as s:
        docs = {d.name: d for d in s.scalars(select(Document))}
        fresh = _job(s, docs["q0.md"], status=JobStatus.QUEUED).id
        lost = _job(s, docs["q1.md"], status=JobStatus.QUEUED).id
        dead = _job(s, docs["q2.md"], status=JobStatus.RUNNING, attempts=1, lease_owner="dead:1").id
        s.flush()
        s.execute(
            update(IngestionJob)
            .where(IngestionJob.id.in_([lost, dead]))
            .values(updated_at=old, lease_until=None)
        )
        s.execute(update(IngestionJob).where(IngestionJob.id == dead).values(lease_until=old))

    def sweep() -> list[int]:
        return leases.sweep(rt.session_factory, max_attempts=5, lease_seconds=60)

    assert sorted(sweep()) == sorted([lost, dead])
    assert sweep() == []  # another worker sweeping now sends nothing twice
    with rt.session_factory() as s:
        jobs = {j.id: j for j in s.scalars(select(IngestionJob))}
        assert jobs[dead].status == JobStatus.QUEUED and jobs[dead].lease_owner is None
        assert jobs[fresh].lease_until is None  # just queued: its message is on its way
        # Queued, the lease is only when a sweep may send it again: a worker takes it at once.
        assert leases.claim(s, lost, lease_seconds=60)
        s.commit()
    with rt.session_factory.begin() as s:
        s.execute(update(IngestionJob).where(IngestionJob.id == fresh).values(updated_at=old))
    assert sweep() == [fresh]
