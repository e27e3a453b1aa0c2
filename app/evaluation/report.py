"""An evaluation's scores as rich tables and as a small PNG bar chart."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from app.evaluation.service import ROUTES, TOP_K, Scores

METRICS = (
    ("route accuracy", "route_accuracy"),
    ("harmful misroutes", "harmful_rate"),
    (f"hit@{TOP_K}", "hit_at_k"),
    ("MRR", "mrr"),
    (f"doc-hit@{TOP_K}", "doc_hit_at_k"),
)


def _value(scores: Scores, attribute: str) -> float | None:
    value = getattr(scores, attribute)
    return None if value is None else float(value)


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def scores_table(by_group: Mapping[str, Scores], *, title: str = "scores") -> Table:
    """One row a metric, one column a group ("all", then each language)."""
    table = Table(title=title)
    table.add_column("metric")
    for group in by_group:
        table.add_column(group, justify="right")
    for label, attribute in METRICS:
        table.add_row(label, *(_cell(_value(s, attribute)) for s in by_group.values()))
    counts = (
        ("questions", "questions"),
        ("with sources", "with_sources"),
        ("with a document", "with_documents"),
    )
    for label, attribute in counts:
        table.add_row(
            f"[dim]{label}[/dim]", *(str(getattr(s, attribute)) for s in by_group.values())
        )
    return table


def confusion_table(scores: Scores, *, title: str = "routes: expected × predicted") -> Table:
    labels = list(ROUTES) + sorted(
        {r for pair in scores.confusion for r in pair if r not in ROUTES}
    )
    table = Table(title=title)
    table.add_column("expected \\ predicted")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("total", justify="right")
    for expected in labels:
        row = [scores.confusion.get((expected, predicted), 0) for predicted in labels]
        if not any(row):
            continue
        cells = [
            f"[bold green]{n}[/]" if predicted == expected and n else (str(n) if n else "·")
            for predicted, n in zip(labels, row, strict=True)
        ]
        table.add_row(expected, *cells, str(sum(row)))
    return table


def routes_table(scores: Scores, *, title: str = "routes: precision and recall") -> Table:
    table = Table(title=title)
    for column in ("route", "precision", "recall"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for route, (precision, recall) in scores.per_route.items():
        table.add_row(route, _cell(precision), _cell(recall))
    return table


def plot(by_group: Mapping[str, Scores], path: Path, *, title: str = "evaluation") -> Path:
    """Grouped bars: each metric, one bar a group. Agg backend: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(by_group)
    width = 0.8 / max(1, len(groups))
    figure, (axes, right) = plt.subplots(
        1, 2, figsize=(10.4, 3.6), dpi=100, gridspec_kw={"width_ratios": [5, 3]}
    )
    try:
        _plot_routes(right, by_group["all"] if "all" in by_group else next(iter(by_group.values())))
        for number, group in enumerate(groups):
            values = [_value(by_group[group], attribute) for _, attribute in METRICS]
            xs = [i + (number - (len(groups) - 1) / 2) * width for i in range(len(METRICS))]
            bars = axes.bar(xs, [v or 0.0 for v in values], width, label=group)
            axes.bar_label(bars, labels=[_cell(v) for v in values], fontsize=6, padding=1)
        axes.set_xticks(
            range(len(METRICS)), [label.replace(" ", "\n") for label, _ in METRICS], fontsize=7
        )
        axes.set_ylim(0, 1.25)
        axes.set_ylabel("score")
        axes.set_title(title)
        axes.legend(loc="upper center", ncols=len(groups), fontsize=8, frameon=False)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path


def _plot_routes(axes: Any, scores: Scores) -> None:
    routes = list(scores.per_route)
    for offset, (label, index) in ((-0.2, ("precision", 0)), (0.2, ("recall", 1))):
        values = [scores.per_route[r][index] for r in routes]
        bars = axes.bar(
            [i + offset for i in range(len(routes))], [v or 0.0 for v in values], 0.4, label=label
        )
        axes.bar_label(bars, labels=[_cell(v) for v in values], fontsize=6, padding=1)
    axes.set_xticks(range(len(routes)), routes, fontsize=8)
    axes.set_ylim(0, 1.25)
    axes.set_title(f"per route (harmful {_cell(scores.harmful_rate)})", fontsize=9)
    axes.legend(loc="upper center", ncols=2, fontsize=8, frameon=False)
