"""Every migration runs up, down to base and up again, and the models match the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

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
    "owed_answers",
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


def test_agent_messages_from_before_0005_are_named_after_their_claim(empty_db: str) -> None:
    """Agent messages from before messages had an author: named after the latest claim."""
    migrations.upgrade(empty_db, "0004")
    now = "2026-12-01 08:00:00+00:00"
    rows = [  # id, role, content: carol claims and writes, releases; dave claims and writes
        (1, "user", "hello"),
        (2, "system", "claimed by carol"),
        (3, "agent", "carol?"),
        (4, "system", "released to the bot by carol"),
        (5, "system", "claimed by dave"),
        (6, "agent", "dave?"),
    ]
    engine = create_engine(empty_db)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO conversations (id, channel, status, summary, last_message_at, "
                "created_at, updated_at) VALUES ('c1', 'web', 'bot', '', :t, :t, :t)"
            ),
            {"t": now},
        )
        for msg_id, role, content in rows:
            conn.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, role, content, citations, "
                    "prompt_tokens, completion_tokens, created_at) "
                    "VALUES (:id, 'c1', :role, :content, '[]', 0, 0, :t)"
                ),
                {"id": msg_id, "role": role, "content": content, "t": now},
            )
    migrations.upgrade(empty_db)
    with engine.connect() as conn:
        named = conn.execute(text("SELECT content, author FROM messages ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in named] == [
        ("hello", None),
        ("claimed by carol", None),
        ("carol?", "carol"),
        ("released to the bot by carol", None),
        ("claimed by dave", None),
        ("dave?", "dave"),
    ]
