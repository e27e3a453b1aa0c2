"""``kefu ingest``: the same upload flow as the admin API, with a progress bar."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.cli.common import check_extra_tools, ensure_schema, settings_or_exit
from app.core.errors import AppError
from knowledge import service as knowledge_service
from knowledge.formats import SUPPORTED_EXTENSIONS
from knowledge.models import IngestionJob, JobStatus

# The runtime is imported when the command runs, so that `kefu keys`, `migrate` and
# `demo-data` start in a second instead of loading the agent, LangChain and Milvus first.
if TYPE_CHECKING:
    from app.knowledge_bases.service import Upload
    from app.runtime import Runtime

DONE = {JobStatus.SUCCEEDED, JobStatus.FAILED}


def _collect(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
        elif path.is_file():
            files.append(path)
        else:
            raise typer.BadParameter(f"{path} does not exist")
    return files


def _screen(files: list[Path], max_bytes: int) -> tuple[list[Upload], dict[str, str]]:
    """Check each file on its own, so one bad file in a folder does not stop the others."""
    from app.knowledge_bases import service as kb_service

    uploads: list[Upload] = []
    rejected: dict[str, str] = {}
    for path in files:
        try:
            [clean] = kb_service.validate(
                [kb_service.Upload(filename=path.name, data=path.read_bytes())], max_bytes=max_bytes
            )
        except AppError as exc:
            rejected[str(path)] = exc.message
            continue
        if any(u.filename == clean.filename for u in uploads):
            # Documents are keyed by name: a second one would replace the first.
            rejected[str(path)] = f"another file named {clean.filename!r} is in this upload"
            continue
        uploads.append(clean)
    return uploads, rejected


def register(cli: typer.Typer) -> None:
    @cli.command()
    def ingest(
        paths: list[Path] = typer.Argument(..., help="Files or folders to ingest"),
        kb: str = typer.Option(..., "--kb", help="Knowledge base name (created if missing)"),
        wait: bool = typer.Option(
            True, help="Wait for the jobs (always, when no broker is configured)"
        ),
        timeout: float = typer.Option(1800, help="Seconds to wait for the jobs"),
    ) -> None:
        """Upload files into a knowledge base and index them."""
        from app.knowledge_bases import service as kb_service
        from app.runtime import Runtime

        console = Console(stderr=True)
        settings = settings_or_exit()
        check_extra_tools(settings)
        ensure_schema(settings)
        files = _collect(paths)
        if not files:
            console.print("no supported files found")
            raise typer.Exit(1)
        runtime = Runtime.build(settings)
        try:
            with runtime.session_factory() as db_session:
                base = knowledge_service.get_kb(db_session=db_session, ref=kb)
                if base is None:
                    base = kb_service.create_kb(
                        db_session=db_session, runtime=runtime, name=kb, description=""
                    )
                    db_session.commit()
                uploads, rejected = _screen(files, runtime.settings.ingestion.max_upload_bytes)
                outcomes = (
                    kb_service.upload(
                        db_session=db_session, runtime=runtime, kb=base, uploads=uploads
                    )
                    if uploads
                    else []
                )
            job_ids = [o.job.id for o in outcomes if o.job is not None]
            skipped = len(outcomes) - len(job_ids)
            if skipped:
                console.print(f"{skipped} file(s) unchanged since their last upload")
            if runtime.ingestion.eager or wait:
                _follow(runtime, job_ids, timeout, console)
            else:
                console.print(f"queued {len(job_ids)} job(s): {job_ids}")
                _list_failures(rejected, console)
                if rejected:
                    raise typer.Exit(1)
                return
            failed = _report(runtime, base.id, rejected, console)
        finally:
            runtime.close()
        if failed:
            raise typer.Exit(1)


def _follow(runtime: Runtime, job_ids: list[int], timeout: float, console: Console) -> None:
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("indexing", total=len(job_ids))
        pending = set(job_ids)
        while pending and time.monotonic() < deadline:
            with runtime.session_factory() as db_session:
                for job_id in list(pending):
                    job = db_session.get(IngestionJob, job_id)
                    if job is None or job.status in DONE:
                        pending.discard(job_id)
                        progress.advance(bar)
            if pending:
                time.sleep(0.2)  # polling job rows written by another thread or process
    if pending:
        console.print(f"[yellow]{len(pending)} job(s) still running after {timeout:.0f}s[/]")


def _report(runtime: Runtime, kb_id: int, rejected: dict[str, str], console: Console) -> int:
    table = Table("document", "status", "chunks", "version", "error")
    failures = dict(rejected)
    with runtime.session_factory() as db_session:
        for doc in knowledge_service.list_documents(db_session=db_session, kb_id=kb_id):
            if doc.status == "failed":
                failures[doc.name] = doc.error or "failed"
            table.add_row(
                doc.name, doc.status.value, str(doc.chunk_count), str(doc.version), doc.error or ""
            )
    for path, reason in rejected.items():
        table.add_row(path, "failed", "0", "-", reason)
    console.print(table)
    _list_failures(failures, console)
    return len(failures)


def _list_failures(failures: dict[str, str], console: Console) -> None:
    # One unwrapped line per failure: the table wraps long reasons in a narrow terminal.
    for name, reason in failures.items():
        console.print(f"failed: {name}: {reason}", markup=False, highlight=False, soft_wrap=True)
