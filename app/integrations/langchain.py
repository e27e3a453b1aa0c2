"""kefu's knowledge as a LangChain retriever.

``KefuRetriever`` runs in one of two modes:

- in-process: ``KefuRetriever(knowledge_base="shop", index=rt.index,
  session_factory=rt.session_factory)`` with a kefu ``Runtime`` calls kefu's retrieval
  service directly, the same search the agent runs (a Milvus Lite file belongs to one
  process: beside a running kefu on the embedded stores, use the client mode);
- client: ``KefuRetriever(knowledge_base="shop", base_url="https://kefu.example.com",
  api_key=...)`` calls a running kefu's search route
  (``POST /admin/knowledge-bases/{kb}/search``, an admin key). Not Dify's ``/dify/retrieval``:
  that one rescores hits by cosine for Dify's threshold, while this one returns the service's
  own ranking with its fused, dense and keyword scores, as the in-process mode does.

Both return the same ``Document``s: the chunk's text, ``id`` the chunk id, and in
``metadata`` the source file, heading path, page, document id and version, kind, language,
the fused score and the dense and keyword scores behind it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal
from urllib.parse import quote

import httpx
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, SecretStr, model_validator
from sqlalchemy.orm import Session, sessionmaker

from app.retrieval import service as retrieval_service
from app.retrieval.schemas import SearchHit, SearchRequest
from knowledge import service as knowledge_service
from knowledge.index import KnowledgeIndex


class KefuSearchError(RuntimeError):
    """kefu refused or failed the search; ``code`` is kefu's error code."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


def to_document(hit: SearchHit, *, knowledge_base: str) -> Document:
    return Document(
        id=hit.chunk_id,
        page_content=hit.content,
        metadata={
            "source": hit.source,
            "heading_path": list(hit.heading_path),
            "page": hit.page,
            "document_id": hit.document_id,
            "version": hit.version,
            "chunk_id": hit.chunk_id,
            "kind": hit.kind,
            "lang": hit.lang,
            "knowledge_base": knowledge_base,
            "score": hit.score,
            "dense_score": hit.dense_score,
            "keyword_score": hit.keyword_score,
        },
    )


class KefuRetriever(BaseRetriever):
    """Passages of one kefu knowledge base for a query, best first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    knowledge_base: str = Field(min_length=1, max_length=64, description="Its name or id.")
    k: int = Field(5, ge=1, le=50, description="Documents per query.")
    kind: Literal["doc", "faq"] | None = Field(None, description="Only passages or FAQ pairs.")
    # In-process mode.
    index: KnowledgeIndex | None = None
    session_factory: sessionmaker[Session] | None = None
    # Client mode.
    base_url: str | None = Field(None, description="A running kefu, e.g. https://kefu.example.com")
    api_key: SecretStr | None = Field(None, description="An admin key of that kefu.")
    timeout: float = Field(10.0, gt=0, description="Seconds per search request.")

    @model_validator(mode="after")
    def _one_mode(self) -> KefuRetriever:
        in_process = self.index is not None or self.session_factory is not None
        if in_process == (self.base_url is not None):
            raise ValueError(
                "give either index and session_factory (in-process) or base_url and api_key "
                "(client mode)"
            )
        if in_process and (self.index is None or self.session_factory is None):
            raise ValueError("in-process mode needs both index and session_factory")
        if self.base_url is not None and self.api_key is None:
            raise ValueError("client mode needs api_key (an admin key of that kefu)")
        return self

    def _request(self, query: str, k: int | None) -> SearchRequest:
        return SearchRequest(query=query, top_k=k or self.k, kind=self.kind)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        request = self._request(query, k)
        if self.base_url is not None:
            with httpx.Client(timeout=self.timeout) as client:
                response = client.post(self._url(), json=self._body(request), headers=self._auth())
            return self._documents(response)
        return self._search(request)

    def _search(self, request: SearchRequest) -> list[Document]:
        """In-process: kefu's retrieval service, as the agent calls it."""
        if self.index is None or self.session_factory is None:
            raise AssertionError("checked by the validator")
        with self.session_factory() as db_session:
            kb = knowledge_service.get_kb(db_session=db_session, ref=self.knowledge_base)
            if kb is None:
                raise KefuSearchError(
                    f"knowledge base {self.knowledge_base!r} not found", code="kb_not_found"
                )
            hits = retrieval_service.search(
                db_session=db_session,
                index=self.index,
                kbs=[kb],
                query=request.query,
                params=retrieval_service.SearchParams(top_k=request.top_k, kind=request.kind),
            )
        return [to_document(SearchHit.of(h), knowledge_base=self.knowledge_base) for h in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        request = self._request(query, k)
        if self.base_url is None:
            return await asyncio.to_thread(self._search, request)
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            response = await client.post(
                self._url(), json=self._body(request), headers=self._auth()
            )
        return self._documents(response)

    def _url(self) -> str:
        base = (self.base_url or "").rstrip("/")
        return f"{base}/admin/knowledge-bases/{quote(self.knowledge_base, safe='')}/search"

    def _auth(self) -> dict[str, str]:
        secret = self.api_key.get_secret_value() if self.api_key else ""
        return {"Authorization": f"Bearer {secret}"}

    @staticmethod
    def _body(request: SearchRequest) -> dict[str, Any]:
        return request.model_dump(exclude_none=True)

    def _documents(self, response: httpx.Response) -> list[Document]:
        if response.status_code != 200:
            try:
                problem = response.json()["error"]
                code, message = str(problem["code"]), str(problem["message"])
            except (ValueError, KeyError, TypeError):
                code, message = None, response.text[:200]
            raise KefuSearchError(
                f"kefu answered {response.status_code}: {message}",
                status=response.status_code,
                code=code,
            )
        hits = [SearchHit.model_validate(h) for h in response.json()["hits"]]
        return [to_document(h, knowledge_base=self.knowledge_base) for h in hits]
