"""Private access in the TCR adapter (issue 9): TCR's answers parsed, its refusals mapped, writes retried safely.

The answers below are hand-written in the shape of tencentcloud-sdk-python-tcr's models (AccessVpc,
VpcPrivateDomainStatus); the adapter's calls are answered by a stub of `call_once`, so these tests check the
requests the adapter builds (field names of ManageInternalEndpointRequest, VpcAndDomainInfo, ...) too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.errors import ApiError
from shared.ports import EndpointDns, InternalEndpoint
from shared.tcr import TcrAdapter
from shared.tcr_errors import TcrCallError, access_error
from shared.tcr_wire import endpoint_dns, internal_endpoints
from tests.fakes import FakeTcr

# -- the wire ---------------------------------------------------------------------------------------------------


def test_internal_endpoints_are_read_from_access_vpc_set() -> None:
    answer = {
        "AccessVpcSet": [
            {"VpcId": "vpc-1a2b3c4d", "SubnetId": "subnet-9z8y7x6w", "Status": "Running", "AccessIp": "10.0.1.12"},
            {"VpcId": "vpc-5e6f7g8h", "SubnetId": "subnet-1q2w3e4r", "Status": "Creating", "AccessIp": ""},
            {"VpcId": "vpc-odd", "SubnetId": "subnet-odd", "Status": None, "AccessIp": None, "Username": "x"},
        ],
        "TotalCount": 3,
        "RequestId": "req-1",
    }
    assert internal_endpoints(answer) == [
        InternalEndpoint("vpc-1a2b3c4d", "subnet-9z8y7x6w", "Running", "10.0.1.12"),
        InternalEndpoint("vpc-5e6f7g8h", "subnet-1q2w3e4r", "Creating", None),
        InternalEndpoint("vpc-odd", "subnet-odd", "", None),
    ]


@pytest.mark.parametrize("answer", [{"AccessVpcSet": None, "TotalCount": 0}, {"TotalCount": 0}, {"AccessVpcSet": []}])
def test_no_attachment_is_an_empty_list(answer: dict[str, Any]) -> None:
    assert internal_endpoints(answer) == []


def test_dns_status_is_read_from_vpc_set_as_tcr_words_it() -> None:
    answer = {
        "VpcSet": [
            {"Region": "ap-shanghai", "VpcId": "vpc-1a2b3c4d", "Status": "ENABLE"},
            {"Region": "ap-guangzhou", "VpcId": "vpc-5e6f7g8h", "Status": "DISABLE"},
            {"VpcId": "vpc-odd", "Status": "ERROR"},
        ],
        "RequestId": "req-2",
    }
    assert endpoint_dns(answer) == [
        EndpointDns("vpc-1a2b3c4d", "ENABLE", "ap-shanghai"),
        EndpointDns("vpc-5e6f7g8h", "DISABLE", "ap-guangzhou"),
        EndpointDns("vpc-odd", "ERROR", ""),
    ]
    assert endpoint_dns({"VpcSet": None}) == []


# -- refusals mapped ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "code", "ours", "status"),
    [
        ("Create", "InternalError.ErrorConflict", "AccessExists", 409),
        ("Create", "ResourceInUse", "AccessExists", 409),
        ("Create", "InvalidParameter", "VpcNotFound", 422),
        ("Create", "ResourceNotFound", "VpcNotFound", 422),
        ("Create", "InvalidParameter.UnsupportedRegion", "NoReplicaInRegion", 422),
        ("Create", "FailedOperation.ValidateSupportedRegionFail", "NoReplicaInRegion", 422),
        ("Delete", "ResourceNotFound", "AccessNotFound", 404),
        ("Delete", "InternalError.ErrNotExist", "AccessNotFound", 404),
        ("Delete", "InternalError.DeletePrivateZoneRecord", "UpstreamError", 502),
        # the rest as any TCR failure
        ("Delete", "InternalError.ErrorConflict", "Conflict", 409),
        ("Delete", "InvalidParameter", "TcrRefused", 422),
        ("Create", "ResourceInsufficient.ErrorVpcDnsStatus", "TcrRefused", 422),
        ("Delete", "ResourceInsufficient.ErrorVpcDnsStatus", "TcrRefused", 422),
        ("Create", "OperationDenied", "Conflict", 409),
        ("Create", "InternalError.ErrorOverLimit", "UpstreamError", 502),
        ("Create", "RequestLimitExceeded", "Throttled", 429),
        ("Create", "ClientNetworkError", "Unavailable", 503),
    ],
)
def test_manage_internal_endpoint_refusals(operation: str, code: str, ours: str, status: int) -> None:
    err = TcrCallError("ManageInternalEndpoint", code, "upstream says no", "rid-7")
    mapped = access_error(err, operation=operation, vpc_id="vpc-1", subnet_id="subnet-1", region="ap-shanghai")
    assert (mapped.code, mapped.status, mapped.tcr_code) == (ours, status, code)
    assert "rid-7" in mapped.message
    if ours in {"AccessExists", "VpcNotFound", "NoReplicaInRegion", "AccessNotFound"}:
        assert "vpc-1" in mapped.message
        assert "ap-shanghai" in mapped.message
        assert mapped.details["tcr"] == {"code": code, "message": "upstream says no", "requestId": "rid-7"}


def test_a_dns_record_already_gone_is_access_not_found() -> None:
    err = TcrCallError("DeleteInternalEndpointDns", "ResourceNotFound", "no record")
    mapped = access_error(err, operation="Delete", vpc_id="vpc-1", subnet_id=None, region="ap-shanghai", dns=True)
    assert (mapped.code, mapped.status) == ("AccessNotFound", 404)
    assert "has no DNS record" in mapped.message
    assert "subnet" not in mapped.message


def test_no_replica_in_region_says_what_to_do() -> None:
    err = TcrCallError("ManageInternalEndpoint", "InvalidParameter.UnsupportedRegion", "bad region")
    mapped = access_error(err, operation="Create", vpc_id="vpc-1", subnet_id="subnet-1", region="ap-tokyo")
    assert "create a replica in that region first" in mapped.message


# -- the adapter: requests and retries ----------------------------------------------------------------------------


Answer = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(autouse=True)
def _function_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_REGION", "ap-guangzhou")


def adapter(answer: Answer) -> tuple[TcrAdapter, list[tuple[str, dict[str, Any], str]]]:
    """An adapter whose every call goes to `answer(action, params)` (which may raise TcrCallError)."""
    calls: list[tuple[str, dict[str, Any], str]] = []
    tcr = TcrAdapter(credentials=object(), sleep=lambda _s: None, rand=lambda: 0.0)

    def call_once(action: str, params: Any, region: str) -> dict[str, Any]:
        calls.append((action, dict(params), region))
        return answer(action, dict(params))

    tcr.call_once = call_once  # type: ignore[method-assign]
    return tcr, calls


def test_list_sends_the_registry_id_in_its_region() -> None:
    tcr, calls = adapter(lambda _a, _p: {"AccessVpcSet": [{"VpcId": "vpc-1", "SubnetId": "s-1", "Status": "Running"}]})
    assert tcr.list_internal_endpoints("tcr-abc", region="ap-guangzhou") == [
        InternalEndpoint("vpc-1", "s-1", "Running", None)
    ]
    assert calls == [("DescribeInternalEndpoints", {"RegistryId": "tcr-abc"}, "ap-guangzhou")]


def test_create_names_the_replica_region() -> None:
    tcr, calls = adapter(lambda _a, _p: {"RegistryId": "tcr-abc"})
    tcr.create_internal_endpoint("tcr-abc", "vpc-1", "subnet-1", "ap-shanghai", region="ap-guangzhou")
    assert calls == [
        (
            "ManageInternalEndpoint",
            {
                "RegistryId": "tcr-abc",
                "Operation": "Create",
                "VpcId": "vpc-1",
                "SubnetId": "subnet-1",
                "RegionName": "ap-shanghai",
            },
            "ap-guangzhou",
        )
    ]


def test_create_after_an_ambiguous_failure_looks_before_trying_again() -> None:
    attached: list[dict[str, Any]] = []

    def answer(action: str, params: dict[str, Any]) -> dict[str, Any]:
        if action == "ManageInternalEndpoint":
            attached.append({"VpcId": params["VpcId"], "SubnetId": params["SubnetId"], "Status": "Creating"})
            raise TcrCallError(action, "ClientNetworkError", "read timed out")  # carried out, answer lost
        return {"AccessVpcSet": attached}

    tcr, calls = adapter(answer)
    tcr.create_internal_endpoint("tcr-abc", "vpc-1", "subnet-1", "ap-shanghai")
    assert [c[0] for c in calls] == ["ManageInternalEndpoint", "DescribeInternalEndpoints"]
    assert len(attached) == 1


def test_a_conflict_answering_our_own_retry_is_resolved_by_the_list() -> None:
    answers = iter(
        [
            TcrCallError("ManageInternalEndpoint", "InternalError", "timeout inside TCR"),
            {"AccessVpcSet": []},  # not listed yet
            TcrCallError("ManageInternalEndpoint", "InternalError.ErrorConflict", "exists"),
            {"AccessVpcSet": [{"VpcId": "vpc-1", "SubnetId": "subnet-1", "Status": "Creating"}]},
        ]
    )

    def answer(_action: str, _params: dict[str, Any]) -> dict[str, Any]:
        step = next(answers)
        if isinstance(step, Exception):
            raise step
        return step

    tcr, calls = adapter(answer)
    tcr.create_internal_endpoint("tcr-abc", "vpc-1", "subnet-1")
    assert len(calls) == 4


def test_a_conflict_on_the_first_attempt_is_access_exists() -> None:
    def answer(action: str, _params: dict[str, Any]) -> dict[str, Any]:
        raise TcrCallError(action, "InternalError.ErrorConflict", "exists", "rid-9")

    tcr, calls = adapter(answer)
    with pytest.raises(ApiError) as caught:
        tcr.create_internal_endpoint("tcr-abc", "vpc-1", "subnet-1", "ap-shanghai")
    assert caught.value.code == "AccessExists"
    assert len(calls) == 1  # neither retried nor listed


def test_delete_gone_after_our_own_ambiguous_attempt_is_done_and_gone_at_first_is_access_not_found() -> None:
    answers = iter(
        [
            TcrCallError("ManageInternalEndpoint", "ServerNetworkError", "reset"),
            TcrCallError("M", "ResourceNotFound", ""),
        ]
    )

    def answer(_action: str, _params: dict[str, Any]) -> dict[str, Any]:
        raise next(answers)

    tcr, calls = adapter(answer)
    tcr.delete_internal_endpoint("tcr-abc", "vpc-1", "subnet-1", region_id=4)
    assert calls[0][1] == {
        "RegistryId": "tcr-abc",
        "Operation": "Delete",
        "VpcId": "vpc-1",
        "SubnetId": "subnet-1",
        "RegionId": 4,
    }
    assert len(calls) == 2

    def gone(action: str, _params: dict[str, Any]) -> dict[str, Any]:
        raise TcrCallError(action, "ResourceNotFound", "no such vpc")

    tcr, calls = adapter(gone)
    with pytest.raises(ApiError) as caught:
        tcr.delete_internal_endpoint("tcr-abc", "vpc-1", "subnet-1", "ap-shanghai")
    assert caught.value.code == "AccessNotFound"
    assert len(calls) == 1


def test_dns_requests_use_the_public_domain() -> None:
    tcr, calls = adapter(lambda _a, _p: {"VpcSet": [{"Region": "ap-shanghai", "VpcId": "vpc-1", "Status": "ENABLE"}]})
    tcr.create_endpoint_dns("tcr-abc", "vpc-1", "10.0.1.12", "ap-shanghai")
    tcr.delete_endpoint_dns("tcr-abc", "vpc-1", "10.0.1.12", "ap-shanghai")
    status = tcr.endpoint_dns_status("tcr-abc", [("vpc-1", "10.0.1.12", "ap-shanghai"), ("vpc-2", "10.0.2.3", None)])
    assert status == [EndpointDns("vpc-1", "ENABLE", "ap-shanghai")]
    assert tcr.endpoint_dns_status("tcr-abc", []) == []
    one = {"InstanceId": "tcr-abc", "VpcId": "vpc-1", "EniLBIp": "10.0.1.12", "UsePublicDomain": True}
    assert [(c[0], c[1]) for c in calls] == [
        ("CreateInternalEndpointDns", {**one, "RegionName": "ap-shanghai"}),
        ("DeleteInternalEndpointDns", {**one, "RegionName": "ap-shanghai"}),
        (
            "DescribeInternalEndpointDnsStatus",
            {
                "VpcSet": [
                    {**one, "RegionName": "ap-shanghai"},
                    {"InstanceId": "tcr-abc", "VpcId": "vpc-2", "EniLBIp": "10.0.2.3", "UsePublicDomain": True},
                ]
            },
        ),
    ]


def test_dns_create_after_an_ambiguous_failure_reads_the_status_first() -> None:
    created = []

    def answer(action: str, _params: dict[str, Any]) -> dict[str, Any]:
        if action == "CreateInternalEndpointDns":
            created.append(1)
            raise TcrCallError(action, "InternalError", "timeout")
        return {"VpcSet": [{"Region": "ap-shanghai", "VpcId": "vpc-1", "Status": "ENABLE" if created else "DISABLE"}]}

    tcr, calls = adapter(answer)
    tcr.create_endpoint_dns("tcr-abc", "vpc-1", "10.0.1.12", "ap-shanghai")
    assert [c[0] for c in calls] == ["CreateInternalEndpointDns", "DescribeInternalEndpointDnsStatus"]


def test_dns_create_failures_map_as_any_tcr_failure() -> None:
    def answer(action: str, _params: dict[str, Any]) -> dict[str, Any]:
        raise TcrCallError(action, "UnsupportedOperation.CreatePrivateZone", "no private zone")

    tcr, _ = adapter(answer)
    with pytest.raises(ApiError) as caught:
        tcr.create_endpoint_dns("tcr-abc", "vpc-1", "10.0.1.12")
    assert caught.value.code == "TcrRefused"


# -- the fake behaves as the adapter does where a service can tell -------------------------------------------------


def test_fake_private_access_life_cycle() -> None:
    tcr = FakeTcr()
    tcr.add_instance("tcr-abc", "ap-guangzhou")
    tcr.add_replica("tcr-abc", "ap-shanghai")
    tcr.add_vpc("vpc-sh", "ap-shanghai", "subnet-sh")
    tcr.add_vpc("vpc-gz", "ap-guangzhou", "subnet-gz")

    for args, code in [
        (("vpc-sh", "subnet-sh", "ap-tokyo"), "NoReplicaInRegion"),
        (("vpc-gz", "subnet-gz", "ap-shanghai"), "VpcNotFound"),
        (("vpc-sh", "subnet-other", "ap-shanghai"), "VpcNotFound"),
        (("vpc-none", "subnet-sh", "ap-shanghai"), "VpcNotFound"),
    ]:
        with pytest.raises(ApiError) as caught:
            tcr.create_internal_endpoint("tcr-abc", *args)
        assert caught.value.code == code
        assert caught.value.details["tcr"]["code"]

    tcr.create_internal_endpoint("tcr-abc", "vpc-sh", "subnet-sh", "ap-shanghai")
    tcr.create_internal_endpoint("tcr-abc", "vpc-gz", "subnet-gz")  # the instance's own region
    with pytest.raises(ApiError, match="already attached") as caught:
        tcr.create_internal_endpoint("tcr-abc", "vpc-sh", "subnet-sh", "ap-shanghai")
    assert caught.value.code == "AccessExists"
    assert tcr.list_internal_endpoints("tcr-abc")[0] == InternalEndpoint("vpc-sh", "subnet-sh", "Creating", None)

    tcr.run_endpoints("tcr-abc")
    endpoint = tcr.list_internal_endpoints("tcr-abc")[0]
    assert endpoint.status == "Running"
    assert endpoint.access_ip
    with pytest.raises(ApiError) as caught:
        tcr.create_endpoint_dns("tcr-abc", "vpc-sh", "192.0.2.1", "ap-shanghai")  # not the endpoint's AccessIp
    assert caught.value.code == "TcrRefused"
    tcr.create_endpoint_dns("tcr-abc", "vpc-sh", endpoint.access_ip, "ap-shanghai")
    query = [("vpc-sh", endpoint.access_ip, "ap-shanghai"), ("vpc-gz", "10.0.0.11", None)]
    assert tcr.endpoint_dns_status("tcr-abc", query) == [
        EndpointDns("vpc-sh", "ENABLE", "ap-shanghai"),
        EndpointDns("vpc-gz", "DISABLE", "ap-guangzhou"),
    ]

    with pytest.raises(ApiError) as caught:  # the DNS record goes first
        tcr.delete_internal_endpoint("tcr-abc", "vpc-sh", "subnet-sh", "ap-shanghai")
    assert caught.value.code == "TcrRefused"
    tcr.delete_endpoint_dns("tcr-abc", "vpc-sh", endpoint.access_ip, "ap-shanghai")
    tcr.delete_internal_endpoint("tcr-abc", "vpc-sh", "subnet-sh", "ap-shanghai")
    for method in (tcr.delete_internal_endpoint, tcr.delete_endpoint_dns):
        with pytest.raises(ApiError) as caught:
            method("tcr-abc", "vpc-sh", "subnet-sh", "ap-shanghai")
        assert caught.value.code == "AccessNotFound"
    assert [ep.vpc_id for ep in tcr.list_internal_endpoints("tcr-abc")] == ["vpc-gz"]
