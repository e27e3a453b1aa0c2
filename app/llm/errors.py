"""Errors of the LLM client. Callers catch ``LLMError`` and fall back (FAQ, extractive answer,
handoff); the subclasses say what went wrong for logs, traces and ``/readyz``."""

from __future__ import annotations


class LLMError(Exception):
    """Base of every error the LLM client raises."""

    def __init__(self, message: str, *, tokens_emitted: bool = False) -> None:
        super().__init__(message)
        # True when part of the answer had already been yielded: the caller may have shown
        # text to the customer and must not simply retry the turn.
        self.tokens_emitted = tokens_emitted


class LLMUnavailable(LLMError):
    """No answer could be started: breaker open, connection refused, or 5xx/429 after retries."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        breaker_open: bool = False,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.breaker_open = breaker_open


class LLMTimeout(LLMError):
    """A time budget ran out: connecting, waiting for the first token, or the whole answer."""

    def __init__(self, message: str, *, phase: str, tokens_emitted: bool = False) -> None:
        super().__init__(message, tokens_emitted=tokens_emitted)
        self.phase = phase  # "connect", "queue", "first_token" or "total"


class LLMStreamBroken(LLMError):
    """The stream failed after tokens were emitted (dropped connection, error event).

    Never retried: a retry would repeat text the customer has already seen.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, tokens_emitted=True)


class LLMBadRequest(LLMError):
    """The endpoint refused the request itself (4xx other than 429): a bug or an input too
    long for the context window. Not retried and not counted against the endpoint's health."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class LLMProtocolError(LLMError):
    """The endpoint answered something that is not the OpenAI streaming protocol."""
