"""The ``kefu`` command line."""

from __future__ import annotations

import typer

from app.cli import chat, demo, evaluate, ingest, keys, reindex, server, users

cli = typer.Typer(
    name="kefu",
    help="kefu: customer-service chatbot backend with retrieval-augmented generation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.add_typer(keys.app, name="keys")
cli.add_typer(users.app, name="users")
server.register(cli)
ingest.register(cli)
reindex.register(cli)
demo.register(cli)
evaluate.register(cli)
chat.register(cli)


def main() -> None:
    cli()
