"""Under injected TCR and COS faults and webhook redeliveries, no record is lost and none is duplicated."""

from __future__ import annotations

import pytest
from support import call, cos_keys, create_instance, tcr_client, wait_for, wait_replicas_running

from localcloud.cloud import LocalCloud

PUSHES = 15
FAULTS = {
    "seed": 11,
    # the product's actions only: the test's own checks go to TCR directly
    "tcr": {
        "errorRate": 0.15,
        "codes": ["RequestLimitExceeded", "InternalError"],
        "actions": ["DescribeInstances", "DescribeReplicationInstances", "DescribeReplicationInstanceSyncStatus"],
    },
    "cos": {"errorRate": 0.15, "statuses": [503, 500]},
    "webhook": {"redeliverRate": 0.2},
    "replication": {"lagMs": [20, 200]},
}


@pytest.fixture(scope="module")
def cloud():
    c = LocalCloud(
        port=0,
        replica_ready_after_s=0.2,
        function_env={"API_TOKEN": "fault-api", "WEBHOOK_TOKEN": "fault-hook"},
        log_stream=None,
    )
    c.start()
    yield c
    c.stop()


def test_no_record_lost_or_duplicated(cloud):
    env = cloud.env()
    tcr = tcr_client(env)
    registry_id = create_instance(tcr)
    for region in ("ap-shanghai", "ap-beijing"):
        assert (
            call(
                "POST", f"{env['REPLICAS_URL']}/instances/{registry_id}/replicas", {"region": region}, token="fault-api"
            )[0]
            == 202
        )
    wait_replicas_running(tcr, registry_id)
    tcr.call_json("CreateNamespace", {"RegistryId": registry_id, "NamespaceName": "load", "IsPublic": False})
    target = {"Address": env["WEBHOOK_URL"], "Headers": [{"Key": "X-Webhook-Token", "Values": ["fault-hook"]}]}
    trigger = {"Name": "load", "Targets": [target], "EventTypes": ["pushImage"], "Condition": ".*", "Enabled": True}
    tcr.call_json("CreateWebhookTrigger", {"RegistryId": registry_id, "Namespace": "load", "Trigger": trigger})

    assert call("POST", cloud.host_url + "/_localcloud/faults", FAULTS)[0] == 200
    try:
        digests = set()
        for i in range(PUSHES):
            status, body = call(
                "POST",
                cloud.host_url + "/_localcloud/push",
                {"registryId": registry_id, "namespace": "load", "repository": f"svc{i % 4}", "tag": f"1.{i}"},
            )
            assert status == 200, body
            digests.add(body["digest"])

        def delivered() -> bool:
            logs = tcr.call_json(
                "DescribeWebhookTriggerLog", {"RegistryId": registry_id, "Namespace": "load", "Id": 1, "Limit": 100}
            )
            entries = logs["Response"]["Logs"]
            return len(entries) >= PUSHES and all(e["Status"] in ("finished", "error") for e in entries)

        wait_for(delivered, timeout=60, interval=0.3)

        def all_resolved() -> bool:
            status, summary = call("POST", cloud.host_url + "/_localcloud/timer/audit", {})
            if status != 200:
                return False
            mine = [i for i in summary["instances"] if i["registryId"] == registry_id]
            return bool(mine) and mine[0]["stillPending"] == 0

        wait_for(all_resolved, timeout=90, interval=0.5)
    finally:
        call("DELETE", cloud.host_url + "/_localcloud/faults")

    records = []
    cursor = None
    while True:
        q = "?limit=7" + (f"&cursor={cursor}" if cursor else "")
        status, page = call(
            "GET", f"{env['REPLICAS_URL']}/instances/{registry_id}/replication-logs{q}", token="fault-api"
        )
        assert status == 200, page
        records.extend(page["records"])
        cursor = page["nextCursor"]
        if not cursor:
            break
    ids = [(r["eventId"], r["replicaRegistryId"]) for r in records]
    assert len(ids) == len(set(ids)), "a record is duplicated"
    assert {r["digest"] for r in records} == digests, "a pushed digest is missing from the log"
    assert len(records) == PUSHES * 2
    assert all(r["status"] == "replicated" for r in records)
    assert cos_keys(env, f"inbox/{registry_id}/") == []
