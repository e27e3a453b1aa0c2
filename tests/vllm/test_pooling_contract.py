"""Contract tests: the served-embedding and rerank clients against a real vLLM (CPU).

vLLM 0.32's CPU build serves a tiny random BERT (``tests/retrieval/tiny_bert.py``: 1 layer,
128 wide, heads 64 wide because its CPU attention kernels refuse narrower ones) with
``--runner pooling``. One server answers both wires kefu speaks: ``/v1/embeddings``, and
``/v1/rerank`` (for an embedding model vLLM scores a pair by the cosine of its embeddings; a
cross-encoder such as bge-reranker or Qwen3-Reranker answers the same request and response
through its classifier). One server, because a second would double the ~60 s start-up on a
small CPU. The weights are random: these assert the protocol and kefu's handling of it (order
by ``index``, normalisation, dimension, batching, scores mapped back to their documents),
never what the numbers mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from app.core import migrations
from app.core.config import EmbeddingSettings, Settings
from app.evaluation.service import evaluation_settings
from app.retrieval import service as retrieval_service
from app.retrieval.rerank import RERANK_SCORE, RerankStage
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.chunks import Hit
from knowledge.embeddings import embedder_for
from knowledge.embeddings.openai_protocol import (
    EmbeddingRejected,
    OpenAIEmbedder,
)
from knowledge.rerank.http import HttpReranker
from tests.knowledge.conftest import make_chunk
from tests.support import SHOP, ingest
from tests.vllm.conftest import POOLING_NAME, PoolingServer

SERVED_NAME = POOLING_NAME
DIM = 128
DOCUMENTS = ["A lost library card is replaced for 10 yuan.", "Printing is 1 yuan.", "周末开放"]


def _embedder(server: PoolingServer, **overrides: object) -> OpenAIEmbedder:
    values: dict[str, object] = {
        "backend": "openai",
        "base_url": server.base_url,
        "model": server.model,
        "batch_size": 2,
        "max_retries": 0,
    }
    values.update(overrides)
    built = embedder_for(EmbeddingSettings(_env_file=None, **values))  # type: ignore[call-arg]
    assert isinstance(built, OpenAIEmbedder)
    return built


def test_embeddings_from_vllm(pooling_server: PoolingServer) -> None:
    embedder = _embedder(pooling_server)
    assert embedder.dim == DIM  # asked of the server
    vectors = embedder.embed_passages(DOCUMENTS)  # two requests: batches of 2 and 1
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Each vector belongs to its own text, whatever the batch it came in.
    alone = embedder.embed_passages([DOCUMENTS[2]])[0]
    np.testing.assert_allclose(alone, vectors[2], atol=1e-4)
    assert float(vectors[0] @ vectors[1]) < 0.9999


def test_a_wrong_dimension_setting_and_an_unknown_model_fail_clearly(
    pooling_server: PoolingServer,
) -> None:
    with pytest.raises(EmbeddingRejected, match=f"{DIM}-dimensional vectors, expected 1024"):
        _embedder(pooling_server, dim=1024).embed_queries(["退款"])
    with pytest.raises(EmbeddingRejected, match="404"):
        _embedder(pooling_server, model="no-such-model", dim=DIM).embed_queries(["退款"])


def test_ingest_and_search_with_vllm_embeddings(
    pooling_server: PoolingServer, tmp_path: Path
) -> None:
    embedding = EmbeddingSettings(  # type: ignore[call-arg]
        _env_file=None, backend="openai", base_url=pooling_server.base_url, model=SERVED_NAME
    )
    base = Settings(
        environment="test",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        embedding=embedding,
    )
    settings = evaluation_settings(base, tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    migrations.upgrade(settings.database_url)
    runtime = Runtime.build(settings)
    try:
        ingest(runtime, SHOP)
        with runtime.session_factory() as db_session:
            kbs = knowledge_service.list_kbs(db_session=db_session)
            assert [(kb.embedding_model, kb.embedding_dim) for kb in kbs] == [(SERVED_NAME, DIM)]
            hits = retrieval_service.search(
                db_session=db_session, index=runtime.index, kbs=kbs, query="积分最多能抵扣多少"
            )
        # Random weights rank at random, but BM25 and the pipeline around them do not.
        assert hits and "members.md" in {h.chunk.source for h in hits}
    finally:
        runtime.close()


def test_rerank_api_from_vllm(pooling_server: PoolingServer) -> None:
    reranker = HttpReranker(
        base_url=pooling_server.base_url, model=pooling_server.model, timeout=30
    )
    try:
        scores = reranker.score("How much is a new library card?", DOCUMENTS)
        # vLLM answers best first; kefu maps the scores back to its documents' order.
        rotated = reranker.score("How much is a new library card?", DOCUMENTS[1:] + DOCUMENTS[:1])
        assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
        assert rotated == pytest.approx(scores[1:] + scores[:1], abs=1e-4)

        hits = [Hit(make_chunk(d, document_id=i + 1), 1.0) for i, d in enumerate(DOCUMENTS)]
        stage = RerankStage(reranker, top_n=3, timeout=30)
        ordered = stage.rerank("How much is a new library card?", hits, top_k=3)
        assert [h.extra[RERANK_SCORE] for h in ordered] == pytest.approx(
            sorted(scores, reverse=True), abs=1e-4
        )
    finally:
        reranker.close()
