"""The audit converges private access end to end: a VPC attached through the SDK in a replica's region, the
desired-state entry written with the log store (as the replica API does), then the timer audit creates the
private DNS record once the endpoint runs, the SDK reads it enabled, and a second run changes nothing."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from shared.logstore import LogStore
from tests.integration.support import (
    instance_with_replicas,
    local_cloud,
    report_of,
    tcr_client,
    timer_audit,
    wait_for,
)

API_TOKEN = "pa-api-token"
REPLICA_REGION = "ap-shanghai"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with local_cloud({"API_TOKEN": API_TOKEN, "REPLICA_CACHE_SECONDS": "0"}, endpoint_ready_after_s=1.5) as c:
        yield c


def default_vpc(cloud: LocalCloud, region: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{cloud.host_url}/_localcloud/vpcs?region={region}", timeout=10) as resp:
        return dict(json.loads(resp.read())["vpcs"][0])


def endpoints(tcr: Any, registry_id: str) -> list[dict[str, Any]]:
    return list(tcr.call_json("DescribeInternalEndpoints", {"RegistryId": registry_id})["Response"]["AccessVpcSet"])


def dns_status(tcr: Any, registry_id: str, vpc_id: str, ip: str) -> str:
    from tencentcloud.tcr.v20190924 import models

    req = models.DescribeInternalEndpointDnsStatusRequest()
    info = models.VpcAndDomainInfo()
    info.InstanceId, info.VpcId, info.EniLBIp, info.UsePublicDomain, info.RegionName = (
        registry_id,
        vpc_id,
        ip,
        True,
        REPLICA_REGION,
    )
    req.VpcSet = [info]
    (status,) = tcr.DescribeInternalEndpointDnsStatus(req).VpcSet
    return str(status.Status)


def test_the_audit_creates_the_private_dns_once_and_reports_private_access(cloud: LocalCloud) -> None:
    from tencentcloud.tcr.v20190924 import models

    env = cloud.env()
    tcr = tcr_client(env)
    registry_id = instance_with_replicas(env, tcr, (REPLICA_REGION,), token=API_TOKEN)
    vpc = default_vpc(cloud, REPLICA_REGION)
    vpc_id, subnet_id = vpc["vpcId"], vpc["subnets"][0]["subnetId"]

    req = models.ManageInternalEndpointRequest()
    req.RegistryId, req.Operation, req.VpcId, req.SubnetId, req.RegionName = (
        registry_id,
        "Create",
        vpc_id,
        subnet_id,
        REPLICA_REGION,
    )
    tcr.ManageInternalEndpoint(req)
    store = LogStore.from_env(env)
    key = f"{REPLICA_REGION}/{vpc_id}"
    entry = {
        "region": REPLICA_REGION,
        "vpcId": vpc_id,
        "subnetId": subnet_id,
        "dns": True,
        "requestedAt": "2026-12-01T12:00:00Z",
        "dnsCreatedAt": None,
    }
    store.put_state(registry_id, {"version": 1, "vpcs": {key: entry}}, "private-access")

    # the endpoint is still Creating: nothing to create yet
    report = report_of(env, timer_audit(cloud, [registry_id]))
    (row,) = report["privateAccess"]["regions"][REPLICA_REGION]
    assert (row["vpcId"], row["status"], row["dns"]) == (vpc_id, "Creating", "pending")
    assert report["privateAccess"]["regions"]["ap-guangzhou"] == []
    assert not [f for f in report["findings"] if f["kind"] in ("private_access_failed", "dns_missing")]

    (ep,) = wait_for(lambda: [e for e in endpoints(tcr, registry_id) if e["Status"] == "Running" and e["AccessIp"]])
    assert dns_status(tcr, registry_id, vpc_id, ep["AccessIp"]).upper().startswith("DISABLE")

    report = report_of(env, timer_audit(cloud, [registry_id]))
    (row,) = report["privateAccess"]["regions"][REPLICA_REGION]
    assert (row["status"], row["dns"], row["accessIp"]) == ("Running", "enabled", ep["AccessIp"])
    assert report["privateAccess"]["dnsCreated"] == [vpc_id] and report["privateAccess"]["complete"] is True
    assert dns_status(tcr, registry_id, vpc_id, ep["AccessIp"]).upper() in ("ENABLE", "ENABLED")
    created = store.get_state(registry_id, "private-access")["vpcs"][key]["dnsCreatedAt"]
    assert created
    assert not [f for f in report["findings"] if f["kind"].startswith(("private_access", "dns", "replica_without"))]

    # a second run changes nothing: no DNS created, the state object untouched
    state_before = store.get_state(registry_id, "private-access")
    report = report_of(env, timer_audit(cloud, [registry_id]))
    assert report["privateAccess"]["dnsCreated"] == [] and report["privateAccess"]["complete"] is True
    assert report["privateAccess"]["regions"][REPLICA_REGION][0]["dns"] == "enabled"
    assert store.get_state(registry_id, "private-access") == state_before


def test_a_running_replica_without_a_vpc_is_a_finding(cloud: LocalCloud) -> None:
    env = cloud.env()
    tcr = tcr_client(env)
    registry_id = instance_with_replicas(env, tcr, (REPLICA_REGION, "ap-beijing"), token=API_TOKEN)
    from tencentcloud.tcr.v20190924 import models

    vpc = default_vpc(cloud, REPLICA_REGION)
    req = models.ManageInternalEndpointRequest()
    req.RegistryId, req.Operation, req.VpcId, req.SubnetId, req.RegionName = (
        registry_id,
        "Create",
        vpc["vpcId"],
        vpc["subnets"][0]["subnetId"],
        REPLICA_REGION,
    )
    tcr.ManageInternalEndpoint(req)
    entry = {"region": REPLICA_REGION, "vpcId": vpc["vpcId"], "subnetId": vpc["subnets"][0]["subnetId"], "dns": False}
    LogStore.from_env(env).put_state(
        registry_id, {"version": 1, "vpcs": {f"{REPLICA_REGION}/{vpc['vpcId']}": entry}}, "private-access"
    )
    report = report_of(env, timer_audit(cloud, [registry_id]))
    found = [f for f in report["findings"] if f["kind"] == "replica_without_private_access"]
    assert [f["region"] for f in found] == ["ap-beijing"]
    assert report["privateAccess"]["regions"]["ap-beijing"] == []
    assert report["privateAccess"]["regions"][REPLICA_REGION][0]["dns"] == "disabled"
