"""A local sentence-transformers CrossEncoder from a path (never fetched from a hub)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path


class CrossEncoderReranker:
    """bge-reranker-v2-m3, an ms-marco MiniLM or any CrossEncoder saved on disk, CPU or GPU.

    One forward pass at a time: parallel ones would share the same cores or GPU memory.
    """

    def __init__(self, model_path: str, *, device: str | None = None) -> None:
        if not Path(model_path).is_dir():
            raise FileNotFoundError(f"cross-encoder model directory not found: {model_path}")
        # Imported here: torch is heavy and only this backend needs it.
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(model_path, device=device, local_files_only=True)
        self.model_name = Path(model_path).name
        self._lock = threading.Lock()

    def score(self, query: str, documents: Sequence[str]) -> list[float]:
        if not documents:
            return []
        with self._lock:
            scores = self._model.predict(
                [(query, doc) for doc in documents], show_progress_bar=False
            )
        return [float(s) for s in scores]

    def close(self) -> None:
        pass
