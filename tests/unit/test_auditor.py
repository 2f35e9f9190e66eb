"""The audit (shared.audit.run) on the fakes of TCR, the log store and the notifier.

Pending records resolve on evidence only (an entry of TCR's replication log naming the image, at or after
the push); without it they stay pending, then late (announced once), with a hint when the replica synced
anyway. Unexpanded pushes are expanded to the replicas that existed at the push; redeliveries never
duplicate; notices wait in the outbox until a notifying run delivers them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from shared import audit, reports
from shared import records as rl
from shared.config import Config
from shared.errors import ApiError, ConfigError
from shared.runtime import Deadline
from tests.fakes import FakeLogStore, FakeNotifier, FakeTcr

REG = "tcr-aaaa1111"
DOMAIN = "acme.tencentcloudcr.com"
PUSHED = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)
NOW = PUSHED + timedelta(minutes=5)
DIGEST = "sha256:" + "7a" * 32
SH, BJ = "tcr-aaaa1111-4-sh", "tcr-aaaa1111-8-bj"
BOTH = ((SH, "ap-shanghai"), (BJ, "ap-beijing"))


def after(seconds: float) -> datetime:
    return PUSHED + timedelta(seconds=seconds)


def cloud(*replicas: tuple[str, str], created: datetime = PUSHED - timedelta(days=1)) -> FakeTcr:
    tcr = FakeTcr(now=lambda: NOW)
    tcr.add_instance(REG, "ap-guangzhou", domain=DOMAIN)
    for replica_id, region in replicas or BOTH:
        tcr.add_replica(REG, region, replica_id=replica_id, created=created)
    return tcr


def push(
    store: FakeLogStore,
    tag: str = "1.0",
    *,
    pushed: datetime = PUSHED,
    replicas: Any = BOTH,
    event_type: str = "pushImage",
) -> str:
    """The pending records the webhook writes for one push; returns the event id."""
    recs = rl.event_records(
        registry_id=REG,
        primary_region="ap-guangzhou",
        namespace="team",
        repository="api",
        tag=tag,
        digest=DIGEST,
        pushed_at=pushed,
        operator="100000000001",
        replicas=replicas,
        now=pushed,
        event_type=event_type,
    )
    store.put_event(recs)
    return recs[0].eventId


def unexpanded(store: FakeLogStore, tag: str = "1.0", *, registry_id: str = REG, host: str = DOMAIN, **kw: Any) -> str:
    """A push the webhook kept without its replicas (TCR could not list them)."""
    event = rl.push_event(
        registry_id=registry_id,
        host=host,
        namespace="team",
        repository="api",
        tag=tag,
        digest=DIGEST,
        pushed_at=PUSHED,
        operator="100000000001",
        received_at=PUSHED,
        **kw,
    )
    return store.put_unexpanded(event)


def run(
    tcr: FakeTcr,
    store: FakeLogStore,
    notifier: FakeNotifier | None = None,
    *,
    now: datetime = NOW,
    message: dict[str, Any] | None = None,
    deadline: Deadline | None = None,
    **env: str,
) -> dict[str, Any]:
    event = {"Type": "Timer", "TriggerName": "audit", "Time": rl.iso_utc(now)}
    if message is not None:
        event["Message"] = json.dumps(message)
    return audit.run(
        event,
        tcr=tcr,
        store=store,
        notifier=notifier if notifier is not None else FakeNotifier(),
        config=Config(env),
        deadline=deadline or Deadline.never(),
        now=now,
    )


def report(store: FakeLogStore, summary: dict[str, Any]) -> dict[str, Any]:
    (mine,) = [i for i in summary["instances"] if i["registryId"] == REG]
    return store.json(mine["report"])


def states(store: FakeLogStore) -> dict[str, tuple[str, str | None, float | None]]:
    """replica id -> (status, replicatedAt, lagSeconds) of the instance's records."""
    return {r.replicaRegistryId: (r.status, r.replicatedAt, r.lagSeconds) for r in store.records(REG)}


def state(store: FakeLogStore) -> dict[str, Any]:
    return store.get_state(REG)


# -- evidence ------------------------------------------------------------------------------------------------------


