"""Our retry loop, backoff and Deadline (pure: fake clock, sleep and random), and TCR error mapping."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest

from shared.ports import LogEntry
from shared.tcr import Deadline, RetryPolicy, retry
from shared.tcr_errors import TcrCallError, map_error
from shared.tcr_wire import domain_host, log_entries, replica, sync_status


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


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


def throttle() -> TcrCallError:
    return TcrCallError("DescribeInstances", "RequestLimitExceeded", "too many requests", "req-1")


def always(_exc: Exception) -> bool:
    return True


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


@pytest.mark.parametrize("context", [None, {}, {"time_limit_in_ms": "x"}, {"time_limit_in_ms": -4}])
def test_deadline_from_context_falls_back_to_default(context: Any) -> None:
    clock = FakeClock()
    deadline = Deadline.from_context(context, margin_s=1.0, default_limit_s=10.0, clock=clock)
    assert deadline.remaining() == pytest.approx(9.0)


def test_deadline_never_and_within() -> None:
    clock = FakeClock()
    assert math.isinf(Deadline.never(clock).remaining())
    assert Deadline.never(clock).within(2.0).remaining() == pytest.approx(2.0)
    outer = Deadline.after(1.0, clock)
    assert outer.within(5.0).remaining() == pytest.approx(1.0)


# -- backoff --------------------------------------------------------------------------------------


def test_backoff_is_exponential_capped_full_jitter() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0)
    assert [policy.delay(n, lambda: 1.0) for n in range(1, 7)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert policy.delay(3, lambda: 0.0) == 0.0
    assert policy.delay(3, lambda: 0.5) == pytest.approx(0.2)


# -- retry loop -----------------------------------------------------------------------------------


def test_retry_succeeds_after_transient_failures_with_backoff_sleeps() -> None:
    clock = FakeClock()
    fn = Flaky(throttle(), throttle())
    result = retry(
        fn,
        should_retry=always,
        policy=RetryPolicy(max_attempts=5, base_s=0.1, cap_s=10.0),
        deadline=Deadline.never(clock),
        sleep=clock.sleep,
        rand=lambda: 1.0,
    )
    assert result == "ok"
    assert fn.attempts == [0, 1, 2]
    assert clock.sleeps == pytest.approx([0.1, 0.2])


def test_retry_gives_up_after_max_attempts_and_raises_last_error() -> None:
    clock = FakeClock()
    errors = [TcrCallError("A", "RequestLimitExceeded", f"n{i}") for i in range(10)]
    fn = Flaky(*errors)
    with pytest.raises(TcrCallError) as info:
        retry(
            fn,
            should_retry=always,
            policy=RetryPolicy(max_attempts=4, base_s=0.01),
            deadline=Deadline.never(clock),
            sleep=clock.sleep,
            rand=lambda: 0.5,
        )
    assert len(fn.attempts) == 4
    assert info.value.message == "n3"
    assert len(clock.sleeps) == 3


def test_retry_does_not_retry_what_is_not_safe() -> None:
    clock = FakeClock()
    fn = Flaky(TcrCallError("A", "InvalidParameter.ReplicationExists", "exists"))
    with pytest.raises(TcrCallError):
        retry(
            fn,
            should_retry=lambda exc: isinstance(exc, TcrCallError) and exc.transient,
            policy=RetryPolicy(max_attempts=5),
            deadline=Deadline.never(clock),
            sleep=clock.sleep,
        )
    assert fn.attempts == [0]
    assert clock.sleeps == []


def test_deadline_stops_retrying_before_max_attempts() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1.0, clock)
    fn = Flaky(*[throttle() for _ in range(50)])
    with pytest.raises(TcrCallError):
        retry(
            fn,
            should_retry=always,
            policy=RetryPolicy(max_attempts=50, base_s=0.3, cap_s=0.3, min_attempt_s=0.05),
            deadline=deadline,
            sleep=clock.sleep,
            rand=lambda: 1.0,
        )
    # Waits of 0.3 s: after 3 waits (0.9 s) there is 0.1 s left, less than 0.3 + 0.05 -> stop.
    assert len(fn.attempts) == 4
    assert sum(clock.sleeps) <= 1.0
    assert clock.now <= deadline.expires_at  # type: ignore[operator]


def test_expired_deadline_allows_no_retry() -> None:
    clock = FakeClock()
    fn = Flaky(throttle(), throttle())
    with pytest.raises(TcrCallError):
        retry(
            fn,
            should_retry=always,
            policy=RetryPolicy(max_attempts=5),
            deadline=Deadline.after(0.0, clock),
            sleep=clock.sleep,
        )
    assert fn.attempts == [0]


# -- classification and mapping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "transient", "ambiguous"),
    [
        ("RequestLimitExceeded", True, False),
        ("RequestLimitExceeded.UinLimitExceeded", True, False),
        ("InternalError", True, True),
        ("ClientNetworkError", True, True),
        ("ServerNetworkError", True, True),
        ("InvalidParameter.ReplicationExists", False, False),
        ("AuthFailure.SignatureFailure", False, False),
        ("ResourceNotFound", False, False),
        ("InternalError.ErrConflict", False, False),
    ],
)
def test_classification(code: str, transient: bool, ambiguous: bool) -> None:
    err = TcrCallError("X", code, "m")
    assert err.transient is transient
    assert err.ambiguous is ambiguous


@pytest.mark.parametrize(
    ("code", "ours", "status"),
    [
        ("RequestLimitExceeded", "Throttled", 429),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", "Throttled", 429),
        ("ResourceNotFound", "InstanceNotFound", 404),
        ("ResourceNotFound.TcrResourceNotFound", "InstanceNotFound", 404),
        ("InvalidParameter.ReplicationExists", "ReplicaExists", 409),
        ("InvalidParameter.UnsupportedRegion", "RegionNotSupported", 422),
        ("FailedOperation.ValidateSupportedRegionFail", "RegionNotSupported", 422),
        ("ResourceInsufficient.ErrorInstanceNotRunning", "InstanceNotRunning", 409),
        ("FailedOperation.PreconditionFailed", "Conflict", 409),
        ("InternalError.ErrorTcrResourceConflict", "Conflict", 409),
        ("AuthFailure.SignatureFailure", "UpstreamError", 502),
        ("UnauthorizedOperation", "UpstreamError", 502),
        ("InternalError", "UpstreamError", 502),
        ("InternalError.ErrorOverLimit", "UpstreamError", 502),
        ("SomethingNew", "UpstreamError", 502),
        # refusals the product did not foresee: TCR refusing, not failing
        ("InvalidParameter", "TcrRefused", 422),
        ("InvalidParameter.ErrorTagOverLimit", "TcrRefused", 422),
        ("FailedOperation", "TcrRefused", 422),
        ("FailedOperation.TradeFailed", "TcrRefused", 422),
        ("UnsupportedOperation", "TcrRefused", 422),
        ("UnsupportedOperation.ErrNoUserInitialized", "TcrRefused", 422),
        ("OperationDenied.SomethingNew", "TcrRefused", 422),
        ("ResourceInsufficient.ErrorVpcDnsStatus", "TcrRefused", 422),
        ("LimitExceeded.SomethingNew", "TcrRefused", 422),
        # filed under FailedOperation but naming a fault of TCR itself: still a failure
        ("FailedOperation.DbError", "UpstreamError", 502),
        ("FailedOperation.DependenceError", "UpstreamError", 502),
        ("FailedOperation.GetTcrClient", "UpstreamError", 502),
        ("ClientNetworkError", "Unavailable", 503),
        ("ServerNetworkError", "Unavailable", 503),
        ("DeadlineExceeded", "Unavailable", 503),
    ],
)
def test_error_mapping(code: str, ours: str, status: int) -> None:
    mapped = map_error(TcrCallError("CreateReplicationInstance", code, "upstream says no", "rid-42"))
    assert mapped.code == ours
    assert mapped.status == status
    assert mapped.tcr_code == code
    assert "rid-42" in mapped.message
    assert code in mapped.message


def test_tcr_refused_carries_tcrs_code_and_message_only() -> None:
    mapped = map_error(TcrCallError("CreateReplicationInstance", "FailedOperation.TradeFailed", "no balance", "rid-7"))
    body = mapped.to_body("req-1")["error"]
    assert (body["code"], mapped.status) == ("TcrRefused", 422)
    assert body["tcr"] == {"code": "FailedOperation.TradeFailed", "message": "no balance", "requestId": "rid-7"}
    assert "no balance" in body["message"] and "CreateReplicationInstance" in body["message"]


@pytest.mark.parametrize("code", ["InternalError", "RequestLimitExceeded", "ClientNetworkError", "SomethingNew"])
def test_only_refusals_carry_a_tcr_field(code: str) -> None:
    assert "tcr" not in map_error(TcrCallError("DescribeInstances", code, "m")).to_body("r")["error"]


def test_not_found_can_mean_the_replica() -> None:
    mapped = map_error(
        TcrCallError("DeleteReplicationInstance", "ResourceNotFound", "gone"), not_found="ReplicaNotFound"
    )
    assert mapped.code == "ReplicaNotFound"


# -- shapes ---------------------------------------------------------------------------------------

LOG = {
    "ResourceType": "image",
    "Source": "ns/app:[v1]",
    "Destination": "ns/app:[v1]",
    "Status": "Succeed",
    "StartTime": "2021-09-28T07:47:44Z",
    "EndTime": "2021-09-28T07:47:53Z",
}


def test_replication_log_accepts_object_array_and_null() -> None:
    one = log_entries(LOG)
    many = log_entries([LOG, {**LOG, "Status": "Failed"}])
    assert one == (
        LogEntry(
            resource_type="image",
            source="ns/app:[v1]",
            destination="ns/app:[v1]",
            status="Succeed",
            start_time="2021-09-28T07:47:44Z",
            end_time="2021-09-28T07:47:53Z",
            started=datetime(2021, 9, 28, 7, 47, 44, tzinfo=timezone.utc),
            ended=datetime(2021, 9, 28, 7, 47, 53, tzinfo=timezone.utc),
        ),
    )
    assert [e.status for e in many] == ["Succeed", "Failed"]
    assert log_entries(None) == ()
    assert log_entries({"ResourceType": None, "Status": None}) == ()
    assert log_entries("garbage") == ()


def test_sync_status_keeps_tcrs_time_text_and_parses_it_once() -> None:
    got = sync_status({"ReplicationStatus": "Succeed", "ReplicationTime": "2021-09-28T16:00:15.5+08:00"})
    assert got.last_sync_at == "2021-09-28T16:00:15.5+08:00", "answered as TCR wrote it"
    assert got.last_sync == datetime(2021, 9, 28, 8, 0, 15, tzinfo=timezone.utc)
    assert got.entries == () and not got.one_entry_per_page
    null = sync_status({"ReplicationStatus": None, "ReplicationTime": "0001-01-01T00:00:00Z", "ReplicationLog": LOG})
    assert (null.last_sync_at, null.last_sync) == (None, None), "TCR's null time is no time"
    assert null.one_entry_per_page and len(null.entries) == 1


def test_a_replica_named_by_one_of_region_name_or_id_gets_both() -> None:
    by_id = replica({"ReplicationRegistryId": "tcr-x-4-a", "ReplicationRegionId": 4, "Status": "Running"})
    assert (by_id.region, by_id.region_id) == ("ap-shanghai", 4)
    by_name = replica({"ReplicationRegistryId": "tcr-x-8-a", "ReplicationRegionName": "ap-beijing"})
    assert (by_name.region, by_name.region_id) == ("ap-beijing", 8)
    unknown = replica({"ReplicationRegistryId": "tcr-x-99-a", "ReplicationRegionId": 99999, "CreatedAt": "bad"})
    assert (unknown.region, unknown.region_id) == ("99999", 99999), "what TCR said, when the catalogue cannot tell"
    assert (unknown.created_at, unknown.created) == ("bad", None)


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("demo.tencentcloudcr.com", "demo.tencentcloudcr.com"),
        ("https://Demo.TencentCloudCR.com/v2/ns/app", "demo.tencentcloudcr.com"),
        ("demo.tencentcloudcr.com:443", "demo.tencentcloudcr.com"),
        ("demo.tencentcloudcr.com.", "demo.tencentcloudcr.com"),
        ("https://[::1]:5000/v2/ns/app", "::1"),
        ("http://[not-closed", ""),
        ("", ""),
    ],
)
def test_host_of(given: str, host: str) -> None:
    assert domain_host(given) == host
