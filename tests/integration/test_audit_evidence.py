"""`replicated` only on evidence from TCR's replication log (issue 7 §1), through localcloud and the real SDKs.

A webhook can name an image TCR never received (a forged or mistaken delivery): a later successful sync of
another image must not turn it `replicated`. The audit reads as much of TCR's log as the evidence needs, in
pages, within a per-run call budget; what the budget leaves unread is read by the next run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from support import (
    Receiver,
    add_push_trigger,
    call,
    cos_json,
    instance_with_replicas,
    local_cloud,
    log_records,
    public_domain,
    push,
    receiver_running,
    report_of,
    tcr_client,
    tcr_push_payload,
    tcr_replicas,
    timer_audit,
    wait_for,
)

from localcloud.cloud import LocalCloud
from shared import audit, notify
from shared import records as rl
from shared import replication_log as tlog
from shared.config import Config
from shared.logstore import LogStore
from shared.runtime import Deadline
from shared.tcr import TcrAdapter

API_TOKEN = "evidence-api-token"
WEBHOOK_TOKEN = "evidence-webhook-token"
NOTIFY_SECRET = "evidence-notify-secret"
HINT_TAIL = "TCR's log did not list this image"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with receiver_running() as r:  # signatures are checked by test_webhook_audit
        yield r


@pytest.fixture(scope="module")
def cloud(receiver: Receiver) -> Iterator[LocalCloud]:
    function_env = {
        "API_TOKEN": API_TOKEN,
        "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "NOTIFY_URL": receiver.url,
        "NOTIFY_SECRET": NOTIFY_SECRET,
        "REPLICA_CACHE_SECONDS": "0",
    }
    with local_cloud(function_env, lag_ms=(20, 60)) as c:
        yield c


@pytest.fixture(scope="module")
def env(cloud: LocalCloud) -> dict[str, str]:
    return cloud.env()


@pytest.fixture(scope="module")
def tcr(env: dict[str, str]) -> Any:
    return tcr_client(env)


def instance(env: dict[str, str], tcr: Any, namespace: str, regions: tuple[str, ...] = ("ap-shanghai",)) -> str:
    return instance_with_replicas(env, tcr, regions, token=API_TOKEN, namespace=namespace)


def records(env: dict[str, str], registry_id: str) -> list[dict[str, Any]]:
    return log_records(env, registry_id, token=API_TOKEN)


def timer(cloud: LocalCloud, registry_id: str, **options: Any) -> dict[str, Any]:
    return timer_audit(cloud, [registry_id], **options)


def sync_calls(cloud: LocalCloud) -> int:
    return call("GET", cloud.host_url + "/_localcloud/stats")[1]["tcr"].get("DescribeReplicationInstanceSyncStatus", 0)


def all_synced(tcr: Any, registry_id: str) -> bool:
    for rep in tcr_replicas(tcr, registry_id):
        out = tcr.call_json(
            "DescribeReplicationInstanceSyncStatus",
            {
                "RegistryId": registry_id,
                "ReplicationRegistryId": rep["ReplicationRegistryId"],
                "ShowReplicationLog": True,
            },
        )["Response"]
        log = out.get("ReplicationLog")
        newest = log[0] if isinstance(log, list) and log else log
        if out["ReplicationStatus"] != "Succeed" or not newest or not newest.get("EndTime"):
            return False
    return True


@pytest.mark.parametrize("shape", ["object", "array"])
def test_a_push_tcr_never_received_stays_pending_with_a_hint(cloud, env, tcr, receiver, monkeypatch, shape):
    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", shape)
    namespace = f"team{shape}"
    registry_id = instance(env, tcr, namespace, regions=("ap-shanghai", "ap-beijing"))
    add_push_trigger(env, tcr, registry_id, namespace, webhook_token=WEBHOOK_TOKEN)
    domain = public_domain(tcr, registry_id)
    ghost = "sha256:" + "9e" * 32
    payload = tcr_push_payload(
        domain, ghost, namespace=namespace, repository="api", tag="9.9", occur_at=int(time.time()) - 1
    )
    status, body = call("POST", env["WEBHOOK_URL"], payload, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert status == 202 and body["records"] == 2, body
    real = push(cloud, registry_id, namespace, "web", "1.0")
    wait_for(lambda: len(records(env, registry_id)) == 4)
    wait_for(lambda: all_synced(tcr, registry_id))

    report = report_of(env, timer(cloud, registry_id))  # read now: a run in the same second reuses its key
    timer(cloud, registry_id)  # a second run changes nothing
    by_digest: dict[str, list[dict[str, Any]]] = {}
    for r in records(env, registry_id):
        by_digest.setdefault(r["digest"], []).append(r)
    assert [r["status"] for r in by_digest[real]] == ["replicated", "replicated"]
    ghosts = by_digest[ghost]
    assert [r["status"] for r in ghosts] == ["pending", "pending"], ghosts
    for r in ghosts:
        assert r["replicatedAt"] is None and r["lagSeconds"] is None
        assert r["hint"].startswith("replica synced at ") and r["hint"].endswith(HINT_TAIL), r
    assert all("hint" not in r for r in by_digest[real])
    assert report["resolved"] == {"replicated": 2, "failed": 0}
    assert report["stillPending"] == 2 and report["unconfirmed"] == 2
    assert all(rep["logReadComplete"] for rep in report["replicas"]), report["replicas"]
    assert [n["digest"] for n in receiver.of("replicated", registry_id)] == [real]

    # past the SLA: late, announced once, still with the hint, never replicated
    time.sleep(1.1)
    timer(cloud, registry_id, slaSeconds=1)
    late_report = report_of(env, timer(cloud, registry_id, slaSeconds=1))
    late = receiver.of("late", registry_id)
    assert sorted(n["replicaRegion"] for n in late) == ["ap-beijing", "ap-shanghai"], late
    assert all(n["digest"] == ghost and n["hint"].endswith(HINT_TAIL) for n in late)
    assert late_report["late"] == 2 and late_report["unconfirmed"] == 2
    # the log API shows them as the audit judged them: late (stored pending, never replicated), with the hint
    ghosts = [r for r in records(env, registry_id) if r["digest"] == ghost]
    assert [r["status"] for r in ghosts] == ["late", "late"] and all(r["hint"].endswith(HINT_TAIL) for r in ghosts)
    assert [n["digest"] for n in receiver.of("replicated", registry_id)] == [real]


def seed_pushes(cloud, store, registry_id: str, namespace: str, count: int) -> list[str]:
    """`count` real pushes (one TCR log entry per replica each) and their pending records as the webhook writes them."""
    replicas = [
        (r["ReplicationRegistryId"], r["ReplicationRegionName"])
        for r in tcr_replicas(tcr_client(cloud.env()), registry_id)
    ]
    digests = []
    for i in range(count):
        pushed = datetime.now(timezone.utc).replace(microsecond=0)
        digest = push(cloud, registry_id, namespace, f"svc{i % 3}", f"1.{i}")
        store.put_event(
            rl.event_records(
                registry_id=registry_id,
                primary_region="ap-guangzhou",
                namespace=namespace,
                repository=f"svc{i % 3}",
                tag=f"1.{i}",
                digest=digest,
                pushed_at=pushed,
                operator="1",
                replicas=replicas,
                now=pushed,
            )
        )
        digests.append(digest)
    return digests


def direct_audit(env: dict[str, str], store: LogStore, registry_id: str, budget: int, run: int) -> dict[str, Any]:
    """One audit run in this process (so that the run's own settings apply), against localcloud."""
    config = Config({**env, "AUDIT_TCR_CALL_BUDGET": str(budget)})
    event = {
        "Type": "Timer",
        "TriggerName": "t",
        "Time": f"2026-12-01T00:00:{run:02d}Z",
        "Message": json.dumps({"instances": [registry_id], "notify": False}),
    }
    summary = audit.run(
        event,
        tcr=TcrAdapter(config),
        store=store,
        notifier=notify.Notifier(None, None),
        config=config,
        deadline=Deadline.never(),
    )
    return cos_json(env, summary["instances"][0]["report"])


# array: pages of 20, 20 and 5 entries; object: one entry per page and an empty page at the end. Both: localcloud
# numbers pages from 1 (page 0 is page 1), and one call finds that out; with one entry per page, page 0 is read
# again after it, to know the log did not move meanwhile.
@pytest.mark.parametrize(("shape", "count", "expected_calls"), [("array", 45, 3 + 1), ("object", 6, 6 + 1 + 1 + 1)])
def test_the_log_is_read_across_pages_back_to_the_oldest_push(
    cloud, env, tcr, monkeypatch, shape, count, expected_calls
):
    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", shape)
    namespace = f"paged{shape}"
    registry_id = instance(env, tcr, namespace)
    store = LogStore.from_env(env)
    digests = seed_pushes(cloud, store, registry_id, namespace, count)
    wait_for(lambda: all_synced(tcr, registry_id))
    before = sync_calls(cloud)
    report = direct_audit(env, store, registry_id, budget=100, run=1)
    calls = sync_calls(cloud) - before
    assert report["resolved"] == {"replicated": count, "failed": 0} and report["stillPending"] == 0
    (rep,) = report["replicas"]
    assert rep["logReadComplete"] and rep["logCalls"] == calls
    assert calls == expected_calls
    assert {r["digest"] for r in records(env, registry_id) if r["status"] == "replicated"} == set(digests)


@pytest.mark.parametrize(("shape", "count", "budget"), [("array", 70, 3), ("object", 6, 4)])
def test_what_the_budget_leaves_unread_is_read_next_run(cloud, env, tcr, monkeypatch, shape, count, budget):
    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", shape)
    namespace = f"budget{shape}"
    registry_id = instance(env, tcr, namespace)
    store = LogStore.from_env(env)
    digests = seed_pushes(cloud, store, registry_id, namespace, count)
    wait_for(lambda: all_synced(tcr, registry_id))
    per_page = 20 if shape == "array" else 1
    # records written in the moments before a run are judged again from the newest entry by the next run
    # (their inbox LastModified and the run's clock could disagree): let the backlog be clearly older
    time.sleep(tlog.YOUNG_MARGIN.total_seconds() + 1)
    before = sync_calls(cloud)
    first = direct_audit(env, store, registry_id, budget=budget, run=1)
    assert sync_calls(cloud) - before == budget
    # page 0, the page-numbering probe (object: and page 0 again), then the remaining budget in pages
    read_first = (budget - 1) * per_page if shape == "array" else budget - 2
    assert first["resolved"]["replicated"] == read_first and first["stillPending"] == count - read_first
    assert first["logReadComplete"] is False and first["replicas"][0]["logReadComplete"] is False
    assert first["unconfirmed"] == 0, "an unread part of the log proves nothing either way"
    assert cos_json(env, f"state/{registry_id}/audit.json")["logCursors"], "where to go on is kept"
    newest_first = digests[::-1]
    pending = {r["digest"] for r in records(env, registry_id) if r["status"] == "pending"}
    assert pending == set(newest_first[read_first:]), "the newest pushes are read first"

    reports = [first]
    while reports[-1]["stillPending"]:
        reports.append(direct_audit(env, store, registry_id, budget=budget, run=len(reports) + 1))
        assert reports[-1]["resolved"]["replicated"] > 0, "every run makes progress"
        assert reports[-1]["replicas"][0]["logCalls"] <= budget
    assert sum(r["resolved"]["replicated"] for r in reports) == count
    final = records(env, registry_id)
    assert len(final) == count and {r["digest"] for r in final if r["status"] == "replicated"} == set(digests)
