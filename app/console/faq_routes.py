"""The FAQ editor (admins): list, search, add, edit and delete single FAQ pairs. Plain forms
(they work from the keyboard and without scripts); each save answers with a redirect back
to the list, which shows the pair's file being indexed until the new version is live."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.console.dependencies import AdminUser
from app.console.web import render
from app.core.errors import AppError
from app.deps import RuntimeDep, SessionDep
from app.knowledge_bases import faqs
from app.knowledge_bases.dependencies import KnowledgeBaseDep
from app.runtime import Runtime
from knowledge import service as knowledge_service
from knowledge.models import KnowledgeBase

router = APIRouter(prefix="/console/faq", include_in_schema=False)

Question = Annotated[str, Form(max_length=500)]
Answer = Annotated[str, Form(max_length=8000)]
Paraphrases = Annotated[str, Form(max_length=20000)]


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line for line in (raw.strip() for raw in text.splitlines()) if line)


def _page(
    request: Request,
    user: AdminUser,
    db_session: Session,
    runtime: Runtime,
    kb: KnowledgeBase | None,
    *,
    query: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    kbs = knowledge_service.list_kbs(db_session=db_session)
    kb = kb or (kbs[0] if kbs else None)
    pairs, documents = [], []
    if kb is not None:
        entries = faqs.list_pairs(db_session=db_session, runtime=runtime, kb=kb)
        pairs = [e for e in entries if faqs.matches(e, query)]
        documents = faqs.faq_documents(db_session=db_session, kb=kb)
    return render(
        request,
        "faq.html",
        {
            "kbs": kbs,
            "current": kb,
            "pairs": pairs,
            "documents": documents,
            "query": query,
            "error": error,
            "saved": request.query_params.get("saved") == "1",
            "editor_document": faqs.EDITOR_DOCUMENT,
        },
        user=user,
        active="faq",
        status_code=status_code,
    )


@router.get("")
def faq_page(
    request: Request,
    user: AdminUser,
    db_session: SessionDep,
    runtime: RuntimeDep,
    kb: str | None = None,
    q: str = "",
) -> HTMLResponse:
    current = knowledge_service.get_kb(db_session=db_session, ref=kb) if kb else None
    return _page(request, user, db_session, runtime, current, query=q[:200])


def _back(kb: KnowledgeBase) -> Response:
    return RedirectResponse("/console/faq?" + urlencode({"kb": kb.id, "saved": 1}), status_code=303)


def _refused(
    request: Request,
    user: AdminUser,
    db_session: Session,
    runtime: Runtime,
    kb: KnowledgeBase,
    exc: AppError,
) -> HTMLResponse:
    db_session.rollback()
    return _page(
        request, user, db_session, runtime, kb, error=exc.message, status_code=exc.status_code
    )


@router.post("/kbs/{kb}/pairs")
def add_pair(
    request: Request,
    kb: KnowledgeBaseDep,
    user: AdminUser,
    db_session: SessionDep,
    runtime: RuntimeDep,
    question: Question,
    answer: Answer,
    paraphrases: Paraphrases = "",
    document_id: Annotated[int | None, Form()] = None,
) -> Response:
    pair = faqs.FaqPair(question, answer, _lines(paraphrases))
    try:
        faqs.add(db_session=db_session, runtime=runtime, kb=kb, pair=pair, document_id=document_id)
    except AppError as exc:
        return _refused(request, user, db_session, runtime, kb, exc)
    return _back(kb)


@router.post("/kbs/{kb}/pairs/{pair_id}")
def edit_pair(
    request: Request,
    kb: KnowledgeBaseDep,
    pair_id: str,
    user: AdminUser,
    db_session: SessionDep,
    runtime: RuntimeDep,
    question: Question,
    answer: Answer,
    paraphrases: Paraphrases = "",
) -> Response:
    pair = faqs.FaqPair(question, answer, _lines(paraphrases))
    try:
        faqs.update(db_session=db_session, runtime=runtime, kb=kb, pair_id=pair_id, pair=pair)
    except AppError as exc:
        return _refused(request, user, db_session, runtime, kb, exc)
    return _back(kb)


@router.post("/kbs/{kb}/pairs/{pair_id}/delete")
def delete_pair(
    request: Request,
    kb: KnowledgeBaseDep,
    pair_id: str,
    user: AdminUser,
    db_session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    try:
        faqs.delete(db_session=db_session, runtime=runtime, kb=kb, pair_id=pair_id)
    except AppError as exc:
        return _refused(request, user, db_session, runtime, kb, exc)
    return _back(kb)
