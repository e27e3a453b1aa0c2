"""Reusing an earlier LLM answer (``app.answer_cache``) for a general question.

An answer is kept only when nothing about it is this customer's or this conversation's: no
tool was called, the conversation had no earlier turns (the model saw no context), nothing
failed and it came from the model itself (not an extractive or record fallback). One is
served for a message that stands alone: not an account question, not a follow-up.
"""

from __future__ import annotations

import logging
import time

from starlette.concurrency import run_in_threadpool

from app.agent import prompts as agent_prompts
from app.agent.memory import looks_elliptical
from app.answer_cache.service import scope_key
from app.conversation.answering import answering_kbs
from app.conversation.schemas import Citation, Citations, ReplyEvent, TextDelta
from app.conversation.state import Answer, Prepared
from app.observability import metrics
from app.routing.service import ACCOUNT, FOLLOWUP
from app.runtime import Runtime
from knowledge import service as knowledge_service

log = logging.getLogger(__name__)


def may_serve(runtime: Runtime, prep: Prepared, text: str, ans: Answer) -> bool:
    if runtime.answer_cache is None:
        return False
    if ans.intent in (ACCOUNT, FOLLOWUP) or (prep.history and looks_elliptical(text)):
        metrics.answer_cache("bypass")
        return False
    return True


def may_keep(prep: Prepared, ans: Answer) -> bool:
    return (
        ans.intent not in (ACCOUNT, FOLLOWUP)
        and not prep.history
        and not ans.tool_calls
        and not ans.handoff
        and ans.error is None
        and not ans.cached
        and bool(ans.text.strip())
        and ans.prompt_version == agent_prompts.load().version
    )


def _scope(runtime: Runtime, prep: Prepared, ans: Answer) -> str:
    settings = runtime.settings
    with runtime.session_factory() as db_session:
        kbs = prep.kbs if prep.kbs is not None else answering_kbs(runtime, db_session)
        content = knowledge_service.content_version(
            db_session=db_session, kb_ids=[kb.id for kb in kbs]
        )
    return scope_key(
        content=content,
        prompt=agent_prompts.load().version,
        model=settings.llm.model,
        thinking=settings.llm.thinking,
        lang=ans.lang,
        signed_in=prep.customer_id is not None,
        # What the system prompt tells the model besides the passages.
        company=settings.company_name,
        bot=settings.bot_name,
        hours=settings.service_hours,
    )


async def lookup(runtime: Runtime, prep: Prepared, text: str, ans: Answer) -> list[ReplyEvent]:
    """The cached answer's events, filled into ``ans``; empty on a miss (``ans.cache_scope``
    is then set for :func:`keep`)."""
    cache = runtime.answer_cache
    assert cache is not None
    started = time.perf_counter()
    try:
        scope = await run_in_threadpool(_scope, runtime, prep, ans)
        vector = await run_in_threadpool(runtime.router.message_vector, text)
        found = await run_in_threadpool(cache.lookup, scope, vector)
    except Exception:
        # A cache is an optimisation: whatever breaks here, the turn answers as usual.
        log.warning("answer cache lookup failed", exc_info=True)
        return []
    ans.timings["answer_cache_ms"] = round((time.perf_counter() - started) * 1000, 1)
    metrics.answer_cache("miss" if found is None else "hit")
    if found is None:
        ans.cache_scope, ans.cache_vector = scope, vector
        ans.signals["answer_cache"] = 0.0
        return []
    ans.cached = True
    ans.signals["answer_cache"] = round(found.similarity, 4)
    ans.text, ans.model, ans.prompt_version = found.text, found.model, found.prompt_version
    ans.citations = [
        Citation(**{**c, "heading_path": tuple(c["heading_path"])}) for c in found.citations
    ]
    events: list[ReplyEvent] = [TextDelta(ans.text)]
    if ans.citations:
        events.append(Citations(tuple(ans.citations)))
    return events


async def keep(runtime: Runtime, prep: Prepared, text: str, ans: Answer) -> None:
    cache = runtime.answer_cache
    if cache is None or ans.cache_scope is None or ans.cache_vector is None:
        return
    if not may_keep(prep, ans):
        return
    try:
        await run_in_threadpool(
            lambda: cache.store(
                str(ans.cache_scope),
                question=text.strip(),
                vector=ans.cache_vector,
                text=ans.text,
                citations=[c.as_dict() for c in ans.citations],
                model=ans.model,
                prompt_version=ans.prompt_version,
            )
        )
    except Exception:
        log.warning("answer cache store failed", exc_info=True)
