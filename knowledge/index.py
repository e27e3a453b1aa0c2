"""The embedder and the vector collections it writes, built once per process.

Each embedding model gets its own collection (vectors of different models never mix), so a
knowledge base re-indexed with a new model moves to a new collection and the old one can be
dropped when empty.
"""

from __future__ import annotations

import re
import threading

from app.core.config import Settings
from knowledge.embeddings import Embedder, build_embedder
from knowledge.vectorstore import VectorStore
from knowledge.vectorstore.milvus import MilvusVectorStore, connect


def collection_name(prefix: str, model_name: str, dim: int) -> str:
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", model_name).strip("_").lower()[:120]
    return f"{prefix}_{slug}_{dim}"


class KnowledgeIndex:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._embedder: Embedder | None = None
        self._stores: dict[str, VectorStore] = {}
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        # Loaded on first use: the API starts fast and a process that never embeds never loads.
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    emb = self._settings.embedding
                    self._embedder = build_embedder(
                        emb.backend, emb.model, device=emb.device, batch_size=emb.batch_size
                    )
        return self._embedder

    def store(self, *, model_name: str, dim: int) -> VectorStore:
        name = collection_name(self._settings.milvus.collection_prefix, model_name, dim)
        with self._lock:
            store = self._stores.get(name)
            if store is None:
                token = self._settings.milvus.token
                store = MilvusVectorStore(
                    self._settings.milvus_uri,
                    token=token.get_secret_value() if token else None,
                    collection=name,
                    dim=dim,
                )
                store.ensure_collection()
                self._stores[name] = store
            return store

    def current_store(self) -> VectorStore:
        return self.store(model_name=self.embedder.model_name, dim=self.embedder.dim)

    def all_stores(self) -> list[VectorStore]:
        """Every collection this index has opened (for deletes that must reach old models)."""
        with self._lock:
            return list(self._stores.values())

    def stores_for_delete(self) -> list[VectorStore]:
        """Every collection of ours on the server, so a delete also reaches old models' data."""
        token = self._settings.milvus.token
        prefix = self._settings.milvus.collection_prefix + "_"
        client = connect(
            self._settings.milvus_uri, token=token.get_secret_value() if token else None
        )
        names = [n for n in client.list_collections() if n.startswith(prefix)]
        stores = []
        for name in names:
            dim = name.rsplit("_", 1)[-1]
            if dim.isdigit():
                model = name[len(prefix) : -len(dim) - 1]
                stores.append(self.store(model_name=model, dim=int(dim)))
        return stores

    def ping(self) -> str:
        return MilvusVectorStore.ping(
            self._settings.milvus_uri,
            token=self._settings.milvus.token.get_secret_value()
            if self._settings.milvus.token
            else None,
        )

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
