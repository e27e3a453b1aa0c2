"""The production backend: any sentence-transformers model from a local path, CPU or GPU."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.embeddings import Vectors, as_text_list

_GENERIC_DIR_NAMES = {"model", "models", "snapshot", "snapshots"}
_SNAPSHOT_HASH = re.compile(r"[0-9a-f]{40}")


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from disk, never from a hub.

    Prefixes are the caller's: e5 needs ``query: ``/``passage: ``, bge-m3 and MiniLM take
    none. Inputs longer than the model's ``max_seq_length`` are truncated by the model.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        device: str | None = None,
        batch_size: int = 32,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        # Imported here: torch is heavy and only the production backend needs it.
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_path), device=device, local_files_only=True)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"{model_path}: the model does not report its embedding dimension")
        self.model_name = model_name_for(model_path)
        self.dim = int(dim)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        # One forward pass at a time: parallel ones share the same cores or GPU memory.
        self._lock = threading.Lock()

    @property
    def max_seq_length(self) -> int | None:
        return self._model.max_seq_length

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(as_text_list(texts), self.passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(as_text_list(texts), self.query_prefix)

    def _embed(self, texts: list[str], prefix: str) -> Vectors:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        with self._lock:
            # prompt="" (not None) also keeps a default prompt saved with the model from applying.
            vectors = self._model.encode(
                texts,
                prompt=prefix,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


def model_name_for(model_path: str | os.PathLike[str]) -> str:
    """A readable identity for a model on disk: its directory name, unless that says nothing."""
    path = Path(model_path)
    for part in reversed(path.parts):
        if part.startswith("models--"):  # the Hugging Face cache layout: models--org--name
            return part.removeprefix("models--").replace("--", "/")
    name = path.name or path.resolve().name
    if name.lower() in _GENERIC_DIR_NAMES or _SNAPSHOT_HASH.fullmatch(name):
        return f"{path.resolve().parent.name}/{name}"
    return name
