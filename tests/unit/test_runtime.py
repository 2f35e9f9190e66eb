"""The one Deadline and retry loop (pure: fake clock, sleep and random): exact waits, attempt and time bounds."""

from __future__ import annotations

import math
from typing import Any

import pytest

from shared.runtime import Deadline, RetryPolicy, retry


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Refused(Exception):
    """A failure the caller says is safe to retry."""


class Broken(Exception):
    """A failure the caller says is not safe to retry."""


class Flaky:
    """Fails with the given errors, then returns 'ok'."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.attempts: list[int] = []

    def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def safe(exc: Exception) -> bool:
    return isinstance(exc, Refused)


def rands(*values: float) -> Any:
    """A `rand` returning `values` in order."""
    it = iter(values)
    return lambda: next(it)


# -- Deadline -------------------------------------------------------------------------------------


def test_deadline_from_context_uses_limit_start_and_margin() -> None:
    clock = FakeClock(500.0)
    deadline = Deadline.from_context({"time_limit_in_ms": 3000}, started_at=499.0, margin_s=0.5, clock=clock)
    # started 1 s ago, 3 s limit, 0.5 s margin -> 1.5 s left
    assert deadline.remaining() == pytest.approx(1.5)
    clock.now += 1.0
    assert deadline.remaining() == pytest.approx(0.5)
    assert not deadline.expired()
    clock.now += 0.6
    assert deadline.remaining() == 0.0
    assert deadline.expired()


def test_deadline_from_context_starts_now_without_a_start_time() -> None:
    clock = FakeClock(42.0)
    deadline = Deadline.from_context({"time_limit_in_ms": 10_000}, clock=clock)
    assert deadline.expires_at == pytest.approx(42.0 + 10.0 - 1.0)  # default margin 1 s


def test_deadline_margin_larger_than_limit_is_already_expired() -> None:
    clock = FakeClock()
    assert Deadline.from_context({"time_limit_in_ms": 500}, margin_s=1.0, clock=clock).expired()


@pytest.mark.parametrize("context", [None, {}, {"time_limit_in_ms": "x"}, {"time_limit_in_ms": -4}])
def test_deadline_from_context_falls_back_to_default(context: Any) -> None:
    clock = FakeClock()
    deadline = Deadline.from_context(context, margin_s=1.0, default_limit_s=10.0, clock=clock)
    assert deadline.remaining() == pytest.approx(9.0)


def test_deadline_never_and_within() -> None:
    clock = FakeClock()
    assert math.isinf(Deadline.never(clock).remaining())
    assert not Deadline.never(clock).expired()
    assert Deadline.never(clock).within(2.0).remaining() == pytest.approx(2.0)
    outer = Deadline.after(1.0, clock)
    assert outer.within(5.0).remaining() == pytest.approx(1.0)
    inner = outer.within(0.25)
    clock.now += 0.3
    assert inner.expired() and not outer.expired()


# -- backoff --------------------------------------------------------------------------------------


def test_backoff_is_exponential_capped_full_jitter() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0)
    assert [policy.delay(n, lambda: 1.0) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.delay(3, lambda: 0.0) == 0.0
    assert policy.delay(3, lambda: 0.5) == pytest.approx(0.2)


# -- retry loop -----------------------------------------------------------------------------------


def test_retry_succeeds_after_safe_failures_with_backoff_sleeps() -> None:
    clock = FakeClock()
    fn = Flaky(Refused(), Refused(), Refused())
    result = retry(
        fn,
        should_retry=safe,
        policy=RetryPolicy(max_attempts=5, base_s=0.1, cap_s=10.0),
        deadline=Deadline.never(clock),
        sleep=clock.sleep,
        rand=rands(1.0, 0.5, 0.25),
    )
    assert result == "ok"
    assert fn.attempts == [0, 1, 2, 3]
    # full jitter: rand * min(cap, base * 2**(n-1)) -> 1.0*0.1, 0.5*0.2, 0.25*0.4
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1])


def test_zero_wait_does_not_sleep() -> None:
    clock = FakeClock()
    fn = Flaky(Refused())
    retry(
        fn,
        should_retry=safe,
        policy=RetryPolicy(),
        deadline=Deadline.never(clock),
        sleep=clock.sleep,
        rand=lambda: 0.0,
    )
    assert fn.attempts == [0, 1]
    assert clock.sleeps == []


def test_retry_gives_up_after_max_attempts_and_raises_last_error() -> None:
    clock = FakeClock()
    fn = Flaky(*[Refused(f"n{i}") for i in range(10)])
    with pytest.raises(Refused, match=r"^n3$"):
        retry(
            fn,
            should_retry=safe,
            policy=RetryPolicy(max_attempts=4, base_s=0.01),
            deadline=Deadline.never(clock),
            sleep=clock.sleep,
            rand=lambda: 0.5,
        )
    assert len(fn.attempts) == 4
    assert clock.sleeps == pytest.approx([0.005, 0.01, 0.02])


def test_retry_does_not_retry_what_is_not_safe() -> None:
    clock = FakeClock()
    fn = Flaky(Refused(), Broken("no"))
    with pytest.raises(Broken):
        retry(
            fn,
            should_retry=safe,
            policy=RetryPolicy(max_attempts=5),
            deadline=Deadline.never(clock),
            sleep=clock.sleep,
            rand=lambda: 1.0,
        )
    assert fn.attempts == [0, 1]
    assert len(clock.sleeps) == 1


def test_deadline_stops_retrying_before_max_attempts() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1.0, clock)
    fn = Flaky(*[Refused() for _ in range(50)])
    with pytest.raises(Refused):
        retry(
            fn,
            should_retry=safe,
            policy=RetryPolicy(max_attempts=50, base_s=0.3, cap_s=0.3, min_attempt_s=0.05),
            deadline=deadline,
            sleep=clock.sleep,
            rand=lambda: 1.0,
        )
    # Waits of 0.3 s: after 3 waits (0.9 s) there is 0.1 s left, less than 0.3 + 0.05 -> stop.
    assert len(fn.attempts) == 4
    assert clock.sleeps == pytest.approx([0.3, 0.3, 0.3])
    assert clock.now <= deadline.expires_at  # type: ignore[operator]


def test_expired_deadline_allows_the_first_attempt_and_no_retry() -> None:
    clock = FakeClock()
    fn = Flaky(Refused(), Refused())
    with pytest.raises(Refused):
        retry(
            fn,
            should_retry=safe,
            policy=RetryPolicy(max_attempts=5),
            deadline=Deadline.after(0.0, clock),
            sleep=clock.sleep,
            rand=lambda: 0.0,
        )
    assert fn.attempts == [0]
    assert clock.sleeps == []
