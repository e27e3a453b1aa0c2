"""``kefu eval``: score the router and the retriever on a labelled set, in a throwaway store."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from app.cli.common import settings_or_exit
from app.core.errors import AppError


def register(cli: typer.Typer) -> None:
    @cli.command("eval")
    def evaluate(
        set_dir: Path = typer.Argument(
            ...,
            exists=True,
            file_okay=False,
            help="Evaluation set: a folder with kb/ and questions.jsonl",
        ),
        out: Path = typer.Option(
            ..., "--out", help="JSON lines written here, one a question; the plot beside it"
        ),
    ) -> None:
        """Ingest SET_DIR/kb into a temporary store, route and retrieve every question, score."""
        # Here, not at the top: see app/cli/ingest.py.
        from app.evaluation import report
        from app.evaluation import service as evaluation

        console = Console()
        status = Console(stderr=True)
        settings = settings_or_exit()
        started = time.perf_counter()
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=status) as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

            try:
                result = evaluation.run(set_dir=set_dir, settings=settings, progress=advance)
            except (AppError, ValueError, OSError) as exc:
                message = exc.message if isinstance(exc, AppError) else str(exc)
                status.print(f"[red]error:[/red] {message}")
                raise typer.Exit(1) from exc

        for doc in result.documents:
            if doc.status != "ready":
                status.print(f"[yellow]{doc.name}: {doc.status}[/] {doc.error or ''}")
        evaluation.write_answers(out, result.answers)
        by_group = evaluation.score_by_language(result.questions, result.answers)
        console.print(report.scores_table(by_group, title=f"{set_dir.name}: scores"))
        console.print(report.confusion_table(by_group["all"]))
        console.print(report.routes_table(by_group["all"]))
        picture = report.plot(by_group, _plot_path(out), title=set_dir.name)
        elapsed = time.perf_counter() - started
        timings = ", ".join(f"{stage} {s:.1f} s" for stage, s in result.seconds.items())
        chunks = sum(d.chunks for d in result.documents)
        route_ms = sorted(a.route_ms for a in result.answers)
        if route_ms:
            p50 = route_ms[len(route_ms) // 2]
            p95 = route_ms[min(len(route_ms) - 1, int(len(route_ms) * 0.95))]
            timings += f"; route p50 {p50:.1f} ms, p95 {p95:.1f} ms"
        console.print(
            f"{len(result.answers)} answers → {out}; plot → {picture}\n"
            f"{len(result.documents)} documents, {chunks} chunks; {timings}; "
            f"total {elapsed:.1f} s"
        )


def _plot_path(out: Path) -> Path:
    return out.with_name(out.name + ".png") if out.suffix == ".png" else out.with_suffix(".png")
