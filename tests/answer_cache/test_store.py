"""The answer cache's store on the in-process cache and on a real Redis: matching by the
question's vector, sharing between processes, expiry and bounds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from app.answer_cache.service import AnswerCache, question_id, scope_key
from app.core.cache import Cache, InProcessCache, RedisCache

REDIS_URL = "redis://127.0.0.1:6379/0"


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(params=["in-process", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "in-process":
        yield InProcessCache()
        return
    shared = RedisCache(REDIS_URL, prefix=f"kefu-test-{uuid.uuid4().hex}:")
    yield shared
    shared.close()


def _store(answers: AnswerCache, scope: str, question: str, vector: np.ndarray) -> bool:
    return answers.store(
        scope,
        question=question,
        vector=vector,
        text=f"answer to {question}",
        citations=[{"n": 1, "source": "a.md", "heading_path": ["A"]}],
        model="m",
        prompt_version="agent-v2",
    )


def test_a_close_question_gets_the_answer_and_a_distant_one_does_not(cache: Cache) -> None:
    answers = AnswerCache(cache, min_similarity=0.95, ttl=60, max_entries=10)
    scope = scope_key(content="1:2:3", lang="en")
    assert answers.lookup(scope, unit(1, 0, 0)) is None
    assert _store(answers, scope, "How long does delivery take?", unit(1, 0, 0))

    found = answers.lookup(scope, unit(1, 0.1, 0))  # cosine 0.995
    assert found is not None
    assert found.text == "answer to How long does delivery take?"
    assert found.citations[0]["source"] == "a.md" and found.similarity > 0.99
    assert answers.lookup(scope, unit(1, 0.5, 0)) is None  # cosine 0.89


def test_scopes_never_share_answers(cache: Cache) -> None:
    answers = AnswerCache(cache, min_similarity=0.95, ttl=60, max_entries=10)
    old, new = scope_key(content="kb1:v1"), scope_key(content="kb1:v2")
    _store(answers, old, "q", unit(1, 0))
    assert answers.lookup(new, unit(1, 0)) is None
    assert answers.lookup(old, unit(1, 0)) is not None


def test_the_same_question_is_kept_once_and_the_scope_is_bounded(cache: Cache) -> None:
    answers = AnswerCache(cache, min_similarity=0.95, ttl=60, max_entries=2)
    scope = scope_key(content="x")
    assert _store(answers, scope, "Q one", unit(1, 0, 0))
    assert not _store(answers, scope, "q  ONE", unit(1, 0, 0))  # the same, normalised
    assert _store(answers, scope, "q two", unit(0, 1, 0))
    assert not _store(answers, scope, "q three", unit(0, 0, 1))  # full
    assert answers.lookup(scope, unit(0, 0, 1)) is None


def test_processes_share_answers_through_redis() -> None:
    prefix = f"kefu-test-{uuid.uuid4().hex}:"
    first, second = RedisCache(REDIS_URL, prefix=prefix), RedisCache(REDIS_URL, prefix=prefix)
    try:
        one = AnswerCache(first, min_similarity=0.95, ttl=60, max_entries=10)
        two = AnswerCache(second, min_similarity=0.95, ttl=60, max_entries=10)
        scope = scope_key(content="shared")
        assert two.lookup(scope, unit(1, 0)) is None  # two has read the (empty) log
        _store(one, scope, "asked in process one", unit(1, 0))
        found = two.lookup(scope, unit(1, 0.05))
        assert found is not None and found.question == "asked in process one"
    finally:
        first.close()
        second.close()


def test_an_expired_log_starts_the_index_again() -> None:
    cache = InProcessCache()
    answers = AnswerCache(cache, min_similarity=0.95, ttl=60, max_entries=10)
    scope = scope_key(content="e")
    _store(answers, scope, "first", unit(1, 0))
    _store(answers, scope, "second", unit(0, 1))
    # Both the entries and the log expire (a Redis restart without persistence, a TTL).
    cache.delete(f"answer-log:{scope}")
    cache.delete(f"answer:{scope}:" + question_id("first"))
    cache.delete(f"answer:{scope}:" + question_id("second"))
    assert answers.lookup(scope, unit(1, 0)) is None
    _store(answers, scope, "third", unit(0.6, 0.8))
    found = answers.lookup(scope, unit(0.6, 0.8))
    assert found is not None and found.question == "third"
