"""Every metric family kefu exports, defined once per process on prometheus-client's default
registry. Under ``kefu serve --workers N`` the environment carries PROMETHEUS_MULTIPROC_DIR
(set before any worker imports this), so each value lives in a per-process file and
``/metrics`` adds them up (see ``exposition.py``).

Labels take values from small fixed sets (route templates, channels, routes, outcomes):
never a raw path, a conversation id or a user's text, so the number of series stays bounded.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

# Seconds; a customer notices past 1-2 s, an answer with tools can take 30.
_LATENCY = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_WAIT = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0)

HTTP_REQUESTS = Counter(
    "kefu_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "kefu_http_request_duration_seconds",
    "Time to answer an HTTP request (to the end of a streamed body), by route template.",
    ["method", "route", "status"],
    buckets=_LATENCY,
)
TURNS = Counter(
    "kefu_turns_total",
    "Customer turns answered, by channel and route (rules, faq, llm, handoff, error...).",
    ["channel", "route"],
)
TURN_DURATION = Histogram(
    "kefu_turn_duration_seconds",
    "Time from a customer's message to the first text of the answer (stage=first_token) "
    "and to its end, stored (stage=end).",
    ["channel", "route", "stage"],
    buckets=_LATENCY,
)
HANDOFFS = Counter(
    "kefu_handoffs_total",
    "Turns that handed the conversation to a person (by the router or the agent).",
    ["channel"],
)
LLM_REQUESTS = Counter(
    "kefu_llm_requests_total",
    "Calls to the LLM endpoint by outcome: success, timeout, unavailable (connection, 5xx, "
    "429), breaker_open (refused without a request), bad_request, broken (died mid-answer), "
    "cancelled (the caller stopped reading).",
    ["outcome"],
)
LLM_TTFT = Histogram(
    "kefu_llm_ttft_seconds",
    "Time from an LLM call to its first token (queueing for a slot and retries included).",
    buckets=_LATENCY,
)
LLM_TOKENS = Counter(
    "kefu_llm_tokens_total", "Tokens the LLM endpoint reported, by kind.", ["kind"]
)
LLM_BREAKER = Gauge(
    "kefu_llm_breaker_state",
    "The LLM circuit breaker: 0 closed, 1 half-open, 2 open (the worst of the live workers).",
    multiprocess_mode="livemax",
)
RETRIEVAL = Histogram(
    "kefu_retrieval_seconds",
    "Time to search the knowledge bases for one turn (embedding, vector and keyword search).",
    buckets=_FAST,
)
ANSWER_CACHE = Counter(
    "kefu_answer_cache_total",
    "Answer-cache lookups by result: hit, miss, or bypass (a question that must not be "
    "cached: a tool, the customer's data, a follow-up).",
    ["result"],
)
INGESTION_JOBS = Counter(
    "kefu_ingestion_jobs_total",
    "Ingestion job runs that ended, by status: succeeded, failed, requeued (interrupted or "
    "a transient error, to be retried), skipped (held by another worker or already done).",
    ["status"],
)
FEEDBACK = Counter(
    "kefu_feedback_total",
    "Customers' ratings of answers (new or changed), by rating (up, down) and where they came "
    "from (widget, v1, dify).",
    ["rating", "source"],
)
HANDOFF_WAIT = Histogram(
    "kefu_handoff_wait_seconds",
    "How long a conversation waited in the handoff queue before an agent claimed it.",
    buckets=_WAIT,
)

AnswerCacheResult = Literal["hit", "miss", "bypass"]
BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def answer_cache(result: AnswerCacheResult) -> None:
    """For the answer cache: count one lookup."""
    ANSWER_CACHE.labels(result=result).inc()


def feedback(rating: str, source: str) -> None:
    """For app.feedback: count one new or changed rating."""
    FEEDBACK.labels(rating=rating, source=source).inc()


def breaker_state(state: str) -> None:
    LLM_BREAKER.set(BREAKER_VALUES.get(state, 0))


# Series that exist from the first scrape (a rate over a counter that appears late misses
# its first increments, and a dashboard shows "no data" instead of 0).
for _kind in ("prompt", "completion"):
    LLM_TOKENS.labels(kind=_kind)
for _outcome in ("success", "timeout", "unavailable", "breaker_open"):
    LLM_REQUESTS.labels(outcome=_outcome)
for _result in ("hit", "miss", "bypass"):
    ANSWER_CACHE.labels(result=_result)
for _status in ("succeeded", "failed"):
    INGESTION_JOBS.labels(status=_status)
