"""Admin analytics over HTTP: the summary, knowledge gaps (JSON or CSV) and conversation
search. Every route needs an admin key (the gate refuses others before any lookup)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from app.analytics import conversations, daily, export, gaps, service
from app.analytics.schemas import ConversationPage, Daily, Gaps, Summary
from app.analytics.turns import Window
from app.core.errors import NotFound, Unprocessable
from app.deps import AdminKey, RuntimeDep, SessionDep
from knowledge import service as knowledge_service

router = APIRouter(tags=["admin: analytics"])

DEFAULT_DAYS = 7


def _aware(value: datetime | None) -> datetime | None:
    # A time without an offset is read as UTC, as every stored time is.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def window(
    db_session: SessionDep,
    start: Annotated[
        datetime | None, Query(description="From (inclusive); default a week ago.")
    ] = None,
    end: Annotated[datetime | None, Query(description="Until (exclusive); default now.")] = None,
    channel: Annotated[str | None, Query(max_length=32, description="web, openai, dify…")] = None,
    knowledge_base: Annotated[
        str | None, Query(max_length=128, description="Name or id: turns that used it.")
    ] = None,
) -> Window:
    until = _aware(end) or datetime.now(UTC)
    since = _aware(start) or until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise Unprocessable("start must be before end", details={"param": "start"})
    kb = None
    if knowledge_base:
        kb = knowledge_service.get_kb(db_session=db_session, ref=knowledge_base)
        if kb is None:
            raise NotFound(
                f"knowledge base {knowledge_base!r} not found",
                details={"param": "knowledge_base"},
            )
    return Window(since, until, channel or None, kb)


WindowDep = Annotated[Window, Depends(window)]
Similarity = Annotated[
    float,
    Query(ge=0.5, le=1.0, description="Cosine at which two questions are one group."),
]


@router.get("/admin/analytics/summary", response_model=Summary)
def summary(_: AdminKey, db_session: SessionDep, win: WindowDep) -> Summary:
    return service.summary(db_session=db_session, window=win)


@router.get("/admin/analytics/daily", response_model=Daily)
def by_day(_: AdminKey, db_session: SessionDep, win: WindowDep) -> Daily:
    """The summary's figures for each UTC day of the range (for charts)."""
    return daily.daily(db_session=db_session, window=win)


@router.get("/admin/analytics/summary.csv", response_class=Response)
def summary_csv(_: AdminKey, db_session: SessionDep, win: WindowDep) -> Response:
    data = export.summary_csv(service.summary(db_session=db_session, window=win))
    return _csv(data, "kefu-summary.csv")


async def _gaps(runtime: RuntimeDep, db_session: SessionDep, win: Window, sim: float) -> Gaps:
    # Embedding the questions is CPU work: off the event loop.
    return await run_in_threadpool(
        gaps.gaps,
        db_session=db_session,
        window=win,
        embedder=runtime.index.embedder,
        min_score=runtime.settings.agent.extractive_min_score,
        similarity=sim,
    )


@router.get("/admin/analytics/knowledge-gaps", response_model=Gaps)
async def knowledge_gaps(
    _: AdminKey,
    runtime: RuntimeDep,
    db_session: SessionDep,
    win: WindowDep,
    similarity: Similarity = gaps.DEFAULT_SIMILARITY,
) -> Gaps:
    return await _gaps(runtime, db_session, win, similarity)


@router.get("/admin/analytics/knowledge-gaps.csv", response_class=Response)
async def knowledge_gaps_csv(
    _: AdminKey,
    runtime: RuntimeDep,
    db_session: SessionDep,
    win: WindowDep,
    similarity: Similarity = gaps.DEFAULT_SIMILARITY,
) -> Response:
    found = await _gaps(runtime, db_session, win, similarity)
    return _csv(export.gaps_csv(found), "kefu-knowledge-gaps.csv")


def _csv(data: str, filename: str) -> Response:
    return Response(
        # A BOM so spreadsheet programs read the Chinese text as UTF-8.
        "\ufeff" + data,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/admin/conversations", response_model=ConversationPage)
def list_conversations(
    _: AdminKey,
    db_session: SessionDep,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    route: Annotated[
        str | None, Query(max_length=16, description="Answered by this route.")
    ] = None,
    feedback: Annotated[conversations.FeedbackFilter | None, Query()] = None,
    handoff: Annotated[bool | None, Query(description="Handed to a person (or not).")] = None,
    start: Annotated[datetime | None, Query(description="Active at or after.")] = None,
    end: Annotated[datetime | None, Query(description="Started before.")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Text in a message.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ConversationPage:
    filters = conversations.Filters(
        channel=channel,
        route=route,
        feedback=feedback,
        handoff=handoff,
        start=_aware(start),
        end=_aware(end),
        text=q,
    )
    return conversations.search(db_session=db_session, filters=filters, limit=limit, offset=offset)
