"""The answer cache: an LLM answer to a general question, reused for the same question and
its close paraphrases while the knowledge it came from is unchanged.

What may be cached is decided by the turn (``app.conversation.answering``): only answers
that used no tool, no customer record and no conversation context. This module keeps them:

- a **scope** says what an answer depends on besides the question: the knowledge bases and
  their document versions, the prompt version, the model, the language, whether the customer
  was signed in. A new document version is a new scope, so old answers are never served.
- **entries** live in the shared cache (Redis when configured, so every process and restart
  sees them), with a time to live;
- each scope's **log** of (entry, question vector) is shared too; every process reads the
  part it has not seen yet on each lookup and matches the question against its own copy of
  the vectors (a matrix product), so matching costs no Redis scan.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.cache import Cache

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    citations: list[dict[str, Any]]
    model: str | None
    prompt_version: str
    question: str
    similarity: float


@dataclass
class _ScopeIndex:
    ids: list[str] = field(default_factory=list)
    vectors: list[Vector] = field(default_factory=list)
    matrix: Vector | None = None
    read: int = 0  # log items already taken in


def scope_key(**parts: object) -> str:
    """A short, stable name for everything an answer depends on besides the question."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def question_id(question: str) -> str:
    """One entry per question however it is cased or spaced."""
    return hashlib.sha1(" ".join(question.lower().split()).encode()).hexdigest()[:16]


def _encode(vector: Vector) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode("ascii")


def _decode(text: str) -> Vector:
    values = np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)
    norm = float(np.linalg.norm(values))
    return values / norm if norm else values


class AnswerCache:
    def __init__(
        self, cache: Cache, *, min_similarity: float, ttl: float, max_entries: int
    ) -> None:
        self._cache = cache
        self.min_similarity = min_similarity
        self._ttl = ttl
        self._max_entries = max_entries
        self._scopes: dict[str, _ScopeIndex] = {}
        self._lock = threading.Lock()

    def lookup(self, scope: str, vector: Vector) -> CachedAnswer | None:
        index = self._sync(scope)
        with self._lock:
            if index.matrix is None or not index.ids:
                return None
            sims = index.matrix @ np.asarray(vector, dtype=np.float32)
            order = np.argsort(-sims)[:3]
            candidates = [(index.ids[i], float(sims[i])) for i in order]
        for entry_id, similarity in candidates:
            if similarity < self.min_similarity:
                break
            raw = self._cache.get(_entry_key(scope, entry_id))
            if raw is None:
                continue  # expired: the next nearest may still be live
            entry = json.loads(raw)
            return CachedAnswer(
                text=entry["text"],
                citations=entry["citations"],
                model=entry.get("model"),
                prompt_version=entry["prompt_version"],
                question=entry["question"],
                similarity=similarity,
            )
        return None

    def store(
        self,
        scope: str,
        *,
        question: str,
        vector: Vector,
        text: str,
        citations: Sequence[dict[str, Any]],
        model: str | None,
        prompt_version: str,
    ) -> bool:
        """Keep an answer; False when the question was cached already or the scope is full."""
        entry_id = question_id(question)
        entry = {
            "question": question,
            "text": text,
            "citations": list(citations),
            "model": model,
            "prompt_version": prompt_version,
        }
        key = _entry_key(scope, entry_id)
        if not self._cache.add(key, json.dumps(entry, ensure_ascii=False), ttl=self._ttl):
            return False
        logged = self._cache.append(
            _log_key(scope),
            f"{entry_id} {_encode(vector)}",
            ttl=self._ttl,
            max_len=self._max_entries,
        )
        if not logged:
            self._cache.delete(key)
            return False
        self._sync(scope)
        return True

    def _sync(self, scope: str) -> _ScopeIndex:
        """Take in what other processes (and this one) logged since the last look."""
        with self._lock:
            index = self._scopes.setdefault(scope, _ScopeIndex())
            start = index.read
        items = self._cache.read_list(_log_key(scope), start=start)
        if items is None:
            # The log expired and began again: what this process holds is gone too.
            with self._lock:
                self._scopes[scope] = index = _ScopeIndex()
            start, items = 0, self._cache.read_list(_log_key(scope), start=0) or []
        if not items:
            return index
        with self._lock:
            if index.read != start:  # another thread took these in meanwhile
                return index
            for item in items:
                entry_id, _, encoded = item.partition(" ")
                index.ids.append(entry_id)
                index.vectors.append(_decode(encoded))
            index.read = start + len(items)
            index.matrix = np.stack(index.vectors)
            self._forget_stale_scopes(keep=scope)
        return index

    def _forget_stale_scopes(self, *, keep: str) -> None:
        # Scopes change with every document version; old ones only hold memory.
        if len(self._scopes) > 64:
            for name in list(self._scopes)[: len(self._scopes) - 64]:
                if name != keep:
                    del self._scopes[name]


def _entry_key(scope: str, entry_id: str) -> str:
    return f"answer:{scope}:{entry_id}"


def _log_key(scope: str) -> str:
    return f"answer-log:{scope}"
