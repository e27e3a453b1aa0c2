"""The chunk collection's schema and indexes: one definition for Milvus Lite and Milvus.

``kb_id`` is a plain filtered field with an inverted index, not a partition key: Milvus Lite
2.5 rejects every filter expression on a collection that has a partition key ("Invalid expr:
kb_id in [1]: invalid parameter"), and production Milvus must keep the same schema so that a
deployment can move between them by reindexing. At the sizes kefu serves (a few knowledge
bases, up to a few hundred thousand chunks) the filtered field costs a search nothing
measurable (docs/benchmarks.md).

The fields are the same everywhere; only the dense index differs, because Milvus Lite builds
FLAT, IVF_FLAT and AUTOINDEX only: IVF_FLAT there (a FLAT scan of 100k vectors takes 15-40 ms
on two cores, IVF_FLAT 2-5 ms), HNSW on a Milvus server.
"""

from __future__ import annotations

from typing import Any

from pymilvus import DataType, Function, FunctionType, MilvusClient

from knowledge.vectorstore.analysis import ANALYZER_PARAMS

# Milvus limits VARCHAR to 65,535 bytes; Chinese takes 3 bytes a character in UTF-8.
MAX_LENGTHS = {
    "chunk_id": 64,
    "kind": 16,
    "lang": 16,
    "source": 2048,
    "heading_path": 4096,
    "question": 8192,
    "text": 65535,
    "content": 65535,
}
OUTPUT_FIELDS = [
    "chunk_id", "kb_id", "document_id", "version", "ordinal", "kind", "lang",
    "source", "text", "content", "heading_path", "question", "page",
]  # fmt: skip
HNSW_BUILD = {"M": 16, "efConstruction": 200}
# nlist near sqrt(rows) for the 10k-1M chunks of one model's collection; nprobe 32 of 256
# lists keeps the recall of real (clustered) embeddings near FLAT's at an eighth of its cost.
IVF_BUILD = {"nlist": 256}
IVF_NPROBE = 32


def is_lite(uri: str) -> bool:
    """A ``.db`` path is an embedded Milvus Lite file; anything else is a Milvus server."""
    return uri.endswith(".db")


def chunk_schema(dim: int) -> Any:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=64)
    for name in ("kb_id", "document_id", "version", "ordinal", "page"):
        schema.add_field(name, DataType.INT64)
    for name in ("kind", "lang", "source", "content", "heading_path", "question"):
        schema.add_field(name, DataType.VARCHAR, max_length=MAX_LENGTHS[name])
    schema.add_field(
        "text",
        DataType.VARCHAR,
        max_length=MAX_LENGTHS["text"],
        enable_analyzer=True,
        analyzer_params=ANALYZER_PARAMS,
    )
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="text_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    return schema


def schema_problem(description: dict[str, Any], dim: int) -> str | None:
    """Why an existing collection cannot serve this code, or None if it can."""
    fields = {f["name"]: f for f in description["fields"]}
    dims = [int(fields["dense"]["params"]["dim"])] if "dense" in fields else []
    if dims != [dim]:
        return f"it holds {dims or 'no'}-dimensional vectors, this store was opened for {dim}"
    if fields.get("kb_id", {}).get("is_partition_key"):
        return "it has kb_id as its partition key (the schema before kefu 0.2)"
    return None


def dense_index(uri: str) -> dict[str, Any]:
    if is_lite(uri):
        return {"index_type": "IVF_FLAT", "metric_type": "COSINE", "params": IVF_BUILD}
    return {"index_type": "HNSW", "metric_type": "COSINE", "params": HNSW_BUILD}


def dense_search_params(uri: str, top_k: int) -> dict[str, Any]:
    if is_lite(uri):
        return {"metric_type": "COSINE", "params": {"nprobe": IVF_NPROBE}}
    # HNSW needs ef >= limit; 64 keeps recall high for small limits.
    return {"metric_type": "COSINE", "params": {"ef": max(64, top_k)}}


def index_params(uri: str, *, skip: set[str]) -> Any:
    params = MilvusClient.prepare_index_params()
    wanted: list[dict[str, Any]] = [
        {"field_name": "dense", **dense_index(uri)},
        {"field_name": "sparse", "index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25"},
        {"field_name": "kb_id", "index_type": "INVERTED"},
        {"field_name": "document_id", "index_type": "INVERTED"},
    ]
    for index in wanted:
        if index["field_name"] not in skip:
            params.add_index(**index)
    return params
