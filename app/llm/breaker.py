"""A consecutive-failure circuit breaker for one LLM endpoint.

closed: calls go through; ``failures`` failed calls in a row open it.
open: calls are refused at once (the caller falls back without waiting on a dead endpoint)
until ``reset`` seconds have passed; then it is half-open.
half_open: exactly one call (the probe) goes through; its success closes the breaker, its
failure opens it for another ``reset`` seconds. Other calls are refused while it runs.

One breaker per process and endpoint; all methods are called from the event loop thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int,
        reset: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._reset = reset
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def acquire(self) -> bool:
        """May a call go out now? A True in half-open state makes that call the probe."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.info("LLM circuit breaker closed: the endpoint answered again")
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        was_probe = self._probe_in_flight
        self._probe_in_flight = False
        if was_probe or self._failures >= self._threshold:
            if self._opened_at is None or was_probe:
                log.warning(
                    "LLM circuit breaker open",
                    extra={"llm_failures": self._failures, "llm_breaker_reset_s": self._reset},
                )
            self._opened_at = self._clock()

    def release(self) -> None:
        """The call ended with no verdict on the endpoint (cancelled by the caller, or
        refused locally): a half-open breaker lets the next call probe instead."""
        self._probe_in_flight = False
