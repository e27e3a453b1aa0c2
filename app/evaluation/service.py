"""Run an evaluation set end to end, and the scores of its answers (pure functions).

The run never touches the configured data: it builds its own SQLite file and Milvus Lite
store in a temporary directory, ingests ``kb/`` through the same upload flow as the admin
API, loads the router with the FAQ pairs as they were stored, and asks the same router and
retriever that serve traffic. Only the embedding and reranker settings are taken from the
environment (a local model or a served one, KEFU_EMBEDDING_BACKEND=openai), so
a set can be scored with the model the service is configured for.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.core import migrations
from app.core.config import Settings
from app.core.lang import detect_lang
from app.knowledge_bases import service as kb_service
from app.retrieval import service as retrieval_service
from app.retrieval.query import contextual_query
from app.routing import Router
from app.routing.faqs import stored_faqs
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.formats import SUPPORTED_EXTENSIONS
from knowledge.models import IngestionJob, JobStatus, KnowledgeBase

ROUTES = ("smalltalk", "faq", "handoff", "llm")
TOP_K = 5
FAQ_SOURCE = "faq.csv"
KB_NAME = "eval"
# (stage, done, total): "indexing" counts documents, "questions" counts questions.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    history: tuple[tuple[str, str], ...]
    question: str
    route: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    id: str
    route: str
    intent: str
    sources: tuple[str, ...]
    route_ms: float = 0.0

    def to_json(self) -> str:
        record = {"id": self.id, "route": self.route, "intent": self.intent}
        return json.dumps({**record, "sources": list(self.sources)}, ensure_ascii=False)


@dataclass(frozen=True)
class IndexedDocument:
    name: str
    status: str
    chunks: int
    error: str | None


@dataclass
class EvaluationRun:
    questions: list[Question]
    answers: list[Answer]
    documents: list[IndexedDocument]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scores:
    """The README's scores over one group of questions; None when the group has no case."""

    questions: int
    route_accuracy: float | None
    confusion: dict[tuple[str, str], int]  # (expected, predicted) -> count
    with_sources: int
    hit_at_k: float | None
    mrr: float | None
    with_documents: int
    doc_hit_at_k: float | None
    # Share of all questions whose misroute hurts the customer: an llm or handoff question
    # answered by a rule (faq, smalltalk), or a handoff question not handed off.
    harmful_rate: float | None = None
    # Per route: (precision, recall); None where the route was never predicted / expected.
    per_route: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)


# -- the set ------------------------------------------------------------------------------


def load_questions(path: Path) -> list[Question]:
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item: dict[str, Any] = json.loads(line)
            history = tuple((str(t["role"]), str(t["content"])) for t in item.get("history") or [])
            questions.append(
                Question(
                    id=str(item["id"]),
                    lang=str(item.get("lang") or detect_lang(str(item["question"]))),
                    history=history,
                    question=str(item["question"]),
                    route=str(item.get("route", "")),
                    sources=tuple(str(s) for s in item.get("sources") or []),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question record ({exc})") from exc
    return questions


def kb_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
    )


def write_answers(path: Path, answers: Sequence[Answer]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(a.to_json() + "\n" for a in answers), encoding="utf-8")


# -- scores (pure) ------------------------------------------------------------------------


def first_rank(expected: Collection[str], returned: Sequence[str]) -> int | None:
    """1-based rank of the first returned file that is expected, None when none is."""
    return next((rank for rank, s in enumerate(returned, start=1) if s in expected), None)


def reciprocal_rank(expected: Collection[str], returned: Sequence[str]) -> float:
    rank = first_rank(expected, returned)
    return 0.0 if rank is None else 1.0 / rank


def score(
    pairs: Sequence[tuple[Question, Answer]], *, k: int = TOP_K, faq_source: str = FAQ_SOURCE
) -> Scores:
    confusion: Counter[tuple[str, str]] = Counter((q.route, a.route) for q, a in pairs)
    hits: list[bool] = []
    ranks: list[float] = []
    doc_hits: list[bool] = []
    for question, answer in pairs:
        if not question.sources:
            continue
        returned = list(answer.sources[:k])
        hits.append(first_rank(question.sources, returned) is not None)
        ranks.append(reciprocal_rank(question.sources, returned))
        documents = [s for s in question.sources if s != faq_source]
        if documents:
            doc_hits.append(first_rank(documents, returned) is not None)
    per_route: dict[str, tuple[float | None, float | None]] = {}
    for route in ROUTES:
        predicted = [q.route == route for q, a in pairs if a.route == route]
        expected = [a.route == route for q, a in pairs if q.route == route]
        per_route[route] = (_mean(predicted), _mean(expected))
    return Scores(
        questions=len(pairs),
        harmful_rate=_mean([is_harmful(q.route, a.route) for q, a in pairs]),
        per_route=per_route,
        route_accuracy=_mean([q.route == a.route for q, a in pairs]),
        confusion=dict(confusion),
        with_sources=len(hits),
        hit_at_k=_mean(hits),
        mrr=_mean(ranks),
        with_documents=len(doc_hits),
        doc_hit_at_k=_mean(doc_hits),
    )


def score_by_language(
    questions: Sequence[Question], answers: Sequence[Answer], *, k: int = TOP_K
) -> dict[str, Scores]:
    """Scores over every question ("all") and per labelled language, matched by id."""
    by_id = {a.id: a for a in answers}
    missing = [q.id for q in questions if q.id not in by_id]
    if missing:
        raise ValueError(f"no answer for {len(missing)} question(s): {missing[:5]}")
    pairs = [(q, by_id[q.id]) for q in questions]
    groups = {"all": pairs}
    for lang in sorted({q.lang for q in questions}):
        groups[lang] = [p for p in pairs if p[0].lang == lang]
    return {name: score(group, k=k) for name, group in groups.items()}


def is_harmful(expected: str, predicted: str) -> bool:
    """A misroute the customer pays for, not just the LLM's time: a canned answer where the
    agent or a person was needed, or an escalation that no person sees."""
    if expected == "handoff":
        return predicted != "handoff"
    return expected == "llm" and predicted in ("faq", "smalltalk")


def _mean(values: Sequence[bool] | Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


# -- the run ------------------------------------------------------------------------------


def evaluation_settings(base: Settings, data_dir: Path) -> Settings:
    """``base`` with every store moved into ``data_dir``: embedded, eager, nothing shared."""
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "db": base.db.model_copy(update={"url": None}),
            "milvus": base.milvus.model_copy(update={"uri": None, "token": None}),
            "redis": base.redis.model_copy(update={"url": None}),
            "celery": base.celery.model_copy(update={"broker_url": None, "result_backend": None}),
        }
    )


