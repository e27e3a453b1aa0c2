"""`kefu eval` on a toy set, through the CLI entry point: output format and plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import get_settings
from app.evaluation.service import ROUTES
from tests.retrieval import library
from tests.retrieval.served_models import E5_MODEL, EMBEDDINGS, ServedModels

KB = ["borrowing-rules.md", "library-card.md", "printing.md", "faq.csv"]
QUESTIONS = [
    {
        "id": "t1",
        "lang": "zh",
        "history": [],
        "question": "你好",
        "route": "smalltalk",
        "sources": [],
    },
    {
        "id": "t2",
        "lang": "en",
        "history": [],
        "question": "Please put me through to a real person",
        "route": "handoff",
        "sources": [],
    },
    {
        "id": "t3",
        "lang": "zh",
        "history": [],
        "question": "借的书能续借吗",
        "route": "faq",
        "sources": ["faq.csv", "borrowing-rules.md"],
    },
    {
        "id": "t4",
        "lang": "zh",
        "history": [],
        "question": "借书证丢了，补办要多少钱？",
        "route": "llm",
        "sources": ["library-card.md"],
    },
    {
        "id": "t5",
        "lang": "en",
        "history": [],
        "question": "What is the fine for returning a book late?",
        "route": "llm",
        "sources": ["borrowing-rules.md"],
    },
    {
        "id": "t6",
        "lang": "en",
        "history": [
            {"role": "user", "content": "How much is black-and-white printing?"},
            {"role": "assistant", "content": "0.5 yuan a page."},
        ],
        "question": "and colour?",
        "route": "llm",
        "sources": ["printing.md"],
    },
]


def test_kefu_eval_writes_one_line_a_question_and_a_plot(tmp_path: Path) -> None:
    set_dir = tmp_path / "toy"
    library.write(set_dir / "kb", KB)
    lines = [json.dumps(item, ensure_ascii=False) for item in QUESTIONS]
    (set_dir / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "results" / "toy.jsonl"

    result = CliRunner().invoke(cli, ["eval", str(set_dir), "--out", str(out)])

    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [a["id"] for a in answers] == [item["id"] for item in QUESTIONS]
    for answer in answers:
        assert list(answer) == ["id", "route", "intent", "sources"]
        assert answer["route"] in ROUTES and answer["intent"]
        assert len(answer["sources"]) <= 5
        assert len(set(answer["sources"])) == len(answer["sources"])
        assert set(answer["sources"]) <= set(KB)
    routes = {a["id"]: a["route"] for a in answers}
    assert routes["t1"] == "smalltalk" and routes["t2"] == "handoff"
    assert "printing.md" in {a["id"]: a for a in answers}["t6"]["sources"][:2]

    plot = out.with_suffix(".png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    headings = ("hit@5", "MRR", "doc-hit@5", "route accuracy", "expected \\ predicted")
    for heading in (*headings, "harmful misroutes", "precision", "recall", "route p50"):
        assert heading in result.stdout


def test_kefu_eval_refuses_a_folder_without_documents(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "questions.jsonl").write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(tmp_path), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "no supported document" in " ".join(result.output.split())


def test_kefu_eval_runs_on_a_served_embedding_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_dir = tmp_path / "toy"
    library.write(set_dir / "kb", KB)
    lines = [json.dumps(item, ensure_ascii=False) for item in QUESTIONS]
    (set_dir / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "served.jsonl"
    with ServedModels() as served:
        monkeypatch.setenv("KEFU_EMBEDDING_BACKEND", "openai")
        monkeypatch.setenv("KEFU_EMBEDDING_BASE_URL", served.base_url)
        monkeypatch.setenv("KEFU_EMBEDDING_MODEL", E5_MODEL)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, ["eval", str(set_dir), "--out", str(out)])
        finally:
            get_settings.cache_clear()
        embedded = [t for body in served.requests(EMBEDDINGS) for t in body["input"]]

    assert result.exit_code == 0, result.output
    answers = {a["id"]: a for a in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert answers["t1"]["route"] == "smalltalk" and answers["t2"]["route"] == "handoff"
    assert "library-card.md" in answers["t4"]["sources"][:2]
    # Documents, intent exemplars and questions were all embedded by the server.
    assert any(t.startswith("passage: ") for t in embedded)
    assert f"query: {QUESTIONS[3]['question']}" in embedded
