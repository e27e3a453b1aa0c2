"""Live versions remembered per process: SQL is asked only when a hit disagrees or ages out."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from knowledge import service as knowledge_service
from knowledge.models import Document, DocumentStatus, KnowledgeBase
from knowledge.versions import LiveVersions


class CountingLookup:
    """The real SQL lookup, recording which documents each call asked for."""

    def __init__(self) -> None:
        self.asked: list[list[int]] = []

    def __call__(self, *, db_session: Session, document_ids: Sequence[int]) -> dict[int, int]:
        self.asked.append(sorted(document_ids))
        return knowledge_service.indexed_versions(db_session=db_session, document_ids=document_ids)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _documents(db_session: Session, versions: Sequence[int | None]) -> list[Document]:
    kb = KnowledgeBase(name="versions", embedding_model="m", embedding_dim=8)
    db_session.add(kb)
    db_session.flush()
    docs = [
        Document(
            kb_id=kb.id,
            name=f"d{n}.md",
            doc_type="md",
            content_hash=f"{n:064d}",
            version=v or 1,
            indexed_version=v,
            status=DocumentStatus.READY,
            storage_path="",
        )
        for n, v in enumerate(versions)
    ]
    db_session.add_all(docs)
    db_session.flush()
    return docs


def test_hits_of_the_remembered_versions_are_judged_without_sql(db_session: Session) -> None:
    a, b, unindexed = _documents(db_session, [1, 3, None])
    lookup = CountingLookup()
    versions = LiveVersions(lookup=lookup, clock=Clock())
    found = [(a.id, 1), (b.id, 3), (b.id, 2), (unindexed.id, 1)]
    assert versions.live(db_session=db_session, found=found) == {a.id: 1, b.id: 3}
    assert versions.live(db_session=db_session, found=[(a.id, 1), (b.id, 3)]) == {
        a.id: 1,
        b.id: 3,
    }
    # b's version 2 (an old one) and the unindexed document disagree, so they are asked again.
    assert lookup.asked == [sorted([a.id, b.id, unindexed.id])]


def test_a_new_version_in_the_hits_is_checked_and_wins_once_switched(
    db_session: Session,
) -> None:
    [doc] = _documents(db_session, [1])
    lookup = CountingLookup()
    versions = LiveVersions(lookup=lookup, clock=Clock())
    assert versions.live(db_session=db_session, found=[(doc.id, 1)]) == {doc.id: 1}
    # Version 2 is being written: its chunks show up, SQL still says 1.
    assert versions.live(db_session=db_session, found=[(doc.id, 1), (doc.id, 2)]) == {doc.id: 1}
    doc.indexed_version = doc.version = 2
    db_session.flush()
    # Switched in another process; both versions' chunks are still in the store. The new
    # one makes this process ask, and then the old one is no longer shown.
    assert versions.live(db_session=db_session, found=[(doc.id, 1), (doc.id, 2)]) == {doc.id: 2}
    assert len(lookup.asked) == 3


def test_what_is_remembered_ages_out(db_session: Session) -> None:
    [doc] = _documents(db_session, [1])
    lookup = CountingLookup()
    clock = Clock()
    versions = LiveVersions(lookup=lookup, clock=clock, ttl=60)
    versions.live(db_session=db_session, found=[(doc.id, 1)])
    db_session.delete(doc)
    db_session.flush()
    clock.now += 59
    assert versions.live(db_session=db_session, found=[(doc.id, 1)]) == {doc.id: 1}
    clock.now += 2
    # Deleted, with its chunks left behind by a failed delete: hidden once the entry expires.
    assert versions.live(db_session=db_session, found=[(doc.id, 1)]) == {}
    assert len(lookup.asked) == 2


def test_forget_makes_the_next_search_ask(db_session: Session) -> None:
    [doc] = _documents(db_session, [1])
    lookup = CountingLookup()
    versions = LiveVersions(lookup=lookup, clock=Clock())
    versions.live(db_session=db_session, found=[(doc.id, 1)])
    versions.forget([doc.id])
    versions.live(db_session=db_session, found=[(doc.id, 1)])
    assert lookup.asked == [[doc.id], [doc.id]]
