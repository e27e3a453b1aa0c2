"""Ingestion throughput: end to end (upload → parse → split → embed → upsert → ready) next to
the raw embedding speed of the same chunk texts with the same model, in one run.

    python benchmarks/ingest.py [--kb ../shared/eval/dev/kb] [--target-chunks 2000]

The knowledge base is uploaded repeatedly under new file names until about the target number
of chunks; everything runs on embedded defaults in a temporary data directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from app.core.config import Settings
from app.core.migrations import upgrade
from app.knowledge_bases import service as kb_service
from app.runtime import Runtime
from ingestion.loaders import load
from ingestion.splitter import split
from knowledge.embeddings import Embedder
from knowledge.formats import SUPPORTED_EXTENSIONS

ROOT = Path(__file__).resolve().parents[1]


def _embed_time(embedder: Embedder, texts: list[str]) -> float:
    start = time.perf_counter()
    for i in range(0, len(texts), 32):
        embedder.embed_passages(texts[i : i + 32])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=Path, default=ROOT.parent / "shared" / "eval" / "dev" / "kb")
    parser.add_argument("--target-chunks", type=int, default=2000)
    args = parser.parse_args()
    console = Console()

    files = sorted(p for p in args.kb.iterdir() if p.suffix.lower() in SUPPORTED_EXTENSIONS)
    per_copy = sum(len(split(load(p.read_bytes(), p.name))) for p in files)
    copies = max(1, round(args.target_chunks / per_copy))
    uploads = [
        kb_service.Upload(filename=f"c{i:03d}-{p.name}", data=p.read_bytes())
        for i in range(copies)
        for p in files
    ]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        upgrade(settings.database_url)
        runtime = Runtime.build(settings)
        embedder = runtime.index.embedder
        embedder.embed_queries(["warm-up"])
        texts = [
            d.text for u in uploads[: len(files)] for d in split(load(u.data, u.filename))
        ] * copies
        half = len(texts) // 2
        # Raw speed is measured half before and half after the end-to-end run, so a change
        # in machine load during the run affects both sides alike.
        raw_s = _embed_time(embedder, texts[:half])
        with runtime.session_factory() as db_session:
            kb = kb_service.create_kb(
                db_session=db_session, runtime=runtime, name="bench", description=""
            )
            db_session.commit()
            start = time.perf_counter()
            kb_service.upload(db_session=db_session, runtime=runtime, kb=kb, uploads=uploads)
            runtime.ingestion.drain()
            e2e_s = time.perf_counter() - start
        raw_s += _embed_time(embedder, texts[half:])
        chunks = runtime.index.current_store().count(kb_id=kb.id)
        runtime.close()

    e2e_rate, raw_rate = chunks / e2e_s, len(texts) / raw_s
    table = Table("measure", "value", title=f"ingestion of {chunks} chunks ({embedder.model_name})")
    table.add_row("documents", str(len(uploads)))
    table.add_row("end to end", f"{e2e_s:.1f} s, {e2e_rate:.2f} chunks/s")
    table.add_row("raw embedding (same texts)", f"{raw_s:.1f} s, {raw_rate:.2f} chunks/s")
    table.add_row("ratio end-to-end / raw", f"{e2e_rate / raw_rate:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
