"""``kefu reindex``: rebuild the vectors of knowledge bases from their stored originals.

For a change of embedding model, or of the vector store's engine or schema (Milvus Lite 3.x
data, or a collection with the old partition-key schema): ``--drop`` first drops kefu's
collections, which the new code refuses to open.
"""

from __future__ import annotations

import typer
from rich.console import Console

from app.cli.common import ensure_schema, settings_or_exit
from app.cli.ingest import _follow
from knowledge import service as knowledge_service


def register(cli: typer.Typer) -> None:
    @cli.command()
    def reindex(
        kb: list[str] = typer.Option(
            [], "--kb", help="Knowledge base name (repeatable; default: all)"
        ),
        drop: bool = typer.Option(
            False, help="Drop kefu's vector collections first (every knowledge base's vectors)"
        ),
        timeout: float = typer.Option(3600, help="Seconds to wait for the jobs"),
    ) -> None:
        """Re-embed and re-index documents from their stored originals."""
        # Here, not at the top: see app/cli/ingest.py.
        from app.knowledge_bases import service as kb_service
        from app.runtime import Runtime

        console = Console(stderr=True)
        settings = settings_or_exit()
        ensure_schema(settings)
        runtime = Runtime.build(settings)
        try:
            runtime.index.ping()  # refuses old data before any job is queued
            if drop:
                for name in runtime.index.drop_collections():
                    console.print(f"dropped collection {name}")
            job_ids: list[int] = []
            with runtime.session_factory() as db_session:
                bases = knowledge_service.list_kbs(db_session=db_session)
                unknown = set(kb) - {b.name for b in bases}
                if unknown:
                    raise typer.BadParameter(f"no knowledge base named {sorted(unknown)}")
                for base in bases:
                    if kb and base.name not in kb:
                        continue
                    jobs = kb_service.reindex(db_session=db_session, runtime=runtime, kb=base)
                    job_ids += [j.id for j in jobs]
                    console.print(f"{base.name}: {len(jobs)} document(s) queued")
            _follow(runtime, job_ids, timeout, console)
        finally:
            runtime.close()