def run(*, set_dir: Path, settings: Settings, progress: Progress | None = None) -> EvaluationRun:
    questions = load_questions(set_dir / "questions.jsonl")
    files = kb_files(set_dir / "kb")
    if not files:
        raise ValueError(f"{set_dir / 'kb'} holds no supported document")
    report = progress or (lambda stage, done, total: None)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kefu-eval-") as tmp:
        local = evaluation_settings(settings, Path(tmp))
        migrations.upgrade(local.database_url)
        runtime = Runtime.build(local)
        try:
            started = time.perf_counter()
            kb, documents = _ingest(runtime, files, report)
            seconds["indexing"] = time.perf_counter() - started

            started = time.perf_counter()
            router = runtime.router
            with runtime.session_factory() as db_session:
                kb = db_session.merge(kb, load=False)
                faqs = stored_faqs(db_session=db_session, index=runtime.index, kb=kb)
                router.load_faqs(KB_NAME, faqs)
                answers: list[Answer] = []
                report("questions", 0, len(questions))
                for number, question in enumerate(questions, start=1):
                    answers.append(_answer(question, router, runtime, db_session, kb))
                    report("questions", number, len(questions))
            seconds["questions"] = time.perf_counter() - started
        finally:
            runtime.close()
    return EvaluationRun(questions, answers, documents, seconds)


def _ingest(
    runtime: Runtime, files: Sequence[Path], report: Progress
) -> tuple[KnowledgeBase, list[IndexedDocument]]:
    uploads = [kb_service.Upload(filename=f.name, data=f.read_bytes()) for f in files]
    with runtime.session_factory() as db_session:
        kb = kb_service.create_kb(
            db_session=db_session, runtime=runtime, name=KB_NAME, description="evaluation set"
        )
        db_session.commit()
        outcomes = kb_service.upload(db_session=db_session, runtime=runtime, kb=kb, uploads=uploads)
    pending = {o.job.id for o in outcomes if o.job is not None}
    total = len(pending)
    report("indexing", 0, total)
    while pending:
        # Jobs run on the eager queue's thread; their rows say when each is done.
        with runtime.session_factory() as db_session:
            for job_id in list(pending):
                job = db_session.get(IngestionJob, job_id)
                if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
                    pending.discard(job_id)
        report("indexing", total - len(pending), total)
        if pending:
            time.sleep(0.2)
    runtime.ingestion.drain()
    with runtime.session_factory() as db_session:
        documents = [
            IndexedDocument(doc.name, doc.status.value, doc.chunk_count, doc.error)
            for doc in knowledge_service.list_documents(db_session=db_session, kb_id=kb.id)
        ]
    return kb, documents


def _answer(
    question: Question, router: Router, runtime: Runtime, db_session: Session, kb: KnowledgeBase
) -> Answer:
    started = time.perf_counter()
    decision = router.route(question.question, history=question.history, kb_key=KB_NAME)
    route_ms = (time.perf_counter() - started) * 1000
    # Every question is retrieved for, whatever its route: retrieval is scored on its own.
    query = contextual_query(
        question.question, question.history, standalone=decision.route == "faq"
    )
    hits = retrieval_service.search(
        db_session=db_session,
        index=runtime.index,
        kbs=[kb],
        query=query,
        params=retrieval_service.SearchParams(
            top_k=TOP_K, query_lang=detect_lang(question.question)
        ),
        reranker=runtime.reranker,
    )
    sources = tuple(dict.fromkeys(h.chunk.source for h in hits))[:TOP_K]
    return Answer(question.id, decision.route, decision.intent, sources, route_ms)
