"""Shared fixtures: a real PostgreSQL and SQLite, both built by the Alembic migrations.

PostgreSQL tests run inside a transaction and each session commit becomes a savepoint, so
every test rolls back. SQLite tests get a copy of a migrated template file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.core import migrations
from app.core.cache import InProcessCache
from app.core.config import Settings
from app.core.db import make_engine
from app.main import create_app
from app.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
# The labelled development set lives beside the repository (shared/ next to the clone).
DEV_SET = Path(os.environ.get("KEFU_DEV_SET", ROOT.parent / "shared" / "eval" / "dev"))

PG_ADMIN_URL = os.environ.get(
    "KEFU_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def fresh_pg_database(prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """A new PostgreSQL database (optionally migrated to head), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        if migrate:
            migrations.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    with fresh_pg_database("kefu_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_bind(
    backend: str, pg_engine: Engine, sqlite_template: Path, tmp_path: Path
) -> Iterator[Engine | Connection]:
    """What sessions bind to: a rolled-back PostgreSQL transaction or a fresh SQLite copy."""
    if backend == "postgresql":
        conn = pg_engine.connect()
        trans = conn.begin()
        yield conn
        trans.rollback()
        conn.close()
    else:
        path = tmp_path / "kefu.db"
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()


@pytest.fixture
def session_factory(db_bind: Engine | Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=db_bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    yield session
    session.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        secret_key="test-secret-0123456789abcdef",  # type: ignore[arg-type]
        log_json=True,
    )


@pytest.fixture
def runtime(
    settings: Settings, db_bind: Engine | Connection, session_factory: sessionmaker[Session]
) -> Iterator[Runtime]:
    engine = db_bind if isinstance(db_bind, Engine) else db_bind.engine
    rt = Runtime.build(
        settings, engine=engine, session_factory=session_factory, cache=InProcessCache()
    )
    yield rt
    rt.ingestion.close()
    rt.index.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


@pytest.fixture
def admin_secret(session_factory: sessionmaker[Session]) -> str:
    from app.auth import service as auth_service
    from app.auth.models import Role

    with session_factory() as s:
        new = auth_service.create(db_session=s, name="test-admin", role=Role.ADMIN)
        s.commit()
    return new.secret
