"""TCR errors: which are safe to retry (transient, ambiguous), how they map to the product's codes; TCR shapes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from shared.ports import LogEntry
from shared.tcr_errors import TcrCallError, map_error
from shared.tcr_wire import domain_host, log_entries, replica, sync_status

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
