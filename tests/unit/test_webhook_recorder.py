"""The push webhook's recording step (shared.webhook.record) on the fakes of TCR and the log store.

A push is durable before the 202: expanded (one object, a pending record per replica) when TCR lists the
replicas, else stored unexpanded for the audit; an instance TCR does not know is ignored with a reason; a
push dated too far ahead is recorded at its receipt, keeping the sender's time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared import records as rl
from shared import webhook
from shared.config import Config
from shared.errors import ApiError
from tests.fakes import FakeLogStore, FakeTcr

REG = "tcr-aaaa1111"
DOMAIN = "acme.tencentcloudcr.com"
NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)
PUSHED = 1795859995  # 2026-11-28T09:59:55Z
DIGEST = "sha256:" + "7a" * 32
SH, BJ = "tcr-aaaa1111-4-sh", "tcr-aaaa1111-8-bj"


def payload(tag: str = "1.0", occur_at: int = PUSHED, kind: str = "pushImage", host: str = DOMAIN) -> dict[str, Any]:
    return {
        "type": kind,
        "occur_at": occur_at,
        "event_data": {
            "resources": [{"digest": DIGEST, "tag": tag, "resource_url": f"{host}/team/api:{tag}"}],
            "repository": {"name": "api", "namespace": "team", "repo_full_name": "team/api", "repo_type": "private"},
        },
        "operator": "100000000001",
    }


def cloud(*regions: tuple[str, str]) -> FakeTcr:
    tcr = FakeTcr(now=lambda: NOW)
    tcr.add_instance(REG, "ap-guangzhou", domain=DOMAIN)
    for replica_id, region in regions or ((SH, "ap-shanghai"), (BJ, "ap-beijing")):
        tcr.add_replica(REG, region, replica_id=replica_id, created=NOW - timedelta(days=1))
    return tcr


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def recorder(tcr: FakeTcr, store: FakeLogStore, clock: Clock | None = None, **env: str):
    """`record` as the webhook function calls it, with a cache of its own (a fresh warm container)."""
    cache = webhook.ReplicaCache(clock or Clock())

    def record(body: Any, registry_id: str | None = REG, now: datetime = NOW) -> dict[str, Any]:
        return webhook.record(
            body, registry_id=registry_id, tcr=tcr, store=store, config=Config(env), now=now, cache=cache
        )

    return record


def test_a_push_is_one_object_holding_a_pending_record_per_replica():
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    answer = recorder(tcr, store)(payload())
    (key,) = store.puts  # one store write, before the answer
    (event_id,) = answer["eventIds"]
    assert answer == {"accepted": True, "expanded": True, "registryId": REG, "records": 2, "eventIds": [event_id]}
    assert key.startswith(f"inbox/{REG}/2026-11-28/{event_id}/")
    recs = store.list_pending(REG)
    assert [(r.replicaRegistryId, r.replicaRegion, r.status) for r in recs] == [
        (SH, "ap-shanghai", "pending"),
        (BJ, "ap-beijing", "pending"),
    ]
    first = recs[0]
    assert (first.namespace, first.repository, first.tag, first.digest) == ("team", "api", "1.0", DIGEST)
    assert (first.pushedAt, first.primaryRegion, first.operator) == (
        "2026-11-28T09:59:55Z",
        "ap-guangzhou",
        "100000000001",
    )
    assert first.reportedAt is None and first.eventType == "pushImage"


def test_the_instance_is_found_by_its_domain_and_tcr_is_asked_once_per_cache_period():
    tcr, store = cloud(), FakeLogStore()
    clock = Clock()
    record = recorder(tcr, store, clock)
    assert record(payload("1.0"), registry_id=None)["registryId"] == REG
    assert tcr.calls == {"find_instance_by_domain": 1, "list_replicas": 1}  # no second DescribeInstances
    clock.now += 30
    assert record(payload("1.1"), registry_id=None)["records"] == 2
    assert record(payload("1.2"))["records"] == 2
    assert tcr.calls == {"find_instance_by_domain": 1, "list_replicas": 1}, "the cache answered"
    clock.now += 31
    record(payload("1.3"), registry_id=None)
    assert tcr.calls == {"find_instance_by_domain": 2, "list_replicas": 2}


def test_a_redelivered_push_overwrites_its_object():
    tcr, store = cloud(), FakeLogStore()
    record = recorder(tcr, store)
    first, again = record(payload()), record(payload())
    assert first == again
    assert len(store.keys("inbox/")) == 1 and len(store.list_pending(REG)) == 2


@pytest.mark.parametrize(
    ("code", "fails"),
    [
        ("Throttled", "list_replicas"),
        ("Unavailable", "list_replicas"),
        ("UpstreamError", "get_instance"),
        ("InstanceNotRunning", "get_instance"),
    ],
)
def test_when_tcr_cannot_list_the_replicas_the_push_is_kept_unexpanded(code, fails):
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    tcr.fail(fails, code)
    answer = recorder(tcr, store)(payload())
    (key,) = store.puts
    (event_id,) = answer["eventIds"]
    assert answer == {
        "accepted": True,
        "expanded": False,
        "registryId": REG,
        "records": 0,
        "events": 1,
        "reason": f"TCR could not be read ({code}); the push is kept and the audit tracks it per replica",
        "eventIds": [event_id],
    }
    assert key.startswith(f"inbox/{REG}/2026-11-28/{event_id}/x")
    (item,) = store.list_inbox(REG)
    assert item.records == [] and item.event is not None
    assert (item.event.namespace, item.event.tag, item.event.digest) == ("team", "1.0", DIGEST)
    assert (item.event.pushedAt, item.event.receivedAt) == ("2026-11-28T09:59:55Z", "2026-11-28T10:00:00Z")


def test_a_not_running_instance_is_a_tcr_failure_too():
    tcr, store = cloud(), FakeLogStore()
    tcr.set_status(REG, "Deploying")  # TCR refuses to describe it (ErrorInstanceNotRunning)
    answer = recorder(tcr, store)(payload())
    assert answer["expanded"] is False and "(InstanceNotRunning)" in answer["reason"]


def test_an_unknown_instance_is_kept_under_its_host_only_while_tcr_is_down():
    tcr, store = cloud(), FakeLogStore()
    tcr.fail("find_instance_by_domain", "Unavailable")
    answer = recorder(tcr, store)(payload(), registry_id=None)
    assert answer["expanded"] is False and answer["registryId"] is None and answer["hosts"] == [DOMAIN]
    (key,) = store.keys()
    assert key.startswith(f"inbox-host/2026-11-28/{DOMAIN}/")


def test_an_instance_tcr_does_not_know_is_ignored_and_nothing_is_written():
    tcr, store = cloud(), FakeLogStore()
    record = recorder(tcr, store)
    assert record(payload(), registry_id="tcr-nobody1") == {
        "accepted": False,
        "ignored": "instance tcr-nobody1 was not found in this account",
    }
    unknown_host = record(payload(host="other.tencentcloudcr.com"), registry_id=None)
    assert unknown_host["accepted"] is False and "could not be identified" in unknown_host["ignored"]
    assert store.puts == []


def test_an_instance_without_replicas_records_nothing():
    tcr, store = FakeTcr(), FakeLogStore()
    tcr.add_instance(REG, domain=DOMAIN)
    answer = recorder(tcr, store)(payload())
    assert answer["records"] == 0 and answer["note"] == "no replicas to track" and store.puts == []


def test_a_delete_is_recorded_resolved_as_deleted():
    tcr, store = cloud(), FakeLogStore()
    answer = recorder(tcr, store)(payload(kind="deleteImage"))
    assert answer["records"] == 2 and store.keys("inbox/") == []
    assert [(r.eventType, r.status) for r in store.records(REG)] == [("deleteImage", "deleted")] * 2


def test_a_push_dated_far_ahead_is_recorded_at_its_receipt_keeping_the_senders_time():
    tcr, store = cloud(), FakeLogStore()
    year_3000 = 32503680000
    recorder(tcr, store)(payload(occur_at=year_3000))
    recs = store.list_pending(REG)
    assert {(r.pushedAt, r.reportedAt) for r in recs} == {("2026-11-28T10:00:00Z", "3000-01-01T00:00:00Z")}
    # unexpanded too
    down, kept = cloud(), FakeLogStore()
    down.fail("list_replicas", "Throttled")
    recorder(down, kept)(payload(occur_at=year_3000))
    (item,) = kept.list_inbox(REG)
    assert item.event is not None
    assert (item.event.pushedAt, item.event.reportedAt) == ("2026-11-28T10:00:00Z", "3000-01-01T00:00:00Z")
    # a sender a few minutes ahead (within 300 s) is believed
    near, stored = cloud(), FakeLogStore()
    recorder(near, stored)(payload(occur_at=int(NOW.timestamp()) + 200))
    assert {(r.pushedAt, r.reportedAt) for r in stored.list_pending(REG)} == {("2026-11-28T10:03:20Z", None)}


def test_a_redelivery_of_a_far_future_push_received_later_is_the_same_event():
    tcr, store = cloud(), FakeLogStore()
    record = recorder(tcr, store)
    first = record(payload(occur_at=32503680000))
    later = record(payload(occur_at=32503680000), now=NOW + timedelta(minutes=3))
    assert first["eventIds"] == later["eventIds"]


def test_only_a_failed_store_write_fails_the_push():
    tcr, store = cloud(), FakeLogStore()
    store.fail("put_event", "Unavailable")
    with pytest.raises(ApiError) as caught:
        recorder(tcr, store)(payload())
    assert (caught.value.code, caught.value.status) == ("Unavailable", 503)
    tcr.fail("list_replicas", "Throttled")
    store.fail("put_unexpanded", "Unavailable")
    with pytest.raises(ApiError):
        recorder(tcr, store)(payload())


def test_the_stored_push_is_what_the_audit_reads():
    tcr, store = cloud(), FakeLogStore()
    answer = recorder(tcr, store)(payload())
    (item,) = store.list_inbox(REG)
    assert {r.eventId for r in item.records} == set(answer["eventIds"])
    assert rl.parse_inbox_key(item.key).records == tuple(r._replace(updatedAt="") for r in item.records)
