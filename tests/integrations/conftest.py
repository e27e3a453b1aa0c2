"""The library knowledge base ingested once for the module, in a real kefu served on
127.0.0.1 with an admin key, for KefuRetriever in both modes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.auth.models import Role
from app.runtime import Runtime
from tests.openai_compat.conftest import build_runtime, new_key, serve
from tests.retrieval import library
from tests.support import ingest


@dataclass(frozen=True)
class Served:
    runtime: Runtime
    base_url: str  # the kefu root, without /v1
    admin_key: str
    client_key: str


@pytest.fixture(scope="package")
def served_library(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Served]:
    rt = build_runtime(tmp_path_factory.mktemp("integrations"), sqlite_template)
    ingest(rt, library.DOCUMENTS, kb="library")
    try:
        with serve(rt) as v1_url:
            yield Served(
                runtime=rt,
                base_url=v1_url.removesuffix("/v1"),
                admin_key=new_key(rt, Role.ADMIN)[0],
                client_key=new_key(rt, Role.CLIENT)[0],
            )
    finally:
        rt.close()
