"""The webhook keeps every push while TCR cannot answer; the audit expands it later (DESIGN §5, §6).

TCR's outage is injected with localcloud's fault plan (TCR's real error codes and latencies) and by pinning an
instance's status; pushes come from localcloud's TCR-format webhook triggers, or are POSTed the way a trigger
(or its redelivery) would. Checks read COS and TCR through the real SDKs and the log API.
"""

from __future__ import annotations

import time

import pytest
from support import (
    add_replicas,
    call,
    cos_keys,
    create_instance,
    local_cloud,
    push,
    tcr_client,
    tcr_push_payload,
    tcr_replicas,
    wait_for,
)
from support import timer_audit as audit  # the timer trigger, answered 200: the run's summary

from shared.webhook import FAILURE_PAUSE_SECONDS

API_TOKEN = "unexp-api"
WEBHOOK_TOKEN = "unexp-hook"
# every TCR action the webhook and the audit use; the test's own TCR checks use the others
PRODUCT_READS = ["DescribeInstances", "DescribeReplicationInstances", "DescribeReplicationInstanceSyncStatus"]
OUTAGE = {"tcr": {"errorRate": 1.0, "codes": ["RequestLimitExceeded", "InternalError"], "actions": PRODUCT_READS}}


@pytest.fixture(scope="module")
def cloud():
    with local_cloud({"API_TOKEN": API_TOKEN, "WEBHOOK_TOKEN": WEBHOOK_TOKEN}) as c:  # replica list cached 60 s
        yield c


@pytest.fixture(scope="module")
def env(cloud):
    return cloud.env()


@pytest.fixture(scope="module")
def tcr(env):
    return tcr_client(env)


def faults(cloud, plan=None):
    if plan is None:
        assert call("DELETE", cloud.host_url + "/_localcloud/faults")[0] == 200
        # a warm webhook container remembers TCR's last failure for FAILURE_PAUSE_SECONDS and does not ask TCR
        # again meanwhile (by design): let that pass, so that the next test meets a TCR that answers
        time.sleep(FAILURE_PAUSE_SECONDS)
    else:
        assert call("POST", cloud.host_url + "/_localcloud/faults", plan)[0] == 200


def stats(cloud):
    return call("GET", cloud.host_url + "/_localcloud/stats")[1]


def domain_of(tcr, registry_id):
    listed = tcr.call_json("DescribeInstances", {"Limit": 100})["Response"]["Registries"]
    return next(r["PublicDomain"] for r in listed if r["RegistryId"] == registry_id)


def payload(domain, digest, repository, tag, occur_at):
    """A pushImage payload as TCR's trigger sends it."""
    return tcr_push_payload(
        domain, digest, namespace="team", repository=repository, tag=tag, occur_at=occur_at, repo_type="private"
    )