def test_a_push_is_replicated_on_entries_naming_its_image_and_announced_once():
    tcr, store, notifier = cloud(), FakeLogStore(now=lambda: PUSHED), FakeNotifier()
    push(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))  # ends 3 s later
    tcr.log(BJ, "team/api:[1.0]", start=after(10))
    summary = run(tcr, store, notifier)
    assert states(store) == {
        SH: ("replicated", "2026-11-28T10:00:08Z", 8.0),
        BJ: ("replicated", "2026-11-28T10:00:13Z", 13.0),
    }
    assert {r.source for r in store.records(REG)} == {"audit"}
    assert store.keys(f"inbox/{REG}/") == []
    got = report(store, summary)
    assert (got["pendingBefore"], got["resolved"], got["stillPending"]) == (2, {"replicated": 2, "failed": 0}, 0)
    assert got["tcrLogEntriesArchived"] == 2 and len(store.keys(f"tcrlog/{REG}/")) == 2
    (note,) = notifier.sent
    assert note.kind == "replicated"
    assert (note.body["registryId"], note.body["repository"], note.body["tag"], note.body["digest"]) == (
        REG,
        "team/api",
        "1.0",
        DIGEST,
    )
    assert note.body["replicas"] == [
        {"replicaRegistryId": BJ, "region": "ap-beijing", "replicatedAt": "2026-11-28T10:00:13Z", "lagSeconds": 13.0},
        {"replicaRegistryId": SH, "region": "ap-shanghai", "replicatedAt": "2026-11-28T10:00:08Z", "lagSeconds": 8.0},
    ]
    assert note.body["maxLagSeconds"] == 13.0

    again = run(tcr, store, notifier, now=NOW + timedelta(minutes=5))
    assert report(store, again)["pendingBefore"] == 0 and report(store, again)["tcrLogEntriesArchived"] == 0
    assert len(notifier.sent) == 1, "a second run announces nothing again"


@pytest.mark.parametrize(
    ("source", "start", "status", "decided"),
    [
        ("team/api:[1.0]", 5, "Succeed", "replicated"),
        ("team/api:[0.9, 1.0]", 5, "Succeed", "replicated"),
        ("team/api:1.0", 5, "Succeed", "replicated"),
        ("team/api", 5, "Succeed", "replicated"),  # an entry without tags names the repository's pushes
        ("team/api:[1.0]@" + DIGEST, 5, "Succeed", "replicated"),
        ("team/api:[1.0]@sha256:" + "00" * 32, 5, "Succeed", "pending"),  # another image under the same tag
        ("team/api:[0.9]", 5, "Succeed", "pending"),
        ("team/web:[1.0]", 5, "Succeed", "pending"),
        ("other/api:[1.0]", 5, "Succeed", "pending"),
        ("team/api:[1.0]", -10, "Succeed", "pending"),  # started before the push: an earlier push of the tag
        ("team/api:[1.0]", -1, "Succeed", "replicated"),  # within the allowance for clock skew
        ("team/api:[1.0]", 5, "Failed", "failed"),
        ("team/api:[1.0]", 5, "InProgress", "pending"),
    ],
)
def test_what_counts_as_evidence(source, start, status, decided):
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore()
    push(store, replicas=[(SH, "ap-shanghai")])
    tcr.log(SH, source, status, start=after(start), end=None if status == "InProgress" else "auto")
    run(tcr, store)
    assert states(store)[SH][0] == decided


def test_a_sync_time_alone_is_never_evidence():
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore()
    push(store, replicas=[(SH, "ap-shanghai")])
    tcr.set_sync(SH, "Succeed", after(60))  # the replica synced after the push; its log names nothing
    run(tcr, store, now=PUSHED + timedelta(days=1))
    assert states(store) == {SH: ("pending", None, None)}


