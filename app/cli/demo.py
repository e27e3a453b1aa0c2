"""``kefu demo-data``: load the demo customers the agent's tools can look up."""

from __future__ import annotations

import typer

from app.cli.common import ensure_schema, settings_or_exit
from app.core.db import make_engine, make_session_factory, session_scope
from app.customers.demo import CUSTOMERS, load_demo


def register(cli: typer.Typer) -> None:
    @cli.command(name="demo-data")
    def demo_data() -> None:
        """Load (or reset) the 云帆通信 demo customers, bills, orders and memberships."""
        settings = settings_or_exit()
        ensure_schema(settings)
        engine = make_engine(settings.database_url)
        try:
            with session_scope(make_session_factory(engine)) as db_session:
                counts = load_demo(db_session=db_session)
        finally:
            engine.dispose()
        typer.echo(
            f"demo data: {counts.customers} customers, {counts.bills} bills, "
            f"{counts.orders} orders, {counts.memberships} memberships",
            err=True,
        )
        if settings.business.backend != "sql":
            typer.echo(
                "note: KEFU_BUSINESS_BACKEND is not sql, so the tools will not read this data",
                err=True,
            )
        ids = ", ".join(c[0] for c in CUSTOMERS)
        typer.echo(f"customer ids: {ids}", err=True)
