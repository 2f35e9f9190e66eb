"""Contract tests of localcloud's TCR private-network access (VPC attachments, private DNS) and its VPC catalogue,
driven through the real tencentcloud-sdk-python-tcr client.

Expectations come from the SDK's models (field names and types), the Go SDK's per-action error lists and
shared/reference/tcr-private-access.md (Terraform's use of the actions), not from the emulator; where TCR's
behaviour is unknown, the expectation is the one docs/localcloud-tcr.md marks "assumed".
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tcr.v20190924 import models, tcr_client

from localcloud.faults import Faults
from localcloud.httpd import Server
from localcloud.tcr import AdminError, TcrService

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

SID = "AKIDLOCALCLOUD0000000000000000000000"
SKEY = "localcloudSecretKey00000000000000"
READY_S = 30.0  # replicas and endpoints: the clock is moved past it, never waited for
HOME = "ap-guangzhou"
REPLICA_REGION = "ap-shanghai"

# Per-action error lists (tencentcloud-sdk-go tcr/v20190924/client.go), the codes a caller must expect.
MANAGE_CODES = {
    "InternalError",
    "InternalError.DbError",
    "InternalError.ErrorConflict",
    "InternalError.ErrorOverLimit",
    "InvalidParameter",
    "MissingParameter",
    "OperationDenied",
    "ResourceInsufficient.ErrorVpcDnsStatus",
    "ResourceNotFound",
    "UnauthorizedOperation",
    "UnknownParameter",
    "UnsupportedOperation",
}
DNS_CODES = {  # CreateInternalEndpointDns / DeleteInternalEndpointDns / DescribeInternalEndpointDnsStatus (shared part)
    "InternalError",
    "InternalError.CreatePrivateZone",
    "InternalError.CreatePrivateZoneRecord",
    "InternalError.DbError",
    "InternalError.DeletePrivateZoneRecord",
    "InternalError.DescribeInternalEndpointDnsStatus",
    "InternalError.DescribePrivateZoneList",
    "InternalError.DescribePrivateZoneRecordList",
    "InternalError.DescribePrivateZoneServiceList",
    "InvalidParameter",
    "UnsupportedOperation",
}
# common errors every action may return (API 3.0 common error codes)
COMMON = {"MissingParameter", "UnknownParameter", "InvalidParameter", "AuthFailure.SignatureFailure"}


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Cloud:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.svc = TcrService(
            keys={SID: SKEY},
            faults=Faults({"replication": {"lagMs": [5, 20]}}),
            replica_ready_after_s=READY_S,
            endpoint_ready_after_s=READY_S,
            now=clock,
        )
        self.server = Server(self.svc.handle, 0).start()
        self.endpoint = f"127.0.0.1:{self.server.port}"

    def client(self, region: str = HOME) -> tcr_client.TcrClient:
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=self.endpoint, protocol="http", reqTimeout=5))
        return tcr_client.TcrClient(credential.Credential(SID, SKEY), region, profile)

    def pass_ready(self) -> None:
        self.clock.offset += READY_S + 1

    def close(self) -> None:
        self.server.close()
        self.svc.close()


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    c = Cloud(Clock())
    try:
        yield c
    finally:
        c.close()


def sdk_error(fn: Callable[[], Any]) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return str(info.value.get_code())


def default_vpc(cloud: Cloud, region: str) -> dict[str, Any]:
    return cloud.svc.admin_list_vpcs(region)["vpcs"][0]


def setup(cloud: Cloud, name: str = "pa-demo") -> tuple[tcr_client.TcrClient, str, str]:
    """A Running premium instance in HOME with a Running replica in REPLICA_REGION."""
    client = cloud.client()
    req = models.CreateInstanceRequest()
    req.RegistryName = name
    req.RegistryType = "premium"
    rid = client.CreateInstance(req).RegistryId
    cloud.pass_ready()
    rep = models.CreateReplicationInstanceRequest()
    rep.RegistryId = rid
    rep.ReplicationRegionName = REPLICA_REGION
    replica_id = client.CreateReplicationInstance(rep).ReplicationRegistryId
    cloud.pass_ready()
    return client, rid, replica_id


def manage(
    client: tcr_client.TcrClient, rid: str, op: str, vpc: str, subnet: str, **kw: Any
) -> models.ManageInternalEndpointResponse:
    req = models.ManageInternalEndpointRequest()
    req.RegistryId = rid
    req.Operation = op
    req.VpcId = vpc
    req.SubnetId = subnet
    for k, v in kw.items():
        setattr(req, k, v)
    return client.ManageInternalEndpoint(req)


def endpoints(client: tcr_client.TcrClient, rid: str) -> models.DescribeInternalEndpointsResponse:
    req = models.DescribeInternalEndpointsRequest()
    req.RegistryId = rid
    return client.DescribeInternalEndpoints(req)


def dns(client: tcr_client.TcrClient, action: str, rid: str, vpc: str, ip: str, **kw: Any) -> Any:
    req = getattr(models, f"{action}Request")()
    req.InstanceId = rid
    req.VpcId = vpc
    req.EniLBIp = ip
    for k, v in kw.items():
        setattr(req, k, v)
    return getattr(client, action)(req)


def dns_status(client: tcr_client.TcrClient, *items: dict[str, Any]) -> list[models.VpcPrivateDomainStatus]:
    req = models.DescribeInternalEndpointDnsStatusRequest()
    req.VpcSet = []
    for item in items:
        info = models.VpcAndDomainInfo()
        for k, v in item.items():
            setattr(info, k, v)
        req.VpcSet.append(info)
    return client.DescribeInternalEndpointDnsStatus(req).VpcSet


# ------------------------------------------------------------------ the catalogue


def test_every_region_has_one_default_vpc_with_a_subnet_inside_it(cloud: Cloud) -> None:
    seen: set[str] = set()
    for region in (HOME, REPLICA_REGION, "ap-singapore"):
        listed = cloud.svc.admin_list_vpcs(region)["vpcs"]
        assert len(listed) == 1
        vpc = listed[0]
        assert set(vpc) == {"vpcId", "region", "cidr", "subnets"}
        assert vpc["region"] == region and vpc["vpcId"].startswith("vpc-")
        (subnet,) = vpc["subnets"]
        assert subnet["subnetId"].startswith("subnet-")
        assert ipaddress.IPv4Network(subnet["cidr"]).subnet_of(ipaddress.IPv4Network(vpc["cidr"]))
        assert vpc["vpcId"] not in seen
        seen.add(vpc["vpcId"])
    # deterministic: a fresh cloud has the same ids
    other = Cloud(Clock())
    try:
        assert other.svc.admin_list_vpcs(HOME) == cloud.svc.admin_list_vpcs(HOME)
    finally:
        other.close()


def test_admin_add_vpc_validates_and_is_listed_and_snapshotted(cloud: Cloud) -> None:
    added = cloud.svc.admin_add_vpc({"region": REPLICA_REGION})
    assert added["region"] == REPLICA_REGION and len(added["subnets"]) == 1
    default = default_vpc(cloud, REPLICA_REGION)
    assert not ipaddress.IPv4Network(added["cidr"]).overlaps(ipaddress.IPv4Network(default["cidr"]))
    given = cloud.svc.admin_add_vpc({"region": REPLICA_REGION, "cidr": "192.168.0.0/20"})
    assert given["cidr"] == "192.168.0.0/20"
    ids = [v["vpcId"] for v in cloud.svc.admin_list_vpcs(REPLICA_REGION)["vpcs"]]
    assert ids == [default["vpcId"], added["vpcId"], given["vpcId"]]
    assert [v["vpcId"] for v in cloud.svc.admin_list_vpcs(HOME)["vpcs"]] == [default_vpc(cloud, HOME)["vpcId"]]
    for bad in (
        {},
        {"region": "mars-1"},
        {"region": HOME, "cidr": "8.8.0.0/16"},
        {"region": HOME, "cidr": "10.0.0.0/8"},
        {"region": HOME, "cidr": "not-a-cidr"},
        {"region": HOME, "cidr": 5},
        {"region": HOME, "extra": 1},
    ):
        with pytest.raises(AdminError) as info:
            cloud.svc.admin_add_vpc(bad)
        assert info.value.status == 400
    with pytest.raises(AdminError):
        cloud.svc.admin_list_vpcs("mars-1")
    restored = Cloud(Clock())
    try:
        restored.svc.restore(cloud.svc.snapshot())
        assert restored.svc.admin_list_vpcs(REPLICA_REGION) == cloud.svc.admin_list_vpcs(REPLICA_REGION)
    finally:
        restored.close()


# ------------------------------------------------------------------ the whole lifecycle in a replica's region


def test_attach_in_replica_region_creating_then_running_dns_then_detach(cloud: Cloud) -> None:
    client, rid, _ = setup(cloud)
    vpc = default_vpc(cloud, REPLICA_REGION)
    subnet = vpc["subnets"][0]
    resp = manage(client, rid, "Create", vpc["vpcId"], subnet["subnetId"], RegionName=REPLICA_REGION)
    assert isinstance(resp, models.ManageInternalEndpointResponse) and resp.RegistryId == rid and resp.RequestId

    listed = endpoints(client, rid)
    assert listed.TotalCount == 1
    (access,) = listed.AccessVpcSet
    assert isinstance(access, models.AccessVpc)
    assert (access.VpcId, access.SubnetId) == (vpc["vpcId"], subnet["subnetId"])
    assert access.Status != "Running" and not access.AccessIp  # Terraform waits for a non-empty AccessIp

    # no DNS record before the endpoint has its address
    code = sdk_error(lambda: dns(client, "CreateInternalEndpointDns", rid, vpc["vpcId"], "10.0.0.1"))
    assert code in DNS_CODES

    cloud.pass_ready()
    (access,) = endpoints(client, rid).AccessVpcSet
    assert access.Status == "Running"
    assert ipaddress.IPv4Address(access.AccessIp) in ipaddress.IPv4Network(subnet["cidr"])

    item = {"InstanceId": rid, "VpcId": vpc["vpcId"], "EniLBIp": access.AccessIp, "RegionName": REPLICA_REGION}
    public = {**item, "UsePublicDomain": True}
    (st,) = dns_status(client, public)
    assert isinstance(st, models.VpcPrivateDomainStatus)
    assert (st.Region, st.VpcId, st.Status) == (REPLICA_REGION, vpc["vpcId"], "DISABLED")

    dns(
        client,
        "CreateInternalEndpointDns",
        rid,
        vpc["vpcId"],
        access.AccessIp,
        UsePublicDomain=True,
        RegionName=REPLICA_REGION,
    )
    statuses = dns_status(client, public, item)  # the public-domain record only, not the vpc-domain one
    assert [s.Status for s in statuses] == ["ENABLED", "DISABLED"]
    # a repeated create changes nothing (assumed idempotent)
    dns(
        client,
        "CreateInternalEndpointDns",
        rid,
        vpc["vpcId"],
        access.AccessIp,
        UsePublicDomain=True,
        RegionName=REPLICA_REGION,
    )
    assert [s.Status for s in dns_status(client, public)] == ["ENABLED"]

    # the endpoint cannot go while its DNS record exists
    code = sdk_error(lambda: manage(client, rid, "Delete", vpc["vpcId"], subnet["subnetId"], RegionName=REPLICA_REGION))
    assert code == "ResourceInsufficient.ErrorVpcDnsStatus" and code in MANAGE_CODES

    dns(
        client,
        "DeleteInternalEndpointDns",
        rid,
        vpc["vpcId"],
        access.AccessIp,
        UsePublicDomain=True,
        RegionName=REPLICA_REGION,
    )
    assert [s.Status for s in dns_status(client, public)] == ["DISABLED"]
    manage(client, rid, "Delete", vpc["vpcId"], subnet["subnetId"], RegionName=REPLICA_REGION)
    after = endpoints(client, rid)
    assert after.TotalCount == 0 and not after.AccessVpcSet


def test_attach_in_primary_region_by_default_and_region_id_works(cloud: Cloud) -> None:
    client, rid, _ = setup(cloud)
    home = default_vpc(cloud, HOME)
    manage(client, rid, "Create", home["vpcId"], home["subnets"][0]["subnetId"])  # no region: the primary's
    extra = cloud.svc.admin_add_vpc({"region": REPLICA_REGION})
    manage(client, rid, "Create", extra["vpcId"], extra["subnets"][0]["subnetId"], RegionId=4)  # ap-shanghai
    cloud.pass_ready()
    listed = endpoints(client, rid)
    assert listed.TotalCount == 2
    ips = [a.AccessIp for a in listed.AccessVpcSet]
    assert ipaddress.IPv4Address(ips[0]) in ipaddress.IPv4Network(home["subnets"][0]["cidr"])
    assert ipaddress.IPv4Address(ips[1]) in ipaddress.IPv4Network(extra["subnets"][0]["cidr"])
    dns(client, "CreateInternalEndpointDns", rid, home["vpcId"], ips[0])  # vpc domain, primary's region
    (st,) = dns_status(client, {"InstanceId": rid, "VpcId": home["vpcId"], "EniLBIp": ips[0]})
    assert (st.Region, st.Status) == (HOME, "ENABLED")


# ------------------------------------------------------------------ refusals


def test_manage_refusals(cloud: Cloud) -> None:
    client, rid, _ = setup(cloud)
    rep_vpc = default_vpc(cloud, REPLICA_REGION)
    rep_subnet = rep_vpc["subnets"][0]["subnetId"]
    home_vpc = default_vpc(cloud, HOME)
    far = default_vpc(cloud, "ap-beijing")  # a region with neither the primary nor a replica
    cases = [
        ("unknown VPC", dict(vpc="vpc-doesnotx", subnet=rep_subnet, RegionName=REPLICA_REGION), "InvalidParameter"),
        (
            "unknown subnet",
            dict(vpc=rep_vpc["vpcId"], subnet="subnet-nope", RegionName=REPLICA_REGION),
            "InvalidParameter",
        ),
        (
            "subnet of another VPC",
            dict(vpc=rep_vpc["vpcId"], subnet=home_vpc["subnets"][0]["subnetId"], RegionName=REPLICA_REGION),
            "InvalidParameter",
        ),
        (
            "VPC of another region",
            dict(vpc=home_vpc["vpcId"], subnet=home_vpc["subnets"][0]["subnetId"], RegionName=REPLICA_REGION),
            "InvalidParameter",
        ),
        (
            "no instance in the region",
            dict(vpc=far["vpcId"], subnet=far["subnets"][0]["subnetId"], RegionName="ap-beijing"),
            "InvalidParameter",
        ),
        (
            "RegionId and RegionName disagree",
            dict(vpc=rep_vpc["vpcId"], subnet=rep_subnet, RegionName=REPLICA_REGION, RegionId=1),
            "InvalidParameter",
        ),
        ("bad operation", dict(vpc=rep_vpc["vpcId"], subnet=rep_subnet, op="Attach"), "InvalidParameter"),
        (
            "delete of nothing",
            dict(vpc=rep_vpc["vpcId"], subnet=rep_subnet, op="Delete", RegionName=REPLICA_REGION),
            "ResourceNotFound",
        ),
    ]
    for what, kw, expected in cases:
        op = kw.pop("op", "Create")
        vpc, subnet = kw.pop("vpc"), kw.pop("subnet")
        code = sdk_error(functools.partial(manage, client, rid, op, vpc, subnet, **kw))
        assert code == expected, what
        assert code in MANAGE_CODES, what
    assert (
        sdk_error(lambda: manage(client, "tcr-nothere1", "Create", rep_vpc["vpcId"], rep_subnet)) == "ResourceNotFound"
    )
    # a duplicate attachment
    manage(client, rid, "Create", rep_vpc["vpcId"], rep_subnet, RegionName=REPLICA_REGION)
    code = sdk_error(lambda: manage(client, rid, "Create", rep_vpc["vpcId"], rep_subnet, RegionName=REPLICA_REGION))
    assert code == "InternalError.ErrorConflict" and code in MANAGE_CODES
    assert endpoints(client, rid).TotalCount == 1
    # a missing required field and an unknown one
    raw = json.loads(models.ManageInternalEndpointRequest().to_json_string())
    assert set(raw) == {"RegistryId", "Operation", "VpcId", "SubnetId", "RegionId", "RegionName"}
    req = models.ManageInternalEndpointRequest()
    req.RegistryId = rid
    req.Operation = "Create"
    assert sdk_error(lambda: client.ManageInternalEndpoint(req)) == "MissingParameter"
    assert (
        sdk_error(lambda: client.call_json("DescribeInternalEndpoints", {"RegistryId": rid, "Vpc": "x"}))
        == "UnknownParameter"
    )


def test_replica_still_deploying_is_refused(cloud: Cloud) -> None:
    client = cloud.client()
    req = models.CreateInstanceRequest()
    req.RegistryName = "pa-deploying"
    req.RegistryType = "premium"
    rid = client.CreateInstance(req).RegistryId
    cloud.pass_ready()
    rep = models.CreateReplicationInstanceRequest()
    rep.RegistryId = rid
    rep.ReplicationRegionName = REPLICA_REGION
    client.CreateReplicationInstance(rep)
    vpc = default_vpc(cloud, REPLICA_REGION)
    code = sdk_error(
        lambda: manage(client, rid, "Create", vpc["vpcId"], vpc["subnets"][0]["subnetId"], RegionName=REPLICA_REGION)
    )
    assert code == "OperationDenied" and code in MANAGE_CODES


def test_dns_refusals_use_the_dns_actions_codes(cloud: Cloud) -> None:
    client, rid, _ = setup(cloud)
    vpc = default_vpc(cloud, REPLICA_REGION)
    manage(client, rid, "Create", vpc["vpcId"], vpc["subnets"][0]["subnetId"], RegionName=REPLICA_REGION)
    cloud.pass_ready()
    ip = endpoints(client, rid).AccessVpcSet[0].AccessIp
    for what, call in (
        (
            "unknown instance",
            lambda: dns(
                client, "CreateInternalEndpointDns", "tcr-nothere1", vpc["vpcId"], ip, RegionName=REPLICA_REGION
            ),
        ),
        (
            "wrong address",
            lambda: dns(client, "CreateInternalEndpointDns", rid, vpc["vpcId"], "10.9.9.9", RegionName=REPLICA_REGION),
        ),
        ("region without that VPC", lambda: dns(client, "CreateInternalEndpointDns", rid, vpc["vpcId"], ip)),
        (
            "unknown VPC",
            lambda: dns(client, "CreateInternalEndpointDns", rid, "vpc-nothere1", ip, RegionName=REPLICA_REGION),
        ),
        (
            "status of unknown instance",
            lambda: dns_status(client, {"InstanceId": "tcr-nothere1", "VpcId": vpc["vpcId"], "EniLBIp": ip}),
        ),
        ("status item without EniLBIp", lambda: dns_status(client, {"InstanceId": rid, "VpcId": vpc["vpcId"]})),
    ):
        code = sdk_error(call)
        assert code in DNS_CODES | COMMON, what
        assert code in ("InvalidParameter", "MissingParameter"), what
    assert sdk_error(lambda: client.call_json("DescribeInternalEndpointDnsStatus", {})) == "MissingParameter"


# ------------------------------------------------------------------ what goes with a replica (assumed)


def test_deleting_the_replica_removes_its_regions_attachments(cloud: Cloud) -> None:
    client, rid, replica_id = setup(cloud)
    rep_vpc = default_vpc(cloud, REPLICA_REGION)
    home_vpc = default_vpc(cloud, HOME)
    manage(client, rid, "Create", rep_vpc["vpcId"], rep_vpc["subnets"][0]["subnetId"], RegionName=REPLICA_REGION)
    manage(client, rid, "Create", home_vpc["vpcId"], home_vpc["subnets"][0]["subnetId"])
    cloud.pass_ready()
    rep_ip = next(a.AccessIp for a in endpoints(client, rid).AccessVpcSet if a.VpcId == rep_vpc["vpcId"])
    dns(
        client,
        "CreateInternalEndpointDns",
        rid,
        rep_vpc["vpcId"],
        rep_ip,
        UsePublicDomain=True,
        RegionName=REPLICA_REGION,
    )
    req = models.DeleteReplicationInstanceRequest()
    req.RegistryId = rid
    req.ReplicationRegistryId = replica_id
    req.ReplicationRegionId = 4
    client.DeleteReplicationInstance(req)
    assert [a.VpcId for a in endpoints(client, rid).AccessVpcSet] == [home_vpc["vpcId"]]
    item = {
        "InstanceId": rid,
        "VpcId": rep_vpc["vpcId"],
        "EniLBIp": rep_ip,
        "UsePublicDomain": True,
        "RegionName": REPLICA_REGION,
    }
    assert [s.Status for s in dns_status(client, item)] == ["DISABLED"]


def test_endpoints_survive_snapshot_and_restore(cloud: Cloud) -> None:
    client, rid, _ = setup(cloud)
    vpc = default_vpc(cloud, REPLICA_REGION)
    manage(client, rid, "Create", vpc["vpcId"], vpc["subnets"][0]["subnetId"], RegionName=REPLICA_REGION)
    cloud.pass_ready()
    before = [(a.VpcId, a.SubnetId, a.Status, a.AccessIp) for a in endpoints(client, rid).AccessVpcSet]
    other = Cloud(cloud.clock)
    try:
        other.svc.restore(cloud.svc.snapshot())
        after = [(a.VpcId, a.SubnetId, a.Status, a.AccessIp) for a in endpoints(other.client(), rid).AccessVpcSet]
        assert after == before
    finally:
        other.close()


# ------------------------------------------------------------------ the admin routes on the function host


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_admin_vpc_routes_on_the_function_host() -> None:
    from localcloud.cloud import LocalCloud

    with LocalCloud(port=0, functions={}, log_stream=None, replica_ready_after_s=0.0, endpoint_ready_after_s=0.0) as lc:
        base = f"{lc.host_url}/_localcloud/vpcs"
        status, body = _http("GET", f"{base}?region={REPLICA_REGION}")
        assert status == 200
        (vpc,) = body["vpcs"]
        assert set(vpc) == {"vpcId", "region", "cidr", "subnets"} and vpc["region"] == REPLICA_REGION
        assert set(vpc["subnets"][0]) == {"subnetId", "cidr"}
        status, added = _http("POST", base, {"region": REPLICA_REGION, "cidr": "172.20.0.0/16"})
        assert status == 200 and added["cidr"] == "172.20.0.0/16" and added["region"] == REPLICA_REGION
        status, body = _http("GET", f"{base}?region={REPLICA_REGION}")
        assert [v["vpcId"] for v in body["vpcs"]] == [vpc["vpcId"], added["vpcId"]]
        status, body = _http("GET", base)  # every region
        assert status == 200 and len(body["vpcs"]) > 2
        assert _http("GET", f"{base}?region=mars-1")[0] == 400
        assert _http("GET", f"{base}?zone=x")[0] == 400
        assert _http("POST", base, {"region": "mars-1"})[0] == 400
        assert _http("POST", base, b"not json")[0] == 400
        assert _http("DELETE", base)[0] == 405
        # the added VPC is usable by TCR through the real SDK
        env = lc.env()
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=env["TCR_ENDPOINT"], protocol="http", reqTimeout=5))
        client = tcr_client.TcrClient(
            credential.Credential(
                env["TENCENTCLOUD_SECRETID"], env["TENCENTCLOUD_SECRETKEY"], env["TENCENTCLOUD_SESSIONTOKEN"]
            ),
            HOME,
            profile,
        )
        req = models.CreateInstanceRequest()
        req.RegistryName = "pa-route"
        req.RegistryType = "premium"
        rid = client.CreateInstance(req).RegistryId
        rep = models.CreateReplicationInstanceRequest()
        rep.RegistryId = rid
        rep.ReplicationRegionName = REPLICA_REGION
        client.CreateReplicationInstance(rep)
        manage(client, rid, "Create", added["vpcId"], added["subnets"][0]["subnetId"], RegionName=REPLICA_REGION)
        (access,) = endpoints(client, rid).AccessVpcSet
        assert access.Status == "Running"
        assert ipaddress.IPv4Address(access.AccessIp) in ipaddress.IPv4Network(added["subnets"][0]["cidr"])
