"""Message embeddings, kept for a while: a history turn was the current message one request ago."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from app.routing.schemas import QueryEmbedder, Vectors


class VectorCache:
    """A thread-safe LRU in front of ``embed_queries``.

    The lock guards the dictionary only; embedding runs outside it, so concurrent requests
    never wait for each other's model calls here (two threads may embed the same new text
    at once, which is harmless).
    """

    def __init__(self, embedder: QueryEmbedder, *, size: int) -> None:
        self._embedder = embedder
        self._size = size
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for text in known:
                self._vectors.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = np.asarray(self._embedder.embed_queries(missing), dtype=np.float32)
            known.update(zip(missing, fresh, strict=True))
            with self._lock:
                self._vectors.update(zip(missing, fresh, strict=True))
                while len(self._vectors) > self._size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])