def test_a_failure_is_announced_and_spoils_the_replicated_everywhere_notice():
    tcr, store, notifier = cloud(), FakeLogStore(), FakeNotifier()
    push(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    tcr.log(BJ, "team/api:[1.0]", "Failed", start=after(5))
    summary = run(tcr, store, notifier)
    assert states(store) == {SH: ("replicated", "2026-11-28T10:00:08Z", 8.0), BJ: ("failed", None, None)}
    assert report(store, summary)["resolved"] == {"replicated": 1, "failed": 1}
    assert notifier.kinds() == ["failed"]
    (failed,) = notifier.of_kind("failed")
    assert (failed["replicaRegistryId"], failed["replicaRegion"]) == (BJ, "ap-beijing")
    assert failed["reason"] == "TCR replication log reports Failed for team/api:[1.0]"


def test_a_later_success_outweighs_an_earlier_failure():
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore()
    push(store, replicas=[(SH, "ap-shanghai")])
    tcr.log(SH, "team/api:[1.0]", "Failed", start=after(5))
    tcr.log(SH, "team/api:[1.0]", start=after(60))
    run(tcr, store)
    assert states(store) == {SH: ("replicated", "2026-11-28T10:01:03Z", 63.0)}


def test_replicated_everywhere_is_announced_when_the_last_replica_gets_the_image():
    tcr, store, notifier = cloud(), FakeLogStore(), FakeNotifier()
    push(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    run(tcr, store, notifier)
    assert states(store)[BJ][0] == "pending" and notifier.sent == []
    tcr.log(BJ, "team/api:[1.0]", start=after(400))
    run(tcr, store, notifier, now=NOW + timedelta(minutes=5))
    (note,) = notifier.of_kind("replicated")
    assert [(r["replicaRegistryId"], r["lagSeconds"]) for r in note["replicas"]] == [(BJ, 403.0), (SH, 8.0)]
    assert state(store)["partial"] == {}


def test_a_replica_that_is_gone_fails_its_records():
    tcr, store, notifier = cloud((SH, "ap-shanghai")), FakeLogStore(), FakeNotifier()
    push(store, replicas=[(SH, "ap-shanghai"), ("tcr-aaaa1111-16-gone", "ap-chengdu")])
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    run(tcr, store, notifier)
    assert states(store)["tcr-aaaa1111-16-gone"] == ("failed", None, None)
    (failed,) = notifier.of_kind("failed")
    assert failed["reason"] == "the replica no longer exists"


# -- no evidence: pending, then late (once), with a hint when the replica synced -----------------------------------


def test_without_evidence_a_push_waits_then_is_late_once_with_the_hint():
    tcr, store, notifier = cloud((SH, "ap-shanghai")), FakeLogStore(), FakeNotifier()
    event_id = push(store, replicas=[(SH, "ap-shanghai")])
    tcr.log(SH, "team/web:[2.0]", start=after(20))  # another image: the whole log is read, it names not ours
    tcr.set_sync(SH, "Succeed", after(30))
    hint = "replica synced at 2026-11-28T10:00:30Z; TCR's log did not list this image"

    first = report(store, run(tcr, store, notifier))
    assert (first["stillPending"], first["unconfirmed"], first["late"], first["newlyLate"]) == (1, 1, 0, 0)
    assert state(store)["hints"] == {f"{event_id}:{SH}": "2026-11-28T10:00:30Z"}
    assert notifier.sent == []

    late = report(store, run(tcr, store, notifier, now=after(960)))
    assert (late["stillPending"], late["late"], late["newlyLate"]) == (1, 1, 1)
    (note,) = notifier.of_kind("late")
    assert (note["replicaRegistryId"], note["slaSeconds"], note["waitedSeconds"], note["hint"]) == (
        SH,
        900,
        960.0,
        hint,
    )

    later = report(store, run(tcr, store, notifier, now=after(1200)))
    assert (later["late"], later["newlyLate"]) == (1, 0)
    assert len(notifier.of_kind("late")) == 1, "a late replication is announced once"
    assert states(store) == {SH: ("pending", None, None)}

    tcr.log(SH, "team/api:[1.0]", start=after(1100))
    run(tcr, store, notifier, now=after(1300))
    assert states(store) == {SH: ("replicated", "2026-11-28T10:18:23Z", 1103.0)}
    assert state(store)["late"] == [] and state(store)["hints"] == {}


def test_no_hint_when_the_replica_did_not_sync_after_the_push():
    tcr, store, notifier = cloud((SH, "ap-shanghai")), FakeLogStore(), FakeNotifier()
    push(store, replicas=[(SH, "ap-shanghai")])
    tcr.set_sync(SH, "Succeed", after(-30))
    late = report(store, run(tcr, store, notifier, now=after(1000)))
    assert (late["unconfirmed"], late["newlyLate"]) == (0, 1)
    assert "hint" not in notifier.of_kind("late")[0]


def test_the_sla_comes_from_the_options_or_the_configuration():
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore()
    push(store, replicas=[(SH, "ap-shanghai")])
    assert report(store, run(tcr, store, message={"slaSeconds": 60}))["late"] == 1
    assert report(store, run(tcr, store, REPLICATION_SLA_SECONDS="600"))["late"] == 0
    assert report(store, run(tcr, store, REPLICATION_SLA_SECONDS="200"))["late"] == 1


# -- redelivery -----------------------------------------------------------------------------------------------------


def test_a_push_redelivered_after_it_was_resolved_changes_nothing():
    tcr, store, notifier = cloud(), FakeLogStore(), FakeNotifier()
    push(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    tcr.log(BJ, "team/api:[1.0]", start=after(10))
    run(tcr, store, notifier)
    before = store.records(REG)
    push(store)  # the sender delivers it again: pending again in the inbox
    assert len(store.keys(f"inbox/{REG}/")) == 1
    got = report(store, run(tcr, store, notifier, now=NOW + timedelta(minutes=5)))
    assert (got["alreadyResolved"], got["resolved"]) == (2, {"replicated": 0, "failed": 0})
    assert store.records(REG) == before, "the first resolution stands"
    assert store.keys(f"inbox/{REG}/") == []
    assert notifier.kinds() == ["replicated"]


def test_the_redelivery_check_reads_only_segments_that_can_hold_the_pending_pushes():
    tcr, store, notifier = cloud(), FakeLogStore(), FakeNotifier()
    push(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    tcr.log(BJ, "team/api:[1.0]", start=after(10))
    run(tcr, store, notifier)
    later = PUSHED + timedelta(hours=2)
    push(store, "2.0", pushed=later)
    tcr.log(SH, "team/api:[2.0]", start=later + timedelta(seconds=5))
    tcr.log(BJ, "team/api:[2.0]", start=later + timedelta(seconds=5))
    store.segment_gets = 0
    got = report(store, run(tcr, store, notifier, now=later + timedelta(minutes=5)))
    assert got["resolved"]["replicated"] == 2
    assert store.segment_gets == 0, "the segments of the 10:00 push cannot hold a push of 12:00"
    push(store)  # the 10:00 push delivered again: its segments are read, and it stays resolved once
    got = report(store, run(tcr, store, notifier, now=later + timedelta(minutes=10)))
    assert (got["alreadyResolved"], got["resolved"]) == (2, {"replicated": 0, "failed": 0})
    assert store.segment_gets >= 1
    assert notifier.kinds() == ["replicated", "replicated"]


def test_a_redelivery_kept_unexpanded_after_the_push_was_resolved_changes_nothing():
    tcr, store, notifier = cloud(), FakeLogStore(), FakeNotifier()
    push(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    tcr.log(BJ, "team/api:[1.0]", start=after(10))
    run(tcr, store, notifier)
    before = store.records(REG)
    unexpanded(store)  # redelivered while TCR was down
    got = report(store, run(tcr, store, notifier, now=NOW + timedelta(minutes=5)))
    assert (got["alreadyResolved"], got["resolved"]) == (2, {"replicated": 0, "failed": 0})
    assert store.records(REG) == before and store.keys(f"inbox/{REG}/") == []
    assert notifier.kinds() == ["replicated"]


def test_an_unexpanded_copy_on_another_inbox_page_is_still_one_record_per_replica():
    tcr, store = cloud(), FakeLogStore(page_size=1)
    push(store)
    unexpanded(store)  # its key sorts apart from the expanded one's: a page of one object each
    assert len(store.keys(f"inbox/{REG}/")) == 2
    got = report(store, run(tcr, store))
    assert (got["pendingBefore"], got["stillPending"]) == (2, 2)
    (item,) = store.list_inbox(REG)
    assert sorted(r.replicaRegistryId for r in item.records) == [SH, BJ]


# -- expansion of pushes kept unexpanded -----------------------------------------------------------------------------


def test_an_unexpanded_push_is_owed_only_to_the_replicas_that_existed_at_the_push():
    tcr = cloud((SH, "ap-shanghai"))
    tcr.add_replica(REG, "ap-beijing", replica_id=BJ, created=after(60))  # created after the push
    store = FakeLogStore()
    key = unexpanded(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    got = report(store, run(tcr, store))
    assert got["unexpandedEvents"] == {"expanded": 1, "records": 1, "nothingOwed": 0, "duplicates": 0}
    assert states(store) == {SH: ("replicated", "2026-11-28T10:00:08Z", 8.0)}
    assert key not in store.objects and store.keys(f"inbox/{REG}/") == []


def test_an_unexpanded_push_owed_to_no_replica_just_leaves():
    tcr, store = cloud(created=after(60)), FakeLogStore()
    key = unexpanded(store)
    got = report(store, run(tcr, store))
    assert got["unexpandedEvents"] == {"expanded": 0, "records": 0, "nothingOwed": 1, "duplicates": 0}
    assert key not in store.objects and store.records(REG) == []


def test_an_unexpanded_copy_of_an_expanded_push_is_dropped():
    tcr, store = cloud(), FakeLogStore()
    push(store)
    key = unexpanded(store)  # the webhook kept it unexpanded, then a redelivery found TCR again
    got = report(store, run(tcr, store))
    assert got["unexpandedEvents"] == {"expanded": 0, "records": 0, "nothingOwed": 0, "duplicates": 1}
    assert key not in store.objects
    assert sorted(r.replicaRegistryId for r in store.list_pending(REG)) == [SH, BJ]


def test_a_push_still_pending_after_expansion_stays_in_the_inbox_expanded():
    tcr, store = cloud(), FakeLogStore()
    unexpanded(store)
    got = report(store, run(tcr, store))
    assert got["unexpandedEvents"]["records"] == 2 and got["stillPending"] == 2
    (item,) = store.list_inbox(REG)
    assert item.event is None and sorted(r.replicaRegistryId for r in item.records) == [SH, BJ]


def test_an_unexpanded_delete_is_recorded_as_deleted():
    tcr, store = cloud(), FakeLogStore()
    unexpanded(store, event_type="deleteImage")
    run(tcr, store)
    assert {r.replicaRegistryId: r.status for r in store.records(REG)} == {SH: "deleted", BJ: "deleted"}
    assert store.keys(f"inbox/{REG}/") == []


def test_a_push_kept_under_its_host_joins_its_instance_and_is_expanded_in_the_same_run():
    tcr, store = cloud(), FakeLogStore()
    unexpanded(store, registry_id="")
    unexpanded(store, "2.0", registry_id="", host="nobody.tencentcloudcr.com")
    summary = run(tcr, store)
    assert summary["hostEvents"] == {"moved": 1, "nothingOwed": 0, "unresolvable": 1, "waiting": 0}
    assert store.keys("inbox-host/") == []
    assert report(store, summary)["unexpandedEvents"]["records"] == 2
    assert sorted(r.replicaRegistryId for r in store.list_pending(REG)) == [SH, BJ]


def test_a_host_push_waits_while_the_run_sees_only_some_instances():
    tcr, store = cloud(), FakeLogStore()
    key = unexpanded(store, registry_id="", host="nobody.tencentcloudcr.com")
    summary = run(tcr, store, message={"instances": [REG]})
    assert summary["hostEvents"]["waiting"] == 1 and key in store.objects


# -- the outbox ---------------------------------------------------------------------------------------------------


def test_a_refused_notice_waits_in_the_outbox_through_a_silent_run():
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore()
    push(store, replicas=[(SH, "ap-shanghai")])
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    down = FakeNotifier(refuse=True)
    first = run(tcr, store, down)
    assert first["notifications"]["failed"] == 1 and down.sent == []
    assert [n["kind"] for n in state(store)["outbox"]] == ["replicated"]

    quiet = FakeNotifier()
    run(tcr, store, quiet, message={"notify": False}, now=NOW + timedelta(minutes=5))
    assert quiet.batches == 0 and [n["kind"] for n in state(store)["outbox"]] == ["replicated"]

    disabled = FakeNotifier(enabled=False)
    run(tcr, store, disabled, now=NOW + timedelta(minutes=10))
    assert disabled.batches == 0 and len(state(store)["outbox"]) == 1

    up = FakeNotifier()
    second = run(tcr, store, up, now=NOW + timedelta(minutes=15))
    assert second["notifications"]["sent"] == 1 and up.kinds() == ["replicated"]
    assert state(store)["outbox"] == []
    run(tcr, store, up, now=NOW + timedelta(minutes=20))
    assert up.kinds() == ["replicated"], "delivered once"


def test_a_misconfigured_notifier_is_reported_and_its_notices_wait():
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore()
    push(store, replicas=[(SH, "ap-shanghai")])
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    broken = FakeNotifier(config_error=ConfigError("NOTIFY_SECRET", "is not set: the notifier signs with it"))
    summary = run(tcr, store, broken)
    assert [(e["code"], e["variable"]) for e in summary["errors"]] == [("Unavailable", "NOTIFY_SECRET")]
    assert summary["notifications"]["failed"] == 1 and broken.sent == []
    assert states(store)[SH][0] == "replicated", "the audit goes on"
    assert [n["kind"] for n in state(store)["outbox"]] == ["replicated"]


# -- findings: policy and health ------------------------------------------------------------------------------------


def findings(summary_report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in summary_report["findings"] if f["kind"] == kind]


def test_a_missing_required_region_and_too_many_replicas_are_findings():
    tcr, store, notifier = cloud(), FakeLogStore(), FakeNotifier()
    policy = {"requiredRegions": ["ap-nanjing"], "maxReplicas": 1, "deniedRegions": ["ap-beijing"]}
    got = report(store, run(tcr, store, notifier, POLICY=json.dumps(policy)))
    assert [(f["rule"], f["code"]) for f in findings(got, "policy_violation")] == [
        ("organisation-policy", "PolicyDenied"),
        ("required-region", "PolicyDenied"),
        ("organisation-policy", "PolicyDenied"),
    ]
    messages = [f["message"] for f in findings(got, "policy_violation")]
    assert messages[0].startswith(f"replica {BJ}: the organisation's policy denies replicas in ap-beijing")
    assert "requires a replica in ap-nanjing" in messages[1]
    assert messages[2] == "2 replicas exist but the organisation's policy allows at most 1"
    (note,) = notifier.of_kind("policy_violation")
    assert note["period"] == "2026-11-28" and len(note["violations"]) == 3


def test_replicas_that_break_the_region_rules_today_are_findings():
    tcr, store = cloud((SH, "ap-shanghai"), ("tcr-aaaa1111-5-hk", "ap-hongkong")), FakeLogStore()
    got = report(store, run(tcr, store))
    assert [(f["code"], f["rule"]) for f in findings(got, "policy_violation")] == [("CrossBorder", "no-cross-border")]


def test_unhealthy_replicas_are_findings_after_a_grace_for_deploying_ones():
    tcr, store, notifier = cloud(), FakeLogStore(), FakeNotifier()
    tcr.add_replica(
        REG, "ap-chengdu", replica_id="tcr-aaaa1111-16-new", status="Deploying", created=NOW - timedelta(minutes=10)
    )
    tcr.add_replica(
        REG, "ap-nanjing", replica_id="tcr-aaaa1111-33-old", status="Deploying", created=NOW - timedelta(hours=2)
    )
    tcr.add_replica(
        REG, "ap-chongqing", replica_id="tcr-aaaa1111-19-iso", status="Isolated", created=NOW - timedelta(days=3)
    )
    got = report(store, run(tcr, store, notifier))
    assert [(f["replicaRegistryId"], f["status"]) for f in findings(got, "replica_unhealthy")] == [
        ("tcr-aaaa1111-33-old", "Deploying"),
        ("tcr-aaaa1111-19-iso", "Isolated"),
    ]
    assert len(notifier.of_kind("replica_unhealthy")) == 2


def test_a_refused_sync_status_is_a_finding_and_a_throttled_one_defers_the_instance():
    tcr, store = cloud(), FakeLogStore()
    push(store)
    tcr.log(SH, "team/api:[1.0]", start=after(5))
    tcr.fail("sync_status", "TcrRefused", only=BJ)
    got = report(store, run(tcr, store))
    (finding,) = findings(got, "replica_unhealthy")
    assert (finding["replicaRegistryId"], finding["status"]) == (BJ, "Unknown")
    assert finding["detail"].startswith("TcrRefused: ")
    assert got["logReadComplete"] is False
    assert states(store) == {SH: ("replicated", "2026-11-28T10:00:08Z", 8.0), BJ: ("pending", None, None)}

    tcr.heal()
    tcr.fail("sync_status", "Throttled", times=1)
    summary = run(tcr, store, now=NOW + timedelta(minutes=5))
    assert summary["complete"] is False and summary["instances"] == []
    assert [(e["registryId"], e["code"]) for e in summary["errors"]] == [(REG, "Throttled")]
    assert states(store)[BJ][0] == "pending"

    tcr.log(BJ, "team/api:[1.0]", start=after(500))
    assert run(tcr, store, now=NOW + timedelta(minutes=10))["complete"] is True  # the next run catches up
    assert states(store)[BJ] == ("replicated", "2026-11-28T10:08:23Z", 503.0)


# -- which instances, paging, the timer entry -------------------------------------------------------------------------


def test_every_premium_instance_or_the_named_ones():
    tcr, store = cloud(), FakeLogStore()
    tcr.add_instance("tcr-bbbb2222", registry_type="standard")
    tcr.add_instance("tcr-cccc3333", "ap-beijing")
    every = run(tcr, store)
    assert [i["registryId"] for i in every["instances"]] == [REG, "tcr-cccc3333"]
    named = run(tcr, store, message={"instances": [REG, "tcr-nobody1"]})
    assert [i["registryId"] for i in named["instances"]] == [REG]
    assert named["missingInstances"] == ["tcr-nobody1"]


def test_a_named_instance_that_is_not_running_is_reported_not_skipped():
    tcr, store = cloud(), FakeLogStore()
    tcr.set_status(REG, "Deploying")  # TCR refuses to name it; the audit picks it out of the whole listing
    summary = run(tcr, store, message={"instances": [REG]})
    assert summary["missingInstances"] == [] and summary["complete"] is False
    assert [(e["registryId"], e["code"]) for e in summary["errors"]] == [(REG, "InstanceNotRunning")]


def test_a_large_inbox_is_resolved_page_by_page():
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore(page_size=2)
    for i in range(5):
        push(store, f"1.{i}", replicas=[(SH, "ap-shanghai")])
        tcr.log(SH, f"team/api:[1.{i}]", start=after(5 + i))
    got = report(store, run(tcr, store))
    assert (got["pendingBefore"], got["resolved"]["replicated"], got["stillPending"]) == (5, 5, 0)
    assert store.keys(f"inbox/{REG}/") == []


def test_a_run_short_of_time_saves_what_it_resolved_and_leaves_the_rest():
    tcr, store = cloud((SH, "ap-shanghai")), FakeLogStore(page_size=1)
    for i in range(3):
        push(store, f"1.{i}", replicas=[(SH, "ap-shanghai")])
        tcr.log(SH, f"team/api:[1.{i}]", start=after(5 + i))
    short = run(tcr, store, deadline=Deadline(25.0, clock=lambda: 0.0))  # under 30 s left: one page only
    got = report(store, short)
    assert short["complete"] is False and (got["complete"], got["resolved"]["replicated"]) == (False, 1)
    assert len(store.keys(f"inbox/{REG}/")) == 2
    rest = run(tcr, store, now=NOW + timedelta(minutes=5))
    assert rest["complete"] is True and report(store, rest)["resolved"]["replicated"] == 2
    assert [s for s, _, _ in states(store).values()] == ["replicated"]
    assert len(store.records(REG)) == 3

    deferred = run(cloud(), FakeLogStore(), deadline=Deadline(15.0, clock=lambda: 0.0))
    assert deferred["instances"] == [] and [e["code"] for e in deferred["errors"]] == ["Deferred"]


def test_the_report_and_the_dashboard_are_written_beside_the_latest_summary():
    tcr, store = cloud(), FakeLogStore()
    with pytest.raises(ApiError) as before:
        reports.page(store, REG)
    assert before.value.code == "ReportNotFound"
    summary = run(tcr, store)
    run_id = summary["runId"]
    assert store.json("reports/latest.json")["runId"] == run_id
    assert summary["instances"][0]["report"] == f"reports/{REG}/2026-11-28/{run_id}.json"
    assert store.json(f"reports/{REG}/latest.json")["runId"] == run_id
    assert store.objects[f"reports/{REG}/latest.html"].content_type == "text/html; charset=utf-8"
    assert f"reports/{REG}/2026-11-28/{run_id}.html" in store.objects
    assert REG in reports.page(store, REG) and reports.document(store, REG)["runId"] == run_id
    link = reports.link(store, REG, 600, now=NOW)
    assert link["expiresAt"] == "2026-11-28T10:15:00Z" and f"reports/{REG}/latest.html" in link["url"]


def test_the_timer_entry_answers_bad_options_without_raising():
    tcr, store = cloud(), FakeLogStore()
    services = SimpleNamespace(tcr=tcr, store=store, config=Config({}), deadline=Deadline.never())
    answer = audit.handle({"Type": "Timer", "Message": '{"slaSeconds": 0}'}, services)
    assert answer["error"]["code"] == "InvalidRequest" and "slaSeconds" in answer["error"]["message"]
    assert store.puts == []
    summary = audit.handle({"Type": "Timer", "TriggerName": "audit"}, services)
    assert [i["registryId"] for i in summary["instances"]] == [REG]
