"""A primary that is not Running gets no replica: the replica API answers 409 InstanceNotRunning (DESIGN §4 rule 1).

The instance's status is pinned through localcloud's admin route; TCR's state is checked through the SDK.
"""

from __future__ import annotations

from support import call, create_instance, tcr_client, tcr_replicas


def test_deploying_primary_is_refused_before_tcr_is_asked(localcloud, cloud_env):
    tcr = tcr_client(cloud_env)
    primary = create_instance(tcr)  # waits until TCR reports it Running
    status, body = call(
        "POST", f"{localcloud.host_url}/_localcloud/instance-status", {"registryId": primary, "status": "Deploying"}
    )
    assert (status, body) == (200, {"registryId": primary, "status": "Deploying"})
    listed = tcr.call_json("DescribeInstances", {"Limit": 100})["Response"]["Registries"]
    assert [r["Status"] for r in listed if r["RegistryId"] == primary] == ["Deploying"]

    asked_before = localcloud.stats()["tcr"].get("CreateReplicationInstance", 0)
    status, body = call(
        "POST",
        f"{cloud_env['REPLICAS_URL']}/instances/{primary}/replicas",
        {"region": "ap-shanghai"},
        token=cloud_env["API_TOKEN"],
    )
    assert status == 409, body
    assert body["error"]["code"] == "InstanceNotRunning"
    assert localcloud.stats()["tcr"].get("CreateReplicationInstance", 0) == asked_before
    # TCR does not describe it either (the SDK lists the code for DescribeInstances/DescribeReplicationInstances)
    status, body = call(
        "GET", f"{cloud_env['REPLICAS_URL']}/instances/{primary}/replicas", token=cloud_env["API_TOKEN"]
    )
    assert (status, body["error"]["code"]) == (409, "InstanceNotRunning"), body

    # Running again (unpinned): the same request is accepted, so the refusal was about the status.
    status, body = call(
        "POST", f"{localcloud.host_url}/_localcloud/instance-status", {"registryId": primary, "status": None}
    )
    assert (status, body) == (200, {"registryId": primary, "status": "Running"})
    assert tcr_replicas(tcr, primary) == []
    status, body = call(
        "POST",
        f"{cloud_env['REPLICAS_URL']}/instances/{primary}/replicas",
        {"region": "ap-shanghai"},
        token=cloud_env["API_TOKEN"],
    )
    assert status == 202, body
    assert [r["ReplicationRegionName"] for r in tcr_replicas(tcr, primary)] == ["ap-shanghai"]
