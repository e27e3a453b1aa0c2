"""What to search for: the query's language, and a standalone query for a follow-up message.

Without an LLM to rewrite "那国际的呢？" or "what about prepaid?" into a full question, the
conversation itself supplies the missing subject: the previous user turn and the reply it
got name the topic, the latest message names what changed. Embedding and keyword-matching
the three together finds the document the topic lives in; the latest message alone does not.
"""

from __future__ import annotations

from collections.abc import Sequence

# An assistant reply can be a long answer with citations; its opening names the topic.
MAX_REPLY_CHARS = 240
MAX_TURN_CHARS = 400


def contextual_query(
    question: str, history: Sequence[tuple[str, str]] = (), *, standalone: bool = False
) -> str:
    """The text to search with: the question, preceded by the last exchange of the history.

    ``history`` is (role, content) pairs, oldest first. ``standalone`` is the caller's word
    that the question needs no context (the router matched it to an FAQ on its own): then
    the earlier topic would only blur it. Only the last exchange is taken: older turns are
    more often another topic than the subject a follow-up leaves out.
    """
    question = question.strip()
    if standalone or not history:
        return question
    turns = list(history)
    last_user = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    if last_user is None:
        return question
    parts = [_clip(turns[last_user][1], MAX_TURN_CHARS)]
    reply = next((content for role, content in turns[last_user + 1 :] if role == "assistant"), None)
    if reply:
        parts.append(_clip(reply, MAX_REPLY_CHARS))
    parts.append(question)
    return "\n".join(p for p in parts if p)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit]
