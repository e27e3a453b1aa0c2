"""The load and fault harness (issue #13): the production topology on one machine, N
concurrent conversations over /v1, the widget and WeChat, documents uploaded and indexed by
Celery workers, faults injected while it runs, then the books checked.

    python -m benchmarks.faults --conversations 500 --documents 30

Bounded: every loop has a count and a deadline (``--time-limit``), every process it starts
is its own and is killed at the end, also on failure. Everything binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.channels.tencent.crypto import MsgCrypt
from benchmarks.faults import books
from benchmarks.faults.drivers import (
    Msg,
    TencentStub,
    reconcile_wechat,
    v1_turn,
    wechat_turn,
    widget_turn,
)
from benchmarks.faults.topology import ROOT, Topology, wait_until

FAULTS = (
    "kill_api_worker",
    "llm_500",
    "kill_celery_worker",
    "restart_redis",
    "llm_stall",
    "restart_postgres",
)
QUESTIONS = [
    "你好",
    "云帆通信有哪些套餐？每月多少钱？",
    "套餐外流量怎么收费？",
    "我上个月流量用超了，为什么扣了这么多钱？",
    "出国漫游要提前开通吗？去日本大概怎么收费？",
    "在商城买的手机不满意可以退吗，运费谁出？",
    "积分可以换什么？会过期吗？",
    "欠费会停机吗？",
    "我想投诉一下最近信号很差的问题，应该怎么处理？",
    "How do I change my plan and when does it take effect?",
    "What happens to unused data at the end of the month?",
    "宽带安装要多久？需要收费吗？",
    "会员等级怎么升级，有什么权益？",
    "谢谢",
    "换了套餐以后原来的流量包还能用吗？",
    "Can I return a phone I bought in the online store?",
]
ORIGIN = "https://shop.example.com"


@dataclass
class Run:
    args: argparse.Namespace
    topo: Topology
    base: str = ""
    admin: str = ""
    v1_key: str = ""
    widget_key: str = ""
    msgs: list[Msg] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    doc_names: list[str] = field(default_factory=list)
    upload_errors: list[str] = field(default_factory=list)
    done_convs: int = 0
    load_started: float = 0.0
    load_ended: float = 0.0
    deadline: float = 0.0
    notes: list[str] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    stack_dumps: int = 0


def log(*parts: Any) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


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


async def conversation(
    run: Run,
    idx: int,
    channel: str,
    client: httpx.AsyncClient,
    crypt: MsgCrypt,
    stub: TencentStub,
    rng: random.Random,
) -> None:
    state: dict[str, Any] = {}
    user = f"u{idx:05d}-{rng.getrandbits(32):08x}"
    for turn in range(run.args.turns):
        if time.monotonic() > run.deadline:
            break
        if channel == "wechat":
            cmid = str(10**15 + idx * 100 + turn)
        else:
            cmid = f"h{idx:05d}t{turn}{rng.getrandbits(24):06x}"
        text = rng.choice(QUESTIONS)
        msg = Msg(channel=channel, conv=idx, turn=turn, cmid=cmid, text=text)
        run.msgs.append(msg)
        msg.started = time.monotonic()
        try:
            if channel == "v1":
                await v1_turn(client, run.base, run.v1_key, user, msg, run.args.retries)
            elif channel == "widget":
                await widget_turn(
                    client, run.base, run.widget_key, ORIGIN, user, state, msg, run.args.retries
                )
            else:
                await wechat_turn(client, run.base, crypt, stub, f"o{user}", msg, send_wait=90)
        except Exception as exc:  # a harness bug must not stop the run; it shows in the books
            msg.outcome = "failed"
            run.notes.append(f"driver error {channel}: {type(exc).__name__}: {exc}")
        msg.ended = time.monotonic()
        await asyncio.sleep(rng.uniform(0.1, 0.6))  # the customer reads, then types
    run.done_convs += 1


async def load(run: Run, crypt: MsgCrypt, stub: TencentStub) -> None:
    a = run.args
    rng = random.Random(a.seed)
    weights = {"v1": a.mix[0], "widget": a.mix[1], "wechat": a.mix[2]}
    channels = rng.choices(list(weights), weights=list(weights.values()), k=a.conversations)
    sem = asyncio.Semaphore(a.concurrency)
    limits = httpx.Limits(max_connections=a.concurrency * 2 + 20, max_keepalive_connections=0)
    timeout = httpx.Timeout(60.0, connect=5.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def one(i: int) -> None:
            async with sem:
                await conversation(run, i, channels[i], client, crypt, stub, random.Random(i))

        run.load_started = time.monotonic()
        tasks = [asyncio.create_task(one(i)) for i in range(a.conversations)]
        up = asyncio.create_task(uploader(run, client))
        faults = asyncio.create_task(fault_schedule(run, client))
        probes = asyncio.create_task(prober(run, client))
        try:
            await asyncio.wait_for(
                asyncio.gather(*tasks), timeout=max(1.0, run.deadline - time.monotonic())
            )
        except TimeoutError:
            run.notes.append("load phase hit the time limit; unfinished conversations cut")
        run.load_ended = time.monotonic()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        _, late = await asyncio.wait({up, faults}, timeout=120)
        for t in late:
            run.notes.append(f"{'uploads' if t is up else 'faults'} cut at the end of the load")
            t.cancel()
        await asyncio.gather(up, faults, return_exceptions=True)
        probes.cancel()
        await asyncio.gather(probes, return_exceptions=True)


async def prober(run: Run, client: httpx.AsyncClient) -> None:
    """Every 2 s: /healthz latency (is the API serving at all?), turns in flight at the LLM,
    API workers alive, machine load, documents by status. Tells a stalled service from a
    starved machine."""
    while time.monotonic() < run.deadline + 5:
        t = time.monotonic()
        probe: dict[str, Any] = {"t": round(t - run.load_started, 1)}
        try:
            r = await client.get(f"{run.base}/healthz", timeout=10)
            probe["healthz_s"] = round(time.monotonic() - t, 3) if r.status_code == 200 else None
        except httpx.HTTPError:
            probe["healthz_s"] = None
        try:
            probe["llm_in_flight"] = (await asyncio.to_thread(run.topo.llm_stats))["in_flight"]
        except Exception:
            probe["llm_in_flight"] = None
        probe["api_workers"] = len(run.topo.api_worker_pids())
        probe["load1"] = float(Path("/proc/loadavg").read_text().split()[0])
        probe["open_msgs"] = sum(1 for m in run.msgs if not m.ended)
        last_end = max((m.ended for m in run.msgs if m.ended), default=run.load_started)
        stalled = (
            probe["open_msgs"] >= max(4, run.args.concurrency // 2)
            and t - last_end > 8.0
            and not probe["llm_in_flight"]
        )
        if stalled and run.stack_dumps < 3 and shutil.which("py-spy"):
            # Where the API workers are while nothing finishes (evidence for the report).
            run.stack_dumps += 1
            dump = run.topo.logs / f"stall-{probe['t']:.0f}s.txt"
            for pid in run.topo.api_worker_pids():
                proc = await asyncio.create_subprocess_exec(
                    "py-spy", "dump", "--pid", str(pid),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
                out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
                with dump.open("ab") as f:
                    f.write(f"== API worker {pid}\n".encode() + out)
            probe["stack_dump"] = dump.name
        run.probes.append(probe)
        await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - t)))


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


def setup(run: Run, stub: TencentStub) -> MsgCrypt:
    a, topo = run.args, run.topo
    aes = base64.b64encode(os.urandom(32)).decode()[:43]
    log("starting postgres, redis, milvus-lite server, scripted LLM")
    topo.start_pg()
    topo.create_db()
    topo.start_redis()
    topo.start_milvus()
    topo.start_llm()
    topo.kefu_env(
        {
            "KEFU_LIMIT_DEFAULT_RATE_PER_MINUTE": "100000000",
            "KEFU_CELERY_VISIBILITY_TIMEOUT": str(a.visibility_timeout),
            "KEFU_LLM_FIRST_TOKEN_TIMEOUT": str(a.llm_first_token_timeout),
            "KEFU_LLM_TOTAL_TIMEOUT": "30",
            "KEFU_LLM_MAX_RETRIES": "1",
            "KEFU_LLM_BREAKER_RESET": "5",
            "KEFU_DATABASE_POOL_SIZE": "10",
            "KEFU_WECHAT_TOKEN": "harnesstoken",
            "KEFU_WECHAT_ENCODING_AES_KEY": aes,
            "KEFU_WECHAT_APP_ID": "wxharness0000001",
            "KEFU_WECHAT_APP_SECRET": "harness-app-secret",
            "KEFU_WECHAT_API_BASE": stub.base_url,
            "KEFU_LOG_LEVEL": a.log_level,
        }
    )
    topo.kefu("migrate")
    run.admin = topo.kefu("keys", "create", "--role", "admin", "--name", "harness-admin")
    run.v1_key = topo.kefu("keys", "create", "--role", "client", "--name", "harness-v1")
    run.widget_key = topo.kefu(
        "keys", "create", "--role", "client", "--name", "harness-widget", "--origin", ORIGIN
    )
    log(f"starting kefu serve --workers {a.api_workers} and {a.celery_workers} kefu workers")
    topo.start_api()
    for _ in range(a.celery_workers):
        topo.start_celery()
    run.base = f"http://127.0.0.1:{topo.api_port}"
    resp = httpx.post(
        f"{run.base}/admin/knowledge-bases",
        json={"name": "harness"},
        headers={"Authorization": f"Bearer {run.admin}"},
        timeout=30,
    )
    resp.raise_for_status()
    warm_up(run)
    return MsgCrypt(token="harnesstoken", encoding_aes_key=aes, receive_id="wxharness0000001")


def warm_up(run: Run) -> None:
    """A few turns (not counted) so each API worker has loaded its models and indexes."""

    async def go() -> None:
        async with httpx.AsyncClient(timeout=120) as client:
            await asyncio.gather(
                *[
                    client.post(
                        f"{run.base}/v1/chat/completions",
                        json={"model": "kefu", "messages": [{"role": "user", "content": q}]},
                        headers={"Authorization": f"Bearer {run.v1_key}"},
                    )
                    for q in QUESTIONS[: 4 * run.args.api_workers]
                ],
                return_exceptions=True,
            )

    asyncio.run(go())


async def settle(run: Run) -> None:
    """Wait (bounded) for every document to end ready or failed."""
    end = min(run.deadline + 60, time.monotonic() + run.args.settle)
    while time.monotonic() < end:
        try:
            statuses = await doc_status(run)
        except Exception:
            await asyncio.sleep(1)
            continue
        pending = [n for n in run.doc_names if statuses.get(n) not in ("ready", "failed")]
        if not pending:
            return
        await asyncio.sleep(1.0)
    run.notes.append("documents still not settled at the settle deadline")


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


GRACE = 12.0  # seconds after a fault ends that its effects are still attributed to it


def during(run: Run, t: float) -> str:
    """The fault whose window (with a grace period) holds ``t`` (seconds into the load)."""
    for f in run.faults:
        if f["at"] - 1.0 <= t <= f["at"] + f["duration"] + GRACE:
            return str(f["fault"])
    return "none"


def attribute(run: Run, msgs: list[Msg]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for m in msgs:
        for a in m.attempts:
            if a.kind != "ok":
                d = out.setdefault(during(run, (a.ended or a.started) - run.load_started), {})
                d[f"{m.channel}:{a.kind}"] = d.get(f"{m.channel}:{a.kind}", 0) + 1
    return out


RECORD = re.compile(
    r"^(\[[0-9a-f]{32}\] )?(DEBUG|INFO|WARNING|ERROR|CRITICAL) |^\[\d{4}-\d\d-\d\d "
)


def server_errors(log_path: Path) -> dict[str, int]:
    """Logged exceptions in a kefu log, keyed by the log message and the last exception of
    the traceback's chain."""
    counts: dict[str, int] = {}
    if not log_path.exists():
        return counts
    record: list[str] = []

    def flush() -> None:
        if len(record) > 1 and any("Traceback (most recent" in r for r in record):
            first = re.sub(r"^\[[^\]]*\]\s*", "", record[0])[:80]
            tail = [r for r in record[1:] if r.strip() and not r.startswith((" ", "(Background"))]
            last = re.sub(r"port \d+", "port N", tail[-1] if tail else "")[:120]
            key = f"{first} <- {last}"
            counts[key] = counts.get(key, 0) + 1

    for line in log_path.read_text(errors="replace").splitlines():
        if RECORD.match(line):
            flush()
            record = [line]
        else:
            record.append(line)
    flush()
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def trace_timings(dsn: str) -> dict[str, Any]:
    """kefu's own clock per turn (turn_traces.timings), p50/p95/max in ms."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT timings, route FROM turn_traces").fetchall()
    out: dict[str, Any] = {"turns": len(rows), "routes": {}}
    for _, route in rows:
        out["routes"][route] = out["routes"].get(route, 0) + 1
    for name in ("route_ms", "retrieve_ms", "before_llm_ms", "llm_first_token_ms", "total_ms"):
        v = [float(t[name]) for t, _ in rows if isinstance(t, dict) and name in t]
        if v:
            out[name] = {"p50": round(pct(v, 50)), "p95": round(pct(v, 95)), "max": round(max(v))}
    return out


def summarise(run: Run, wall: float) -> dict[str, Any]:
    msgs = [m for m in run.msgs if m.ended]
    dur = max(0.001, run.load_ended - run.load_started)
    # Latency of the messages that got an answer or an apology (a failed one's is the
    # harness's own wait); WeChat answers that came late have no latency of their own.
    got = [m for m in msgs if m.outcome in ("answered", "apologised") and not m.late]
    lat = {
        ch: [m.latency for m in got if m.channel == ch or ch == "all"]
        for ch in ("all", "v1", "widget", "wechat")
    }
    ttft = [m.first_token - m.started for m in got if m.first_token]
    latency = {
        ch: {
            "n": len(v),
            "p50": round(pct(v, 50), 2),
            "p95": round(pct(v, 95), 2),
            "p99": round(pct(v, 99), 2),
        }
        for ch, v in lat.items()
    }
    latency["first_token_all"] = {
        "n": len(ttft),
        "p50": round(pct(ttft, 50), 2),
        "p95": round(pct(ttft, 95), 2),
        "p99": round(pct(ttft, 99), 2),
    }
    message_books = books.message_books(run.topo.pg_dsn, msgs, run.load_started)
    doc_books = books.document_books(
        run.topo.pg_dsn, f"http://127.0.0.1:{run.topo.milvus_port}", run.doc_names
    )
    errors = books.attempt_errors(msgs)
    c = message_books["counts"]
    injected = sorted({f["fault"] for f in run.faults})
    result = {
        "conversations": len({m.conv for m in msgs}),
        "messages": len(msgs),
        "documents": doc_books["documents"],
        "load_seconds": round(dur, 1),
        "wall_seconds": round(wall, 1),
        "throughput_msgs_per_s": round(len(msgs) / dur, 2),
        "latency_s": latency,
        "books": message_books,
        "errors": errors,
        "errors_by_fault": attribute(run, msgs),
        "server_exceptions": server_errors(run.topo.logs / "api.log"),
        "worker_exceptions": {
            p.name: server_errors(p.log_path) for p in run.topo.procs if p.name.startswith("celery")
        },
        "documents_books": doc_books,
        "faults": run.faults,
        "faults_injected": injected,
        "faults_missing": [f for f in run.args.faults if f not in injected],
        "upload_errors": run.upload_errors[:20],
        "notes": run.notes,
        "probes": run.probes,
        "trace_timings": trace_timings(run.topo.pg_dsn),
        "message_log": [
            [
                m.channel,
                m.cmid,
                m.outcome,
                round(m.started - run.load_started, 2),
                round(m.latency, 2),
                m.deliveries,
                [
                    [
                        round(a.started - run.load_started, 2),
                        round(a.ended - run.load_started, 2),
                        a.status,
                        a.kind,
                    ]
                    for a in m.attempts
                ],
            ]
            for m in msgs
        ],
        "llm": run.topo.llm_stats(),
        "settings": {k: v for k, v in vars(run.args).items() if k not in ("out",)},
    }
    result["verdict"] = {
        "lost": c.get("lost", 0),
        "answered_unrecorded": c.get("answered_unstored", 0),
        "duplicated": c.get("duplicated", 0) + doc_books["duplicated_chunks"],
        "customer_visible_500": errors["customer_visible_500"],
        "documents_unsettled": sum(
            1
            for p in doc_books["problems"]
            if p.get("problem") in ("not settled", "no document row")
        ),
        "pass": (
            c.get("lost", 0) == 0
            and c.get("duplicated", 0) == 0
            and doc_books["duplicated_chunks"] == 0
            and errors["customer_visible_500"] == 0
            and not doc_books["problems"]
            and not result["faults_missing"]
        ),
    }
    return result


def plot(run: Run, result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    msgs = [m for m in run.msgs if m.ended]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(10, 8.5), sharex=True)
    colours = {"v1": "tab:blue", "widget": "tab:green", "wechat": "tab:orange"}
    for ch, col in colours.items():
        pts = [(m.started - run.load_started, m.latency) for m in msgs if m.channel == ch]
        if pts:
            ax1.scatter(*zip(*pts, strict=True), s=4, c=col, label=ch, alpha=0.6)
    bad = [(m.started - run.load_started, m.latency) for m in msgs if m.outcome != "answered"]
    if bad:
        ax1.scatter(
            *zip(*bad, strict=True),
            s=18,
            facecolors="none",
            edgecolors="red",
            label="apologised / failed",
        )
    ax1.set_ylabel("message latency (s, retries included)")
    ax1.set_yscale("log")
    ax1.legend(loc="upper right", fontsize=8)
    ends = sorted(m.ended - run.load_started for m in msgs)
    if ends:
        width = 5.0
        bins = int(ends[-1] // width) + 1
        counts = [0] * bins
        for e in ends:
            counts[int(e // width)] += 1
        ax2.bar(
            [i * width for i in range(bins)],
            [n / width for n in counts],
            width=width,
            align="edge",
            color="tab:gray",
        )
    ax2.set_ylabel("messages answered / s")
    pr = run.probes
    if pr:
        ax3.plot([p["t"] for p in pr], [p["open_msgs"] for p in pr], label="messages open")
        ax3.plot(
            [p["t"] for p in pr],
            [p["llm_in_flight"] or 0 for p in pr],
            label="LLM streams in flight",
        )
        ax3.plot([p["t"] for p in pr], [p["load1"] for p in pr], label="machine load (1 min)")
        hz = [(p["t"], p["healthz_s"]) for p in pr if p["healthz_s"] is not None]
        if hz:
            ax3b = ax3.twinx()
            ax3b.plot(*zip(*hz, strict=True), color="black", lw=0.8, ls=":", label="/healthz s")
            ax3b.set_ylabel("/healthz latency (s)")
        ax3.legend(loc="upper left", fontsize=7)
    ax3.set_xlabel("seconds into the load phase")
    for f in result["faults"]:
        for ax in (ax1, ax2, ax3):
            ax.axvspan(f["at"], f["at"] + max(f["duration"], 0.5), color="red", alpha=0.15)
        ax1.annotate(
            f["fault"],
            (f["at"], 1),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            fontsize=7,
        )
    v = result["verdict"]
    fig.suptitle(
        f"kefu fault harness: {result['conversations']} conversations, {result['messages']} "
        f"messages, {result['documents']} documents; lost {v['lost']}, duplicated "
        f"{v['duplicated']}, 500s {v['customer_visible_500']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--conversations", type=int, default=500)
    p.add_argument("--turns", type=int, default=2, help="messages per conversation")
    p.add_argument("--concurrency", type=int, default=32, help="conversations at once")
    p.add_argument("--documents", type=int, default=30, help="documents uploaded (demo KB first)")
    p.add_argument(
        "--upload-spread", type=float, default=120.0, help="seconds the uploads are spread over"
    )
    p.add_argument(
        "--mix",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[4, 4, 2],
        help="weights of v1,widget,wechat conversations",
    )
    p.add_argument(
        "--faults",
        type=lambda s: [] if s == "none" else s.split(","),
        default=list(FAULTS),
        help=f"comma list of {','.join(FAULTS)} or none",
    )
    p.add_argument("--api-workers", type=int, default=2)
    p.add_argument("--celery-workers", type=int, default=2)
    p.add_argument("--first-token", type=float, default=0.4, help="LLM first-token latency (s)")
    p.add_argument("--tps", type=float, default=40.0, help="LLM tokens per second")
    p.add_argument("--tokens", type=int, default=40, help="LLM tokens per answer")
    p.add_argument("--fault-gap", type=float, default=12.0, help="least seconds between faults")
    p.add_argument("--llm-fault-seconds", type=float, default=8.0)
    p.add_argument("--llm-first-token-timeout", type=float, default=4.0)
    p.add_argument("--outage", type=float, default=3.0, help="seconds Redis/PostgreSQL stay down")
    p.add_argument(
        "--visibility-timeout",
        type=int,
        default=20,
        help="Celery redelivery of a killed worker's task (s)",
    )
    p.add_argument("--retries", type=int, default=5, help="attempts per message (v1, widget)")
    p.add_argument("--time-limit", type=float, default=540.0, help="load phase deadline (s)")
    p.add_argument("--settle", type=float, default=240.0, help="wait for documents (s)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--log-level", default="WARNING", help="kefu's log level")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/faults.json"))
    p.add_argument("--plot", type=Path, default=None, help="PNG of the run")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="kefu-faults-"))
    topo = Topology(
        work,
        api_workers=args.api_workers,
        celery_workers=args.celery_workers,
        llm={"first_token": args.first_token, "tps": args.tps, "tokens": args.tokens},
    )
    run = Run(args=args, topo=topo)
    stub = TencentStub()
    # SIGTERM/SIGINT end the run through the finally below (processes killed).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    code = 2
    try:
        crypt = setup(run, stub)
        run.deadline = time.monotonic() + args.time_limit
        log(
            f"load: {args.conversations} conversations x {args.turns} turns, "
            f"{args.concurrency} at once; faults {','.join(args.faults) or 'none'}"
        )
        asyncio.run(load(run, crypt, stub))
        log("load done; settling documents")
        asyncio.run(settle(run))
        run.notes.append(f"wechat: {reconcile_wechat(run.msgs, stub)}")
        result = summarise(run, time.monotonic() - started)
        result["work_dir"] = str(work) if args.keep else None
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str))
        if args.plot:
            plot(run, result, args.plot)
        print(
            json.dumps(
                {
                    k: result[k]
                    for k in (
                        "conversations",
                        "messages",
                        "documents",
                        "load_seconds",
                        "wall_seconds",
                        "throughput_msgs_per_s",
                        "latency_s",
                        "faults_injected",
                        "faults_missing",
                        "verdict",
                    )
                },
                indent=1,
            )
        )
        print("books:", json.dumps(result["books"]["counts"]))
        print("errors:", json.dumps(result["errors"]["by_kind"]))
        print(
            "documents:",
            json.dumps(result["documents_books"]["status"]),
            "dup chunks",
            result["documents_books"]["duplicated_chunks"],
        )
        code = 0 if result["verdict"]["pass"] else 1
    except KeyboardInterrupt:
        log("interrupted")
    except Exception:
        traceback.print_exc()
    finally:
        stub.close()
        topo.close()
        if args.keep:
            log(f"work dir kept: {work}")
        else:
            topo.remove()
        log(f"wall {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
