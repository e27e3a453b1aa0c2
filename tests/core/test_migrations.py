"""Every migration runs up, down to base and up again, and the models match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import app.models  # noqa: F401  - every table on Base.metadata
from app.core import migrations
from app.core.db import Base
from tests.conftest import fresh_pg_database

EXPECTED = {
    "api_keys",
    "knowledge_bases",
    "documents",
    "ingestion_jobs",
    "conversations",
    "messages",
    "turn_traces",
    "customers",
    "channel_cursors",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    with fresh_pg_database("kefu_mig", migrate=False) as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_up_down_up_and_no_drift(empty_db: str) -> None:
    migrations.upgrade(empty_db)
    assert _tables(empty_db) >= EXPECTED
    migrations.downgrade(empty_db, "base")
    assert _tables(empty_db) == set()
    migrations.upgrade(empty_db)
    assert _tables(empty_db) >= EXPECTED

    engine = create_engine(empty_db)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"
