"""The summary figures over a time range: volume, routes, resolution, handoffs, latency and
feedback, overall and by channel."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sqlalchemy.orm import Session

from app.analytics.schemas import FeedbackFigures, Figures, Summary, TimeToAnswer
from app.analytics.turns import Turn, Window, knowledge_base_names, load, message_counts


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    # Linear interpolation between the closest ranks (numpy's default), in milliseconds.
    return round(float(np.percentile(values, q)), 1) if values else None


def figures(turns: Sequence[Turn], messages: dict[str, int]) -> Figures:
    conversations = {t.conversation_id for t in turns}
    unresolved = {t.conversation_id for t in turns if t.handoff or t.rating == "down"}
    handed_off = {t.conversation_id for t in turns if t.handoff}
    durations = [t.answer_ms for t in turns if t.answer_ms is not None]
    up = sum(t.rating == "up" for t in turns)
    down = sum(t.rating == "down" for t in turns)
    return Figures(
        conversations=len(conversations),
        messages=dict(sorted(messages.items())),
        answers=len(turns),
        routes=dict(Counter(t.route for t in turns).most_common()),
        resolution_rate=_ratio(len(conversations - unresolved), len(conversations)),
        handoff_rate=_ratio(len(handed_off), len(conversations)),
        handoff_reasons=dict(
            Counter(t.handoff_reason for t in turns if t.handoff_reason).most_common()
        ),
        time_to_answer=TimeToAnswer(
            answers=len(durations),
            median_ms=_percentile(durations, 50),
            p95_ms=_percentile(durations, 95),
        ),
        feedback=FeedbackFigures(
            answers=len(turns),
            up=up,
            down=down,
            rated_share=_ratio(up + down, len(turns)),
            up_ratio=_ratio(up, up + down),
        ),
    )


def summary(*, db_session: Session, window: Window) -> Summary:
    turns = load(db_session=db_session, window=window)
    conversation_ids = {t.conversation_id for t in turns}
    counts = message_counts(db_session=db_session, window=window, conversation_ids=conversation_ids)
    by_channel: dict[str, Figures] = {}
    for channel in sorted({t.channel for t in turns}):
        mine = [t for t in turns if t.channel == channel]
        ids = {t.conversation_id for t in mine}
        channel_window = Window(window.start, window.end, channel, window.kb)
        channel_counts = message_counts(
            db_session=db_session, window=channel_window, conversation_ids=ids
        )
        by_channel[channel] = figures(mine, channel_counts)
    kb_of = knowledge_base_names(db_session=db_session)
    by_kb: dict[str, list[Turn]] = {}
    for t in turns:
        for name in sorted({kb_of[d] for d in t.document_ids if d in kb_of}):
            by_kb.setdefault(name, []).append(t)
    by_knowledge_base = {
        name: figures(
            mine,
            message_counts(
                db_session=db_session,
                window=window,
                conversation_ids={t.conversation_id for t in mine},
            ),
        )
        for name, mine in sorted(by_kb.items())
    }
    overall = figures(turns, counts)
    return Summary(
        **overall.model_dump(),
        start=window.start,
        end=window.end,
        channel=window.channel,
        knowledge_base=window.kb.name if window.kb else None,
        by_channel=by_channel,
        by_knowledge_base=by_knowledge_base,
    )
