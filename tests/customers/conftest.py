"""The demo data set loaded into the test database (PostgreSQL and SQLite, see tests/conftest)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.customers.demo import DemoCounts, load_demo
from app.customers.sql import SqlBusinessData


@pytest.fixture
def demo(db_session: Session) -> DemoCounts:
    counts = load_demo(db_session=db_session)
    db_session.commit()  # a savepoint on PostgreSQL: the test still rolls back
    return counts


@pytest.fixture
def sql_source(demo: DemoCounts, session_factory: sessionmaker[Session]) -> SqlBusinessData:
    return SqlBusinessData(session_factory)
