"""The notification outbox against localcloud: kept across silent runs, kept when a receiver misbehaves,
kept when NOTIFY_URL is malformed; and the receiver URL's query string never reaches a log, a report or an answer.

The receiver is a stdlib server this test controls (it can refuse, or answer bytes that are not HTTP);
everything else goes through the functions in localcloud, checked through the real TCR and COS SDKs.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from support import (
    add_push_trigger,
    cos_json,
    cos_keys,
    instance_with_replicas,
    local_cloud,
    post_timer,
    push,
    receiver_running,
    tcr_client,
    wait_for,
)

from localcloud.cloud import LocalCloud

API_TOKEN = "outbox-api-token"
WEBHOOK_TOKEN = "outbox-webhook-token"
NOTIFY_SECRET = "outbox-notify-secret"
QUERY_SECRET = "nq7Secret0d9e8f7a6b5c4"  # what a receiver's URL may carry as a credential
USER_SECRET = "pw5Secret1a2b3c4d5e6f"


@pytest.fixture(scope="module")
def receiver():
    # answers 204 (`ok`), 503 (`refuse`) or a status line that is not HTTP (`garble`); checks every signature
    with receiver_running(NOTIFY_SECRET, query=f"token={QUERY_SECRET}") as r:
        yield r


@pytest.fixture(scope="module")
def cloud(receiver):
    function_env = {
        "API_TOKEN": API_TOKEN,
        "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "NOTIFY_URL": receiver.url,
        "NOTIFY_SECRET": NOTIFY_SECRET,
        "REPLICA_CACHE_SECONDS": "0",
    }
    with local_cloud(function_env, lag_ms=(10, 40)) as c:
        yield c


@pytest.fixture(scope="module")
def env(cloud):
    return cloud.env()


@pytest.fixture(scope="module")
def tcr(env):
    return tcr_client(env)


def setup_instance(env: dict[str, str], tcr: Any, namespace: str) -> str:
    registry_id = instance_with_replicas(env, tcr, ("ap-chengdu",), token=API_TOKEN, namespace=namespace)
    add_push_trigger(env, tcr, registry_id, namespace, webhook_token=WEBHOOK_TOKEN)
    return registry_id


def push_and_wait(cloud: LocalCloud, env: dict[str, str], registry_id: str, namespace: str, tag: str) -> str:
    """Push through localcloud's TCR (which fires the webhook) and wait for the pending record in COS."""
    before = len(cos_keys(env, f"inbox/{registry_id}/"))
    digest = push(cloud, registry_id, namespace, "svc", tag)
    wait_for(lambda: len(cos_keys(env, f"inbox/{registry_id}/")) > before)
    time.sleep(0.3)  # past the replication lag: the next audit finds TCR's log entry
    return digest


def invoke_audit(cloud: LocalCloud, registry_id: str, env: dict[str, str]) -> Any:
    """One timer invocation of the audit with settings changed for this invocation only."""
    host = cloud.host
    assert host is not None
    event = {
        "Type": "Timer",
        "TriggerName": host.functions["audit"].timer_name,
        "Time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "Message": json.dumps({"instances": [registry_id]}),
    }
    return host.invoke("audit", event, env={"TRIGGER_SRC": "timer", **env})


def audit(cloud: LocalCloud, registry_id: str, **options: Any) -> tuple[int, Any]:
    return post_timer(cloud, [registry_id], **options)


def outbox(env: dict[str, str], registry_id: str) -> list[dict[str, Any]]:
    return list(cos_json(env, f"state/{registry_id}/audit.json").get("outbox", []))


def everything_stored(env: dict[str, str], registry_id: str) -> str:
    """Every report and state object of the instance, as text."""
    keys = cos_keys(env, f"reports/{registry_id}/") + cos_keys(env, f"state/{registry_id}/")
    keys += ["reports/latest.json"]
    return "\n".join(json.dumps(cos_json(env, k)) for k in keys if k.endswith(".json"))


def test_a_silent_run_keeps_the_queued_notices_for_the_next_notifying_run(cloud, env, tcr, receiver):
    registry_id = setup_instance(env, tcr, "quiet")
    first_digest = push_and_wait(cloud, env, registry_id, "quiet", "1")
    receiver.mode = "refuse"
    try:
        status, summary = audit(cloud, registry_id)
    finally:
        receiver.mode = "ok"
    assert status == 200, summary
    assert summary["instances"][0]["resolved"]["replicated"] == 1, summary
    queued = outbox(env, registry_id)
    assert [(n["kind"], n["digest"]) for n in queued] == [("replicated", first_digest)]

    # a silent run (e.g. a backfill) resolves a second push: its notice is not queued, the old one stays
    second_digest = push_and_wait(cloud, env, registry_id, "quiet", "2")
    status, summary = audit(cloud, registry_id, notify=False)
    assert status == 200, summary
    assert summary["instances"][0]["resolved"]["replicated"] == 1, summary
    assert summary["notifications"]["sent"] == 0
    assert outbox(env, registry_id) == queued, "notify:false must leave the outbox untouched"
    assert receiver.ids(registry_id) == []

    status, summary = audit(cloud, registry_id)
    assert status == 200, summary
    assert summary["notifications"]["sent"] == 1
    assert receiver.ids(registry_id) == [queued[0]["id"]]
    assert [n["digest"] for n in receiver.received if n.get("registryId") == registry_id] == [first_digest]
    assert second_digest != first_digest
    assert outbox(env, registry_id) == []


