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


async def update_summary(runtime: Runtime, prep: Prepared) -> None:
    """Fold the turns that left the history window into the conversation's running summary."""
    llm = runtime.llm
    if llm is None:
        return
    agent_settings = runtime.settings.agent
    with runtime.session_factory() as db_session:
        # The window the *next* turn will see, so its summary is ready when it comes.
        rows = conversation_service.recent(
            db_session=db_session,
            conversation_id=prep.conversation_id,
            before_id=None,
            turns=agent_settings.history_turns,
        )
        _, kept = window(
            [(role, content) for _, role, content in rows],
            max_turns=agent_settings.history_turns,
            max_tokens=agent_settings.history_tokens,
        )
        if not rows:
            return
        start_id = rows[len(rows) - len(kept)][0] if kept else rows[-1][0] + 1
        older = conversation_service.unsummarised(
            db_session=db_session,
            conversation_id=prep.conversation_id,
            after_id=prep.summary_marker,
            before_id=start_id,
        )
    if not older:
        return
    try:
        text = await summarize(
            llm,
            agent_prompts.load(),
            summary=prep.summary,
            turns=[(role, content) for _, role, content in older],
        )
    except LLMError as exc:
        log.info("summary not updated", extra={"error": type(exc).__name__})
        return

    def save() -> None:
        with runtime.session_factory.begin() as db_session:
            conversation_service.save_summary(
                db_session=db_session,
                conversation_id=prep.conversation_id,
                expected_marker=prep.summary_marker,
                marker=older[-1][0],
                text=text,
            )

    await run_in_threadpool(save)


def schedule_summary(runtime: Runtime, prep: Prepared) -> None:
    if runtime.llm is None:
        return
    task = asyncio.get_running_loop().create_task(update_summary(runtime, prep))
    BACKGROUND.add(task)
    task.add_done_callback(BACKGROUND.discard)
