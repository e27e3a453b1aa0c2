"""The LLM tie-breaker against a scripted OpenAI-protocol server: the request it sends, the
verdicts it applies, and the router's own decision standing whenever the LLM has no word."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from app.core.config import LLMSettings
from app.llm import LLMClient
from app.routing import FaqEntry, RouteDecision, tiebreak
from app.routing.rules import load_rules
from tests.llm.scripted_server import ScriptedServer, Status, text_reply

ENTRY = FaqEntry(
    chunk_id="c1",
    question="How long does delivery take?",
    variants=("when will my books arrive",),
    answer="Orders ship within 24 hours and arrive in 2-4 working days.",
    source="faq.csv",
    document_id=1,
)
PROMPT = load_rules().tiebreak_prompt


def agent_decision(p_faq: float = 0.5) -> RouteDecision:
    return RouteDecision("llm", "llm.question", 0.5, signals={"p_faq": p_faq}, candidate=ENTRY)


@pytest.fixture
def scripted_llm() -> ScriptedServer:
    with ScriptedServer() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def client(scripted_llm: ScriptedServer) -> AsyncIterator[LLMClient]:
    settings = LLMSettings(
        _env_file=None,  # type: ignore[call-arg]
        base_url=scripted_llm.base_url,
        model=scripted_llm.model,
        max_retries=0,
    )
    async with LLMClient(settings) as llm:
        yield llm


def test_only_the_uncertain_band_with_an_faq_to_weigh() -> None:
    band = {"low": 0.3, "high": 0.7}
    assert tiebreak.uncertain(agent_decision(0.5), **band)
    assert not tiebreak.uncertain(agent_decision(0.1), **band)
    assert not tiebreak.uncertain(agent_decision(0.8), **band)
    account = RouteDecision("llm", "llm.account", 0.5, signals={"p_faq": 0.5}, candidate=ENTRY)
    assert not tiebreak.uncertain(account, **band)
    handoff = RouteDecision("handoff", "handoff.human", 0.95)
    assert not tiebreak.uncertain(handoff, **band)
    no_candidate = RouteDecision("llm", "llm.question", 0.5, signals={"p_faq": 0.5})
    assert not tiebreak.uncertain(no_candidate, **band)


async def test_faq_verdict_answers_from_the_faq_and_the_request_is_small_and_strict(
    client: LLMClient, scripted_llm: ScriptedServer
) -> None:
    scripted_llm.script(text_reply('{"route": "faq"}'))
    settled = await tiebreak.settle(
        client, agent_decision(), "how soon do books get to me?", prompt=PROMPT,
        first_token_timeout=1.0,
    )  # fmt: skip
    assert (settled.route, settled.intent) == ("faq", "faq")
    assert settled.faq == ENTRY and settled.reply == ENTRY.answer
    assert settled.signals["tiebreak"] == 1.0 and settled.signals["p_faq"] == 0.5
    body = scripted_llm.chat_requests[0].json
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["max_tokens"] == tiebreak.MAX_TOKENS
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == tiebreak.SCHEMA
    assert "how soon do books get to me?" in body["messages"][-1]["content"]


async def test_agent_verdict_keeps_the_agent(
    client: LLMClient, scripted_llm: ScriptedServer
) -> None:
    faq_decision = RouteDecision(
        "faq", "faq", 0.55, faq=ENTRY, reply=ENTRY.answer, signals={"p_faq": 0.55}
    )
    scripted_llm.script(text_reply('{"route":', ' "agent"}'))
    settled = await tiebreak.settle(
        client, faq_decision, "my books from last week still haven't come", prompt=PROMPT,
        first_token_timeout=1.0,
    )  # fmt: skip
    assert (settled.route, settled.intent, settled.reply) == ("llm", "llm.question", None)
    assert settled.candidate == ENTRY and settled.signals["tiebreak"] == 0.0


@pytest.mark.parametrize(
    "reply",
    [
        text_reply("faq"),  # not JSON
        text_reply('{"route": "maybe"}'),  # not the schema
        Status(500),
        text_reply('{"route": "faq"}', first_delay=3.0),  # past the first-token budget
    ],
    ids=["not-json", "off-schema", "error", "stall"],
)
async def test_without_a_verdict_the_router_decision_stands(
    client: LLMClient, scripted_llm: ScriptedServer, reply: object
) -> None:
    scripted_llm.script(reply)  # type: ignore[arg-type]
    decision = agent_decision()
    started = time.perf_counter()
    settled = await tiebreak.settle(
        client, decision, "how soon do books get to me?", prompt=PROMPT, first_token_timeout=0.5
    )
    assert time.perf_counter() - started < 2.5
    assert (settled.route, settled.intent, settled.candidate) == ("llm", "llm.question", ENTRY)
    assert settled.signals["tiebreak"] == -1.0
