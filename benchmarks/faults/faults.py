"""The faults the harness injects, one coroutine each, and their schedule."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import traceback
from typing import Any

import httpx

from benchmarks.faults.documents import doc_status, document, upload
from benchmarks.faults.procs import wait_until
from benchmarks.faults.run import Run, log

FAULTS = (
    "kill_api_worker",
    "llm_500",
    "kill_celery_worker",
    "restart_redis",
    "llm_stall",
    "restart_postgres",
)


# -- faults ----------------------------------------------------------------------------


def record(run: Run, name: str, start: float, **info: Any) -> None:
    entry = {
        "fault": name,
        "at": round(start - run.load_started, 1),
        "duration": round(time.monotonic() - start, 1),
        **info,
    }
    run.faults.append(entry)
    log("fault", json.dumps(entry, ensure_ascii=False))


async def kill_api_worker(run: Run) -> None:
    topo = run.topo
    # Mid-stream: wait (bounded) for answers streaming out of the LLM.
    for _ in range(100):
        if (await asyncio.to_thread(topo.llm_stats))["in_flight"] > 0:
            break
        await asyncio.sleep(0.1)
    in_flight = (await asyncio.to_thread(topo.llm_stats))["in_flight"]
    pids = topo.api_worker_pids()
    if not pids:
        run.notes.append("kill_api_worker: no API worker found")
        return
    start = time.monotonic()
    victim = pids[0]
    os.kill(victim, signal.SIGKILL)
    # The supervisor (uvicorn --workers) is expected to start a replacement.
    replaced = True
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: len([p for p in topo.api_worker_pids() if p != victim]) >= topo.api_workers,
            timeout=60,
            what="a replacement API worker",
        )
    except TimeoutError:
        replaced = False
    record(
        run,
        "kill_api_worker",
        start,
        pid=victim,
        llm_streams_in_flight=in_flight,
        replaced=replaced,
        workers_after=len(topo.api_worker_pids()),
    )


def _busy_celery(run: Run) -> int | None:
    """The worker whose log shows a task received and not yet finished."""
    rx = re.compile(
        r"Task ingestion\.ingest_document\[([0-9a-f-]+)\] (received|succeeded|failed|retry|raised)"
    )
    for n, proc in enumerate(run.topo.celery):
        if not proc.alive():
            continue
        open_tasks: set[str] = set()
        for m in rx.finditer(proc.log_path.read_text(errors="replace")):
            if m.group(2) == "received":
                open_tasks.add(m.group(1))
            else:
                open_tasks.discard(m.group(1))
        if open_tasks:
            return n
    return None


async def kill_celery_worker(run: Run, client: httpx.AsyncClient) -> None:
    # A large document, so there is one mid-indexing to kill.
    await upload(run, client, "harness-big-kill.md", document(900, big=True))
    busy = None
    for _ in range(300):
        busy = _busy_celery(run)
        statuses = await doc_status(run)
        if busy is not None and "indexing" in statuses.values():
            break
        await asyncio.sleep(0.2)
    if busy is None:
        run.notes.append("kill_celery_worker: no worker was mid-document within 60 s")
        busy = 0
    start = time.monotonic()
    proc = run.topo.celery[busy]
    proc.kill9()
    await asyncio.sleep(2.0)
    run.topo.celery.remove(proc)
    run.topo.start_celery(len(run.topo.procs))  # as its supervisor would restart it
    record(run, "kill_celery_worker", start, worker=busy)


async def restart_redis(run: Run) -> None:
    start = time.monotonic()
    await asyncio.to_thread(run.topo.stop_redis)
    await asyncio.sleep(run.args.outage)
    await asyncio.to_thread(run.topo.start_redis)
    record(run, "restart_redis", start, down_s=run.args.outage)


async def restart_postgres(run: Run) -> None:
    start = time.monotonic()
    await asyncio.to_thread(run.topo.stop_pg, "fast")
    await asyncio.sleep(run.args.outage)
    await asyncio.to_thread(run.topo.start_pg)
    record(run, "restart_postgres", start, down_s=run.args.outage)


async def llm_mode(run: Run, mode: str, seconds: float, name: str) -> None:
    start = time.monotonic()
    await asyncio.to_thread(run.topo.llm_control, mode)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(run.topo.llm_control, "ok")
    record(run, name, start, seconds=seconds)


async def fault_schedule(run: Run, client: httpx.AsyncClient) -> None:
    """One fault at a time, each when that share of the conversations is done, with quiet
    stretches between them."""
    wanted = [f for f in FAULTS if f in run.args.faults]
    n = len(wanted)
    for k, name in enumerate(wanted):
        share = (k + 1) / (n + 3)
        # Spaced out, so each fault's effects are told apart (GRACE) from the next one's.
        not_before = (
            run.faults[-1]["at"] + run.faults[-1]["duration"] + run.args.fault_gap
            if run.faults
            else 0.0
        ) + run.load_started
        while run.done_convs < share * run.args.conversations or time.monotonic() < not_before:
            if time.monotonic() > run.deadline - 20:
                run.notes.append(f"fault {name} not injected: out of time")
                return
            await asyncio.sleep(0.2)
        try:
            if name == "kill_api_worker":
                await kill_api_worker(run)
            elif name == "llm_500":
                await llm_mode(run, "error", run.args.llm_fault_seconds, name)
            elif name == "llm_stall":
                await llm_mode(run, "stall", run.args.llm_fault_seconds, name)
            elif name == "kill_celery_worker":
                await kill_celery_worker(run, client)
            elif name == "restart_redis":
                await restart_redis(run)
            elif name == "restart_postgres":
                await restart_postgres(run)
        except Exception as exc:
            run.notes.append(f"fault {name} failed: {type(exc).__name__}: {exc}")
            log("fault failed", name, traceback.format_exc())


# -- setup, settle, report -------------------------------------------------------------
