"""Route accuracy on our own small sets in other domains: a guard against regressions.

The FAQ model is fitted on these sets (prompts/routing.yaml), so they are not held-out
numbers; the eval sets in shared/eval are scored with `kefu eval`, never asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.routing import Router
from knowledge.embeddings import Embedder
from tests.routing.conftest import DATA, load_faqs, load_questions


def route_accuracy(router: Router, folder: Path) -> float:
    router.load_faqs(folder.name, load_faqs(folder))
    items = load_questions(folder)
    correct = 0
    for item in items:
        history = [(turn["role"], turn["content"]) for turn in item.get("history") or []]
        decision = router.route(item["question"], history=history, kb_key=folder.name)
        correct += decision.route == item["route"]
    router.unload_faqs(folder.name)
    return correct / len(items)


@pytest.fixture(scope="module")
def fresh_router(embedder: Embedder) -> Router:
    return Router(embedder)


@pytest.mark.parametrize("name", ["bookshop", "delivery", "bank", "airline", "utility"])
def test_other_domains_route_accuracy(fresh_router: Router, name: str) -> None:
    # Below dev's target on purpose: these guard against regressions in generalisation, they
    # are not numbers to tune towards.
    assert route_accuracy(fresh_router, DATA / name) >= 0.85


@pytest.mark.parametrize(
    "name", ["clothing", "education", "hotel", "insurance", "ridehailing", "saas"]
)
def test_realistic_domains_route_accuracy(fresh_router: Router, name: str) -> None:
    # Written the way customers type (colloquial, typos, emoji, mixed languages, hard
    # negatives): 0.76 to 0.84 when they were added, a floor against regressions.
    assert route_accuracy(fresh_router, DATA / name) >= 0.72
