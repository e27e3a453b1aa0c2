from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from app.deps import AdminKey, RuntimeDep, SessionDep
from app.knowledge_bases.dependencies import KnowledgeBaseDep
from app.retrieval import service
from app.retrieval.schemas import SearchHit, SearchRequest, SearchResponse

router = APIRouter(prefix="/admin/knowledge-bases", tags=["admin: knowledge"])


@router.post("/{kb}/search", response_model=SearchResponse, summary="Try a query")
async def search(
    body: SearchRequest, kb: KnowledgeBaseDep, _: AdminKey, db_session: SessionDep, rt: RuntimeDep
) -> SearchResponse:
    hits = await run_in_threadpool(
        service.search,
        db_session=db_session,
        index=rt.index,
        kbs=[kb],
        query=body.query,
        params=service.SearchParams(top_k=body.top_k, kind=body.kind),
        reranker=rt.reranker,
    )
    return SearchResponse(hits=[SearchHit.of(h) for h in hits])
