"""The store's one COS wrapper: bounded retries, deadline, counting, error mapping (stub client, no network).

Clock, sleep and random are injected: full jitter's waits are exact for given random values."""

from __future__ import annotations

from typing import Any

import pytest
from qcloud_cos.cos_exception import CosClientError, CosServiceError

from shared.errors import ConfigError, StoreUnavailable
from shared.logstore import COS_RETRY, LogStore
from shared.runtime import Deadline, RetryPolicy


def service_error(status: int, code: str = "ServiceUnavailable") -> CosServiceError:
    body = {"code": code, "message": "x", "resource": "r", "requestid": "1", "traceid": "t"}
    return CosServiceError("PUT", body, status)


class StubClient:
    """Plays a scripted sequence of outcomes for put_object / get_object."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = list(outcomes)
        self.requests = 0

    def _next(self) -> Any:
        self.requests += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        self._next()
        return {"ETag": '"x"'}

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self._next()
        raise AssertionError("only errors are scripted for get_object")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def make(outcomes: list[Any], rand: Any = lambda: 1.0, **kwargs: Any) -> tuple[LogStore, StubClient, Clock]:
    client = StubClient(outcomes)
    clock = Clock()
    store = LogStore(client, "tcr-replication-log-1250000000", sleep=clock.sleep, rand=rand, **kwargs)
    return store, client, clock


def rands(*values: float) -> Any:
    it = iter(values)
    return lambda: next(it)


def test_cos_policy_is_6_attempts_50ms_doubling_capped_at_2s():
    assert (COS_RETRY.max_attempts, COS_RETRY.base_s, COS_RETRY.cap_s) == (6, 0.05, 2.0)
    assert [COS_RETRY.delay(n, lambda: 1.0) for n in range(1, 8)] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0])


def test_retries_5xx_slowdown_and_network_errors_then_succeeds_with_full_jitter_waits():
    outcomes = [service_error(503), service_error(429, "SlowDown"), CosClientError("connection reset"), None]
    store, client, clock = make(outcomes, rand=rands(0.5, 0.25, 1.0))
    store.put_json("state/tcr-1/audit.json", {"a": 1})
    assert client.requests == 4
    assert store.calls == 4 and store.calls_by_op == {"PutObject": 4}
    # uniform in [0, 0.05 * 2**(n-1)]: 0.5 * 0.05, 0.25 * 0.1, 1.0 * 0.2
    assert clock.slept == pytest.approx([0.025, 0.025, 0.2])


def test_gives_up_after_6_attempts_by_default_with_unavailable():
    store, client, clock = make([service_error(500, "InternalError")] * 10)
    with pytest.raises(StoreUnavailable) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert info.value.code == "Unavailable"
    assert "PutObject after 6 attempts" in info.value.message and "HTTP 500 InternalError" in info.value.message
    assert client.requests == 6 and store.calls == 6 and store.calls_by_op == {"PutObject": 6}
    assert clock.slept == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8])


def test_gives_up_after_the_policys_attempts():
    store, client, _ = make([service_error(500, "InternalError")] * 10, policy=RetryPolicy(max_attempts=3))
    with pytest.raises(StoreUnavailable) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert info.value.code == "Unavailable" and "after 3 attempts" in info.value.message
    assert client.requests == 3 and store.calls == 3


def test_deadline_bounds_the_retries():
    store, client, clock = make([service_error(503)] * 10, policy=RetryPolicy(max_attempts=10, base_s=1.0, cap_s=1.0))
    deadline = Deadline.after(1.2, clock)  # room for one full wait, not two
    store.set_deadline(deadline)
    with pytest.raises(StoreUnavailable) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert info.value.code == "Unavailable" and "after 2 attempts" in info.value.message
    assert client.requests == 2 and store.calls == 2
    assert clock.slept == [1.0]
    assert clock.now <= deadline.expires_at  # type: ignore[operator]


def test_shorter_waits_fit_more_attempts_before_the_deadline():
    policy = RetryPolicy(max_attempts=10, base_s=1.0, cap_s=1.0)
    store, client, clock = make([service_error(503)] * 10, rand=lambda: 0.5, policy=policy)
    store.set_deadline(Deadline.after(1.2, clock))
    with pytest.raises(StoreUnavailable):
        store.put_json("state/tcr-1/audit.json", {})
    # 1.2 s left: wait 0.5 (0.7 left), wait 0.5 (0.2 left), then 0.5 + a minimal attempt no longer fits
    assert client.requests == 3
    assert clock.slept == pytest.approx([0.5, 0.5])


def test_expired_deadline_still_makes_one_attempt_and_no_retry():
    store, client, clock = make([service_error(503), None])
    store.set_deadline(Deadline.after(0.0, clock))
    with pytest.raises(StoreUnavailable) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert "after 1 attempts" in info.value.message
    assert client.requests == 1 and clock.slept == []


def test_client_errors_are_not_retried():
    store, client, clock = make([service_error(403, "AccessDenied")])
    with pytest.raises(StoreUnavailable) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert (
        info.value.code == "Unavailable" and "refused PutObject" in info.value.message and "403" in info.value.message
    )
    assert client.requests == 1 and store.calls == 1 and clock.slept == []


def test_unforeseen_errors_are_not_retried_nor_wrapped():
    store, client, clock = make([ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        store.put_json("state/tcr-1/audit.json", {})
    assert client.requests == 1 and store.calls == 1 and clock.slept == []


def test_missing_object_reads_as_none():
    store, client, _ = make([service_error(404, "NoSuchKey")])
    assert store.get_json("state/tcr-1/audit.json") is None
    assert client.requests == 1


def test_from_env_names_the_missing_variable():
    base = {
        "TENCENTCLOUD_SECRETID": "AKIDLOCALCLOUD0000000000000000000000",
        "TENCENTCLOUD_SECRETKEY": "localcloudSecretKey00000000000000",
        "LOG_BUCKET": "tcr-replication-log-1250000000",
        "LOG_BUCKET_REGION": "ap-guangzhou",
        "COS_ENDPOINT": "127.0.0.1:9002",
    }
    assert LogStore.from_env(base).bucket == "tcr-replication-log-1250000000"
    for name in ("LOG_BUCKET", "TENCENTCLOUD_SECRETKEY"):
        env = {k: v for k, v in base.items() if k != name}
        with pytest.raises(ConfigError) as info:
            LogStore.from_env(env)
        assert info.value.variable == name
    with pytest.raises(ConfigError) as info:
        LogStore.from_env({**base, "COS_ENDPOINT": "nonsense"})
    assert info.value.variable == "COS_ENDPOINT"


def test_client_is_rebuilt_when_credentials_rotate():
    env = {
        "TENCENTCLOUD_SECRETID": "AKIDfirst",
        "TENCENTCLOUD_SECRETKEY": "first-key",
        "TENCENTCLOUD_SESSIONTOKEN": "token-1",
        "LOG_BUCKET": "tcr-replication-log-1250000000",
        "LOG_BUCKET_REGION": "ap-guangzhou",
        "COS_ENDPOINT": "127.0.0.1:1",
    }
    store = LogStore.from_env(env)
    first = store.client
    assert store._fresh_client() is first
    env["TENCENTCLOUD_SECRETKEY"] = "second-key"
    env["TENCENTCLOUD_SESSIONTOKEN"] = "token-2"
    second = store._fresh_client()
    assert second is not first
    assert second._conf._token == "token-2"
