"""KefuRetriever passes LangChain's standard retriever suite in both modes (in-process over
kefu's retrieval service, and as a client of a running kefu's search route), and both modes
return the same documents with kefu's metadata."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from app.integrations.langchain import KefuRetriever, KefuSearchError
from tests.integrations.conftest import Served

QUERY = "How much does a replacement library card cost?"


def _in_process(served: Served, **kwargs: Any) -> KefuRetriever:
    rt = served.runtime
    return KefuRetriever(index=rt.index, session_factory=rt.session_factory, **kwargs)


class _Library:
    """The constructor and the served library, for LangChain's suite in either mode."""

    served: Served

    @pytest.fixture(autouse=True)
    def _served(self, served_library: Served) -> None:
        self.served = served_library

    @property
    def retriever_constructor(self) -> type[KefuRetriever]:
        return KefuRetriever


class TestInProcess(_Library, RetrieversIntegrationTests):
    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        rt = self.served.runtime
        return {
            "knowledge_base": "library",
            "index": rt.index,
            "session_factory": rt.session_factory,
        }

    @property
    def retriever_query_example(self) -> str:
        return QUERY


class TestClient(_Library, RetrieversIntegrationTests):
    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {
            "knowledge_base": "library",
            "base_url": self.served.base_url,
            "api_key": self.served.admin_key,
        }

    @property
    def retriever_query_example(self) -> str:
        return "自习室怎么预约，周末几点开门？"


def _key(doc: Document) -> tuple[Any, ...]:
    return (doc.id, doc.page_content, tuple(sorted(doc.metadata.items(), key=str)))


async def test_both_modes_return_the_same_documents_with_kefus_metadata(
    served_library: Served,
) -> None:
    local = _in_process(served_library, knowledge_base="library", k=4)
    remote = KefuRetriever(
        knowledge_base="library",
        k=4,
        base_url=served_library.base_url + "/",
        api_key=served_library.admin_key,
    )
    docs = await local.ainvoke(QUERY)
    assert [_key(d) for d in docs] == [_key(d) for d in remote.invoke(QUERY)]
    assert [_key(d) for d in docs] == [_key(d) for d in await remote.ainvoke(QUERY)]

    best = docs[0]
    assert "15 yuan" in best.page_content
    meta = best.metadata
    assert meta["source"] == "library-card.md"
    assert meta["heading_path"][-1] == "Lost or damaged cards"
    assert isinstance(meta["document_id"], int) and meta["chunk_id"] == best.id
    assert meta["knowledge_base"] == "library" and meta["kind"] == "doc" and meta["lang"] == "en"
    assert meta["score"] > 0 and meta["dense_score"] is not None
    assert {d.metadata["source"] for d in docs} <= set(_library_files())


def _library_files() -> list[str]:
    from tests.retrieval import library

    return list(library.DOCUMENTS)


def test_kind_narrows_to_faq_pairs(served_library: Served) -> None:
    faqs = _in_process(served_library, knowledge_base="library", kind="faq").invoke(
        "图书可以续借几次？"
    )
    assert faqs and {d.metadata["kind"] for d in faqs} == {"faq"}


async def test_errors_name_the_problem(served_library: Served) -> None:
    with pytest.raises(KefuSearchError, match="'nowhere' not found") as local:
        _in_process(served_library, knowledge_base="nowhere").invoke(QUERY)
    assert local.value.code == "kb_not_found"
    remote = KefuRetriever(
        knowledge_base="nowhere", base_url=served_library.base_url, api_key=served_library.admin_key
    )
    with pytest.raises(KefuSearchError, match="404") as not_found:
        await remote.ainvoke(QUERY)
    assert not_found.value.code == "kb_not_found"
    # A client key may chat, not search the knowledge base.
    weak = KefuRetriever(
        knowledge_base="library",
        base_url=served_library.base_url,
        api_key=served_library.client_key,
    )
    with pytest.raises(KefuSearchError) as refused:
        weak.invoke(QUERY)
    assert refused.value.status == 403


def test_one_mode_at_a_time(served_library: Served) -> None:
    with pytest.raises(ValueError, match="either index and session_factory"):
        KefuRetriever(knowledge_base="library")
    with pytest.raises(ValueError, match="needs api_key"):
        KefuRetriever(knowledge_base="library", base_url=served_library.base_url)
    with pytest.raises(ValueError, match="either"):
        _in_process(served_library, knowledge_base="library", base_url="http://127.0.0.1:1")
