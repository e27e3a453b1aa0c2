"""A real kefu server on loopback (uvicorn in a thread) with a small knowledge base and a
scripted LLM endpoint, and helpers to read ``/metrics`` with Prometheus's own parser."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import LLMSettings
from app.observability import tracing
from app.runtime import Runtime
from tests.llm.scripted_server import ScriptedServer
from tests.openai_compat.conftest import build_runtime, new_key, serve


@dataclass(frozen=True)
class Ops:
    root: str  # http://127.0.0.1:port
    api_key: str
    llm: ScriptedServer
    runtime: Runtime

    def chat(self, text: str, *, stream: bool = False) -> httpx.Response:
        return httpx.post(
            f"{self.root}/v1/chat/completions",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={
                "model": "kefu",
                "messages": [{"role": "user", "content": text}],
                "stream": stream,
            },
            timeout=30,
        )

    def scrape(self, **headers: str) -> Samples:
        resp = httpx.get(f"{self.root}/metrics", headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/plain")
        return Samples.parse(resp.text)


class Samples(dict[tuple[str, frozenset[tuple[str, str]]], float]):
    """Every sample of a scrape: (name, labels) → value; families by name in ``families``."""

    families: dict[str, str]  # family name → type

    @classmethod
    def parse(cls, text: str) -> Samples:
        out = cls()
        out.families = {}
        for family in text_string_to_metric_families(text):
            out.families[family.name] = family.type
            for s in family.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out

    def value(self, name: str, **labels: str) -> float:
        """The sum over the samples of ``name`` whose labels include ``labels`` (0 if none)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.items() if n == name and wanted <= ls)

    def names(self) -> set[str]:
        return {n for n, _ in self}


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Ops]:
    with ScriptedServer() as llm:
        settings = LLMSettings(
            _env_file=None, base_url=llm.base_url, model=llm.model, max_retries=0
        )
        rt = build_runtime(tmp_path_factory.mktemp("ops"), sqlite_template, llm=settings)
        try:
            with serve(rt) as base_url:
                secret, _ = new_key(rt)
                yield Ops(base_url.removesuffix("/v1"), secret, llm, rt)
        finally:
            rt.close()


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.use(provider)
    yield memory
    tracing.use(None)
    provider.shutdown()
