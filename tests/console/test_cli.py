"""``kefu users`` as operators run it: real subprocesses on a fresh data directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from app.console import service
from app.core.db import make_engine
from tests.cli.test_cli import KEFU, _env, _run


def test_users_create_disable_and_reset(tmp_path: Path) -> None:
    created = _run(["users", "create", "--role", "admin", "--name", "ada"], tmp_path)
    assert created.returncode == 0, created.stderr
    [password] = created.stdout.splitlines()
    assert len(password) >= service.MIN_PASSWORD_CHARS

    typed = subprocess.run(
        [
            *KEFU,
            "users",
            "create",
            "--role",
            "agent",
            "--name",
            "bo",
            "--password-stdin",
            "--display-name",
            "客服小波",
        ],
        input="typed password 123\n",
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout == ""  # a password the operator typed is never echoed

    again = _run(["users", "create", "--role", "agent", "--name", "bo"], tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    short = subprocess.run(
        [*KEFU, "users", "create", "--role", "agent", "--name", "cy", "--password-stdin"],
        input="short\n",
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert short.returncode == 2 and "password must be" in short.stderr

    assert _run(["users", "disable", "bo"], tmp_path).returncode == 0
    reset = _run(["users", "reset", "ada"], tmp_path)
    assert reset.returncode == 0
    [new_password] = reset.stdout.splitlines()
    assert _run(["users", "disable", "nobody"], tmp_path).returncode == 1

    engine = make_engine(f"sqlite:///{tmp_path / 'kefu.db'}")
    with sessionmaker(engine)() as s:
        ada = service.authenticate(db_session=s, name="ada", password=new_password)
        assert ada.role.value == "admin" and ada.session_generation == 1
        bo = service.get_by_name(db_session=s, name="bo")
        assert bo is not None and bo.disabled and bo.display_name == "客服小波"
    engine.dispose()
