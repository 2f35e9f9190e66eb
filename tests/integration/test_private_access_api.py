"""The private-access routes end to end: Function URL -> functions/replicas -> real TcrClient/CosS3Client ->
localcloud. TCR's state is checked through the SDK directly, the VPCs come from localcloud's catalogue."""

from __future__ import annotations

from typing import Any

import pytest
from support import call, cos_json, create_instance, instance_with_replicas, tcr_client, wait_for

PRIMARY = "ap-guangzhou"
REPLICA = "ap-shanghai"


@pytest.fixture(scope="module")
def env(cloud_env):
    return cloud_env


@pytest.fixture(scope="module")
def tcr(env):
    return tcr_client(env)


@pytest.fixture
def api(env):
    base = env["REPLICAS_URL"]
    token = env["API_TOKEN"]

    def request(method: str, path: str, body=None, **kw):
        return call(method, base + path, body, token=kw.pop("token", token), **kw)

    return request


def default_vpc(env, region: str) -> tuple[str, str]:
    status, body = call("GET", f"{env['LOCALCLOUD_URL']}/_localcloud/vpcs?region={region}")
    assert status == 200, body
    vpc = body["vpcs"][0]
    return vpc["vpcId"], vpc["subnets"][0]["subnetId"]


def endpoints(tcr, registry_id: str) -> list[dict[str, Any]]:
    return tcr.call_json("DescribeInternalEndpoints", {"RegistryId": registry_id})["Response"]["AccessVpcSet"] or []


@pytest.fixture(scope="module")
def instance(env, tcr):
    """A premium instance with a Running replica in ap-shanghai."""
    return instance_with_replicas(env, tcr, (REPLICA,), token=env["API_TOKEN"])


def attach_body(env, region: str = REPLICA, **kw) -> dict[str, Any]:
    vpc, subnet = default_vpc(env, region)
    return {"region": region, "vpcId": vpc, "subnetId": subnet, **kw}


def test_attach_follow_detach(env, tcr, api, instance, monkeypatch, localcloud):
    monkeypatch.setattr(localcloud.tcr, "_endpoint_ready_after", 1.5)  # long enough to see Creating
    body = attach_body(env)
    vpc = body["vpcId"]
    status, plan = api("POST", f"/instances/{instance}/private-access", {**body, "dryRun": True})
    assert status == 200 and plan["allowed"] is True and plan["plan"]["role"] == "replica"
    assert endpoints(tcr, instance) == []

    status, answer = api("POST", f"/instances/{instance}/private-access", body)
    assert status == 202, answer
    assert answer["access"] == {
        "registryId": instance,
        "region": REPLICA,
        "vpcId": vpc,
        "subnetId": body["subnetId"],
        "status": "Creating",
        "dns": "pending",
    }
    state = cos_json(env, f"state/{instance}/private-access.json")
    assert state["vpcs"][f"{REPLICA}/{vpc}"]["dns"] is True

    status, view = api("GET", f"/instances/{instance}/private-access")
    assert status == 200
    regions = {r["region"]: r for r in view["regions"]}
    assert regions[PRIMARY]["role"] == "primary" and regions[PRIMARY]["vpcs"] == []
    assert regions[REPLICA]["role"] == "replica" and regions[REPLICA]["replicaRegistryId"]
    (row,) = regions[REPLICA]["vpcs"]
    assert (row["vpcId"], row["status"], row["accessIp"], row["dns"]) == (vpc, "Creating", None, "pending")

    def running() -> dict[str, Any] | None:
        rows = {r["region"]: r for r in api("GET", f"/instances/{instance}/private-access")[1]["regions"]}
        found = rows[REPLICA]["vpcs"][0]
        return found if found["status"] == "Running" else None

    row = wait_for(running, timeout=10)
    assert row["accessIp"].startswith("10.") and row["dns"] == "pending"

    # a DNS record made (as the audit would) through the SDK: detaching removes it first
    dns = {"InstanceId": instance, "VpcId": vpc, "EniLBIp": row["accessIp"], "UsePublicDomain": True}
    tcr.call_json("CreateInternalEndpointDns", {**dns, "RegionName": REPLICA})
    rows = {r["region"]: r for r in api("GET", f"/instances/{instance}/private-access")[1]["regions"]}
    assert rows[REPLICA]["vpcs"][0]["dns"] == "enabled"

    status, detached = api("DELETE", f"/instances/{instance}/private-access/{vpc}?region={REPLICA}")
    assert status == 202, detached
    assert detached["detached"]["dnsDeleted"] is True
    assert endpoints(tcr, instance) == []
    out = tcr.call_json("DescribeInternalEndpointDnsStatus", {"VpcSet": [{**dns, "RegionName": REPLICA}]})
    assert out["Response"]["VpcSet"][0]["Status"].upper().startswith("DISABLE")
    assert cos_json(env, f"state/{instance}/private-access.json")["vpcs"] == {}
    status, again = api("DELETE", f"/instances/{instance}/private-access/{vpc}?region={REPLICA}")
    assert (status, again["error"]["code"]) == (404, "AccessNotFound")


