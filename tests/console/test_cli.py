"""``kefu users`` as operators run it (in process, on a fresh data directory: the entry point
itself is covered by tests/cli)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner, Result

from app.cli import cli
from app.console import service
from app.core.config import get_settings
from app.core.db import make_engine


@pytest.fixture
def kefu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(runner: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(cli, list(args), input=stdin)


def test_users_create_disable_and_reset(kefu: CliRunner, tmp_path: Path) -> None:
    created = run(kefu, "users", "create", "--role", "admin", "--name", "ada")
    assert created.exit_code == 0, created.output
    [password] = created.stdout.splitlines()
    assert len(password) >= service.MIN_PASSWORD_CHARS

    typed = run(
        kefu,
        *("users", "create", "--role", "agent", "--name", "bo", "--password-stdin"),
        *("--display-name", "客服小波"),
        stdin="typed password 123\n",
    )
    assert typed.exit_code == 0, typed.output
    assert typed.stdout == ""  # a password the operator typed is never echoed
    again = run(kefu, "users", "create", "--role", "agent", "--name", "bo")
    assert again.exit_code == 2 and "already exists" in again.stderr
    short = run(
        kefu,
        "users",
        "create",
        "--role",
        "agent",
        "--name",
        "cy",
        "--password-stdin",
        stdin="short\n",
    )
    assert short.exit_code == 2 and "password must be" in short.stderr

    assert run(kefu, "users", "disable", "bo").exit_code == 0
    assert run(kefu, "users", "disable", "nobody").exit_code == 1
    reset = run(kefu, "users", "reset", "ada")
    assert reset.exit_code == 0
    [new_password] = reset.stdout.splitlines()

    engine = make_engine(f"sqlite:///{tmp_path / 'kefu.db'}")
    with sessionmaker(engine)() as s:
        ada = service.authenticate(db_session=s, name="ada", password=new_password)
        assert ada.role.value == "admin" and ada.session_generation == 1
        with pytest.raises(service.BadCredentials):
            service.authenticate(db_session=s, name="ada", password=password)
        bo = service.get_by_name(db_session=s, name="bo")
        assert bo is not None and bo.disabled and bo.display_name == "客服小波"
        with pytest.raises(service.DisabledUser):
            service.authenticate(db_session=s, name="bo", password="typed password 123")
    engine.dispose()
