"""Milvus: Milvus Lite for a ``.db`` path, standalone or cluster for an ``http(s)://`` URI.

One collection holds the chunks of every knowledge base embedded with one model, filtered by
``kb_id`` (``knowledge.vectorstore.schema`` says why it is not a partition key).

Milvus Lite 2.5 facts this module relies on (measured, and covered by the tests): a ``.db``
path is a file one process owns (others connect through ``python -m
knowledge.vectorstore.lite_server``); it does not implement GetVersion, which is how a Lite
server on a URI is told from Milvus; writes are searchable without ``flush``, but flush after
each bulk load so rows move to indexed segments; it measures VARCHAR lengths in characters
where Milvus measures UTF-8 bytes, so limits here are in bytes. Milvus Lite 3.x (a
pure-Python engine, its searches 10-20x slower at 100k chunks) kept its data in a directory
of the same name: such a directory is refused with a pointer to ``kefu reindex``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from pymilvus import MilvusClient, MilvusException
from pymilvus.client.utils import SciPyHelper

from knowledge.chunks import Chunk, Hit
from knowledge.vectorstore.base import SearchFilter, Vectors, VectorStore
from knowledge.vectorstore.schema import (
    MAX_LENGTHS,
    OUTPUT_FIELDS,
    chunk_schema,
    dense_search_params,
    index_params,
    is_lite,
    schema_problem,
)

# pymilvus checks search data for scipy sparse matrices by executing scipy.sparse on first
# use, unguarded: the first concurrent searches of a new process (a restarted API worker)
# raced on it and failed ("partially initialized module 'scipy.sparse._bsr'"). Once, here.
SciPyHelper.is_spmatrix(None)

log = logging.getLogger(__name__)

HEADING_SEPARATOR = " > "
LITE = "milvus-lite"
UPSERT_BATCH = 256
MAX_QUERY_ROWS = 16384  # Milvus's cap on one query's offset + limit
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}")


class MilvusVectorStore(VectorStore):
    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        collection: str,
        dim: int,
        consistency_level: str = "Bounded",
    ) -> None:
        """``consistency_level`` applies to searches. Bounded (Milvus's default) may miss
        writes of the last seconds; counts and reads of a document always ask for Strong."""
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.uri = uri
        self.collection = collection
        self.dim = dim
        self.consistency_level = consistency_level
        self._client: MilvusClient | None = connect(uri, token=token)
        # The index Milvus Lite can build, also when it is shared over a URI.
        self._engine_uri = uri if is_lite(uri) else f"{LITE}.db"
        if not is_lite(uri) and server_version(self.client, lite=False) != LITE:
            self._engine_uri = uri

    @staticmethod
    def ping(uri: str, *, token: str | None = None) -> str:
        """The server's version, or an exception if it cannot be reached."""
        client = connect(uri, token=token)
        try:
            return server_version(client, lite=is_lite(uri))
        finally:
            client.close()

    @property
    def client(self) -> MilvusClient:
        if self._client is None:
            raise RuntimeError(f"vector store {self.collection!r} is closed")
        return self._client

    def ensure_collection(self) -> None:
        if not self.client.has_collection(self.collection):
            try:
                self.client.create_collection(
                    self.collection,
                    schema=chunk_schema(self.dim),
                    consistency_level=self.consistency_level,
                )
                log.info("created Milvus collection %s (%sd)", self.collection, self.dim)
            except MilvusException:
                # Another worker may have created it between our check and our create.
                if not self.client.has_collection(self.collection):
                    raise
        problem = schema_problem(self.client.describe_collection(self.collection), self.dim)
        if problem:
            raise ValueError(
                f"collection {self.collection!r} cannot be used: {problem}. Drop it and "
                "rebuild it from the stored documents with `kefu reindex --drop`"
            )
        # Also after a crash between creating the collection and its indexes. Another worker
        # may make one between our list and our create ("already exists"): list again.
        for attempt in range(3):
            missing = index_params(
                self._engine_uri, skip=set(self.client.list_indexes(self.collection))
            )
            if not len(missing):
                break
            try:
                # sync=False: an empty collection has nothing to build, and waiting polls
                # every 0.5 s through a timestamp RPC that Milvus Lite does not implement.
                self.client.create_index(self.collection, missing, sync=False)
                break
            except MilvusException:
                if attempt == 2:
                    raise
        # A reopened collection (new process, restarted server) is not loaded until told.
        self.client.load_collection(self.collection)

    def upsert(self, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.shape != (len(chunks), self.dim):
            raise ValueError(
                f"expected vectors of shape ({len(chunks)}, {self.dim}), got {matrix.shape}"
            )
        for start in range(0, len(chunks), UPSERT_BATCH):
            rows = [
                _row(chunk, vector)
                for chunk, vector in zip(
                    chunks[start : start + UPSERT_BATCH],
                    matrix[start : start + UPSERT_BATCH],
                    strict=True,
                )
            ]
            self.client.upsert(self.collection, rows)

    def flush(self) -> None:
        self.client.flush(self.collection)

    def delete_by_document(
        self,
        document_id: int,
        *,
        except_version: int | None = None,
        only_version: int | None = None,
    ) -> None:
        if except_version is not None and only_version is not None:
            raise ValueError("pass except_version or only_version, not both")
        expr = f"document_id == {int(document_id)}"
        if except_version is not None:
            expr += f" and version != {int(except_version)}"
        if only_version is not None:
            expr += f" and version == {int(only_version)}"
        self.client.delete(self.collection, filter=expr)

    def delete_by_kb(self, kb_id: int) -> None:
        self.client.delete(self.collection, filter=f"kb_id == {int(kb_id)}")

    def dense_search(
        self,
        *,
        kb_ids: Sequence[int],
        query_vector: Vectors,
        top_k: int,
        kind: str | None = None,
        lang: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> list[Hit]:
        where = SearchFilter.of(kb_ids, kind, lang, document_ids)
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dim,):
            raise ValueError(f"expected a query vector of {self.dim} floats, got {vector.shape}")
        if where.matches_nothing or _checked(top_k) == 0:
            return []
        results = self.client.search(
            self.collection,
            data=[vector.tolist()],
            anns_field="dense",
            filter=filter_expression(where),
            limit=top_k,
            output_fields=OUTPUT_FIELDS,
            search_params=dense_search_params(self._engine_uri, top_k),
            consistency_level=self.consistency_level,
        )
        return [
            Hit(chunk, score, dense_score=score)
            for chunk, score in ((_chunk(r["entity"]), float(r["distance"])) for r in results[0])
        ]

    def keyword_search(
        self,
        *,
        kb_ids: Sequence[int],
        query_text: str,
        top_k: int,
        kind: str | None = None,
        lang: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> list[Hit]:
        where = SearchFilter.of(kb_ids, kind, lang, document_ids)
        if where.matches_nothing or _checked(top_k) == 0 or not query_text.strip():
            return []
        results = self.client.search(
            self.collection,
            data=[query_text],
            anns_field="sparse",
            filter=filter_expression(where),
            limit=top_k,
            output_fields=OUTPUT_FIELDS,
            search_params={"metric_type": "BM25"},
            consistency_level=self.consistency_level,
        )
        # Milvus Lite 3.x returned BM25 scores negated; Lite 2.5 and Milvus return them positive.
        hits = [
            Hit(chunk, score, keyword_score=score)
            for chunk, score in (
                (_chunk(r["entity"]), abs(float(r["distance"]))) for r in results[0]
            )
        ]
        hits.sort(key=lambda h: -h.score)
        return hits

    def count(self, *, kb_id: int | None = None, document_id: int | None = None) -> int:
        parts = []
        if kb_id is not None:
            parts.append(f"kb_id == {int(kb_id)}")
        if document_id is not None:
            parts.append(f"document_id == {int(document_id)}")
        rows = self.client.query(
            self.collection,
            filter=" and ".join(parts),
            output_fields=["count(*)"],
            consistency_level="Strong",
        )
        return int(rows[0]["count(*)"])

    def get_chunks(self, *, document_id: int) -> list[Chunk]:
        # Not query_iterator: Milvus Lite lacks the timestamp RPC it needs and logs errors.
        rows = self.client.query(
            self.collection,
            filter=f"document_id == {int(document_id)}",
            output_fields=OUTPUT_FIELDS,
            limit=MAX_QUERY_ROWS,
            consistency_level="Strong",
        )
        if len(rows) == MAX_QUERY_ROWS:
            log.warning("document %s has over %s chunks: list truncated", document_id, len(rows))
        return sorted((_chunk(row) for row in rows), key=lambda c: (c.version, c.ordinal))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def connect(uri: str, *, token: str | None = None) -> MilvusClient:
    if is_lite(uri):
        path = Path(uri)
        if path.is_dir():
            raise RuntimeError(
                f"{uri} is a Milvus Lite 3.x data directory; this kefu uses Milvus Lite 2.5, "
                f"which keeps a file there. Move the directory aside (mv {uri} {uri}.old) and "
                "rebuild the vectors from the stored documents with `kefu reindex`"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return MilvusClient(uri=uri)
        except MilvusException as exc:
            raise RuntimeError(
                f"cannot open the Milvus Lite file {uri}: another process probably owns it. "
                "Share it by running `python -m knowledge.vectorstore.lite_server --data-dir "
                f"{uri} --host 127.0.0.1 --port 19530` and setting the Milvus URI to "
                "http://127.0.0.1:19530"
            ) from exc
    return MilvusClient(uri=uri, token=token or "")


def server_version(client: MilvusClient, *, lite: bool) -> str:
    """Milvus's version; ``milvus-lite`` for Milvus Lite, which does not implement GetVersion.

    ``lite``: the caller knows it is Milvus Lite (a ``.db`` path, or an earlier answer)."""
    if lite:
        # Asking would only make pymilvus log the UNIMPLEMENTED error (on every health check).
        client.list_collections()
        return LITE
    try:
        return str(client.get_server_version())
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        return LITE


def filter_expression(where: SearchFilter) -> str:
    parts = [f"kb_id in {list(where.kb_ids)}"]
    if where.kind is not None:
        parts.append(f'kind == "{_token(where.kind)}"')
    if where.lang is not None:
        parts.append(f'lang == "{_token(where.lang)}"')
    if where.document_ids is not None:
        parts.append(f"document_id in {list(where.document_ids)}")
    return " and ".join(parts)


def _token(value: str) -> str:
    # Values are spliced into a Milvus expression: accept only plain identifiers.
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"invalid filter value {value!r}")
    return value


def _checked(top_k: int) -> int:
    if top_k < 0:
        raise ValueError(f"top_k must not be negative, got {top_k}")
    return top_k


def _fit(value: str, field: str) -> str:
    limit = MAX_LENGTHS[field]
    encoded = value.encode("utf-8")
    if len(encoded) <= limit:
        return value
    # Last resort: a chunk this long means the splitter misbehaved; keep what fits.
    log.warning("truncating %s from %s to %s bytes", field, len(encoded), limit)
    return encoded[:limit].decode("utf-8", errors="ignore")


def _row(chunk: Chunk, vector: Vectors) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "kb_id": chunk.kb_id,
        "document_id": chunk.document_id,
        "version": chunk.version,
        "ordinal": chunk.ordinal,
        "kind": _fit(chunk.kind, "kind"),
        "lang": _fit(chunk.lang, "lang"),
        "source": _fit(chunk.source, "source"),
        "text": _fit(chunk.text, "text"),
        "content": _fit(chunk.content, "content"),
        "heading_path": _fit(HEADING_SEPARATOR.join(chunk.heading_path), "heading_path"),
        "question": _fit(chunk.question, "question"),
        "page": -1 if chunk.page is None else chunk.page,
        "dense": vector.tolist(),
    }


def _chunk(row: dict[str, Any]) -> Chunk:
    heading = str(row["heading_path"])
    page = int(row["page"])
    return Chunk(
        chunk_id=str(row["chunk_id"]),
        kb_id=int(row["kb_id"]),
        document_id=int(row["document_id"]),
        version=int(row["version"]),
        ordinal=int(row["ordinal"]),
        source=str(row["source"]),
        text=str(row["text"]),
        content=str(row["content"]),
        heading_path=tuple(heading.split(HEADING_SEPARATOR)) if heading else (),
        page=None if page < 0 else page,
        kind=row["kind"],
        lang=row["lang"],
        question=str(row["question"]),
    )
