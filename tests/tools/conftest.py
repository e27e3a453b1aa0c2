from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from tests.customers.conftest import demo, sql_source

__all__ = ["capture_logs", "demo", "sql_source"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def capture_logs(name: str) -> Iterator[list[logging.LogRecord]]:
    """Records from one logger (the suite runs with ``-p no:logging``, so no caplog)."""
    handler = _Collect()
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