def deliver(env, body, registry_id=None):
    """POST a payload as TCR's trigger does; (status, answer, seconds)."""
    url = env["WEBHOOK_URL"] + (f"?registryId={registry_id}" if registry_id else "")
    started = time.monotonic()
    status, answer = call("POST", url, body, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    return status, answer, time.monotonic() - started


def records(env, registry_id):
    out, cursor = [], None
    while True:
        q = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        status, page = call(
            "GET", f"{env['REPLICAS_URL']}/instances/{registry_id}/replication-logs{q}", token=API_TOKEN
        )
        assert status == 200, page
        out.extend(page["records"])
        cursor = page["nextCursor"]
        if not cursor:
            return out


def mine(summary, registry_id):
    found = [i for i in summary["instances"] if i["registryId"] == registry_id]
    return found[0] if found else None


def unexpanded_keys(env, prefix):
    return [k for k in cos_keys(env, prefix) if k.split("/")[4].startswith("x")]


def test_pushes_during_a_tcr_outage_are_all_answered_202_and_resolved_once_tcr_is_back(cloud, env, tcr):
    pushes = 6
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, ("ap-shanghai", "ap-beijing"), token=API_TOKEN)
    tcr.call_json("CreateNamespace", {"RegistryId": registry_id, "NamespaceName": "team", "IsPublic": False})
    headers = [{"Key": "X-Webhook-Token", "Values": [WEBHOOK_TOKEN]}]
    targets = [  # by domain (the instance cannot be identified without TCR), and by ?registryId=
        {"Address": env["WEBHOOK_URL"], "Headers": headers},
        {"Address": env["WEBHOOK_URL"] + f"?registryId={registry_id}", "Headers": headers},
    ]
    trigger = {"Name": "all", "Targets": targets, "EventTypes": ["pushImage"], "Condition": ".*", "Enabled": True}
    tcr.call_json("CreateWebhookTrigger", {"RegistryId": registry_id, "Namespace": "team", "Trigger": trigger})
    trigger_id = tcr.call_json("DescribeWebhookTrigger", {"RegistryId": registry_id, "Namespace": "team"})["Response"][
        "Triggers"
    ][0]["Id"]

    faults(cloud, OUTAGE)
    try:
        before = stats(cloud)
        digests = {push(cloud, registry_id, "team", f"svc{i % 3}", f"1.{i}") for i in range(pushes)}

        def delivered():
            logs = tcr.call_json(
                "DescribeWebhookTriggerLog",
                {"RegistryId": registry_id, "Namespace": "team", "Id": trigger_id, "Limit": 100},
            )["Response"]["Logs"]
            return len(logs) == 2 * pushes and all(e["Status"] != "pending" for e in logs) and logs

        logs = wait_for(delivered, timeout=30, interval=0.2)
        after = stats(cloud)
        # a push of an unknown host during the outage: kept under its host, then found to be nobody's
        status, stray, _ = deliver(
            env, payload("nobody.tencentcloudcr.com", "sha256:" + "5" * 64, "x", "1", 1796000000)
        )
        assert (status, stray["expanded"], stray["hosts"]) == (202, False, ["nobody.tencentcloudcr.com"]), stray
    finally:
        faults(cloud)

    assert [e["Status"] for e in logs] == ["finished"] * (2 * pushes)  # every delivery answered 2xx ...
    invoked = after["functions"]["webhook"] - before["functions"]["webhook"]
    assert invoked == 2 * pushes, "... at the first attempt: the trigger never had to retry"
    assert after["cos"].get("PutObject", 0) - before["cos"].get("PutObject", 0) == 2 * pushes  # 1 write each
    assert sum(after["cos"].values()) - sum(before["cos"].values()) == 2 * pushes
    # both deliveries of a push are kept: under the host, and under the instance; nothing is tracked per replica yet
    assert len(unexpanded_keys(env, "inbox-host/")) == pushes + 1
    assert len(unexpanded_keys(env, f"inbox/{registry_id}/")) == pushes == len(cos_keys(env, f"inbox/{registry_id}/"))
    assert records(env, registry_id) == []

    first = audit(cloud)  # TCR answers again
    assert first["hostEvents"]["moved"] == pushes and first["hostEvents"]["unresolvable"] == 1, first
    assert mine(first, registry_id)["unexpandedEvents"]["expanded"] == pushes
    assert cos_keys(env, "inbox-host/") == []
    wait_for(lambda: mine(audit(cloud, [registry_id]), registry_id)["stillPending"] == 0, timeout=30, interval=0.3)

    recs = records(env, registry_id)
    ids = [(r["eventId"], r["replicaRegistryId"]) for r in recs]
    assert len(ids) == len(set(ids)) == 2 * pushes, recs  # one record per push and replica, never two
    assert {r["digest"] for r in recs} == digests
    assert {r["replicaRegion"] for r in recs} == {"ap-shanghai", "ap-beijing"}
    assert all(r["status"] == "replicated" for r in recs), recs
    assert cos_keys(env, f"inbox/{registry_id}/") == []


def test_a_hanging_tcr_does_not_hold_the_push_past_three_seconds(cloud, env, tcr):
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, ("ap-chengdu",), token=API_TOKEN)
    domain = domain_of(tcr, registry_id)
    faults(cloud, {"tcr": {"latencyMs": 8000, "actions": PRODUCT_READS}})
    try:
        for n, registry in enumerate((registry_id, None)):
            body = payload(domain, "sha256:" + f"{n}" * 64, "slow", f"{n}", int(time.time()))
            status, answer, seconds = deliver(env, body, registry)
            assert status == 202 and answer["expanded"] is False, answer
            assert seconds < 3.0, f"answered after {seconds:.2f} s"
    finally:
        faults(cloud)


def test_the_webhook_answers_5xx_only_when_cos_cannot_take_the_push(cloud, env, tcr):
    registry_id = create_instance(tcr)
    body = payload(domain_of(tcr, registry_id), "sha256:" + "6" * 64, "cos", "1", int(time.time()))
    faults(cloud, {**OUTAGE, "cos": {"errorRate": 1.0, "statuses": [503]}})
    try:
        status, answer, _ = deliver(env, body, registry_id)
    finally:
        faults(cloud)
    assert (status, answer["error"]["code"]) == (503, "Unavailable"), answer
    status, answer, _ = deliver(env, body, registry_id)  # the sender's retry lands
    assert status == 202, answer


def test_a_push_to_an_instance_that_is_not_running_waits_for_it(cloud, env, tcr):
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, ("ap-nanjing",), token=API_TOKEN)
    digest = push(cloud, registry_id, "team", "pinned", "1")
    pushed = payload(domain_of(tcr, registry_id), digest, "pinned", "1", int(time.time()))
    pin = {"registryId": registry_id, "status": "Unhealthy"}
    assert call("POST", cloud.host_url + "/_localcloud/instance-status", pin)[0] == 200
    try:
        for registry in (registry_id, None):  # named, and found by its domain: the replica list is refused
            status, answer, _ = deliver(env, pushed, registry)
            assert (status, answer["expanded"], answer["registryId"]) == (202, False, registry_id), answer
            assert "InstanceNotRunning" in answer["reason"]
        assert len(unexpanded_keys(env, f"inbox/{registry_id}/")) == 1  # the same push, the same object
        summary = audit(cloud, [registry_id])
        assert [e["code"] for e in summary["errors"] if e["registryId"] == registry_id] == ["InstanceNotRunning"]
        assert len(unexpanded_keys(env, f"inbox/{registry_id}/")) == 1
    finally:
        call("POST", cloud.host_url + "/_localcloud/instance-status", {"registryId": registry_id, "status": None})
    wait_for(lambda: mine(audit(cloud, [registry_id]), registry_id)["stillPending"] == 0, timeout=30, interval=0.3)
    assert [(r["digest"], r["replicaRegion"], r["status"]) for r in records(env, registry_id)] == [
        (digest, "ap-nanjing", "replicated")
    ]


