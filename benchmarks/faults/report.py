"""The run's figures: latency percentiles, errors by fault, the books, and the plot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmarks.faults import books
from benchmarks.faults.drivers import (
    Msg,
)
from benchmarks.faults.run import Run


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
