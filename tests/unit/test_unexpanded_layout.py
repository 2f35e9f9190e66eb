"""Unexpanded pushes (TCR could not list the replicas): their deterministic keys, and how they map to records."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest

from shared import records as rl

DIGEST = "sha256:" + "7a" * 32
REGISTRY = "tcr-dg284imq"
HOST = "acme.tencentcloudcr.com"


def push(**over):
    args = {
        "registry_id": REGISTRY,
        "host": HOST,
        "namespace": "team",
        "repository": "api",
        "tag": "1.0",
        "digest": DIGEST,
        "pushed_at": 1796000000,
        "operator": "100000000001",
        "received_at": 1796000001,
    }
    args.update(over)
    return rl.push_event(**args)


def test_an_unexpanded_push_keeps_the_event_id_of_its_records_under_the_same_prefix():
    event = push()
    records = event.records(
        primary_region="ap-guangzhou", replicas=[("tcr-dg284imq-4-aaaaaa", "ap-shanghai")], now=1796000005
    )
    expected_id = rl.event_id(
        registry_id=REGISTRY, namespace="team", repository="api", tag="1.0", digest=DIGEST, occurred_at=1796000000
    )
    assert event.eventId == records[0].eventId == expected_id
    unexpanded, expanded = rl.unexpanded_key(event), rl.inbox_key(records)
    assert unexpanded != expanded
    prefix = f"inbox/{REGISTRY}/2026-11-30/{expected_id}/"
    assert unexpanded.startswith(prefix + "x") and expanded.startswith(prefix)


def test_the_same_push_always_maps_to_the_same_key_and_reads_back():
    event = push()
    assert rl.unexpanded_key(push()) == rl.unexpanded_key(event)  # a redelivery overwrites
    assert rl.unexpanded_key(push(received_at=1796000900)) == rl.unexpanded_key(event)  # arrival time not in key
    assert rl.unexpanded_key(push(tag="1.1")) != rl.unexpanded_key(event)
    parsed = rl.parse_inbox_key(rl.unexpanded_key(event), "2026-12-01T00:00:00Z")
    assert parsed.unexpanded and parsed.records == ()
    assert parsed.event == event._replace(receivedAt="2026-12-01T00:00:00Z")


def test_an_expanded_key_is_not_taken_for_an_unexpanded_one():
    records = push().records(primary_region="ap-guangzhou", replicas=[("tcr-dg284imq-4-a", "ap-shanghai")], now=1)
    parsed = rl.parse_inbox_key(rl.inbox_key(records))
    assert not parsed.unexpanded and parsed.event is None and parsed.records


def test_a_push_known_only_by_its_host_gets_its_instance_event_id_once_resolved():
    by_host = push(registry_id="")
    key = rl.unexpanded_key(by_host)
    assert key.startswith(f"inbox-host/2026-11-30/{HOST}/{by_host.eventId}/x")
    parsed = rl.parse_host_key(key)
    assert parsed.event is not None and parsed.event.host == HOST and parsed.event.registryId == ""
    resolved = parsed.event.for_registry(REGISTRY)
    assert resolved.eventId == push().eventId and resolved.registryId == REGISTRY
    with pytest.raises(ValueError):
        by_host.records(primary_region="ap-guangzhou", replicas=[], now=1)
    with pytest.raises(rl.LayoutError):
        rl.parse_inbox_key(key)


@pytest.mark.parametrize("host", ["::1", "Under_Score.example", "a" * 300])
def test_a_host_that_is_not_a_plain_dns_name_is_hashed_in_the_key(host):
    key = rl.unexpanded_key(push(registry_id="", host=host))
    part = key.split("/")[2]
    assert part.startswith("_") and len(part) == 33
    event = rl.parse_host_key(key).event
    assert event is not None and event.host == host


def test_a_push_too_long_for_the_key_is_read_from_its_body():
    noise = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(20))  # does not deflate
    event = push(repository=noise)
    key = rl.unexpanded_key(event)
    assert key.endswith("/x~")
    parsed = rl.parse_inbox_key(key)
    assert parsed.unexpanded and parsed.event is None and parsed.records is None
    assert rl.parse_unexpanded_body(rl.unexpanded_body(event)) == event


def test_later_fields_are_ignored_and_bad_events_refused():
    doc = json.loads(rl.unexpanded_body(push()))
    assert rl.PushEvent.from_dict({**doc, "someLaterField": "2026-11-30T00:00:00Z"}) == push()
    with pytest.raises(ValueError):
        rl.PushEvent.from_dict({**doc, "schemaVersion": 99})
    with pytest.raises(ValueError):
        rl.PushEvent.from_dict({**doc, "registryId": "", "host": ""})
    with pytest.raises(ValueError):
        rl.PushEvent.from_dict({**doc, "pushedAt": "yesterday"})


def test_a_future_dated_push_stored_unexpanded_keeps_its_reported_time_and_event_id():
    # the webhook records a push dated far ahead at its receipt, keeping the sender's time (issue 7, defect 9);
    # stored unexpanded, then expanded by the audit, it must give the very records the webhook would have written
    sender, received = 32503680000, 1796000001  # year 3000, and now
    event = push(pushed_at=received, reported_at=sender)
    parsed = rl.parse_inbox_key(rl.unexpanded_key(event), "2026-12-01T00:00:00Z")
    assert parsed.event is not None and parsed.event.reportedAt == "3000-01-01T00:00:00Z"
    replicas = [("tcr-dg284imq-4-aaaaaa", "ap-shanghai")]
    from_audit = parsed.event.records(primary_region="ap-guangzhou", replicas=replicas, now=1796000005)
    from_webhook = rl.event_records(
        registry_id=REGISTRY, primary_region="ap-guangzhou", namespace="team", repository="api", tag="1.0",
        digest=DIGEST, pushed_at=received, reported_at=sender, operator="100000000001", replicas=replicas,
        now=1796000005,
    )  # fmt: skip
    assert from_audit == from_webhook
    assert from_audit[0].reportedAt == "3000-01-01T00:00:00Z"
    assert from_audit[0].pushedAt == datetime.fromtimestamp(received, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    host_only = push(registry_id="", pushed_at=received, reported_at=sender).for_registry(REGISTRY)
    assert host_only.eventId == event.eventId and host_only.reportedAt == event.reportedAt
