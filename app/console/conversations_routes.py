"""The Conversations page (agents and admins): a filtered list, a transcript with each
bot answer's trace, and the customers' images in it. All read the same services as the
admin API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, cast, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, Response

from app.analytics import conversations
from app.attachments.router import image_response
from app.attachments.service import open_attachment
from app.console.dependencies import AgentUser
from app.console.turns_view import entries
from app.console.web import render
from app.core.errors import Unprocessable
from app.deps import SessionDep, SettingsDep
from app.handoff.transcript import transcript
from app.routing.schemas import Route

router = APIRouter(prefix="/console/conversations", include_in_schema=False)

PAGE_SIZE = 25
# The router's routes, and "error" for a turn that failed.
ROUTES: tuple[str, ...] = (*get_args(Route), "error")
FEEDBACK = get_args(conversations.FeedbackFilter)
Text = Annotated[str, Query(max_length=200)]


def _day(value: str, name: str) -> date | None:
    # A GET form sends empty fields: an empty date is no filter, a malformed one a 422.
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Unprocessable(
            f"{name} must be a date (YYYY-MM-DD)", details={"param": name}
        ) from None


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise Unprocessable(f"{name} must be one of {', '.join(allowed)}", details={"param": name})
    return value


def _filters(
    channel: str, route: str, handoff: str, feedback: str, start: str, end: str, q: str
) -> conversations.Filters:
    since, until = _day(start, "start"), _day(end, "end")
    if since and until and since > until:
        raise Unprocessable("start must not be after end", details={"param": "start"})
    wanted = _choice(handoff, ("yes", "no"), "handoff")
    chosen = _choice(feedback, FEEDBACK, "feedback")
    return conversations.Filters(
        channel=channel.strip() or None,
        route=_choice(route, ROUTES, "route"),
        feedback=cast(conversations.FeedbackFilter | None, chosen),  # one of FEEDBACK
        handoff=None if wanted is None else wanted == "yes",
        start=datetime.combine(since, time(), UTC) if since else None,
        # The end day is included: conversations started before the next midnight.
        end=datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
        text=q.strip() or None,
    )


@router.get("")
def conversations_page(
    request: Request,
    user: AgentUser,
    db_session: SessionDep,
    channel: Text = "",
    route: Text = "",
    handoff: Text = "",
    feedback: Text = "",
    start: Text = "",
    end: Text = "",
    q: Text = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    filters = _filters(channel, route, handoff, feedback, start, end, q)
    found = conversations.search(
        db_session=db_session, filters=filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    values = {
        "channel": channel,
        "route": route,
        "handoff": handoff,
        "feedback": feedback,
        "start": start,
        "end": end,
        "q": q,
    }
    query = urlencode({k: v for k, v in values.items() if v})
    return render(
        request,
        "conversations.html",
        {
            "found": found,
            "filters": values,
            "page": page,
            "pages": max(1, -(-found.total // PAGE_SIZE)),
            "query": query,
            "routes": ROUTES,
            "channels": conversations.channels(db_session=db_session),
            "feedbacks": FEEDBACK,
        },
        user=user,
        active="conversations",
    )


@router.get("/{conversation_id}")
def conversation_page(
    request: Request, conversation_id: str, user: AgentUser, db_session: SessionDep
) -> HTMLResponse:
    detail = transcript(db_session=db_session, conversation_id=conversation_id)
    return render(
        request,
        "conversation.html",
        {"detail": detail, "entries": entries(detail)},
        user=user,
        active="conversations",
    )


@router.get("/{conversation_id}/attachments/{attachment_id}")
def conversation_image(
    conversation_id: str,
    attachment_id: int,
    user: AgentUser,
    db_session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A customer's image, for the transcript and the handoff workspace (their ``<img>``
    and the full size in a new tab); 404 unless it belongs to this conversation."""
    opened = open_attachment(db_session, conversation_id, attachment_id, settings=settings)
    return image_response(opened)
