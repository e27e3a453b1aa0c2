"""The load: N conversations over /v1, the widget and WeChat, as many at once as asked, and a
probe every 2 s; kept going while faults are still to come, so every fault meets traffic."""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from app.channels.tencent.crypto import MsgCrypt
from benchmarks.faults.documents import uploader
from benchmarks.faults.drivers import Msg, v1_turn, widget_turn
from benchmarks.faults.faults import fault_schedule
from benchmarks.faults.run import Run
from benchmarks.faults.wechat import TencentStub, wechat_turn

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

        async def more() -> None:
            # On a fast run the N conversations end before the last faults: new ones keep the
            # pool full until every fault has been injected, so each meets traffic.
            while not faults.done() and time.monotonic() < run.deadline:
                if sum(not t.done() for t in tasks) < a.concurrency:
                    channels.extend(rng.choices(list(weights), weights=list(weights.values())))
                    tasks.append(asyncio.create_task(one(len(tasks))))
                await asyncio.sleep(0.2)

        async def all_done() -> None:
            await asyncio.gather(*tasks[: a.conversations])
            await feeder
            await asyncio.gather(*tasks)

        feeder = asyncio.create_task(more())
        try:
            await asyncio.wait_for(all_done(), timeout=max(1.0, run.deadline - time.monotonic()))
        except TimeoutError:
            run.notes.append("load phase hit the time limit; unfinished conversations cut")
        run.load_ended = time.monotonic()
        for t in [feeder, *tasks]:
            t.cancel()
        await asyncio.gather(feeder, *tasks, return_exceptions=True)
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
