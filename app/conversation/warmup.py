"""Everything the first customer message would otherwise load, loaded before ``/readyz``
says ready: the embedding model, the router's intent exemplars, jieba's dictionary, each
knowledge base's FAQ index and its vector collection. Loaded lazily, they cost the first
message seconds (WeChat's passive window is 5 s) and hold a database connection per waiting
request while they load."""

from __future__ import annotations

import logging
import time

from app.conversation.answering import answering_kbs
from app.retrieval import service as retrieval_service
from app.routing.faqs import ensure_loaded
from app.runtime import Runtime

log = logging.getLogger(__name__)

# A greeting and a question in each language: rules, FAQ matching and retrieval all run once.
PROBES = ("你好", "发票怎么开？", "hello", "How long does delivery take?")


def warm(runtime: Runtime) -> dict[str, float]:
    """Blocking (call it in a thread); returns each stage's milliseconds."""
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal start
        now = time.perf_counter()
        timings[f"{stage}_ms"] = round((now - start) * 1000, 1)
        start = now

    runtime.index.embedder.embed_queries(["warm-up"])
    lap("embedder")
    router = runtime.router
    lap("router")
    with runtime.session_factory() as db_session:
        kbs = answering_kbs(runtime, db_session)
        key = (
            ensure_loaded(router=router, db_session=db_session, index=runtime.index, kbs=kbs)
            if kbs
            else None
        )
        lap("faq_index")
        for probe in PROBES:
            router.route(probe, history=[], kb_key=key)
        lap("routing")
        embedder = runtime.index.embedder
        # A knowledge base awaiting re-indexing is refused by search; it has nothing to warm.
        usable = [
            kb
            for kb in kbs
            if (kb.embedding_model, kb.embedding_dim) == (embedder.model_name, embedder.dim)
        ]
        for probe in PROBES[1::2] if usable else ():
            retrieval_service.search(
                db_session=db_session,
                index=runtime.index,
                kbs=usable,
                query=probe,
                params=retrieval_service.SearchParams(top_k=1),
                embedder=router,
            )
        lap("retrieval")
    log.info("warm", extra={"knowledge_bases": len(kbs), **timings})
    return timings
