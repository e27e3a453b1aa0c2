"""The library knowledge base indexed once, on the real model and a real Milvus Lite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core import migrations
from app.core.config import Settings
from app.evaluation.service import evaluation_settings
from app.knowledge_bases import service as kb_service
from app.runtime import Runtime
from knowledge.models import KnowledgeBase
from tests.retrieval import library


@dataclass
class Library:
    runtime: Runtime
    kb: KnowledgeBase


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("library")
    settings = evaluation_settings(
        Settings(environment="test", secret_key="test-secret-0123456789abcdef"),  # type: ignore[arg-type]
        root / "data",
    )
    settings.data_dir.mkdir(parents=True)
    migrations.upgrade(settings.database_url)
    runtime = Runtime.build(settings)
    yield Library(runtime, index_library(runtime, root / "kb"))
    runtime.close()


def index_library(runtime: Runtime, folder: Path) -> KnowledgeBase:
    """The library written to ``folder`` and indexed as knowledge base "library"."""
    files = library.write(folder)
    with runtime.session_factory() as db_session:
        kb = kb_service.create_kb(
            db_session=db_session, runtime=runtime, name="library", description=""
        )
        db_session.commit()
        uploads = [kb_service.Upload(filename=p.name, data=p.read_bytes()) for p in files]
        kb_service.upload(db_session=db_session, runtime=runtime, kb=kb, uploads=uploads)
    runtime.ingestion.drain(timeout=300)
    return kb