def test_a_replica_created_after_the_push_is_not_owed_it(cloud, env, tcr):
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, ("ap-shanghai",), token=API_TOKEN)
    empty_id = create_instance(tcr)  # no replica at push time
    pushed = {}
    faults(cloud, OUTAGE)
    try:
        for registry in (registry_id, empty_id):
            digest = push(cloud, registry, "team", "late", "1")
            status, answer, _ = deliver(env, payload("x.invalid", digest, "late", "1", int(time.time())), registry)
            assert (status, answer["expanded"]) == (202, False), answer
            pushed[registry] = digest
    finally:
        faults(cloud)
    time.sleep(1.1)  # TCR's times are whole seconds: the new replicas are created strictly after the pushes
    add_replicas(env, tcr, registry_id, ("ap-beijing",), token=API_TOKEN)
    add_replicas(env, tcr, empty_id, ("ap-beijing",), token=API_TOKEN)
    assert len(tcr_replicas(tcr, registry_id)) == 2

    first = audit(cloud, [registry_id, empty_id])
    assert mine(first, registry_id)["unexpandedEvents"] == {
        "expanded": 1,
        "records": 1,
        "nothingOwed": 0,
        "duplicates": 0,
    }
    assert mine(first, empty_id)["unexpandedEvents"]["nothingOwed"] == 1
    assert cos_keys(env, f"inbox/{empty_id}/") == [] and records(env, empty_id) == []
    wait_for(lambda: mine(audit(cloud, [registry_id]), registry_id)["stillPending"] == 0, timeout=30, interval=0.3)
    assert [(r["digest"], r["replicaRegion"], r["status"]) for r in records(env, registry_id)] == [
        (pushed[registry_id], "ap-shanghai", "replicated")
    ]


def test_a_push_redelivered_once_tcr_is_back_is_still_one_record_per_replica(cloud, env, tcr):
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, ("ap-shanghai", "ap-chongqing"), token=API_TOKEN)
    digest = push(cloud, registry_id, "team", "again", "1")
    body = payload(domain_of(tcr, registry_id), digest, "again", "1", int(time.time()))
    faults(cloud, OUTAGE)
    try:
        status, answer, _ = deliver(env, body, registry_id)
        assert (status, answer["expanded"]) == (202, False), answer
    finally:
        faults(cloud)
    time.sleep(2.1)  # a container that saw TCR fail does not ask it again for 2 s

    status, answer, _ = deliver(env, body, registry_id)  # TCR's redelivery (or a sender's retry)
    assert (status, answer["expanded"], answer["records"]) == (202, True, 2), answer
    (first_id,) = answer["eventIds"]
    assert len(cos_keys(env, f"inbox/{registry_id}/{time.strftime('%Y-%m-%d', time.gmtime())}/{first_id}/")) == 2
    assert len(records(env, registry_id)) == 2  # the unexpanded copy is not a record

    first = audit(cloud, [registry_id])
    assert mine(first, registry_id)["unexpandedEvents"]["duplicates"] == 1
    wait_for(lambda: mine(audit(cloud, [registry_id]), registry_id)["stillPending"] == 0, timeout=30, interval=0.3)
    recs = records(env, registry_id)
    assert sorted((r["eventId"], r["replicaRegion"], r["status"]) for r in recs) == [
        (first_id, "ap-chongqing", "replicated"),
        (first_id, "ap-shanghai", "replicated"),
    ]
    assert cos_keys(env, f"inbox/{registry_id}/") == []


def test_a_push_costs_one_cos_call_when_the_replica_list_is_known(cloud, env, tcr):
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, ("ap-shanghai", "ap-beijing"), token=API_TOKEN)
    domain = domain_of(tcr, registry_id)
    now = int(time.time())
    before = stats(cloud)
    answers = [deliver(env, payload(domain, "sha256:" + f"{i:x}" * 64, "hot", f"{i}", now))[:2] for i in range(8)]
    after = stats(cloud)
    assert all(status == 202 and answer["expanded"] and answer["records"] == 2 for status, answer in answers)
    cos = {op: n - before["cos"].get(op, 0) for op, n in after["cos"].items() if n != before["cos"].get(op, 0)}
    assert cos == {"PutObject": 8}, cos  # one write per push, however many replicas
    asked = sum(after["tcr"].values()) - sum(before["tcr"].values())
    containers = len(cloud.host.worker_pids("webhook"))
    assert asked <= 2 * containers, f"{asked} TCR calls for 8 pushes in {containers} warm containers"
