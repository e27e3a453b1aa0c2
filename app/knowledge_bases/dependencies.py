from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from app.core.errors import NotFound
from app.deps import SessionDep
from knowledge import service as knowledge_service
from knowledge.models import Document, KnowledgeBase


def valid_kb(
    db_session: SessionDep,
    kb: Annotated[str, Path(description="Knowledge base id or name", max_length=64)],
) -> KnowledgeBase:
    found = knowledge_service.get_kb(db_session=db_session, ref=kb)
    if found is None:
        raise NotFound(f"knowledge base {kb!r} not found", code="kb_not_found")
    return found


KnowledgeBaseDep = Annotated[KnowledgeBase, Depends(valid_kb)]


def valid_document(
    db_session: SessionDep,
    kb: KnowledgeBaseDep,
    doc: Annotated[str, Path(description="Document id or file name", max_length=255)],
) -> Document:
    found = knowledge_service.get_document(db_session=db_session, kb_id=kb.id, ref=doc)
    if found is None:
        raise NotFound(f"document {doc!r} not found in {kb.name!r}", code="document_not_found")
    return found


DocumentDep = Annotated[Document, Depends(valid_document)]
