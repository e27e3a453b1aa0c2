"""The Knowledge page (admins): knowledge bases, documents with live status, uploads with
progress, delete and reindex, and hit-testing. The page is HTML; its script talks JSON to
the routes below, which call the same services as the admin API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response, status
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, RedirectResponse

from app.console.dependencies import AdminUser, ConsolePrincipal
from app.console.schemas import HitTestRequest, HitTestResponse, RouteOut
from app.console.web import render
from app.conversation.probe import hit_test
from app.core.errors import AppError, Unprocessable
from app.deps import RuntimeDep, SessionDep
from app.knowledge_bases import router as kb_router
from app.knowledge_bases import service as kb_service
from app.knowledge_bases.dependencies import DocumentDep, KnowledgeBaseDep
from app.knowledge_bases.schemas import (
    DocumentOut,
    JobOut,
    KnowledgeBaseCreate,
    ReindexResponse,
    UploadResponse,
)
from app.retrieval.schemas import SearchHit
from knowledge import service as knowledge_service

router = APIRouter(prefix="/console/knowledge", include_in_schema=False)
UPLOAD_PATH = "/console/knowledge/kbs/{kb}/documents"


def _page(
    request: Request,
    user: ConsolePrincipal,
    db_session: Session,
    kb: str | None,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    kbs = knowledge_service.list_kbs(db_session=db_session)
    current = knowledge_service.get_kb(db_session=db_session, ref=kb) if kb else None
    current = current or (kbs[0] if kbs else None)
    docs = (
        knowledge_service.list_documents(db_session=db_session, kb_id=current.id) if current else []
    )
    return render(
        request,
        "knowledge.html",
        {"kbs": kbs, "current": current, "documents": docs, "error": error},
        user=user,
        active="knowledge",
        status_code=status_code,
    )


@router.get("")
def knowledge_page(
    request: Request, user: AdminUser, db_session: SessionDep, kb: str | None = None
) -> HTMLResponse:
    return _page(request, user, db_session, kb)


@router.post("/kbs")
def create_kb(
    request: Request,
    user: AdminUser,
    db_session: SessionDep,
    runtime: RuntimeDep,
    name: Annotated[str, Form(max_length=64)],
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        body = KnowledgeBaseCreate(name=name, description=description)
        kb = kb_service.create_kb(
            db_session=db_session, runtime=runtime, name=body.name, description=body.description
        )
    except ValidationError:
        message = f"invalid knowledge base name {name!r}: letters, digits, '_', '-', '.'"
        return _page(request, user, db_session, None, error=message, status_code=422)
    except AppError as exc:
        return _page(
            request, user, db_session, None, error=exc.message, status_code=exc.status_code
        )
    return RedirectResponse(f"/console/knowledge?kb={kb.id}", status_code=303)


@router.get("/kbs/{kb}/documents", response_model=list[DocumentOut])
def list_documents(
    kb: KnowledgeBaseDep, user: AdminUser, db_session: SessionDep
) -> list[DocumentOut]:
    docs = knowledge_service.list_documents(db_session=db_session, kb_id=kb.id)
    return [DocumentOut.model_validate(d) for d in docs]


@router.post("/kbs/{kb}/documents", response_model=UploadResponse, status_code=202)
async def upload(
    request: Request,
    kb: KnowledgeBaseDep,
    user: AdminUser,
    db_session: SessionDep,
    runtime: RuntimeDep,
) -> UploadResponse:
    # The form is read here, after the session and CSRF checks, never before them.
    form = await request.form(max_files=100)
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    if not files:
        raise Unprocessable("no files in the upload (multipart field 'files')")
    return await kb_router.receive(db_session=db_session, runtime=runtime, kb=kb, files=files)


@router.delete("/kbs/{kb}/documents/{doc}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(
    doc: DocumentDep, user: AdminUser, db_session: SessionDep, runtime: RuntimeDep
) -> Response:
    kb_service.delete_document(db_session=db_session, runtime=runtime, doc=doc)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/kbs/{kb}/reindex", response_model=ReindexResponse, status_code=202)
def reindex(
    kb: KnowledgeBaseDep, user: AdminUser, db_session: SessionDep, runtime: RuntimeDep
) -> ReindexResponse:
    jobs = kb_service.reindex(db_session=db_session, runtime=runtime, kb=kb)
    return ReindexResponse(jobs=[JobOut.model_validate(j) for j in jobs])


@router.post("/hit-test", response_model=HitTestResponse)
async def hit_testing(
    body: HitTestRequest, user: AdminUser, runtime: RuntimeDep
) -> HitTestResponse:
    probe = await hit_test(runtime, body.question)
    answer = probe.answer
    return HitTestResponse(
        route=RouteOut(
            route=answer.route,
            intent=answer.intent,
            confidence=answer.confidence,
            signals=answer.signals,
            reply=answer.text or None,
        ),
        query=probe.query,
        hits=[SearchHit.of(h) for h in probe.hits],
    )
