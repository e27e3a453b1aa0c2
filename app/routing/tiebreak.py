"""The LLM as tie-breaker for the messages the router is unsure about.

Only the uncertain band of the FAQ probability goes to it, and only when an LLM is
configured: one short call, thinking off, the reply constrained by a JSON schema (vLLM's
structured outputs), a first-token budget of about a second. Whatever goes wrong (timeout,
breaker open, a reply that is not the schema) the router's own decision stands: the
embedded router is the product, this only sharpens it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

from app.llm import LLMClient, LLMError
from app.routing.schemas import RouteDecision

log = logging.getLogger(__name__)

SCHEMA = {
    "type": "object",
    "properties": {"route": {"type": "string", "enum": ["faq", "agent"]}},
    "required": ["route"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "route", "schema": SCHEMA, "strict": True},
}
MAX_TOKENS = 16  # {"route": "agent"} is 7 tokens in Qwen's vocabulary


def uncertain(decision: RouteDecision, *, low: float, high: float) -> bool:
    """An FAQ-or-agent decision close to the threshold, with an FAQ to weigh. Rules and
    account questions never are: those are decided."""
    p_faq = decision.signals.get("p_faq")
    if p_faq is None or decision.intent not in ("faq", "llm.question"):
        return False
    if decision.route == "faq" and decision.faq is None:
        return False
    if decision.route == "llm" and decision.candidate is None:
        return False
    return low <= p_faq < high


async def settle(
    llm: LLMClient,
    decision: RouteDecision,
    message: str,
    *,
    prompt: str,
    first_token_timeout: float,
) -> RouteDecision:
    """The decision after the LLM's word; the same decision when it has none."""
    entry = decision.faq or decision.candidate
    assert entry is not None
    payload = {"message": message, "faq_question": entry.question, "faq_answer": entry.answer}
    messages = [
        {"role": "system", "content": prompt},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]
    started = time.perf_counter()
    try:
        result = await llm.complete(
            messages,
            thinking=False,
            max_tokens=MAX_TOKENS,
            extra_body={"response_format": RESPONSE_FORMAT, "temperature": 0.0},
            first_token_timeout=first_token_timeout,
        )
        verdict = json.loads(result.text)["route"]
        if verdict not in ("faq", "agent"):
            raise ValueError(f"route {verdict!r}")
    except (LLMError, ValueError, KeyError, TypeError) as exc:
        log.info("tie-breaker gave no verdict; the router's decision stands", exc_info=exc)
        return replace(decision, signals={**decision.signals, "tiebreak": -1.0})
    signals = {
        **decision.signals,
        "tiebreak": 1.0 if verdict == "faq" else 0.0,
        "tiebreak_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if verdict == "faq":
        return replace(
            decision,
            route="faq",
            intent="faq",
            faq=entry,
            reply=entry.answer,
            candidate=None,
            needs_reasoning=False,
            signals=signals,
        )
    return replace(
        decision,
        route="llm",
        intent="llm.question",
        faq=None,
        reply=None,
        candidate=entry,
        signals=signals,
    )
