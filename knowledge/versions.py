"""Which version of each document search may show, remembered per process.

Search shows only a document's ``indexed_version`` (see ``ingestion.pipeline``). Asking SQL
for it on every search cost a round trip a question; the answer changes only when a document
is re-ingested or deleted, and the chunks a search returns say when that may have happened:

- a hit whose version is the remembered one is shown without asking;
- a hit of an unknown document, or of another version than the remembered one (a new
  version being written, or switched to), makes one lookup of just those documents, and
  every hit is then judged by the answer, so a search still never shows two versions of a
  document;
- a remembered version is trusted for ``ttl`` seconds at most, which bounds how long chunks
  left behind by a failed delete could be shown from a process that saw them before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy.orm import Session

from knowledge import service as knowledge_service

Lookup = Callable[..., dict[int, int]]


class LiveVersions:
    def __init__(
        self,
        *,
        ttl: float = 60.0,
        lookup: Lookup = knowledge_service.indexed_versions,
        clock: Callable[[], float] = time.monotonic,
        max_documents: int = 100_000,
    ) -> None:
        self._ttl = ttl
        self._lookup = lookup
        self._clock = clock
        self._max = max_documents
        # document id -> (live version or None when it has none, when it was read)
        self._known: dict[int, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def live(self, *, db_session: Session, found: Iterable[tuple[int, int]]) -> dict[int, int]:
        """The live version of each document among ``found`` (document id, version) pairs."""
        pairs = set(found)
        now = self._clock()
        with self._lock:
            stale = {doc for doc, version in pairs if not self._fresh(doc, version, now)}
        if stale:
            self._learn(db_session, stale, now)
        with self._lock:
            versions = {doc: self._known.get(doc, (None, now))[0] for doc, _ in pairs}
        return {doc: v for doc, v in versions.items() if v is not None}

    def forget(self, document_ids: Sequence[int]) -> None:
        """Drop what this process knows of these documents (it just changed them)."""
        with self._lock:
            for doc in document_ids:
                self._known.pop(doc, None)

    def _fresh(self, doc: int, version: int, now: float) -> bool:
        known = self._known.get(doc)
        return known is not None and known[0] == version and now - known[1] < self._ttl

    def _learn(self, db_session: Session, documents: set[int], now: float) -> None:
        answer = self._lookup(db_session=db_session, document_ids=sorted(documents))
        with self._lock:
            if len(self._known) + len(documents) > self._max:
                self._known.clear()  # rare and cheap to refill: one lookup per document
            for doc in documents:
                self._known[doc] = (answer.get(doc), now)
