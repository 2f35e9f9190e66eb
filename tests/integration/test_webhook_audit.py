"""Push webhook and audit end to end, on a localcloud of their own (a notification receiver is configured).

A push goes: admin push -> localcloud TCR fires the trigger -> functions/webhook writes pending records
to COS -> localcloud replicates after a lag -> functions/audit resolves them, archives TCR's log,
reports and sends signed notifications. Checks read COS and TCR through the real SDKs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from support import (
    add_push_trigger,
    call,
    cos_json,
    cos_keys,
    instance_with_replicas,
    local_cloud,
    log_records,
    public_domain,
    push,
    receiver_running,
    tcr_client,
    tcr_push_payload,
    timer_audit,
    wait_for,
)

API_TOKEN = "flow-api-token"
WEBHOOK_TOKEN = "flow-webhook-token"
NOTIFY_SECRET = "flow-notify-secret"
HMAC_SECRET = "flow-hmac-secret"


@pytest.fixture(scope="module")
def receiver():
    # keeps every notification; reading them checks each signature (`refuse = n`: the next n deliveries get 503)
    with receiver_running(NOTIFY_SECRET) as r:
        yield r


@pytest.fixture(scope="module")
def cloud(receiver):
    function_env = {
        "API_TOKEN": API_TOKEN,
        "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "WEBHOOK_HMAC_SECRET": HMAC_SECRET,
        "NOTIFY_URL": receiver.url,
        "NOTIFY_SECRET": NOTIFY_SECRET,
        "REPLICA_CACHE_SECONDS": "0",
        "POLICY": json.dumps({"requiredRegions": ["ap-nanjing"]}),
    }
    with local_cloud(function_env) as c:
        yield c


@pytest.fixture(scope="module")
def env(cloud):
    return cloud.env()


@pytest.fixture(scope="module")
def tcr(env):
    return tcr_client(env)


def api(env, method, path, body=None):
    return call(method, env["REPLICAS_URL"] + path, body, token=API_TOKEN)


def setup_instance(env, tcr, regions=("ap-shanghai", "ap-beijing"), namespace="team"):
    registry_id = instance_with_replicas(env, tcr, regions, token=API_TOKEN, namespace=namespace)
    add_push_trigger(env, tcr, registry_id, namespace, webhook_token=WEBHOOK_TOKEN)
    return registry_id


def records(env, registry_id, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return log_records(env, registry_id, token=API_TOKEN, query=q)


def tcr_payload(registry_id_domain: str, digest: str, tag: str = "v1", kind: str = "pushImage") -> dict:
    return tcr_push_payload(
        registry_id_domain,
        digest,
        namespace="team",
        repository="web",
        tag=tag,
        occur_at=1795800000,
        kind=kind,
        repo_type="private",
    )


def test_push_is_tracked_to_every_replica_and_resolved_by_the_audit(cloud, env, tcr, receiver):
    registry_id = setup_instance(env, tcr)
    digests = {push(cloud, registry_id, "team", "api", tag): tag for tag in ("1.0", "1.1")}
    # the trigger names no registry id: the webhook finds the instance by the resource URL's domain
    pending = wait_for(lambda: (r := records(env, registry_id)) and len(r) == 4 and r)
    assert {(r["digest"], r["replicaRegion"]) for r in pending} == {
        (d, region) for d in digests for region in ("ap-shanghai", "ap-beijing")
    }
    assert all(r["status"] == "pending" and r["schemaVersion"] == 1 for r in pending)
    assert len(cos_keys(env, f"inbox/{registry_id}/")) == 2  # one object per push event

    def replicated():
        summary = timer_audit(cloud)
        mine = [i for i in summary["instances"] if i["registryId"] == registry_id]
        return mine and mine[0]["stillPending"] == 0 and summary

    summary = wait_for(replicated, timeout=20, interval=0.3)
    done = records(env, registry_id)
    assert len(done) == 4 and all(r["status"] == "replicated" for r in done), done
    for r in done:
        assert r["lagSeconds"] is not None and r["lagSeconds"] >= 0
        assert r["replicatedAt"] >= r["pushedAt"]
    assert cos_keys(env, f"inbox/{registry_id}/") == []
    assert len(cos_keys(env, f"log/{registry_id}/ap-shanghai/")) >= 1
    assert cos_keys(env, f"tcrlog/{registry_id}/"), "TCR's own replication log is archived"

    report_key = next(i["report"] for i in summary["instances"] if i["registryId"] == registry_id)
    report = cos_json(env, report_key)
    assert report["registryId"] == registry_id and report["runId"] == summary["runId"]
    assert cos_json(env, "reports/latest.json")["runId"] == summary["runId"]
    findings = [f for f in report["findings"] if f["kind"] == "policy_violation"]
    assert any("ap-nanjing" in f["message"] for f in findings), report["findings"]

    notes = [n for n in receiver.bodies("replicated") if n["registryId"] == registry_id]
    assert sorted(n["digest"] for n in notes) == sorted(digests)
    for n in notes:
        assert sorted(r["region"] for r in n["replicas"]) == ["ap-beijing", "ap-shanghai"]
        assert all(r["lagSeconds"] is not None for r in n["replicas"])
    assert any(n["registryId"] == registry_id for n in receiver.bodies("policy_violation"))

    # a second run changes nothing: no new records, no second "replicated" notice
    timer_audit(cloud)
    assert len(records(env, registry_id)) == 4
    assert len([n for n in receiver.bodies("replicated") if n["registryId"] == registry_id]) == 2

    # query filters
    assert len(records(env, registry_id, replica="ap-shanghai")) == 2
    assert len(records(env, registry_id, status="pending")) == 0
    page = api(env, "GET", f"/instances/{registry_id}/replication-logs?limit=3")[1]
    assert len(page["records"]) == 3 and page["nextCursor"]
    rest = api(env, "GET", f"/instances/{registry_id}/replication-logs?limit=3&cursor={page['nextCursor']}")[1]
    assert len(rest["records"]) == 1 and rest["nextCursor"] is None


def test_redelivery_never_duplicates_and_auth_is_required(cloud, env, tcr):
    registry_id = setup_instance(env, tcr, regions=("ap-chengdu",), namespace="redo")
    digest = "sha256:" + "ab" * 32
    body = json.dumps(tcr_payload("ignored.example.com", digest))
    url = env["WEBHOOK_URL"] + f"?registryId={registry_id}"

    status, answer = call("POST", url, raw=body.encode(), headers={"X-Webhook-Token": "wrong"})
    assert (status, answer["error"]["code"]) == (401, "Unauthorized")
    status, answer = call("POST", url, raw=body.encode())
    assert status == 401
    assert cos_keys(env, f"inbox/{registry_id}/") == []

    for _ in range(3):
        status, answer = call("POST", url, raw=body.encode(), headers={"X-Webhook-Token": WEBHOOK_TOKEN})
        assert status == 202 and answer["records"] == 1, answer
    stamp = str(int(time.time()))
    message = f"{stamp}.registryId={registry_id}.{body}"  # timestamp + "." + rawQuery + "." + body
    signature = "sha256=" + hmac.new(HMAC_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    status, answer = call("POST", url, raw=body.encode(), headers={"X-Timestamp": stamp, "X-Signature": signature})
    assert status == 202, answer
    assert len(cos_keys(env, f"inbox/{registry_id}/")) == 1
    recs = records(env, registry_id)
    assert [(r["digest"], r["replicaRegion"], r["status"]) for r in recs] == [(digest, "ap-chengdu", "pending")]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"type": "pullImage", "occur_at": 1, "event_data": {"resources": [], "repository": {}}}, "not tracked"),
        ({"type": "pushImage", "occur_at": 1, "event_data": {"resources": [], "repository": {}}}, "no resources"),
    ],
)
def test_other_events_are_ignored_with_a_reason(env, payload, reason):
    status, body = call("POST", env["WEBHOOK_URL"], payload, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert status == 202 and reason in body["ignored"]


def test_unknown_instance_domain_is_ignored_not_retried(env):
    payload = tcr_payload("nobody.tencentcloudcr.com", "sha256:" + "cd" * 32)
    status, body = call("POST", env["WEBHOOK_URL"], payload, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert status == 202 and "could not be identified" in body["ignored"]


def test_delete_event_is_recorded_as_deleted(env, tcr):
    registry_id = setup_instance(env, tcr, regions=("ap-chongqing",), namespace="gone")
    payload = tcr_payload(public_domain(tcr, registry_id), "sha256:" + "ef" * 32, kind="deleteImage")
    status, body = call("POST", env["WEBHOOK_URL"], payload, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert status == 202 and body["records"] == 1, body
    recs = records(env, registry_id)
    assert [(r["eventType"], r["status"]) for r in recs] == [("deleteImage", "deleted")]


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"not json", 400, "InvalidJSON"),
        (b"[]", 400, "InvalidRequest"),
        (b'{"type": "pushImage", "event_data": {"resources": [{"digest": "sha256:zz"}]}}', 400, "InvalidRequest"),
        (b'{"events": "nope"}', 400, "InvalidRequest"),
    ],
)
def test_bad_payloads_are_4xx(env, raw, status, code):
    got, body = call("POST", env["WEBHOOK_URL"], raw=raw, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert (got, body["error"]["code"]) == (status, code)


@pytest.mark.parametrize("shape", ["object", "array"])
def test_failed_and_late_replications_are_reported_once(cloud, env, tcr, receiver, monkeypatch, shape):
    # TCR's schema says ReplicationLog is one object, its example shows an array: the audit copes with both
    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", shape)
    registry_id = setup_instance(env, tcr, regions=("ap-shanghai",), namespace=f"slow{shape}")
    call("POST", cloud.host_url + "/_localcloud/faults", {"replication": {"failRate": 1.0, "lagMs": [10, 20]}})
    try:
        bad = push(cloud, registry_id, f"slow{shape}", "broken", "1")
    finally:
        call("DELETE", cloud.host_url + "/_localcloud/faults")
    call("POST", cloud.host_url + "/_localcloud/faults", {"replication": {"lagMs": [60000, 60000]}})
    try:
        slow = push(cloud, registry_id, f"slow{shape}", "slow", "1")
        wait_for(lambda: len(records(env, registry_id)) == 2)
        time.sleep(1.2)
        timer_audit(cloud, [registry_id], slaSeconds=1)
        timer_audit(cloud, [registry_id], slaSeconds=1)
    finally:
        call("DELETE", cloud.host_url + "/_localcloud/faults")
    by_digest = {r["digest"]: r for r in records(env, registry_id)}
    assert by_digest[bad]["status"] == "failed"
    assert by_digest[slow]["status"] == "late"  # announced late; still unresolved
    failed = [n for n in receiver.bodies("failed") if n["registryId"] == registry_id]
    late = [n for n in receiver.bodies("late") if n["registryId"] == registry_id]
    assert [n["digest"] for n in failed] == [bad]
    assert [n["digest"] for n in late] == [slow], "a late replication is announced once, not every run"


def test_redelivery_after_the_audit_changes_nothing(cloud, env, tcr, receiver):
    registry_id = setup_instance(env, tcr, regions=("ap-nanjing",), namespace="again")
    digest = push(cloud, registry_id, "again", "app", "7")
    wait_for(lambda: len(records(env, registry_id)) == 1)
    time.sleep(0.3)
    wait_for(lambda: timer_audit(cloud, [registry_id])["instances"][0]["stillPending"] == 0)
    before = records(env, registry_id)
    assert before[0]["status"] == "replicated"
    triggers = tcr.call_json("DescribeWebhookTrigger", {"RegistryId": registry_id, "Namespace": "again"})
    trigger_id = triggers["Response"]["Triggers"][0]["Id"]
    detail = tcr.call_json(
        "DescribeWebhookTriggerLog", {"RegistryId": registry_id, "Namespace": "again", "Id": trigger_id}
    )
    original = json.loads(detail["Response"]["Logs"][0]["Detail"])  # what TCR sent: redeliver it as is
    assert original["event_data"]["resources"][0]["digest"] == digest
    status, body = call("POST", env["WEBHOOK_URL"], original, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert status == 202 and body["records"] == 1
    assert len(cos_keys(env, f"inbox/{registry_id}/")) == 1  # the redelivery is pending again in the inbox
    summary = timer_audit(cloud, [registry_id])
    report = cos_json(env, summary["instances"][0]["report"])
    assert report["alreadyResolved"] == 1 and report["resolved"] == {"replicated": 0, "failed": 0}
    assert records(env, registry_id) == before, "the first resolution stands"
    assert cos_keys(env, f"inbox/{registry_id}/") == []
    notes = [n for n in receiver.bodies("replicated") if n["registryId"] == registry_id]
    assert len(notes) == 1


def test_a_refused_notification_is_delivered_by_a_later_run(cloud, env, tcr, receiver):
    registry_id = setup_instance(env, tcr, regions=("ap-chengdu",), namespace="outbox")
    push(cloud, registry_id, "outbox", "svc", "1")
    wait_for(lambda: len(records(env, registry_id)) == 1)
    time.sleep(0.3)
    receiver.refuse = 100  # the receiver is down for this run (the notifier retries a few times)
    try:
        first = wait_for(
            lambda: (s := timer_audit(cloud, [registry_id]))["instances"][0]["resolved"]["replicated"] == 1 and s
        )
    finally:
        receiver.refuse = 0
    assert first["notifications"]["failed"] >= 1
    assert not [n for n in receiver.bodies("replicated") if n["registryId"] == registry_id]
    assert cos_json(env, f"state/{registry_id}/audit.json")["outbox"], "kept for the next run"
    second = timer_audit(cloud, [registry_id])
    assert second["notifications"]["sent"] >= 1
    assert len([n for n in receiver.bodies("replicated") if n["registryId"] == registry_id]) == 1
    assert cos_json(env, f"state/{registry_id}/audit.json")["outbox"] == []
    timer_audit(cloud, [registry_id])
    assert len([n for n in receiver.bodies("replicated") if n["registryId"] == registry_id]) == 1


def test_query_by_replica_id_and_out_of_range_times(cloud, env, tcr):
    registry_id = setup_instance(env, tcr, regions=("ap-beijing",), namespace="ids")
    push(cloud, registry_id, "ids", "svc", "1")
    recs = wait_for(lambda: records(env, registry_id))
    replica_id = recs[0]["replicaRegistryId"]
    assert len(records(env, registry_id, replica=replica_id)) == 1
    assert len(records(env, registry_id, replica="ap-beijing")) == 1
    status, body = api(env, "GET", f"/instances/{registry_id}/replication-logs?since=9999-12-31T23:59:59-23:59")
    assert (status, body["error"]["code"]) == (400, "InvalidRequest")
    envelope = {
        "events": [
            {
                "action": "push",
                "timestamp": "0001-01-01T00:00:00+01:00",
                "target": {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + "1" * 64,
                    "repository": "ids/svc",
                    "tag": "2",
                },
            }
        ]
    }
    status, body = call(
        "POST", env["WEBHOOK_URL"] + f"?registryId={registry_id}", envelope, headers={"X-Webhook-Token": WEBHOOK_TOKEN}
    )
    assert (status, body["error"]["code"]) == (400, "InvalidRequest")


def test_a_cold_webhook_asks_tcr_twice(cloud, env, tcr):
    # this cloud caches nothing (REPLICA_CACHE_SECONDS=0): each push is a cold look-up by domain
    registry_id = setup_instance(env, tcr, regions=("ap-shanghai",), namespace="cold")
    payload = tcr_payload(public_domain(tcr, registry_id), "sha256:" + "9" * 64)
    before = call("GET", cloud.host_url + "/_localcloud/stats")[1]["tcr"]
    status, body = call("POST", env["WEBHOOK_URL"], payload, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    after = call("GET", cloud.host_url + "/_localcloud/stats")[1]["tcr"]
    assert status == 202 and body["registryId"] == registry_id
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    assert delta == {"DescribeInstances": 1, "DescribeReplicationInstances": 1}, delta
