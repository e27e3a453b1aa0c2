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
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import httpx

from app.channels.tencent.crypto import MsgCrypt
from benchmarks.faults.documents import doc_status
from benchmarks.faults.faults import FAULTS
from benchmarks.faults.load import ORIGIN, QUESTIONS, load
from benchmarks.faults.report import plot, summarise
from benchmarks.faults.run import Run, log
from benchmarks.faults.topology import Topology
from benchmarks.faults.wechat import TencentStub, reconcile_wechat


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
