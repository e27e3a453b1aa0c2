"""Images in a turn: stored with the customer's message (``store``), read by the vision
model before the turn is routed (``read``), then given to the agent as the customer's
message context and as a passage it cites as "your image" (``passages``, ``citation``).

An image that cannot be read (no vision endpoint, or it failed) stays stored for human
agents; a turn with only such images is answered with the ``unreadable`` words (describe it,
or ask for a person), and a turn with text as well gets those words before its answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.attachments import service as attachment_service
from app.attachments import vision
from app.attachments.intake import CleanImage
from app.attachments.models import Attachment
from app.conversation.schemas import Citation, TurnRequest
from app.conversation.state import Answer, Prepared
from app.core.errors import Unprocessable
from app.core.lang import detect_lang
from app.llm import LLMError
from app.observability import tracing
from app.runtime import Runtime
from knowledge.chunks import Chunk

log = logging.getLogger(__name__)
EXCERPT_CHARS = 300
QUERY_CHARS = 400  # of a description, added to the search query
HISTORY_CHARS = 600  # of a description, kept in later turns' history


@dataclass
class TurnImage:
    attachment_id: int
    image: CleanImage
    description: str | None = None
    error: str | None = None  # why it could not be read
    read_ms: float | None = None


def with_readings(
    db_session: Session, rows: list[tuple[int, str, str]]
) -> list[tuple[int, str, str]]:
    """History rows with what earlier images showed added to their messages, so a follow-up
    ("when will this order arrive?") still knows the order number in the picture."""
    readings = attachment_service.readings_by_message(
        db_session=db_session, message_ids=[msg_id for msg_id, role, _ in rows if role == "user"]
    )
    if not readings:
        return rows
    note = vision.prompts().raw["history"]
    return [
        (
            msg_id,
            role,
            "\n".join(
                [content, *(note.format(text=text[:HISTORY_CHARS]) for text in readings[msg_id])]
            )
            if msg_id in readings
            else content,
        )
        for msg_id, role, content in rows
    ]


def check_count(runtime: Runtime, req: TurnRequest) -> None:
    count = len(req.images) + len(req.attachment_ids)
    limit = runtime.settings.vision.max_images_per_turn
    if count > limit:
        raise Unprocessable(
            f"{count} images in one message; at most {limit} are accepted",
            code="too_many_images",
            details={"limit": limit},
        )


def store(
    runtime: Runtime,
    db_session: Session,
    req: TurnRequest,
    *,
    owner: str,
    conversation_id: str,
    message_id: int,
) -> list[TurnImage]:
    """Store the message's images (inside its transaction) and link its widget uploads."""
    settings = runtime.settings
    stored = [
        TurnImage(
            attachment_service.store(
                db_session=db_session,
                settings=settings,
                image=image,
                owner=owner,
                channel=req.channel,
                conversation_id=conversation_id,
                message_id=message_id,
            ).id,
            image,
        )
        for image in req.images
    ]
    if req.attachment_ids:
        rows = attachment_service.link_uploads(
            db_session=db_session,
            attachment_ids=req.attachment_ids,
            owner=owner,
            conversation_id=conversation_id,
            message_id=message_id,
        )
        stored += [_loaded(runtime, row) for row in rows]
    return stored


def stored_with(runtime: Runtime, db_session: Session, *, message_id: int) -> list[TurnImage]:
    """The images stored with a message (a retry answers it with them)."""
    rows = attachment_service.for_message(db_session=db_session, message_id=message_id)
    return [_loaded(runtime, row) for row in rows]


def _loaded(runtime: Runtime, row: Attachment) -> TurnImage:
    data = attachment_service.read_file(runtime.settings, row)
    image = CleanImage(data, row.content_type, row.width, row.height)
    return TurnImage(row.id, image, description=row.description)


async def read(runtime: Runtime, prep: Prepared, lang: str) -> None:
    """Describe each image with the vision model (concurrently), storing what it read."""
    client = runtime.vision

    async def one(item: TurnImage) -> None:
        if client is None:
            item.error = "no vision endpoint configured (KEFU_VL_BASE_URL)"
            return
        started = time.perf_counter()
        try:
            with tracing.span("kefu.vision"):
                text = await client.describe(item.image, lang=lang)
        except LLMError as exc:
            log.warning("vision model failed", extra={"error": type(exc).__name__})
            item.error = f"{type(exc).__name__}: {exc}"[:500]
            return
        finally:
            item.read_ms = round((time.perf_counter() - started) * 1000, 1)
        item.description = text or None
        item.error = None if text else "the vision model returned nothing"

    unread = [item for item in prep.images if item.description is None]
    await asyncio.gather(*(one(item) for item in unread))
    await run_in_threadpool(_record, runtime, unread)


def _record(runtime: Runtime, items: list[TurnImage]) -> None:
    with runtime.session_factory.begin() as db_session:
        for item in items:
            attachment_service.record_reading(
                db_session=db_session,
                attachment_id=item.attachment_id,
                description=item.description,
                error=item.error,
            )


def lang_of(prep: Prepared, text: str) -> str:
    """The customer's language: of the text, or (an image alone) of their last message, or
    of the channel they use (the widget's language), or Chinese."""
    if text:
        return detect_lang(text)
    earlier = [content for role, content in prep.history if role == "user"]
    if earlier:
        return detect_lang(earlier[-1])
    return prep.lang_hint if prep.lang_hint in ("zh", "en") else "zh"


def described(prep: Prepared) -> list[TurnImage]:
    return [item for item in prep.images if item.description]


def route(prep: Prepared, text: str, ans: Answer) -> str:
    """Settle the route of a turn with images; returns the words to show before the
    answer ("" for none). A handoff the customer asked for stands."""
    if not prep.images:
        return ""
    read = [item.read_ms for item in prep.images if item.read_ms is not None]
    if read:
        ans.timings["vision_ms"] = max(read)  # read concurrently: the slowest is the wait
    errors = [item.error for item in prep.images if item.error]
    if errors:
        ans.error = f"vision: {errors[0]}"[:500]
    if ans.route == "handoff":
        return ""
    if described(prep):
        # The image is the question's context: an FAQ or smalltalk reply would ignore it.
        ans.route = "llm"
        return ""
    words = vision.prompts().text("unreadable", ans.lang)
    if not text:
        ans.route, ans.intent, ans.text, ans.citations = "image", "image", words, []
        return ""
    return words + "\n\n"


def search_text(prep: Prepared, query: str) -> str:
    extra = " ".join((item.description or "")[:QUERY_CHARS] for item in described(prep))
    return f"{query} {extra}".strip()


def user_content(prep: Prepared, text: str, lang: str) -> str:
    notes = [
        vision.prompts().text("context", lang).format(n=n)
        for n, _ in enumerate(described(prep), start=1)
    ]
    return "\n".join([text, *notes]).strip()


def passages(prep: Prepared, lang: str) -> list[Chunk]:
    label = vision.prompts().text("label", lang)
    return [
        Chunk(
            chunk_id=f"attachment:{item.attachment_id}",
            kb_id=0,
            document_id=0,
            version=0,
            ordinal=0,
            source=label,
            text=item.description or "",
            content=item.description or "",
            heading_path=(),
            page=None,
            kind="doc",
            lang="zh" if lang == "zh" else "en",
        )
        for item in described(prep)
    ]


def citation(n: int, chunk: Chunk) -> Citation:
    return Citation(
        n=n,
        source=chunk.source,
        document_id=0,
        chunk_id=chunk.chunk_id,
        kind="image",
        excerpt=chunk.content[:EXCERPT_CHARS],
    )
