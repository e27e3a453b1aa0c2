"""Two small LLM jobs around the answer: a standalone search query for an elliptical
follow-up (before retrieval), and the running summary of turns that left the history window
(after the answer, off the customer's critical path)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.agent.prompts import Prompts
from app.llm import LLMClient

# Deterministic and short: this is a rewrite, not a conversation.
_EXACT = {"temperature": 0.0, "top_p": 1.0, "presence_penalty": 0.0}
_QUOTES = "\"'“”‘’「」『』"


async def condense(
    llm: LLMClient,
    prompts: Prompts,
    *,
    history: Sequence[tuple[str, str]],
    question: str,
    max_tokens: int = 64,
    first_token_timeout: float | None = None,
) -> str | None:
    """The follow-up rewritten as a standalone query, or None when the model gave nothing
    usable (the caller then searches with the question and the last exchange)."""
    prompt = prompts.condense(history=history[-4:], question=question)
    result = await llm.complete(
        [{"role": "user", "content": prompt}],
        thinking=False,
        max_tokens=max_tokens,
        extra_body=_EXACT,
        first_token_timeout=first_token_timeout,
    )
    query = result.text.strip().splitlines()[0].strip() if result.text.strip() else ""
    query = re.sub(r"^(standalone query|query|查询)\s*[:：]\s*", "", query, flags=re.I)
    query = query.strip(_QUOTES).strip()
    if not query or len(query) > 4 * max(len(question), 50):
        return None
    return query


async def summarize(
    llm: LLMClient,
    prompts: Prompts,
    *,
    summary: str,
    turns: Sequence[tuple[str, str]],
    max_tokens: int = 256,
) -> str:
    prompt = prompts.summarize(summary=summary, turns=turns)
    result = await llm.complete(
        [{"role": "user", "content": prompt}],
        thinking=False,
        max_tokens=max_tokens,
        extra_body=_EXACT,
    )
    return result.text.strip() or summary
