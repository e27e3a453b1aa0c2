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
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import httpx

from app.channels.tencent.crypto import MsgCrypt
from benchmarks.faults.documents import doc_status, uploader
from benchmarks.faults.drivers import (
    Msg,
    TencentStub,
    reconcile_wechat,
    v1_turn,
    wechat_turn,
    widget_turn,
)
from benchmarks.faults.faults import FAULTS, fault_schedule
from benchmarks.faults.report import plot, summarise
from benchmarks.faults.run import Run, log
from benchmarks.faults.topology import Topology

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
            # Every simulated visitor comes from 127.0.0.1: the per-IP limit is not measured here.
            "KEFU_LIMIT_IP_RATE_PER_MINUTE": "100000000",
            "KEFU_CELERY_VISIBILITY_TIMEOUT": str(a.visibility_timeout),
            "KEFU_INGEST_LEASE_SECONDS": "30",
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
    end = min(run.deadline - 20, time.monotonic() + run.args.settle)  # the run stays < 10 min
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
    p.add_argument("--settle", type=float, default=330.0, help="wait for documents (s)")
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
