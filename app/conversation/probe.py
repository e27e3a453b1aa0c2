"""What the bot would do with a question, without a conversation: the route decision and
the passages retrieval finds, by the same functions a turn uses (the console's hit-testing).
Nothing is stored. The LLM is not asked for an answer (a tie-break may still ask it)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from app.conversation.answering import retrieve
from app.conversation.state import Answer
from app.conversation.turns import route_message
from app.retrieval.query import contextual_query
from app.runtime import Runtime
from knowledge.chunks import Hit


@dataclass(frozen=True)
class Probe:
    answer: Answer  # route, intent, confidence, signals; the reply for rule and FAQ routes
    query: str  # what retrieval searched for
    hits: list[Hit]


async def hit_test(runtime: Runtime, question: str) -> Probe:
    answer = await route_message(runtime, question)
    query = contextual_query(question, [])
    hits = await run_in_threadpool(retrieve, runtime, query)
    return Probe(answer=answer, query=query, hits=hits)
