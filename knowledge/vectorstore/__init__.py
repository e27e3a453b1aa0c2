"""Where chunks are stored and searched: dense vectors, BM25 keywords, and both fused.

``MilvusVectorStore`` (in ``knowledge.vectorstore.milvus``, imported on demand because it
pulls in pymilvus) serves both the embedded Milvus Lite file and a Milvus server.
``InMemoryVectorStore`` is for unit tests of the packages that use a store.
"""

from knowledge.vectorstore.base import SearchFilter, Vectors, VectorStore, rrf_fuse
from knowledge.vectorstore.memory import InMemoryVectorStore

__all__ = ["InMemoryVectorStore", "SearchFilter", "VectorStore", "Vectors", "rrf_fuse"]