def test_a_receiver_that_breaks_http_is_a_failed_delivery_and_the_notice_waits(cloud, env, tcr, receiver):
    registry_id = setup_instance(env, tcr, "garbled")
    digest = push_and_wait(cloud, env, registry_id, "garbled", "1")
    receiver.mode = "garble"
    try:
        status, summary = audit(cloud, registry_id)
    finally:
        receiver.mode = "ok"
    assert status == 200, summary
    assert summary["notifications"]["failed"] == 1 and summary["notifications"]["sent"] == 0, summary
    report = cos_json(env, summary["instances"][0]["report"])
    assert report["resolved"]["replicated"] == 1
    assert report["notifications"]["failed"] == 1
    assert [n["digest"] for n in outbox(env, registry_id)] == [digest]

    status, summary = audit(cloud, registry_id)
    assert status == 200 and summary["notifications"]["sent"] == 1, summary
    assert [n["digest"] for n in receiver.received if n.get("registryId") == registry_id] == [digest]
    assert outbox(env, registry_id) == []

    # the receiver got the URL as configured, query included; nobody else saw the query
    assert f"/hook?token={QUERY_SECRET}" in receiver.paths
    logs = "\n".join(cloud.host.logs("audit"))
    assert "notify.failed" in logs and f"127.0.0.1:{receiver.server.server_address[1]}" in logs
    assert QUERY_SECRET not in logs
    assert QUERY_SECRET not in everything_stored(env, registry_id)
    assert QUERY_SECRET not in json.dumps(summary)


@pytest.mark.parametrize(
    "bad_url",
    [
        "{base} path?token={q}",  # a blank in the path
        "{base}?token={q} x",  # a blank in the query
        "127.0.0.1/hook?token={q}",  # no scheme
        "https:///hook?token={q}",  # no host
        "ftp://127.0.0.1/hook?token={q}",
        "http://user:{u}@127.0.0.1/hook?token={q}",  # userinfo is never sent by the client
    ],
)
def test_a_malformed_notify_url_is_a_configuration_error_and_the_audit_still_reports(
    cloud, env, tcr, receiver, bad_url
):
    registry_id = setup_instance(env, tcr, "badurl")
    digest = push_and_wait(cloud, env, registry_id, "badurl", "1")
    url = bad_url.format(base=receiver.base, q=QUERY_SECRET, u=USER_SECRET)
    result = invoke_audit(cloud, registry_id, {"NOTIFY_URL": url})
    answer = json.dumps(result.result if result.ok else result.error)
    assert result.ok, answer
    summary = result.result
    errors = [e for e in summary["errors"] if e.get("variable") == "NOTIFY_URL"]
    assert errors and "NOTIFY_URL" in errors[0]["message"], summary
    assert summary["instances"][0]["resolved"]["replicated"] == 1, summary
    report = cos_json(env, summary["instances"][0]["report"])
    assert report["notifications"]["failed"] == 1 and report["notifications"]["sent"] == 0
    assert [n["digest"] for n in outbox(env, registry_id)] == [digest], "kept until NOTIFY_URL is fixed"

    logs = "\n".join(cloud.host.logs("audit"))
    assert "NOTIFY_URL" in logs
    for secret in (QUERY_SECRET, USER_SECRET):
        assert secret not in logs
        assert secret not in answer
        assert secret not in everything_stored(env, registry_id)

    status, summary = audit(cloud, registry_id)  # NOTIFY_URL fixed: the notice goes out
    assert status == 200 and summary["notifications"]["sent"] == 1, summary
    assert [n["digest"] for n in receiver.received if n.get("registryId") == registry_id] == [digest]
    assert outbox(env, registry_id) == []


def test_a_finding_announced_at_every_run_waits_in_the_outbox_once(cloud, env, tcr, receiver):
    registry_id = setup_instance(env, tcr, "repeat")
    policy = {"POLICY": json.dumps({"requiredRegions": ["ap-nanjing"]})}  # a lasting policy_violation
    receiver.mode = "refuse"
    try:
        for _ in range(3):
            result = invoke_audit(cloud, registry_id, policy)
            assert result.ok, result.error
            assert result.result["notifications"]["failed"] == 1, result.result
    finally:
        receiver.mode = "ok"
    queued = outbox(env, registry_id)
    assert [n["kind"] for n in queued] == ["policy_violation"], "queued once, not once per run"
    result = invoke_audit(cloud, registry_id, policy)
    assert result.ok and result.result["notifications"]["sent"] == 1, result.result
    assert receiver.ids(registry_id) == [queued[0]["id"]]
    assert outbox(env, registry_id) == []
