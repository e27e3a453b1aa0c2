from __future__ import annotations

import sys

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.core import datadir, migrations
from app.core.config import Settings, get_settings
from app.core.db import make_engine


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # a bad env var should read as a message, not a traceback
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


def check_extra_tools(settings: Settings) -> None:
    """Refuse to start with a bad ``KEFU_EXTRA_TOOLS``, in one line that names the fix."""
    # Here, not at the top: every command imports this module, and the tools bring LangChain.
    from app.runtime import load_extra_tools
    from app.tools.binding import ToolBindingError

    try:
        load_extra_tools(settings)
    except ToolBindingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def ensure_schema(settings: Settings) -> None:
    """Migrate the embedded database; refuse to run against an outdated external one."""
    url = settings.database_url
    datadir.secure(settings)
    try:
        if settings.is_embedded_db:
            migrations.upgrade(url)
            return
        engine = make_engine(url)
        try:
            if migrations.pending(engine, url):
                typer.echo(
                    "error: the database schema is out of date: run `kefu migrate`", err=True
                )
                raise typer.Exit(1)
        finally:
            engine.dispose()
    except DBAPIError as exc:
        # One line an operator can act on, not a page of driver traceback.
        reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc) else ""
        where = make_url(url).render_as_string(hide_password=True)
        typer.echo(f"error: cannot use the database at {where}: {reason}", err=True)
        raise typer.Exit(1) from None


def err(message: str) -> None:
    print(message, file=sys.stderr)
