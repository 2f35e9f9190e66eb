"""TCR errors: which are safe to retry (transient, ambiguous), how they map to the product's codes; TCR shapes."""

from __future__ import annotations

import pytest

from shared.tcr import TcrCallError, _host_of, map_error, replication_log_entries

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
    one = replication_log_entries(LOG)
    many = replication_log_entries([LOG, {**LOG, "Status": "Failed"}])
    assert one == [
        {
            "resourceType": "image",
            "source": "ns/app:[v1]",
            "destination": "ns/app:[v1]",
            "status": "Succeed",
            "startTime": "2021-09-28T07:47:44Z",
            "endTime": "2021-09-28T07:47:53Z",
        }
    ]
    assert [e["status"] for e in many] == ["Succeed", "Failed"]
    assert replication_log_entries(None) == []
    assert replication_log_entries({"ResourceType": None, "Status": None}) == []
    assert replication_log_entries("garbage") == []


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("demo.tencentcloudcr.com", "demo.tencentcloudcr.com"),
        ("https://Demo.TencentCloudCR.com/v2/ns/app", "demo.tencentcloudcr.com"),
        ("demo.tencentcloudcr.com:443", "demo.tencentcloudcr.com"),
        ("demo.tencentcloudcr.com.", "demo.tencentcloudcr.com"),
    ],
)
def test_host_of(given: str, host: str) -> None:
    assert _host_of(given) == host
