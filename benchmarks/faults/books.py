"""The books: what the customers saw (the drivers' records) against what kefu stored
(PostgreSQL) and indexed (Milvus).

Messages, keyed by the client's message id (``client_message_id``; WeChat's ``MsgId``):

- accepted: kefu stored the customer message (a ``messages`` row, role ``user``, with that
  client id), or the customer got an answer for it;
- answered once: exactly one stored reply (``reply_to_id``), not an apology, and exactly one
  answer reached the customer;
- apologised: the stored reply is an apology, or nothing is stored and the last thing the
  customer got for it is an explicit apology;
- lost: accepted, and neither answered nor apologised to the customer;
- duplicated: more than one stored reply to one customer message, more than one stored
  customer message for one client id, or (WeChat) more than one answer delivered;
- refused: never stored and the customer got a refusal (4xx) or nothing (counted apart from
  lost: the customer knows it did not go through);
- customer-visible 500s: HTTP 500 responses and stream error events coded
  ``internal_error`` on customer-facing endpoints (other 5xx are counted by status).

Documents: every uploaded document must end ``ready`` (its Milvus rows exactly its
``chunk_count`` chunks of its indexed version, ordinals 0..n-1, none of another version) or
``failed`` with an error; anything else is stuck. Duplicated chunks are rows beyond one per
(version, ordinal) or rows of a stale version.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

import psycopg

from benchmarks.faults.drivers import Msg, is_apology


def message_books(dsn: str, msgs: list[Msg], t0: float = 0.0) -> dict[str, Any]:
    cmids = [m.cmid for m in msgs]
    with psycopg.connect(dsn) as conn:
        users = conn.execute(
            "SELECT m.id, m.client_message_id, c.channel FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.role = 'user' AND m.client_message_id = ANY(%s)",
            (cmids,),
        ).fetchall()
        ids = [u[0] for u in users]
        replies = conn.execute(
            "SELECT r.reply_to_id, r.content, r.route, t.error FROM messages r "
            "LEFT JOIN turn_traces t ON t.message_id = r.id "
            "WHERE r.role = 'assistant' AND r.reply_to_id = ANY(%s)",
            (ids,),
        ).fetchall()
    stored: dict[str, list[int]] = defaultdict(list)
    for uid, cmid, _ in users:
        stored[cmid].append(uid)
    reply_rows: dict[int, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for rid, content, route, error in replies:
        reply_rows[rid].append((content, route, error))

    counts: Counter[str] = Counter()
    per_channel: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in msgs:
        uids = stored.get(m.cmid, [])
        rows = [r for uid in uids for r in reply_rows.get(uid, [])]
        dup = len(uids) > 1 or len(rows) > 1 or m.deliveries > 1
        accepted = bool(uids) or m.outcome in ("answered", "apologised")
        stored_apology = any(is_apology(c) or route == "error" for c, route, _ in rows)
        if not accepted:
            verdict = "refused"
        elif dup:
            verdict = "duplicated"
        elif m.outcome == "answered" and rows:
            verdict = "apologised" if stored_apology else "answered_once"
        elif m.outcome == "answered":
            verdict = "answered_unstored"  # the customer got an answer kefu has no record of
        elif m.outcome == "apologised":
            verdict = "apologised"
        else:
            verdict = "lost"
        if m.channel == "wechat" and verdict == "answered_once" and m.deliveries != 1:
            verdict = "lost"
        counts[verdict] += 1
        if verdict == "answered_once" and any(e for _, _, e in rows):
            counts["degraded"] += 1  # answered without the LLM or passages (trace error kept)
        counts["accepted"] += int(accepted)
        per_channel[m.channel][verdict] += 1
        if verdict in ("lost", "duplicated", "answered_unstored") and len(examples[verdict]) < 8:
            examples[verdict].append(
                {
                    "channel": m.channel,
                    "cmid": m.cmid,
                    "client_outcome": m.outcome,
                    "stored_user_rows": len(uids),
                    "stored_replies": [(c[:60], r, (e or "")[:120]) for c, r, e in rows],
                    "deliveries": m.deliveries,
                    "customer_saw": m.answer[:80],
                    "attempts": [(round(a.started - t0, 1), a.status, a.kind) for a in m.attempts],
                    "ended": round(m.ended - t0, 1),
                }
            )
    return {
        "counts": dict(counts),
        "per_channel": {k: dict(v) for k, v in per_channel.items()},
        "examples": dict(examples),
    }


def attempt_errors(msgs: list[Msg]) -> dict[str, Any]:
    kinds: Counter[str] = Counter()
    per_channel: dict[str, Counter[str]] = defaultdict(Counter)
    for m in msgs:
        for a in m.attempts:
            if a.kind != "ok":
                kinds[a.kind] += 1
                per_channel[m.channel][a.kind] += 1
    visible_500 = sum(
        1 for m in msgs for a in m.attempts if a.status == 500 or a.kind in ("sse_internal_error",)
    )
    return {
        "by_kind": dict(kinds),
        "by_channel": {k: dict(v) for k, v in per_channel.items()},
        "customer_visible_500": visible_500,
        "other_5xx": sum(1 for m in msgs for a in m.attempts if a.status and a.status > 500),
        "retried_messages": sum(1 for m in msgs if len(m.attempts) > 1),
    }


def document_books(dsn: str, milvus_uri: str, names: list[str]) -> dict[str, Any]:
    from pymilvus import MilvusClient

    with psycopg.connect(dsn) as conn:
        docs = conn.execute(
            "SELECT d.id, d.name, d.status, d.error, d.chunk_count, d.indexed_version, d.version "
            "FROM documents d WHERE d.name = ANY(%s)",
            (names,),
        ).fetchall()
        jobs = conn.execute(
            "SELECT status, attempts, count(*) FROM ingestion_jobs GROUP BY status, attempts"
        ).fetchall()
    # The milvus-lite server sometimes refuses a new connection at once ("too many pings"
    # from the other clients' keepalives): a few tries, bounded.
    for attempt in range(5):
        try:
            client = MilvusClient(uri=milvus_uri, timeout=30)
            break
        except Exception:
            if attempt == 4:
                raise
            time.sleep(2.0 * (attempt + 1))
    collections = client.list_collections()
    status: Counter[str] = Counter()
    problems: list[dict[str, Any]] = []
    dup_chunks = missing_chunks = 0
    found = {d[1] for d in docs}
    for name in names:
        if name not in found:
            status["missing_row"] += 1
            problems.append({"name": name, "problem": "no document row"})
    for doc_id, name, st, error, chunk_count, indexed_version, _version in docs:
        status[st] += 1
        rows: list[dict[str, Any]] = []
        for coll in collections:
            rows += client.query(
                coll,
                filter=f"document_id == {int(doc_id)}",
                output_fields=["chunk_id", "version", "ordinal"],
                limit=16384,
            )
        keys = Counter((int(r["version"]), int(r["ordinal"])) for r in rows)
        dup = sum(n - 1 for n in keys.values())
        if st == "ready":
            current = [k for k in keys if k[0] == indexed_version]
            stale = sum(n for k, n in keys.items() if k[0] != indexed_version)
            dup += stale
            missing = max(0, chunk_count - len(current))
            ordinals_ok = sorted(o for _, o in current) == list(range(chunk_count))
            if dup or missing or not ordinals_ok:
                problems.append(
                    {
                        "name": name,
                        "status": st,
                        "chunk_count": chunk_count,
                        "rows": len(rows),
                        "dup": dup,
                        "missing": missing,
                    }
                )
            missing_chunks += missing
        elif st == "failed":
            if not (error or "").strip():
                problems.append({"name": name, "status": st, "problem": "failed without reason"})
        else:
            problems.append({"name": name, "status": st, "problem": "not settled"})
        dup_chunks += dup
    return {
        "documents": len(names),
        "status": dict(status),
        "failed_reasons": sorted({(d[3] or "")[:120] for d in docs if d[2] == "failed"}),
        "duplicated_chunks": dup_chunks,
        "missing_chunks": missing_chunks,
        "problems": problems,
        "jobs": [{"status": s, "attempts": a, "n": n} for s, a, n in jobs],
    }
