"""The README's scores on hand-made cases, and the answer and question formats (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.config import Settings
from app.evaluation.service import (
    Answer,
    Question,
    evaluation_settings,
    first_rank,
    load_questions,
    reciprocal_rank,
    score,
    score_by_language,
)


def q(qid: str, sources: tuple[str, ...], *, route: str = "llm", lang: str = "zh") -> Question:
    return Question(qid, lang, (), "?", route, sources)


def a(qid: str, sources: tuple[str, ...], *, route: str = "llm") -> Answer:
    return Answer(qid, route, f"{route}.x", sources)


def test_ranks() -> None:
    assert first_rank({"b.md"}, ["a.md", "b.md"]) == 2
    assert first_rank({"b.md", "a.md"}, ["a.md", "b.md"]) == 1
    assert first_rank({"c.md"}, ["a.md", "b.md"]) is None
    assert reciprocal_rank({"b.md"}, ["a.md", "faq.csv", "b.md"]) == pytest.approx(1 / 3)
    assert reciprocal_rank({"c.md"}, []) == 0.0


def test_hit_mrr_and_doc_hit() -> None:
    pairs = [
        # FAQ first, the document third: a hit at rank 1, a document hit.
        (q("1", ("faq.csv", "plans.md")), a("1", ("faq.csv", "x.md", "plans.md"))),
        # Only faq.csv found: a hit, but not a document hit.
        (q("2", ("faq.csv", "plans.md")), a("2", ("x.md", "faq.csv"))),
        # The document at rank 4.
        (q("3", ("roaming.pdf",)), a("3", ("a", "b", "c", "roaming.pdf"))),
        # Missed: past rank 5 does not count.
        (q("4", ("roaming.pdf",)), a("4", ("a", "b", "c", "d", "e", "roaming.pdf"))),
        # Only faq.csv expected: counts for hit and MRR, not for doc-hit.
        (q("5", ("faq.csv",)), a("5", ("faq.csv",))),
        # No sources: counts for route accuracy only.
        (q("6", (), route="smalltalk"), a("6", ("a",), route="faq")),
    ]
    scores = score(pairs)
    assert scores.questions == 6 and scores.with_sources == 5 and scores.with_documents == 4
    assert scores.hit_at_k == pytest.approx(4 / 5)
    assert scores.mrr == pytest.approx((1 + 1 / 2 + 1 / 4 + 0 + 1) / 5)
    assert scores.doc_hit_at_k == pytest.approx(2 / 4)
    assert scores.route_accuracy == pytest.approx(5 / 6)
    assert scores.confusion == {("llm", "llm"): 5, ("smalltalk", "faq"): 1}


def test_harmful_misroutes_and_precision_recall_per_route() -> None:
    cases = [
        ("llm", "llm"),
        ("llm", "faq"),  # harmful: a canned answer where the agent was needed
        ("llm", "smalltalk"),  # harmful
        ("handoff", "llm"),  # harmful: nobody sees the escalation
        ("handoff", "handoff"),
        ("faq", "llm"),  # costs LLM time, hurts nobody
        ("smalltalk", "faq"),
        ("faq", "faq"),
    ]
    pairs = [(q(str(i), (), route=e), a(str(i), (), route=p)) for i, (e, p) in enumerate(cases)]
    scores = score(pairs)
    assert scores.harmful_rate == pytest.approx(3 / 8)
    assert scores.per_route["faq"] == (pytest.approx(1 / 3), pytest.approx(1 / 2))
    assert scores.per_route["llm"] == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert scores.per_route["handoff"] == (1.0, pytest.approx(1 / 2))
    assert scores.per_route["smalltalk"] == (0.0, 0.0)


def test_empty_groups_have_no_score() -> None:
    scores = score([(q("1", (), route="handoff"), a("1", (), route="handoff"))])
    assert scores.route_accuracy == 1.0
    assert scores.hit_at_k is None and scores.mrr is None and scores.doc_hit_at_k is None
    assert score([]).route_accuracy is None


def test_scores_by_language_match_answers_by_id() -> None:
    questions = [q("1", ("a.md",), lang="zh"), q("2", ("b.md",), lang="en")]
    answers = [a("2", ("x.md",)), a("1", ("a.md",))]
    groups = score_by_language(questions, answers)
    assert list(groups) == ["all", "en", "zh"]
    assert (groups["all"].hit_at_k, groups["zh"].hit_at_k, groups["en"].hit_at_k) == (0.5, 1, 0)
    with pytest.raises(ValueError, match="no answer"):
        score_by_language(questions, answers[:1])


def test_answer_line_format() -> None:
    line = Answer("q017", "llm", "llm.followup", ("退货.md", "faq.csv")).to_json()
    assert list(json.loads(line)) == ["id", "route", "intent", "sources"]
    assert json.loads(line)["sources"] == ["退货.md", "faq.csv"] and "退货" in line


def test_load_questions(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    record = {
        "id": "q1",
        "lang": "zh",
        "history": [
            {"role": "user", "content": "我想退货"},
            {"role": "assistant", "content": "好的"},
        ],
        "question": "那运费谁出？",
        "route": "llm",
        "sources": ["returns.md"],
        "needs_account_data": False,
        "must_include": [],
    }
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n\n", encoding="utf-8")
    [loaded] = load_questions(path)
    assert loaded.history == (("user", "我想退货"), ("assistant", "好的"))
    assert (loaded.question, loaded.route, loaded.sources) == (
        "那运费谁出？",
        "llm",
        ("returns.md",),
    )
    path.write_text('{"id": "q2"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"questions\.jsonl:1"):
        load_questions(path)


def test_evaluation_settings_never_point_at_configured_stores(tmp_path: Path) -> None:
    configured = Settings.model_validate(
        {
            "data_dir": tmp_path / "prod",
            "db": {"url": "postgresql+psycopg://kefu@db/kefu"},
            "milvus": {"uri": "http://milvus:19530"},
            "celery": {"broker_url": "redis://redis:6379/0"},
            "redis": {"url": "redis://redis:6379/1"},
        }
    )
    local = evaluation_settings(configured, tmp_path / "eval")
    assert (
        local.database_url.startswith("sqlite:///") and str(tmp_path / "eval") in local.database_url
    )
    assert local.milvus_uri == str((tmp_path / "eval" / "milvus.db").resolve())
    assert local.celery.broker_url is None and local.redis.url is None
    assert configured.db.url == "postgresql+psycopg://kefu@db/kefu"