def test_refusals(env, tcr, api, instance):
    path = f"/instances/{instance}/private-access"
    status, body = api("POST", path, attach_body(env, "ap-beijing"))
    assert (status, body["error"]["code"]) == (422, "NoReplicaInRegion")
    assert PRIMARY in body["error"]["message"] and REPLICA in body["error"]["message"]

    unknown = {**attach_body(env), "vpcId": "vpc-00000000"}
    status, body = api("POST", path, unknown)
    assert (status, body["error"]["code"]) == (422, "VpcNotFound"), body

    other_region = {**attach_body(env, PRIMARY), "region": REPLICA}  # the primary region's VPC in the replica's
    status, body = api("POST", path, other_region)
    assert (status, body["error"]["code"]) == (422, "VpcNotFound"), body
    assert endpoints(tcr, instance) == []

    body_ok = attach_body(env, PRIMARY)
    assert api("POST", path, body_ok)[0] == 202
    status, body = api("POST", path, body_ok)
    assert (status, body["error"]["code"]) == (409, "AccessExists")
    status, body = api("DELETE", f"{path}/{body_ok['vpcId']}?region={REPLICA}")
    assert (status, body["error"]["code"]) == (404, "AccessNotFound")
    assert f"region={PRIMARY}" in body["error"]["message"]
    assert api("DELETE", f"{path}/{body_ok['vpcId']}?region={PRIMARY}")[0] == 202

    for bad in (
        api("DELETE", f"{path}/{body_ok['vpcId']}"),
        api("DELETE", f"{path}/vpc-x?region={PRIMARY}"),
        api("POST", path, {**body_ok, "dns": "yes"}),
        api("GET", f"{path}?x=1"),
    ):
        assert (bad[0], bad[1]["error"]["code"]) == (400, "InvalidRequest")


def test_replica_not_running(env, tcr, api, monkeypatch, localcloud):
    registry_id = create_instance(tcr)
    # the primary stays Running while new replicas stay Deploying
    assert call("POST", f"{env['LOCALCLOUD_URL']}/_localcloud/instance-status",
                {"registryId": registry_id, "status": "Running"})[0] == 200  # fmt: skip
    monkeypatch.setattr(localcloud.tcr, "_ready_after", 600.0)
    status, body = api("POST", f"/instances/{registry_id}/replicas", {"region": REPLICA})
    assert status == 202, body
    status, body = api("POST", f"/instances/{registry_id}/private-access", attach_body(env))
    assert (status, body["error"]["code"]) == (409, "ReplicaNotRunning"), body
    assert endpoints(tcr, registry_id) == []


def test_delete_replica_guard(env, tcr, api):
    registry_id = instance_with_replicas(env, tcr, (REPLICA, "ap-beijing"), token=env["API_TOKEN"])
    reps = {
        r["region"]: r["replicaRegistryId"] for r in api("GET", f"/instances/{registry_id}/replicas")[1]["replicas"]
    }
    body = attach_body(env)
    assert api("POST", f"/instances/{registry_id}/private-access", body)[0] == 202

    # another region's replica is not held back
    assert api("DELETE", f"/instances/{registry_id}/replicas/{reps['ap-beijing']}")[0] == 202

    status, refused = api("DELETE", f"/instances/{registry_id}/replicas/{reps[REPLICA]}")
    assert (status, refused["error"]["code"]) == (409, "PrivateAccessExists"), refused
    assert body["vpcId"] in refused["error"]["message"]
    assert refused["error"]["vpcs"] == [{"vpcId": body["vpcId"], "subnetId": body["subnetId"], "region": REPLICA}]
    assert len(endpoints(tcr, registry_id)) == 1

    status, bad = api("DELETE", f"/instances/{registry_id}/replicas/{reps[REPLICA]}?detachPrivateAccess=yes")
    assert (status, bad["error"]["code"]) == (400, "InvalidRequest")

    status, deleted = api("DELETE", f"/instances/{registry_id}/replicas/{reps[REPLICA]}?detachPrivateAccess=true")
    assert status == 202, deleted
    assert [d["vpcId"] for d in deleted["detachedPrivateAccess"]] == [body["vpcId"]]
    assert endpoints(tcr, registry_id) == []
    assert cos_json(env, f"state/{registry_id}/private-access.json")["vpcs"] == {}
