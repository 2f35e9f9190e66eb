"""Time limits and retries for every remote call (TCR, the log bucket, the notification receiver).

- `Deadline`: the monotonic instant after which no new remote attempt starts, derived once per invocation from
  SCF's context (`time_limit_in_ms`) and the handler's start time, less a margin to shape and send the answer.
- `retry`: exponential backoff with full jitter (each wait uniform in [0, min(cap, base * 2**(n-1))]), so that
  clients failing together do not retry together; bounded by the attempts of a `RetryPolicy` and by the deadline.
  It retries only what the caller's predicate says is safe: a refused request (rate limit) always, a failed one
  only when repeating it cannot do harm (reads, idempotent writes).
Pure: clock, sleep and random are injectable, so tests assert exact waits without sleeping.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

# Time kept back from the invocation's limit so a response can still be shaped and sent.
DEFAULT_DEADLINE_MARGIN_S = 1.0


class Deadline:
    """A point in (monotonic) time after which no new remote attempt is started."""

    __slots__ = ("_clock", "expires_at")

    def __init__(self, expires_at: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.expires_at = expires_at  # None: no limit
        self._clock = clock

    @classmethod
    def never(cls, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(None, clock)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    @classmethod
    def from_context(
        cls,
        context: Mapping[str, Any] | None,
        started_at: float | None = None,
        *,
        margin_s: float = DEFAULT_DEADLINE_MARGIN_S,
        default_limit_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> Deadline:
        """From SCF's `context["time_limit_in_ms"]` and the handler's start time (`clock()` at entry).

        SCF's Python context has no remaining-time method, so the handler records when it started.
        A missing or invalid limit falls back to `default_limit_s`.
        """
        limit_s = default_limit_s
        raw = (context or {}).get("time_limit_in_ms")
        try:
            if raw is not None and float(raw) > 0:
                limit_s = float(raw) / 1000.0
        except (TypeError, ValueError):
            pass
        start = clock() if started_at is None else started_at
        return cls(start + max(0.0, limit_s - margin_s), clock)

    def remaining(self) -> float:
        if self.expires_at is None:
            return math.inf
        return max(0.0, self.expires_at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def within(self, seconds: float) -> Deadline:
        """A deadline no later than this one and no later than `seconds` from now."""
        cap = self._clock() + seconds
        expires = cap if self.expires_at is None else min(cap, self.expires_at)
        return Deadline(expires, self._clock)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"


class RetryPolicy(NamedTuple):
    """Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base * 2**(n-1))]."""

    max_attempts: int = 6
    base_s: float = 0.1
    cap_s: float = 3.0
    # Do not start another attempt with less than this much time left (it could not finish).
    min_attempt_s: float = 0.05

    def delay(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Wait before retry number `retry_number` (1 = the first retry)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, retry_number - 1)))
        return rand() * ceiling


def retry(
    fn: Callable[[int], T],
    *,
    should_retry: Callable[[Exception], bool],
    policy: RetryPolicy,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Call `fn(attempt)` (attempt counts from 0) until it returns, or re-raise its last exception.

    Stops when `should_retry` says no, after `policy.max_attempts` attempts, or when the wait plus a
    minimal attempt would not fit before `deadline`. The first attempt is always made: whether an attempt
    may start is the caller's decision (`fn` can look at the deadline itself). So an exception that
    `should_retry` accepts and that escapes here means the attempts or the time ran out.
    """
    attempt = 0
    while True:
        try:
            return fn(attempt)
        except Exception as exc:
            attempt += 1
            if attempt >= policy.max_attempts or not should_retry(exc):
                raise
            wait = policy.delay(attempt, rand)
            if deadline.remaining() < wait + policy.min_attempt_s:
                raise
            if wait > 0:
                sleep(wait)
