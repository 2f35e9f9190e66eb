"""The replica API's domain (shared.replicas.ReplicaService) on the fakes of TCR and the log store.

Every region rule and policy rule refuses before any write to TCR; what is created, listed and deleted is
read back from the fake. The localcloud integration tests prove the same through the SDK and the wire.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared import records as rl
from shared.config import Config
from shared.errors import ApiError
from shared.inputs import CreateReplica, LogQuery
from shared.replicas import ReplicaService
from shared.runtime import Deadline
from tests.fakes import FakeLogStore, FakeTcr

REG = "tcr-aaaa1111"
NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)
WRITES = ("create_replica", "delete_replica", "delete_instance")


def service(
    tcr: FakeTcr | None, policy: dict[str, Any] | None = None, store: FakeLogStore | None = None, **kwargs: Any
) -> ReplicaService:
    env = {"POLICY": json.dumps(policy)} if policy is not None else {}
    return ReplicaService(tcr, Config(env), store_factory=lambda: store or FakeLogStore(), **kwargs)


def primary(region: str = "ap-guangzhou", **kwargs: Any) -> FakeTcr:
    tcr = FakeTcr(now=lambda: NOW)
    tcr.add_instance(REG, region, **kwargs)
    return tcr


def refusal(tcr: FakeTcr, region: str | int, policy: dict[str, Any] | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        service(tcr, policy).create(REG, CreateReplica(region, sync_tag=False, dry_run=False))
    assert tcr.calls_of(*WRITES) == [], "refused before any write to TCR"
    return caught.value


def rules_of(err: ApiError) -> list[tuple[str, str]]:
    return [(v["code"], v["rule"]) for v in err.details["violations"]]


# -- region rules --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("primary_region", "region", "code", "rule", "names"),
    [
        ("ap-guangzhou", "ap-guangzhou", "SameRegion", "same-region", "another region than its primary (ap-guangzhou)"),
        ("ap-guangzhou", 1, "SameRegion", "same-region", "ap-guangzhou"),  # a TCR region id names the same region
        ("ap-guangzhou", "ap-hongkong", "CrossBorder", "no-cross-border", "cross-instance synchronisation"),
        ("ap-singapore", "ap-shanghai", "CrossBorder", "no-cross-border", "primary ap-singapore is outside"),
        ("ap-hongkong", "ap-taipei", "RegionNotSupported", "taiwan-not-supported", "ap-taipei (Taiwan, China)"),
        ("ap-guangzhou", "ap-shenzhen", "RegionNotSupported", "tcr-not-served", "not offered in ap-shenzhen"),
        ("ap-guangzhou", "mars-north-1", "UnknownRegion", "known-region", "'mars-north-1'"),
        ("ap-guangzhou", 9999, "UnknownRegion", "known-region", "9999"),
    ],
)
def test_a_region_the_rules_refuse_is_refused_before_any_write(primary_region, region, code, rule, names):
    err = refusal(primary(primary_region), region)
    assert (err.code, rules_of(err)) == (code, [(code, rule)])
    assert names in err.message


def test_outside_mainland_to_outside_mainland_is_allowed():
    tcr = primary("ap-hongkong")
    answer = service(tcr).create(REG, CreateReplica("ap-singapore", sync_tag=False, dry_run=False))
    assert answer["replica"]["region"] == "ap-singapore" and answer["replica"]["regionId"] == 9


def test_a_taiwan_primary_is_refused_as_well():
    err = refusal(primary("ap-taipei"), "ap-hongkong")
    assert err.code == "RegionNotSupported" and "for the primary" in err.message
    # from the mainland, Taiwan is also across the border: both rules are named
    err = refusal(primary(), "ap-taipei")
    assert rules_of(err) == [("RegionNotSupported", "taiwan-not-supported"), ("CrossBorder", "no-cross-border")]


def test_only_a_premium_running_instance_gets_replicas():
    err = refusal(primary(registry_type="standard"), "ap-shanghai")
    assert (err.code, rules_of(err)) == ("NotPremium", [("NotPremium", "premium-only")])
    assert "upgrade it to premium" in err.message

    # TCR names an instance that is not Running: the rule refuses it
    named = FakeTcr(refuses_not_running=False)
    named.add_instance(REG, status="Deploying")
    err = refusal(named, "ap-shanghai")
    assert (err.code, rules_of(err)) == ("InstanceNotRunning", [("InstanceNotRunning", "instance-running")])
    # TCR refuses to describe it (ErrorInstanceNotRunning): the same code, from TCR
    err = refusal(primary(status="Deploying"), "ap-shanghai")
    assert err.code == "InstanceNotRunning" and err.status == 409


def test_an_unknown_instance_is_a_rule_violation_too():
    tcr = FakeTcr()
    err = refusal(tcr, "ap-shanghai")
    assert (err.code, err.status, rules_of(err)) == ("InstanceNotFound", 404, [("InstanceNotFound", "instance-exists")])


def test_one_replica_per_region_whether_named_or_given_by_id():
    tcr = primary()
    tcr.add_replica(REG, "ap-shanghai", replica_id="tcr-aaaa1111-4-first", created=NOW - timedelta(days=1))
    for ref in ("ap-shanghai", 4, "4"):
        err = refusal(tcr, ref)
        assert (err.code, err.status, rules_of(err)) == ("ReplicaExists", 409, [("ReplicaExists", "one-per-region")])
        assert "tcr-aaaa1111-4-first" in err.message


def test_every_refusing_rule_is_listed_and_the_code_follows_the_precedence():
    tcr = FakeTcr(refuses_not_running=False)
    tcr.add_instance(REG, "ap-guangzhou", registry_type="basic", status="Deploying")
    err = refusal(tcr, "ap-hongkong", {"deniedRegions": ["ap-hongkong"]})
    assert err.code == "NotPremium" and err.status == 422
    assert rules_of(err) == [
        ("NotPremium", "premium-only"),
        ("InstanceNotRunning", "instance-running"),
        ("CrossBorder", "no-cross-border"),
        ("PolicyDenied", "organisation-policy"),
    ]
    assert "(3 more rule(s) also refuse: see error.violations)" in err.message


def test_an_allowed_replica_is_created_once_and_answered_as_tcr_lists_it():
    tcr = primary()
    answer = service(tcr).create(REG, CreateReplica("ap-shanghai", sync_tag=True, dry_run=False))
    (created,) = tcr.replicas[REG]
    assert answer == {
        "replica": {
            "replicaRegistryId": created.replica_registry_id,
            "region": "ap-shanghai",
            "regionId": 4,
            "status": "Running",
            "createdAt": "2026-11-28T10:00:00Z",
            "registryId": REG,
        }
    }
    assert tcr.calls_of(*WRITES) == [("create_replica", (REG, 4, "ap-shanghai"))]


def test_a_dry_run_plans_without_writing():
    tcr = primary()
    tcr.add_replica(REG, "ap-beijing", replica_id="tcr-aaaa1111-8-old", created=NOW - timedelta(days=1))
    answer = service(tcr).create(REG, CreateReplica("4", sync_tag=False, dry_run=True))
    assert answer == {
        "allowed": True,
        "plan": {
            "registryId": REG,
            "primaryRegion": "ap-guangzhou",
            "region": "ap-shanghai",
            "regionId": 4,
            "existingReplicas": [{"replicaRegistryId": "tcr-aaaa1111-8-old", "region": "ap-beijing"}],
            "syncTag": False,
        },
    }
    assert tcr.calls_of(*WRITES) == []


def test_a_refusal_of_tcr_itself_arrives_with_the_adapters_code():
    tcr = primary()
    tcr.fail("create_replica", "TcrRefused")
    with pytest.raises(ApiError) as caught:
        service(tcr).create(REG, CreateReplica("ap-shanghai", sync_tag=False, dry_run=False))
    assert (caught.value.code, caught.value.status) == ("TcrRefused", 422)
    assert caught.value.details["tcr"]["code"] == "FailedOperation"
    assert tcr.replicas[REG] == []


# -- the organisation's policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "region", "allowed", "says"),
    [
        ({"allowedRegions": ["ap-shanghai", "ap-beijing"]}, "ap-shanghai", True, ""),
        ({"allowedRegions": ["ap-shanghai", "ap-beijing"]}, "ap-chengdu", False, "only in: ap-beijing, ap-shanghai"),
        ({"allowedRegions": [4]}, "ap-shanghai", True, ""),  # the policy may name regions by TCR id
        ({"deniedRegions": ["ap-chengdu"]}, "ap-chengdu", False, "denies replicas in ap-chengdu"),
        ({"deniedRegions": ["ap-chengdu"]}, "ap-beijing", True, ""),
    ],
)
def test_allowed_and_denied_regions(policy, region, allowed, says):
    tcr = primary()
    if allowed:
        answer = service(tcr, policy).create(REG, CreateReplica(region, sync_tag=False, dry_run=False))
        assert answer["replica"]["region"] == region
        return
    err = refusal(tcr, region, policy)
    assert (err.code, rules_of(err)) == ("PolicyDenied", [("PolicyDenied", "organisation-policy")])
    assert says in err.message


def test_max_replicas_refuses_one_more_before_writing():
    tcr = primary()
    tcr.add_replica(REG, "ap-beijing", created=NOW - timedelta(days=1))
    err = refusal(tcr, "ap-shanghai", {"maxReplicas": 1})
    assert err.code == "PolicyDenied" and "at most 1 replica(s) per instance and 1 exist" in err.message
    assert refusal(primary(), "ap-shanghai", {"maxReplicas": 0}).code == "PolicyDenied"


def test_regions_for_judges_every_region_with_the_policy():
    got = service(None, {"deniedRegions": ["ap-beijing"]}).regions_for("1")
    rows = {r["region"]: r for r in got["regions"]}
    assert got["primary"] == "ap-guangzhou"
    assert (rows["ap-shanghai"]["replicaAllowed"], rows["ap-shanghai"]["code"]) == (True, None)
    assert rows["ap-beijing"]["code"] == "PolicyDenied"
    assert rows["ap-guangzhou"]["code"] == "SameRegion"
    assert rows["ap-hongkong"]["code"] == "CrossBorder"
    assert rows["ap-taipei"]["code"] == "RegionNotSupported"
    with pytest.raises(ApiError) as caught:
        service(None).regions_for("nowhere")
    assert caught.value.code == "UnknownRegion"


# -- maxReplicas under concurrent creates: the compensation after the create --------------------------------------


def racing(tcr: FakeTcr, created: datetime, replica_id: str = "tcr-aaaa1111-8-rival") -> None:
    """Another request creates its replica while this one is between its cap check and its create."""

    def rival() -> None:
        if not any(r.replica_registry_id == replica_id for r in tcr.replicas[REG]):
            tcr.add_replica(REG, "ap-beijing", replica_id=replica_id, created=created)

    tcr.hooks["create_replica"] = rival


def capped(tcr: FakeTcr, sleeps: list[float], deadline: Deadline | None = None) -> ReplicaService:
    return service(
        tcr, {"maxReplicas": 1}, sleep=sleeps.append, now=lambda: NOW + timedelta(seconds=0.2), deadline=deadline
    )


def test_a_replica_created_past_the_cap_by_a_race_is_deleted_again():
    tcr, sleeps = primary(), list[float]()
    racing(tcr, NOW - timedelta(seconds=1))  # the rival's replica is the older one
    with pytest.raises(ApiError) as caught:
        capped(tcr, sleeps).create(REG, CreateReplica("ap-shanghai", sync_tag=False, dry_run=False))
    err = caught.value
    assert err.code == "PolicyDenied" and "was deleted again" in err.message
    assert err.details["replicas"] == [{"replicaRegistryId": "tcr-aaaa1111-8-rival", "region": "ap-beijing"}]
    mine = err.details["replica"]
    assert (mine["region"], mine["deleted"]) == ("ap-shanghai", True)
    assert [r.replica_registry_id for r in tcr.replicas[REG]] == ["tcr-aaaa1111-8-rival"]
    assert tcr.calls_of(*WRITES)[-1] == ("delete_replica", (REG, mine["replicaRegistryId"]))
    # it waited until no later replica could share its creation second: 1 s resolution + 0.5 s skew - 0.2 s
    assert sleeps == [pytest.approx(1.3)]


def test_the_replica_created_first_is_kept_whoever_raced():
    tcr, sleeps = primary(), list[float]()
    racing(tcr, NOW + timedelta(seconds=5))  # the rival created its replica after ours
    answer = capped(tcr, sleeps).create(REG, CreateReplica("ap-shanghai", sync_tag=False, dry_run=False))
    assert answer["replica"]["region"] == "ap-shanghai" and answer["replica"]["createdAt"] == "2026-11-28T10:00:00Z"
    assert tcr.calls_of("delete_replica") == []


def test_a_compensation_that_fails_says_what_to_delete():
    tcr, sleeps = primary(), list[float]()
    racing(tcr, NOW - timedelta(seconds=1))
    tcr.fail("delete_replica", "Throttled")
    with pytest.raises(ApiError) as caught:
        capped(tcr, sleeps).create(REG, CreateReplica("ap-shanghai", sync_tag=False, dry_run=False))
    mine = caught.value.details["replica"]
    assert caught.value.code == "PolicyDenied" and mine["deleted"] is False
    assert "could not be deleted (Throttled: " in caught.value.message
    assert f"DELETE /instances/{REG}/replicas/{mine['replicaRegistryId']}" in caught.value.message
    assert len(tcr.replicas[REG]) == 2


def test_the_wait_for_the_cap_check_keeps_time_for_the_answer():
    tcr, sleeps = primary(), list[float]()
    clock = [0.0]
    deadline = Deadline(5.6, clock=lambda: clock[0])  # 5 s are kept back for listing, deleting and answering
    capped(tcr, sleeps, deadline).create(REG, CreateReplica("ap-shanghai", sync_tag=False, dry_run=False))
    assert sleeps == [pytest.approx(0.6)]


# -- deleting ------------------------------------------------------------------------------------------------------


def test_a_primary_with_replicas_is_not_deleted():
    tcr = primary()
    tcr.add_replica(REG, "ap-shanghai", replica_id="tcr-aaaa1111-4-one", created=NOW)
    with pytest.raises(ApiError) as caught:
        service(tcr).delete_instance(REG, delete_bucket=True)
    assert (caught.value.code, caught.value.status) == ("ReplicasExist", 409)
    assert caught.value.details["replicas"] == [{"replicaRegistryId": "tcr-aaaa1111-4-one", "region": "ap-shanghai"}]
    assert tcr.calls_of(*WRITES) == [] and REG in tcr.instances


def test_a_primary_without_replicas_is_deleted_keeping_its_bucket_unless_asked():
    tcr = primary()
    assert service(tcr).delete_instance(REG) == {
        "deleted": {"registryId": REG, "region": "ap-guangzhou", "bucketDeleted": False}
    }
    assert tcr.deleted_instances == {REG: False}
    other = primary()
    service(other).delete_instance(REG, delete_bucket=True)
    assert other.deleted_instances == {REG: True}


def test_a_replica_is_deleted_by_id_and_an_unknown_one_is_named():
    tcr = primary()
    tcr.add_replica(REG, "ap-shanghai", replica_id="tcr-aaaa1111-4-one", created=NOW)
    with pytest.raises(ApiError) as caught:
        service(tcr).delete(REG, "tcr-aaaa1111-4-two")
    assert caught.value.code == "ReplicaNotFound" and tcr.calls_of(*WRITES) == []
    answer = service(tcr).delete(REG, "tcr-aaaa1111-4-one")
    assert answer["deleted"]["replicaRegistryId"] == "tcr-aaaa1111-4-one" and tcr.replicas[REG] == []
    assert tcr.calls_of(*WRITES) == [("delete_replica", (REG, "tcr-aaaa1111-4-one"))]


# -- reads ---------------------------------------------------------------------------------------------------------


def test_the_list_answers_each_replica_as_tcr_reports_it():
    tcr = primary()
    tcr.add_replica(REG, "ap-shanghai", replica_id="tcr-aaaa1111-4-one", created=NOW, status="Deploying")
    tcr.add_replica(REG, "ap-beijing", replica_id="tcr-aaaa1111-8-two", created=None)
    assert service(tcr).list(REG) == {
        "registryId": REG,
        "region": "ap-guangzhou",
        "replicas": [
            {
                "replicaRegistryId": "tcr-aaaa1111-4-one",
                "region": "ap-shanghai",
                "regionId": 4,
                "status": "Deploying",
                "createdAt": "2026-11-28T10:00:00Z",
            },
            {
                "replicaRegistryId": "tcr-aaaa1111-8-two",
                "region": "ap-beijing",
                "regionId": 8,
                "status": "Running",
                "createdAt": None,
            },
        ],
    }
    with pytest.raises(ApiError) as caught:
        service(primary(status="Deploying")).list(REG)
    assert caught.value.code == "InstanceNotRunning"


def pending(store: FakeLogStore, tag: str, pushed: datetime, replicas: list[tuple[str, str]]) -> None:
    store.put_event(
        rl.event_records(
            registry_id=REG,
            primary_region="ap-guangzhou",
            namespace="team",
            repository="api",
            tag=tag,
            digest="sha256:" + "ab" * 32,
            pushed_at=pushed,
            operator="1",
            replicas=replicas,
            now=pushed,
        )
    )


def test_sync_status_counts_the_replicas_pending_pushes_and_the_oldest_ones_wait():
    tcr, store = primary(), FakeLogStore()
    one = tcr.add_replica(REG, "ap-shanghai", replica_id="tcr-aaaa1111-4-one", created=NOW - timedelta(days=1))
    tcr.log(one.replica_registry_id, "team/api:[0.9]", start=NOW - timedelta(minutes=10))
    pending(store, "1.0", NOW - timedelta(seconds=90), [("tcr-aaaa1111-4-one", "ap-shanghai")])
    pending(store, "1.1", NOW - timedelta(seconds=30), [("tcr-aaaa1111-4-one", "ap-shanghai")])
    pending(store, "1.2", NOW - timedelta(seconds=600), [("tcr-aaaa1111-8-two", "ap-beijing")])  # another replica
    got = service(tcr, store=store).sync_status(REG, "tcr-aaaa1111-4-one", now=NOW)
    assert got == {
        "registryId": REG,
        "replicaRegistryId": "tcr-aaaa1111-4-one",
        "region": "ap-shanghai",
        "replicaStatus": "Running",
        "status": "Succeed",
        "lastSyncAt": "2026-11-28T09:50:03Z",
        "lagSeconds": 90.0,
        "pending": 2,
    }


def test_logs_carry_the_audits_hint_on_pending_records():
    store = FakeLogStore()
    pending(store, "1.0", NOW, [("tcr-aaaa1111-4-one", "ap-shanghai")])
    (rec,) = store.list_pending(REG)
    store.put_state(REG, {"hints": {f"{rec.eventId}:tcr-aaaa1111-4-one": "2026-11-28T10:00:30Z"}})
    body = service(primary(), store=store).logs(REG, LogQuery(replica="4"))
    (shown,) = body["records"]
    assert shown["hint"] == "replica synced at 2026-11-28T10:00:30Z; TCR's log did not list this image"
    assert (shown["status"], shown["replicaRegion"], body["nextCursor"]) == ("pending", "ap-shanghai", None)


def test_logs_show_a_record_the_audit_announced_late_as_late_and_filter_by_it():
    store = FakeLogStore()
    pending(store, "1.0", NOW, [("tcr-aaaa1111-4-one", "ap-shanghai")])
    pending(store, "1.1", NOW, [("tcr-aaaa1111-4-one", "ap-shanghai")])
    older, _ = sorted(store.list_pending(REG), key=lambda r: r.tag)
    store.put_state(REG, {"late": [f"{older.eventId}:tcr-aaaa1111-4-one"]})
    svc = service(primary(), store=store)
    every = {r["tag"]: r["status"] for r in svc.logs(REG, LogQuery())["records"]}
    assert every == {"1.0": "late", "1.1": "pending"}
    assert [r["tag"] for r in svc.logs(REG, LogQuery(status="late"))["records"]] == ["1.0"]
    assert [r["tag"] for r in svc.logs(REG, LogQuery(status="pending"))["records"]] == ["1.1"]
