"""The summary figures day by day, for charts: the same turns and the same formulas as the
summary, so a day's bars add up to the range's figures."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta

from sqlalchemy.orm import Session

from app.analytics.schemas import Daily, DayFigures
from app.analytics.service import figures
from app.analytics.turns import Turn, Window, load

# A chart of more days than this is unreadable; the range is cut to its newest days.
MAX_DAYS = 366


def _days(window: Window) -> list[date]:
    first = window.start.astimezone(UTC).date()
    last = (window.end - timedelta(microseconds=1)).astimezone(UTC).date()
    count = min((last - first).days + 1, MAX_DAYS)
    return [last - timedelta(days=i) for i in reversed(range(count))]


def _day_of(turn: Turn) -> date:
    at = turn.created_at if turn.created_at.tzinfo else turn.created_at.replace(tzinfo=UTC)
    return at.astimezone(UTC).date()


def daily(*, db_session: Session, window: Window) -> Daily:
    by_day: dict[date, list[Turn]] = defaultdict(list)
    for turn in load(db_session=db_session, window=window):
        by_day[_day_of(turn)].append(turn)
    return Daily(
        start=window.start,
        end=window.end,
        channel=window.channel,
        days=[
            DayFigures(day=day, **figures(by_day.get(day, []), {}).model_dump())
            for day in _days(window)
        ],
    )
