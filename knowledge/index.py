"""The embedder and the vector collections it writes, built once per process.

Each embedding model gets its own collection (vectors of different models never mix), so a
knowledge base re-indexed with a new model moves to a new collection and the old one can be
dropped when empty.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from pymilvus import MilvusClient

from app.core.config import Settings
from knowledge.embeddings import Embedder, embedder_for
from knowledge.vectorstore import VectorStore
from knowledge.vectorstore.milvus import LITE, MilvusVectorStore, connect, server_version
from knowledge.vectorstore.schema import is_lite
from knowledge.versions import LiveVersions


def collection_name(prefix: str, model_name: str, dim: int) -> str:
    slug = re.sub(r"[^0-9a-zA-Z]+", "_", model_name).strip("_").lower()[:120]
    return f"{prefix}_{slug}_{dim}"


class KnowledgeIndex:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._embedder: Embedder | None = None
        self._stores: dict[str, VectorStore] = {}
        self._client: MilvusClient | None = None
        self._lock = threading.Lock()
        self.versions = LiveVersions()
        self._lite_server = False
        # A search's dense and keyword queries run side by side (app.retrieval.service).
        self.search_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="kefu-search")

    @property
    def embedder(self) -> Embedder:
        # Loaded on first use: the API starts fast and a process that never embeds never loads.
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = embedder_for(self._settings.embedding)
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

    def _server(self) -> MilvusClient:
        # One client for listing and pinging, opened on first use and kept.
        with self._lock:
            if self._client is None:
                token = self._settings.milvus.token
                self._client = connect(
                    self._settings.milvus_uri, token=token.get_secret_value() if token else None
                )
            return self._client

    def all_stores(self) -> list[VectorStore]:
        """Every collection of ours on the server, so a delete also reaches old models' data."""
        prefix = self._settings.milvus.collection_prefix + "_"
        stores = []
        for name in self._server().list_collections():
            dim = name.rsplit("_", 1)[-1]
            if name.startswith(prefix) and dim.isdigit():
                model = name[len(prefix) : -len(dim) - 1]
                stores.append(self.store(model_name=model, dim=int(dim)))
        return stores

    def drop_collections(self) -> list[str]:
        """Drop every collection of ours (before a reindex into a new schema); their names."""
        prefix = self._settings.milvus.collection_prefix + "_"
        client = self._server()
        dropped = [n for n in client.list_collections() if n.startswith(prefix)]
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
        for name in dropped:
            client.drop_collection(name)
        return dropped

    def ping(self) -> str:
        """The server's version, or an exception if it cannot be reached."""
        lite = self._lite_server or is_lite(self._settings.milvus_uri)
        version = server_version(self._server(), lite=lite)
        self._lite_server = version == LITE
        return version

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
            if self._client is not None:
                self._client.close()
                self._client = None
        self.search_pool.shutdown(wait=False, cancel_futures=True)
