"""``kefu keys``: API keys are created here (the secret printed once, alone on stdout)."""

from __future__ import annotations

import json

import typer

from app.auth import origins
from app.auth import service as auth_service
from app.auth.models import Role
from app.cli.common import ensure_schema, settings_or_exit
from app.core.db import make_engine, make_session_factory, session_scope

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@app.command("create")
def create(
    role: Role = typer.Option(..., help="admin, client or dify"),
    name: str = typer.Option(..., help="Who or what the key is for"),
    rate_limit: int | None = typer.Option(None, help="Requests per minute (default: settings)"),
    origin: list[str] = typer.Option(
        [],
        help="Allowed widget host origin, http(s)://host[:port] or https://*.example.com "
        "(repeatable)",
    ),
) -> None:
    """Create a key and print its secret, once, alone on stdout."""
    try:
        allowed = origins.normalise_allowed(origin)
    except origins.InvalidOrigin as exc:
        # A usage error (2), found before the database is opened: nothing is stored.
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    settings = settings_or_exit()
    ensure_schema(settings)
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as db_session:
        new = auth_service.create(
            db_session=db_session,
            name=name,
            role=role,
            rate_limit_per_minute=rate_limit,
            allowed_origins=allowed,
        )
        key_id = new.key.id
    engine.dispose()
    typer.echo(f"created {role.value} key {key_id} ({name}); it is shown only once", err=True)
    typer.echo(new.secret)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="One JSON object per key")) -> None:
    """List keys (never their secrets)."""
    settings = settings_or_exit()
    ensure_schema(settings)
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as db_session:
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "role": k.role.value,
                "prefix": k.prefix,
                "revoked": k.revoked,
                "created_at": k.created_at.isoformat(),
            }
            for k in auth_service.list_keys(db_session=db_session)
        ]
    engine.dispose()
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row))
        else:
            state = "revoked" if row["revoked"] else "active"
            typer.echo(
                f"{row['id']:>5}  {row['role']:<7} {state:<8} {row['prefix']}…  {row['name']}"
            )


@app.command("revoke")
def revoke(key_id: int = typer.Argument(..., help="Key id from `kefu keys list`")) -> None:
    """Revoke a key: it is refused (403) from then on."""
    settings = settings_or_exit()
    ensure_schema(settings)
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as db_session:
        key = auth_service.revoke(db_session=db_session, key_id=key_id)
    engine.dispose()
    if key is None:
        typer.echo(f"error: no key with id {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked key {key_id} ({key.name})", err=True)
