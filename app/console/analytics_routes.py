"""The Analytics page (admins): the summary figures, charts of them day by day, and the
knowledge-gap list, from the same services as the admin analytics API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from app.analytics import conversations, daily, gaps, service
from app.analytics.schemas import DayFigures
from app.analytics.turns import Window
from app.console import charts, i18n
from app.console.dependencies import AdminUser
from app.console.web import render
from app.core.errors import Unprocessable
from app.deps import RuntimeDep, SessionDep

router = APIRouter(prefix="/console/analytics", include_in_schema=False)
RANGES = (7, 14, 30, 90)


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: Markup
    legend: list[tuple[str, str]]  # (name, colour)
    rows: list[list[str]]  # day, then one cell per series


def _chart(
    key: str,
    title: str,
    days: Sequence[DayFigures],
    series: list[tuple[str, Callable[[DayFigures], float | None]]],
    *,
    kind: str,
    percent: bool = False,
) -> Chart:
    labels = [d.day.strftime("%m-%d") for d in days]
    data = [charts.Series(name, [pick(d) for d in days]) for name, pick in series]
    svg = (
        charts.bars(labels, data, title=title)
        if kind == "bars"
        else charts.lines(labels, data, title=title, percent=percent)
    )

    def cell(value: float | None) -> str:
        if value is None:
            return "—"
        return f"{value * 100:.1f}%" if percent else f"{value:g}"

    rows = [[d.day.isoformat(), *(cell(s.values[i]) for s in data)] for i, d in enumerate(days)]
    legend = [(s.name, charts.PALETTE[k % len(charts.PALETTE)]) for k, s in enumerate(data)]
    return Chart(key, title, svg, legend, rows)


def _charts(t: i18n.Translator, days: Sequence[DayFigures]) -> list[Chart]:
    return [
        _chart(
            "traffic",
            t("analytics.traffic"),
            days,
            [
                (t("analytics.conversations"), lambda d: d.conversations),
                (t("analytics.answers"), lambda d: d.answers),
            ],
            kind="bars",
        ),
        _chart(
            "rates",
            t("analytics.rates"),
            days,
            [
                (t("analytics.resolution_rate"), lambda d: d.resolution_rate),
                (t("analytics.handoff_rate"), lambda d: d.handoff_rate),
            ],
            kind="lines",
            percent=True,
        ),
        _chart(
            "feedback",
            t("analytics.feedback"),
            days,
            [
                (t("feedback.up"), lambda d: d.feedback.up),
                (t("feedback.down"), lambda d: d.feedback.down),
            ],
            kind="bars",
        ),
        _chart(
            "latency",
            t("analytics.latency"),
            days,
            [
                (t("analytics.median_ms"), lambda d: d.time_to_answer.median_ms),
                (t("analytics.p95_ms"), lambda d: d.time_to_answer.p95_ms),
            ],
            kind="lines",
        ),
    ]


@router.get("")
async def analytics_page(
    request: Request,
    user: AdminUser,
    db_session: SessionDep,
    runtime: RuntimeDep,
    days: Annotated[int, Query()] = 7,
    channel: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    if days not in RANGES:
        raise Unprocessable(
            f"days must be one of {', '.join(map(str, RANGES))}", details={"param": "days"}
        )
    now = datetime.now(UTC)
    # Whole UTC days, today included, so the charts' first and last bars are full days.
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days - 1)
    window = Window(start, now, channel or None, None)
    summary = service.summary(db_session=db_session, window=window)
    by_day = daily.daily(db_session=db_session, window=window)
    found = await run_in_threadpool(
        gaps.gaps,
        db_session=db_session,
        window=window,
        embedder=runtime.index.embedder,
        min_score=runtime.settings.agent.extractive_min_score,
    )
    t = i18n.translator(i18n.language(request))
    return render(
        request,
        "analytics.html",
        {
            "summary": summary,
            "charts": _charts(t, by_day.days),
            "gaps": found,
            "days": days,
            "ranges": RANGES,
            "channel": channel,
            "channels": conversations.channels(db_session=db_session),
        },
        user=user,
        active="analytics",
    )
