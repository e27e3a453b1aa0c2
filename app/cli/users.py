"""``kefu users``: console accounts. A new or reset password is printed once, alone on
stdout (or read from stdin with ``--password-stdin``)."""

from __future__ import annotations

import sys

import typer

from app.cli.common import ensure_schema, settings_or_exit
from app.console import service as users_service
from app.console.models import ConsoleRole
from app.core.db import make_engine, make_session_factory, session_scope

app = typer.Typer(help="Create, disable and reset console users.", no_args_is_help=True)


def _password_from_stdin(enabled: bool) -> str | None:
    if not enabled:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        return users_service.check_password(password)
    except users_service.InvalidUser as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("create")
def create(
    role: ConsoleRole = typer.Option(..., help="admin or agent"),
    name: str = typer.Option(..., help="Login name"),
    display_name: str | None = typer.Option(
        None, help="Name customers see when this agent answers (default: the login name)"
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin instead of making one"
    ),
) -> None:
    """Create a console user; prints a one-time password unless --password-stdin."""
    password = _password_from_stdin(password_stdin)
    settings = settings_or_exit()
    ensure_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            new = users_service.create(
                db_session=db_session,
                name=name,
                role=role,
                display_name=display_name,
                password=password,
            )
            user_id = new.user.id
    except (users_service.InvalidUser, users_service.DuplicateUser) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(f"created {role.value} {name} (id {user_id}); sign in at /console", err=True)
    if password is None:
        typer.echo(new.password)


def _change(name: str, change: str, password: str | None = None) -> str | None:
    settings = settings_or_exit()
    ensure_schema(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            user = users_service.get_by_name(db_session=db_session, name=name)
            if user is None:
                typer.echo(f"error: no console user named '{name}'", err=True)
                raise typer.Exit(1)
            if change == "reset":
                reset = users_service.reset_password(
                    db_session=db_session, user_id=user.id, password=password
                )
                return reset.password if reset else None
            users_service.set_disabled(
                db_session=db_session, user_id=user.id, disabled=change == "disable"
            )
            return None
    finally:
        engine.dispose()


@app.command("disable")
def disable(name: str = typer.Argument(..., help="Login name")) -> None:
    """Disable a user: refused at once, every session ends."""
    _change(name, "disable")
    typer.echo(f"disabled {name}", err=True)


@app.command("enable")
def enable(name: str = typer.Argument(..., help="Login name")) -> None:
    """Enable a disabled user again."""
    _change(name, "enable")
    typer.echo(f"enabled {name}", err=True)


@app.command("reset")
def reset(
    name: str = typer.Argument(..., help="Login name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the new password from stdin instead of making one"
    ),
) -> None:
    """Reset a password (every session of the user ends); prints a one-time one."""
    password = _password_from_stdin(password_stdin)
    new = _change(name, "reset", password)
    typer.echo(f"reset the password of {name}; every session of theirs has ended", err=True)
    if password is None and new:
        typer.echo(new)
