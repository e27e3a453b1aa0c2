"""The running summary: turns that leave the history window are folded into
``Conversation.summary`` by the LLM after the answer, off the customer's critical path."""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from app.agent import prompts as agent_prompts
from app.agent.condense import summarize
from app.agent.memory import window
from app.conversation import service as conversation_service
from app.conversation.state import Prepared
from app.llm import LLMError
from app.runtime import Runtime

log = logging.getLogger(__name__)
# Summaries in flight: referenced so they are not garbage collected mid-way.
BACKGROUND: set[asyncio.Task[None]] = set()


def _unsummarised(runtime: Runtime, prep: Prepared, upto: int) -> list[tuple[int, str, str]]:
    """Messages before the window the *next* turn will see, not yet in the summary.

    Only up to this turn's answer (``upto``): a message the customer sent meanwhile belongs
    to its own turn, which schedules its own summary.
    """
    agent_settings = runtime.settings.agent
    with runtime.session_factory() as db_session:
        rows = conversation_service.recent(
            db_session=db_session,
            conversation_id=prep.conversation_id,
            before_id=upto + 1,
            turns=agent_settings.history_turns,
        )
        if not rows:
            return []
        _, kept = window(
            [(role, content) for _, role, content in rows],
            max_turns=agent_settings.history_turns,
            max_tokens=agent_settings.history_tokens,
        )
        start_id = rows[len(rows) - len(kept)][0] if kept else rows[-1][0] + 1
        return conversation_service.unsummarised(
            db_session=db_session,
            conversation_id=prep.conversation_id,
            after_id=prep.summary_marker,
            before_id=start_id,
        )


def _save(runtime: Runtime, prep: Prepared, marker: int, text: str) -> None:
    with runtime.session_factory.begin() as db_session:
        conversation_service.save_summary(
            db_session=db_session,
            conversation_id=prep.conversation_id,
            expected_marker=prep.summary_marker,
            marker=marker,
            text=text,
        )


async def update_summary(runtime: Runtime, prep: Prepared, upto: int) -> None:
    """Fold the turns that left the history window into the conversation's running summary.

    Best effort: the next turn folds in whatever this one could not.
    """
    llm = runtime.llm
    if llm is None:
        return
    try:
        older = await run_in_threadpool(_unsummarised, runtime, prep, upto)
        if not older:
            return
        text = await summarize(
            llm,
            agent_prompts.load(),
            summary=prep.summary,
            turns=[(role, content) for _, role, content in older],
        )
        await run_in_threadpool(_save, runtime, prep, older[-1][0], text)
    except LLMError as exc:
        log.info("summary not updated", extra={"error": type(exc).__name__})
    except Exception:
        log.exception("summary update failed", extra={"conversation_id": prep.conversation_id})


def schedule_summary(runtime: Runtime, prep: Prepared, *, upto: int) -> None:
    """Update the summary in the background, considering messages up to ``upto`` (the id
    of this turn's answer)."""
    if runtime.llm is None:
        return
    task = asyncio.get_running_loop().create_task(update_summary(runtime, prep, upto))
    BACKGROUND.add(task)
    task.add_done_callback(BACKGROUND.discard)
