"""The documents the harness uploads while the load runs, and their status."""

from __future__ import annotations

import asyncio
import time

import httpx

from benchmarks.faults.procs import ROOT
from benchmarks.faults.run import Run

# -- documents -------------------------------------------------------------------------


TOPICS = ["套餐", "宽带", "漫游", "积分", "退货"]


def document(i: int, big: bool, version: int = 1) -> bytes:
    sections = 10 if big else 1 + i % 2
    lines = [f"# 服务手册 第{i}册 (v{version})\n"]
    for s in range(sections):
        lines.append(f"\n## 条款 {i}.{s}\n")
        lines.append(
            "".join(
                f"第{i}.{s}.{j}条：办理{TOPICS[j % 5]}业务的客户，"
                f"可在{j + 3}个工作日内申请服务项目{j}，费用为{i + j + version}元。"
                for j in range(24)
            )
        )
    return "\n".join(lines).encode()


async def upload(run: Run, client: httpx.AsyncClient, name: str, data: bytes) -> None:
    for attempt in range(6):
        try:
            resp = await client.post(
                f"{run.base}/admin/knowledge-bases/harness/documents",
                files=[("files", (name, data))],
                headers={"Authorization": f"Bearer {run.admin}"},
                timeout=30,
            )
            if resp.status_code == 202:
                if name not in run.doc_names:
                    run.doc_names.append(name)
                return
            run.upload_errors.append(f"{name}: HTTP {resp.status_code} {resp.text[:120]}")
        except httpx.HTTPError as exc:
            run.upload_errors.append(f"{name}: {type(exc).__name__}")
        await asyncio.sleep(1.0 + attempt)
    run.upload_errors.append(f"{name}: gave up")


async def uploader(run: Run, client: httpx.AsyncClient) -> None:
    """The documents, spread over the load phase; every fifth one large (a document a
    Celery worker is still indexing when killed)."""
    n = run.args.documents
    demo = sorted((ROOT / "demo" / "kb").iterdir())
    for path in demo:
        await upload(run, client, path.name, path.read_bytes())
    extra = max(0, n - len(demo))
    gap = max(0.5, run.args.upload_spread / max(1, extra))
    for i in range(extra):
        if time.monotonic() > run.deadline:
            break
        await upload(run, client, f"harness-{i:03d}.md", document(i, big=i % 5 == 2))
        if i in (3, 7):  # a new version of an earlier document
            await upload(run, client, f"harness-{i - 2:03d}.md", document(i - 2, False, 2))
        await asyncio.sleep(gap)


async def doc_status(run: Run) -> dict[str, str]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(run.topo.pg_dsn, connect_timeout=3) as c:
        cur = await c.execute("SELECT name, status FROM documents")
        return {n: s for n, s in await cur.fetchall()}


# -- conversations -----------------------------------------------------------------------
