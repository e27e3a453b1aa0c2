"""``kefu chat``: try the bot in a terminal, or answer one message (``--message``, ``--json``)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from app.cli.common import check_extra_tools, ensure_schema, settings_or_exit
from app.conversation.schemas import (
    Citation,
    Citations,
    Done,
    Handoff,
    TextDelta,
    ToolCallStarted,
    TurnRequest,
)
from app.core.errors import AppError

# The agent is imported when the command runs, so that `kefu keys`, `migrate` and
# `demo-data` start in a second instead of loading the agent, LangChain and Milvus first.
if TYPE_CHECKING:
    from app.runtime import Runtime


def _cite(c: Citation) -> str:
    where = " > ".join(c.heading_path)
    return f"[{c.n}] {c.source}" + (f" — {where}" if where else "")


def register(cli: typer.Typer) -> None:
    @cli.command()
    def chat(
        message: str | None = typer.Option(None, "--message", "-m", help="Answer this and exit"),
        customer: str | None = typer.Option(None, help="Customer id the tools act for"),
        conversation: str | None = typer.Option(None, help="Continue this conversation"),
        as_json: bool = typer.Option(False, "--json", help="With --message: one JSON object"),
    ) -> None:
        """Chat with the bot using the same settings as `kefu serve`."""
        from app.runtime import Runtime

        settings = settings_or_exit()
        check_extra_tools(settings)
        ensure_schema(settings)
        runtime = Runtime.build(settings)
        console = Console(stderr=not as_json)

        async def main() -> None:
            try:
                if message is not None:
                    await _one(runtime, message, customer, conversation, as_json, console)
                else:
                    await _interactive(runtime, customer, conversation, console)
            finally:
                # On this loop: the LLM and company-API clients are async and bound to it.
                await runtime.aclose()

        try:
            asyncio.run(main())
        except AppError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from exc


async def _one(
    runtime: Runtime,
    message: str,
    customer: str | None,
    conversation: str | None,
    as_json: bool,
    console: Console,
) -> None:
    from app.conversation.turns import run_turn

    req = TurnRequest(
        channel="cli", text=message, conversation_id=conversation, customer_id=customer
    )
    out = await run_turn(runtime, req)
    if as_json:
        body = {
            "answer": out.answer,
            "route": out.route,
            "intent": out.intent,
            "citations": [c.as_dict() for c in out.citations],
            "tool_calls": out.tool_calls,
            "conversation_id": out.conversation_id,
        }
        typer.echo(json.dumps(body, ensure_ascii=False))
        return
    typer.echo(out.answer)
    for c in out.citations:
        console.print(_cite(c), style="dim")


async def _interactive(
    runtime: Runtime, customer: str | None, conversation: str | None, console: Console
) -> None:
    from app.conversation.turns import handle_turn

    console.print("kefu chat — empty line or Ctrl-D to quit", style="bold")
    while True:
        try:
            text = await asyncio.to_thread(console.input, "[bold green]you>[/] ")
        except EOFError:
            return
        if not text.strip():
            return
        req = TurnRequest(
            channel="cli", text=text, conversation_id=conversation, customer_id=customer
        )
        console.print("[bold blue]bot>[/] ", end="")
        async for event in handle_turn(runtime, req):
            if isinstance(event, TextDelta):
                console.print(event.text, end="", markup=False, highlight=False)
            elif isinstance(event, Citations):
                console.print()
                for c in event.items:
                    console.print(_cite(c), style="dim", markup=False)
            elif isinstance(event, Handoff):
                console.print(f"[yellow](handed to a human: {event.reason})[/] ", end="")
            elif isinstance(event, ToolCallStarted):
                args = json.dumps(event.arguments, ensure_ascii=False)
                console.print(f"[dim](tool {event.name} {args})[/] ", end="", highlight=False)
            elif isinstance(event, Done):
                conversation = event.conversation_id
                console.print(f"\n[dim]route={event.route} intent={event.intent}[/]")
