"""The summary and the knowledge gaps as CSV, for a spreadsheet."""

from __future__ import annotations

import csv
import io

from app.analytics.schemas import Figures, Gaps, Summary


def _figure_rows(scope: str, f: Figures) -> list[list[object]]:
    rows: list[list[object]] = [
        [scope, "conversations", f.conversations],
        [scope, "answers", f.answers],
        *([scope, f"messages.{role}", n] for role, n in f.messages.items()),
        *([scope, f"route.{route}", n] for route, n in f.routes.items()),
        [scope, "resolution_rate", f.resolution_rate],
        [scope, "handoff_rate", f.handoff_rate],
        *([scope, f"handoff_reason.{why}", n] for why, n in f.handoff_reasons.items()),
        [scope, "time_to_answer.median_ms", f.time_to_answer.median_ms],
        [scope, "time_to_answer.p95_ms", f.time_to_answer.p95_ms],
        [scope, "feedback.up", f.feedback.up],
        [scope, "feedback.down", f.feedback.down],
        [scope, "feedback.rated_share", f.feedback.rated_share],
        [scope, "feedback.up_ratio", f.feedback.up_ratio],
    ]
    return [["" if v is None else v for v in row] for row in rows]


def _write(header: list[str], rows: list[list[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def summary_csv(s: Summary) -> str:
    rows = _figure_rows("all", s)
    for channel, f in s.by_channel.items():
        rows += _figure_rows(f"channel:{channel}", f)
    for kb, f in s.by_knowledge_base.items():
        rows += _figure_rows(f"knowledge_base:{kb}", f)
    return _write(["scope", "metric", "value"], rows)


def gaps_csv(g: Gaps) -> str:
    rows: list[list[object]] = []
    for rank, grp in enumerate(g.groups, start=1):
        for ex in grp.examples:
            rows.append(
                [
                    rank,
                    grp.question,
                    grp.count,
                    grp.conversations,
                    ex.question,
                    " ".join(ex.reasons),
                    "" if ex.top_score is None else ex.top_score,
                    ex.comment or "",
                    ex.message_id,
                    ex.conversation_id,
                    ex.created_at.isoformat(),
                ]
            )
    header = [
        "group", "group_question", "group_count", "group_conversations", "question",
        "reasons", "top_score", "comment", "message_id", "conversation_id", "created_at",
    ]  # fmt: skip
    return _write(header, rows)
