"""The store's one COS wrapper: bounded retries, deadline, counting, error mapping (stub client, no network)."""

from __future__ import annotations

from typing import Any

import pytest
from qcloud_cos.cos_exception import CosClientError, CosServiceError

from shared.errors import ApiError, ConfigError
from shared.logstore import LogStore


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


def make(outcomes: list[Any], **kwargs: Any) -> tuple[LogStore, StubClient, Clock]:
    client = StubClient(outcomes)
    clock = Clock()
    store = LogStore(client, "tcr-replication-log-1250000000", sleep=clock.sleep, clock=clock, **kwargs)
    return store, client, clock


def test_retries_5xx_slowdown_and_network_errors_then_succeeds():
    outcomes = [service_error(503), service_error(429, "SlowDown"), CosClientError("connection reset"), None]
    store, client, clock = make(outcomes)
    store.put_json("state/tcr-1/audit.json", {"a": 1})
    assert client.requests == 4
    assert store.calls == 4 and store.calls_by_op == {"PutObject": 4}
    assert len(clock.slept) == 3
    assert clock.slept[0] < clock.slept[2]  # backoff grows


def test_gives_up_after_max_attempts_with_unavailable():
    store, client, _ = make([service_error(500, "InternalError")] * 10, max_attempts=3)
    with pytest.raises(ApiError) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert info.value.code == "Unavailable" and info.value.status == 503
    assert client.requests == 3 and store.calls == 3


def test_deadline_bounds_the_retries():
    store, client, clock = make([service_error(503)] * 10, max_attempts=10, base_delay=1.0, max_delay=1.0)
    store.deadline = clock.now + 1.2  # room for about one backoff
    with pytest.raises(ApiError) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert info.value.code == "Unavailable"
    assert client.requests <= 3
    assert clock.now <= store.deadline


def test_client_errors_are_not_retried():
    store, client, _ = make([service_error(403, "AccessDenied")])
    with pytest.raises(ApiError) as info:
        store.put_json("state/tcr-1/audit.json", {})
    assert info.value.code == "Unavailable" and "403" in info.value.message
    assert client.requests == 1


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
