"""POLICY maxReplicas under concurrent creates, and TCR refusals the product did not foresee.

Own localcloud: the functions run with `POLICY={"maxReplicas": 3}`. Requests go through the Function URL
(real concurrency: one SCF worker process per request), TCR's state is checked through the SDK.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
from datetime import datetime

import pytest
from support import (
    call,
    cos_json,
    create_instance,
    local_cloud,
    post_timer,
    tcr_client,
    tcr_replicas,
    wait_replicas_running,
)

API_TOKEN = "cap-api-token"
CAP = 3


@pytest.fixture(scope="module")
def cloud():
    with local_cloud({"API_TOKEN": API_TOKEN, "POLICY": json.dumps({"maxReplicas": CAP})}, max_workers=6) as c:
        yield c


@pytest.fixture(scope="module")
def env(cloud):
    return cloud.env()


@pytest.fixture(scope="module")
def tcr(env):
    return tcr_client(env)


@pytest.fixture
def faults(cloud):
    def set_plan(plan):
        status, body = call("POST", cloud.host_url + "/_localcloud/faults", plan)
        assert status == 200, body

    yield set_plan
    call("DELETE", cloud.host_url + "/_localcloud/faults")


def api(env, method, path, body=None):
    return call(method, env["REPLICAS_URL"] + path, body, token=API_TOKEN)


def created_order(rep):
    """DESIGN: replicas beyond the cap are the ones created last (creation time, then replica id)."""
    return datetime.fromisoformat(rep["createdAt"]), rep["replicaRegistryId"]


def concurrent_creates(env, registry_id, regions):
    """POST one create per region at the same moment, each on its own thread (and SCF worker)."""
    for status, _ in _in_parallel(lambda _: api(env, "GET", f"/instances/{registry_id}/replicas"), regions):
        assert status == 200  # every worker is warm: the creates start together
    barrier = threading.Barrier(len(regions))

    def create(region):
        barrier.wait()
        return api(env, "POST", f"/instances/{registry_id}/replicas", {"region": region})

    return dict(zip(regions, _in_parallel(create, regions), strict=True))


def _in_parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(fn, items))


@pytest.mark.parametrize(
    ("existing", "racing"),
    [
        (("ap-shanghai", "ap-beijing"), ("ap-chengdu", "ap-chongqing", "ap-nanjing")),
        ((), ("ap-shanghai", "ap-beijing", "ap-chengdu", "ap-chongqing", "ap-nanjing")),
    ],
)
def test_concurrent_creates_leave_exactly_max_replicas(env, tcr, faults, existing, racing):
    registry_id = create_instance(tcr)
    for region in existing:
        assert api(env, "POST", f"/instances/{registry_id}/replicas", {"region": region})[0] == 202
    # TCR takes its time to create: every racing request has passed the cap check before any replica exists
    faults({"tcr": {"latencyMs": 400, "actions": ["CreateReplicationInstance"]}})
    answers = concurrent_creates(env, registry_id, racing)

    accepted = {region: body for region, (status, body) in answers.items() if status == 202}
    refused = {region: body for region, (status, body) in answers.items() if status != 202}
    assert len(accepted) == CAP - len(existing), answers
    assert all(answers[r][0] == 422 and b["error"]["code"] == "PolicyDenied" for r, b in refused.items()), answers

    remaining = tcr_replicas(tcr, registry_id)
    assert len(remaining) == CAP
    assert {r["ReplicationRegionName"] for r in remaining} == set(existing) | set(accepted)
    kept_ids = {r["ReplicationRegistryId"] for r in remaining}
    newest_kept = max(
        created_order({"createdAt": r["CreatedAt"], "replicaRegistryId": r["ReplicationRegistryId"]}) for r in remaining
    )
    for region, body in refused.items():
        error = body["error"]
        mine = error["replica"]
        assert mine["region"] == region and mine["deleted"] is True
        assert mine["replicaRegistryId"] not in kept_ids
        assert created_order(mine) > newest_kept  # the ones created last went
        assert {r["replicaRegistryId"] for r in error["replicas"]} == kept_ids  # it names the winners
        assert f"at most {CAP} replica" in error["message"] and error["violations"][0]["code"] == "PolicyDenied"
    for body in accepted.values():
        assert body["replica"]["replicaRegistryId"] in kept_ids

    faults({"tcr": {"latencyMs": 0}})
    status, body = api(env, "POST", f"/instances/{registry_id}/replicas", {"region": "ap-hongkong"})
    assert (status, body["error"]["code"]) == (422, "CrossBorder")  # the rules still answer first
    status, body = api(env, "POST", f"/instances/{registry_id}/replicas", {"region": "ap-shanghai-fsi"})
    assert (status, body["error"]["code"]) == (422, "PolicyDenied") and "replica" not in body["error"]
    assert len(tcr_replicas(tcr, registry_id)) == CAP


@pytest.mark.parametrize(
    ("code", "status", "ours"),
    [
        ("UnsupportedOperation", 422, "TcrRefused"),
        ("FailedOperation", 422, "TcrRefused"),
        ("OperationDenied.SomethingNew", 422, "TcrRefused"),
        ("InternalError", 502, "UpstreamError"),
        ("FailedOperation.DbError", 502, "UpstreamError"),
    ],
)
def test_unforeseen_tcr_refusals_are_422_tcr_refused(env, tcr, faults, code, status, ours):
    registry_id = create_instance(tcr)
    faults({"tcr": {"errorRate": 1.0, "codes": [code], "actions": ["CreateReplicationInstance"]}})
    got, body = api(env, "POST", f"/instances/{registry_id}/replicas", {"region": "ap-shanghai"})
    assert (got, body["error"]["code"]) == (status, ours), body
    if ours == "TcrRefused":
        tcr_part = body["error"]["tcr"]
        assert tcr_part["code"] == code and "Injected fault" in tcr_part["message"]
        assert set(tcr_part) <= {"code", "message", "requestId"}
        assert env["TENCENTCLOUD_SECRETKEY"] not in json.dumps(body)
    else:
        assert "tcr" not in body["error"]
    assert tcr_replicas(tcr, registry_id) == []


def test_rate_limit_stays_throttled(env, tcr, faults):
    registry_id = create_instance(tcr)
    faults({"tcr": {"errorRate": 1.0, "codes": ["RequestLimitExceeded"], "actions": ["DescribeInstances"]}})
    got, body = api(env, "GET", f"/instances/{registry_id}/replicas")
    assert (got, body["error"]["code"]) == (429, "Throttled"), body


def test_a_refused_sync_status_is_a_replica_finding_of_the_audit(cloud, env, tcr, faults):
    registry_id = create_instance(tcr)
    assert api(env, "POST", f"/instances/{registry_id}/replicas", {"region": "ap-shanghai"})[0] == 202
    wait_replicas_running(tcr, registry_id)
    faults(
        {"tcr": {"errorRate": 1.0, "codes": ["FailedOperation"], "actions": ["DescribeReplicationInstanceSyncStatus"]}}
    )
    status, summary = post_timer(cloud)
    assert status == 200, summary
    mine = [i for i in summary["instances"] if i["registryId"] == registry_id]
    assert len(mine) == 1, summary  # audited, not among the failed instances
    findings = cos_json(env, mine[0]["report"])["findings"]
    unhealthy = [f for f in findings if f["kind"] == "replica_unhealthy"]
    assert len(unhealthy) == 1 and unhealthy[0]["detail"].startswith("TcrRefused:"), findings
