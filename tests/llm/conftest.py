"""Fixtures for LLM client tests: a scripted endpoint and settings isolated from the
environment (a developer's KEFU_LLM_* or .env must not change what the tests expect)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.core.config import LLMSettings
from tests.llm.scripted_server import ScriptedServer


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def llm_settings(
    scripted_llm: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., LLMSettings]:
    """Settings pointing at the scripted server: defaults, plus the overrides given."""
    for name in list(os.environ):
        if name.startswith("KEFU_LLM_"):
            monkeypatch.delenv(name)

    def make(**overrides: Any) -> LLMSettings:
        values: dict[str, Any] = {"base_url": scripted_llm.base_url, "model": scripted_llm.model}
        values.update(overrides)
        return LLMSettings(_env_file=None, **values)

    return make


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
