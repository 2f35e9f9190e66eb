"""The replication log store against localcloud's COS, through the real cos-python-sdk-v5 client.

Every test uses its own registry id, so tests do not see each other's objects. Remote-call counts of the store
(`store.calls`) are checked against what localcloud's COS says it served (`/_localcloud/stats`).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared import records as rl
from shared.errors import ApiError, BadCursor, StoreUnavailable
from shared.logstore import COMPACT_THRESHOLD, LogStore
from shared.ports import LogEntry
from shared.records import Record
from shared.runtime import RetryPolicy
from shared.times import parse_time
from tests.integration.support import cos_client, cos_keys

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "ab" * 32
DAY = "2024-05-01"
SHANGHAI = ("tcr-main-5-aaaaaa", "ap-shanghai")
BEIJING = ("tcr-main-8-bbbbbb", "ap-beijing")


def _admin(cloud: Any, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(cloud.host_url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        return json.loads(resp.read())


def cos_bytes(env: dict[str, str], key: str) -> bytes:
    return cos_client(env).get_object(Bucket=env["LOG_BUCKET"], Key=key)["Body"].get_raw_stream().read()


def cos_stats(cloud: Any) -> dict[str, int]:
    return dict(_admin(cloud, "GET", "/_localcloud/stats")["cos"])


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after) if after.get(k, 0) != before.get(k, 0)
    }


@pytest.fixture
def store(cloud_env: dict[str, str]) -> LogStore:
    return LogStore.from_env(cloud_env, policy=RetryPolicy(max_attempts=6, base_s=0.001, cap_s=0.01))


@pytest.fixture
def registry() -> str:
    return "tcr-t" + uuid.uuid4().hex[:10]


@pytest.fixture
def cos_faults(localcloud: Any) -> Iterator[Any]:
    def apply(plan: dict[str, Any]) -> None:
        _admin(localcloud, "POST", "/_localcloud/faults", plan)

    try:
        yield apply
    finally:
        _admin(localcloud, "DELETE", "/_localcloud/faults")


def push(registry: str, n: int, *, replicas=(SHANGHAI, BEIJING), minute: int = 0, tag: str = "v") -> list[Record]:
    """Records of `n` push events, one second apart from 00:`minute`:00 of DAY."""
    out = []
    for i in range(n):
        out.extend(
            rl.event_records(
                registry_id=registry,
                primary_region="ap-guangzhou",
                namespace="team",
                repository=f"app{i % 7}",
                tag=f"{tag}{i}",
                digest=DIGEST,
                pushed_at=f"{DAY}T{(minute + i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                operator="100000000001",
                replicas=replicas,
                now=f"{DAY}T23:00:00Z",
            )
        )
    return out


def by_event(recs: list[Record]) -> list[list[Record]]:
    groups: dict[str, list[Record]] = {}
    for r in recs:
        groups.setdefault(r.eventId, []).append(r)
    return list(groups.values())


def done(recs: list[Record], status: str = "replicated") -> list[Record]:
    return [
        r.with_status(status, updated_at="2024-05-02T00:00:00Z", replicated_at=r.pushedAt, lag_seconds=5.0)
        for r in recs
    ]


def ids(recs: list[Record]) -> list[tuple[str, str]]:
    return [r.record_id for r in recs]


def test_webhook_write_is_one_call_and_redelivery_overwrites(localcloud, store, registry):
    recs = push(registry, 1)
    before = cos_stats(localcloud)
    key = store.put_event(recs)
    assert store.calls == 1
    assert delta(before, cos_stats(localcloud)) == {"PutObject": 1}
    # a redelivery, processed later, writes the same key
    again = [Record.from_dict({**r.to_dict(), "updatedAt": "2024-05-03T00:00:00Z"}) for r in recs]
    assert store.put_event(again) == key
    items = store.list_inbox(registry)
    assert [i.key for i in items] == [key]
    pending = store.list_pending(registry)
    assert [(r.replicaRegistryId, r.replicaRegion, r.tag, r.status) for r in pending] == [
        (SHANGHAI[0], SHANGHAI[1], "v0", "pending"),
        (BEIJING[0], BEIJING[1], "v0", "pending"),
    ]


def test_list_pending_pages_over_1000_keys_without_gets(localcloud, store, registry):
    recs = push(registry, 1100, replicas=(SHANGHAI,))
    for event in by_event(recs):
        store.put_event(event)
    reader = LogStore(store.client, store.bucket)
    before = cos_stats(localcloud)
    pending = reader.list_pending(registry)
    assert reader.calls_by_op == {"ListObjects": 2}
    assert delta(before, cos_stats(localcloud)) == {"ListObjects": 2}
    assert sorted(ids(pending)) == sorted(ids(recs))
    assert len(set(ids(pending))) == 1100


def test_resolve_moves_records_to_segments_and_clears_the_inbox(localcloud, store, registry):
    recs = push(registry, 3)
    for event in by_event(recs):
        store.put_event(event)
    items = store.list_inbox(registry)
    first, second, third = by_event(recs)
    resolved = [*done(first), *done([r for r in second if r.replicaRegion == "ap-shanghai"], "late")]
    result = store.resolve(registry, resolved, items)
    assert result.inbox_deleted == 2 and result.inbox_rewritten == 1
    assert len(result.segments_written) == 2  # one per replica region of that day
    still = store.list_pending(registry)
    assert sorted(ids(still)) == sorted(ids([r for r in second if r.replicaRegion == "ap-beijing"] + third))
    shanghai = store.read_day(registry, "ap-shanghai", DAY)
    assert [(r.tag, r.status) for r in shanghai] == [("v0", "replicated"), ("v1", "late"), ("v2", "pending")]
    beijing = store.read_day(registry, "ap-beijing", DAY)
    assert [(r.tag, r.status) for r in beijing] == [("v0", "replicated"), ("v1", "pending"), ("v2", "pending")]
    # a retried run (crash after the segment write) overwrites, never duplicates
    store.resolve(registry, resolved, [])
    assert store.read_day(registry, "ap-shanghai", DAY) == shanghai
    keys = store._segment_keys(registry, "ap-shanghai", DAY)
    assert len(keys) == 1


def test_redelivery_after_resolution_does_not_revert_the_record(store, registry):
    (event,) = by_event(push(registry, 1))
    store.put_event(event)
    store.resolve(registry, done(event))
    assert store.list_pending(registry) == []
    store.put_event(event)  # TCR redelivers the same push
    day = store.read_day(registry, "ap-shanghai", DAY)
    assert [r.status for r in day] == ["replicated"]


def test_audit_budget_and_replica_day_read_budget(localcloud, store, registry):
    recs = push(registry, 1200)  # 2400 pending records, 1200 inbox objects
    for event in by_event(recs):
        store.put_event(event)
    audit = LogStore(store.client, store.bucket)
    before = cos_stats(localcloud)
    items = audit.list_inbox(registry)
    pending = [r for i in items for r in i.records]
    assert len(pending) == 2400
    audit.resolve(registry, done(pending), items)
    served = sum(delta(before, cos_stats(localcloud)).values())
    assert served == audit.calls
    assert audit.calls / len(pending) <= 0.05
    assert audit.list_pending(registry) == []

    reader = LogStore(store.client, store.bucket)
    day = reader.read_day(registry, "ap-shanghai", DAY)
    assert len(day) == 1200 and {r.status for r in day} == {"replicated"}
    assert reader.calls <= 20


def test_ten_thousand_records_of_a_replica_day_in_at_most_20_calls(localcloud, store, registry):
    recs = push(registry, 10_000, replicas=(SHANGHAI,))
    resolved = done(recs)
    # many audit runs, each writing its own segment: compaction keeps the day's segment count small
    step = 10_000 // (COMPACT_THRESHOLD + 4)
    for start in range(0, 10_000, step):
        store.resolve(registry, resolved[start : start + step], [])
    assert len(store._segment_keys(registry, "ap-shanghai", DAY)) <= COMPACT_THRESHOLD
    reader = LogStore(store.client, store.bucket)
    before = cos_stats(localcloud)
    day = reader.read_day(registry, "ap-shanghai", DAY)
    assert sum(delta(before, cos_stats(localcloud)).values()) == reader.calls
    assert reader.calls <= 20
    assert len(day) == 10_000 and len(set(ids(day))) == 10_000
    assert sorted(ids(day)) == sorted(ids(recs))


def test_paging_a_replica_day_reads_it_once_and_returns_every_record_once(localcloud, store, registry):
    recs = push(registry, 2_500, replicas=(SHANGHAI,))
    store.resolve(registry, done(recs[:2_000]), [])
    for group in by_event(recs[2_000:]):  # the newest still pending
        store.put_event(group)
    reader = LogStore(store.client, store.bucket)
    query = {"replica": "ap-shanghai", "since": parse_time(DAY), "until": parse_time(f"{DAY}T23:59:59Z")}
    pages, calls, cursor = [], [], None
    before = cos_stats(localcloud)
    while True:
        start = reader.calls
        page = reader.query(registry, limit=1000, cursor=cursor, **query)
        pages.append(page)
        calls.append(reader.calls - start)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sum(delta(before, cos_stats(localcloud)).values()) == reader.calls
    got = [r for p in pages for r in p.records]
    assert len(got) == 2_500 and sorted(ids(got)) == sorted(ids(recs)), "every record, once"
    assert [r.status for r in got].count("pending") == 500
    assert calls[1:] == [0, 0], f"the next pages continue the first page's reading: {calls}"
    assert 1 <= calls[0] <= 5, calls  # one-day query: inbox LIST pages, segment LIST, segment GET(s); no day LISTs

    # an earlier page asked again (its view has moved on) is read afresh, and answers the same records
    again = reader.query(registry, limit=1000, cursor=pages[0].next_cursor, **query)
    assert ids(again.records) == ids(pages[1].records)
    # the last page let its view go: its cursor asked again is read afresh too
    other = LogStore(store.client, store.bucket)
    assert ids(other.query(registry, limit=1000, cursor=pages[1].next_cursor, **query).records) == ids(pages[2].records)


def test_compact_merges_cold_segments_and_keeps_every_record(store, registry):
    hours = [done(push(registry, 5, replicas=(SHANGHAI,), minute=h, tag=f"h{h}-")) for h in range(6)]
    for recs in hours:
        store.write_segments(recs)
    store.write_segments(hours[0][:3])  # an overlapping retry
    latest = done(push(registry, 2, replicas=(SHANGHAI,), minute=6, tag="late-"))
    (warm,) = store.write_segments(latest)  # the day's latest pushes: the audit's redelivery check reads them
    assert len(store._segment_keys(registry, "ap-shanghai", DAY)) == 8
    merged = store.compact(registry, "ap-shanghai", DAY)
    assert merged is not None
    assert sorted(store._segment_keys(registry, "ap-shanghai", DAY)) == sorted([merged, warm])
    everything = [r for recs in hours for r in recs] + latest
    assert ids(store.read_segments(registry, "ap-shanghai", DAY)) == ids(sorted(everything, key=Record.sort_key))
    assert store.compact(registry, "ap-shanghai", DAY) is None  # one cold segment: nothing to merge


def test_reading_segments_since_a_push_skips_the_older_ones(localcloud, store, registry):
    for hour in range(5):
        store.write_segments(done(push(registry, 40, replicas=(SHANGHAI,), minute=hour, tag=f"h{hour}-")))
    recent = done(push(registry, 3, replicas=(SHANGHAI,), minute=5, tag="recent-"))
    store.write_segments(recent)
    reader = LogStore(store.client, store.bucket)
    before = cos_stats(localcloud)
    got = reader.read_segments(registry, "ap-shanghai", DAY, since=parse_time(f"{DAY}T04:30:00Z"))
    assert ids(got) == ids(recent)
    assert delta(before, cos_stats(localcloud)) == {"ListObjects": 1, "GetObject": 1}, "one list, one GET"
    # a time inside an older segment's pushes (04:00:00-04:00:39): that whole segment is read too
    got = reader.read_segments(registry, "ap-shanghai", DAY, since=parse_time(f"{DAY}T04:00:10Z"))
    assert {r.tag for r in got} == {f"h4-{i}" for i in range(40)} | {f"recent-{i}" for i in range(3)}


def test_query_filters_sorts_and_pages(store, registry):
    recs = push(registry, 1300)
    events = by_event(recs)
    for event in events[:50]:
        store.put_event(event)  # still pending
    store.resolve(registry, done([r for e in events[50:] for r in e]), [])
    expected = sorted(recs, key=Record.sort_key)

    seen: list[Record] = []
    cursor = None
    pages = 0
    while True:
        page = store.query(registry, limit=1000, cursor=cursor)
        seen.extend(page.records)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
        assert pages < 10
    assert ids(seen) == ids(expected)
    assert pages == 3

    only = store.query(registry, replica="ap-beijing", status="pending", limit=1000)
    assert ids(only.records) == ids([r for r in expected if r.replicaRegion == "ap-beijing" and r.tag in _tags(0, 50)])
    by_id = store.query(registry, replica=SHANGHAI[0], repository="team/app3", limit=1000)
    want = [r for r in expected if r.replicaRegistryId == SHANGHAI[0] and r.repository == "app3"]
    assert ids(by_id.records) == ids(want) and by_id.next_cursor is None
    window = store.query(
        registry, since=parse_time(f"{DAY}T00:10:00Z"), until=parse_time(f"{DAY}T00:10:09Z"), limit=1000
    )
    assert [r.tag for r in window.records] == [t for i in range(600, 610) for t in (f"v{i}", f"v{i}")]
    small: list[Record] = []
    cursor = None
    while True:
        page = store.query(
            registry, replica="ap-shanghai", until=parse_time(f"{DAY}T00:00:20Z"), limit=7, cursor=cursor
        )
        small.extend(page.records)
        cursor = page.next_cursor
        if not cursor:
            break
    assert [r.tag for r in small] == [f"v{i}" for i in range(21)]


def _tags(lo: int, hi: int) -> set[str]:
    return {f"v{i}" for i in range(lo, hi)}


def test_query_refuses_a_cursor_it_did_not_write_for_this_query(store, registry):
    """Filters, limit and times are the edge's to check (shared.inputs.LogQuery); the cursor only the store reads."""
    page = store.query(registry, limit=1)
    assert page.records == [] and page.next_cursor is None
    calls = store.calls
    with pytest.raises(BadCursor):
        store.query(registry, cursor="not-a-cursor")
    assert store.calls == calls, "refused before any read"
    recs = push(registry, 3)
    store.resolve(registry, done(recs), [])
    first = store.query(registry, limit=2)
    assert first.next_cursor
    with pytest.raises(BadCursor) as info:
        store.query(registry, limit=2, status="replicated", cursor=first.next_cursor)  # other filters
    assert not isinstance(info.value, ApiError) and "different filters" in info.value.message
    rest = store.query(registry, limit=2, cursor=first.next_cursor)  # the same query goes on
    assert rest.records and rest.records[0].sort_key() > first.records[-1].sort_key()


def test_no_loss_no_duplicates_under_injected_503s(localcloud, store, registry, cos_faults):
    recs = push(registry, 150)
    events = by_event(recs)
    before = cos_stats(localcloud)
    cos_faults({"seed": 7, "cos": {"errorRate": 0.2, "statuses": [503], "dropRate": 0.0}})
    for event in events:
        store.put_event(event)
    for event in events[::5]:
        store.put_event(event)  # 20% redeliveries
    items = store.list_inbox(registry)
    pending = [r for i in items for r in i.records]
    assert sorted(ids(pending)) == sorted(ids(recs))
    store.resolve(registry, done(pending[: len(pending) // 2]), items)
    seen: list[Record] = []
    cursor = None
    while True:
        page = store.query(registry, limit=100, cursor=cursor)
        seen.extend(page.records)
        cursor = page.next_cursor
        if not cursor:
            break
    served = delta(before, cos_stats(localcloud))
    assert sum(served.values()) == store.calls
    assert store.calls > len(events) * 1.2 + 1  # faults were really injected and retried
    assert len(seen) == len(recs) and len(set(ids(seen))) == len(recs)
    assert sorted(ids(seen)) == sorted(ids(recs))
    statuses = {r.record_id: r.status for r in seen}
    assert sum(1 for s in statuses.values() if s == "replicated") == len(pending) // 2


def test_unavailable_after_retries(store, registry, cos_faults):
    cos_faults({"seed": 1, "cos": {"errorRate": 1.0, "statuses": [503]}})
    with pytest.raises(StoreUnavailable) as info:
        store.put_event(push(registry, 1))
    assert info.value.code == "Unavailable"
    assert store.calls == store.policy.max_attempts == 6


def test_archive_tcr_log_deduplicates(store, registry, cloud_env):
    def entry(i: int, status: str = "Succeed") -> LogEntry:
        source = f"team/app:[v{i}]"
        return LogEntry("image", source, source, status, f"{DAY}T07:47:{i:02d}.302804Z", f"{DAY}T07:48:{i:02d}Z")

    assert store.archive_tcr_log(registry, SHANGHAI[0], SHANGHAI[1], [entry(i) for i in range(5)]) == 5
    # the next run sees an overlapping window of TCR's recent log
    assert store.archive_tcr_log(registry, SHANGHAI[0], SHANGHAI[1], [entry(i) for i in range(3, 8)]) == 3
    assert store.archive_tcr_log(registry, SHANGHAI[0], SHANGHAI[1], [entry(i) for i in range(8)]) == 0
    keys = cos_keys(cloud_env, rl.tcrlog_prefix(registry, SHANGHAI[1], DAY))
    docs = [doc for key in keys for doc in rl.parse_jsonl(cos_bytes(cloud_env, key))]
    assert sorted(d["Source"] for d in docs) == [f"team/app:[v{i}]" for i in range(8)], "each entry once"
    assert docs[0]["StartTime"].endswith(".302804Z"), "TCR's own field names and time text"
    assert {d["replicaRegistryId"] for d in docs} == {SHANGHAI[0]}


def test_json_documents_and_state(store, registry):
    key = rl.report_key(registry, DAY, "run-1")
    store.put_json(key, {"findings": [], "ok": True})
    assert key == f"reports/{registry}/{DAY}/run-1.json"
    assert store.get_json(key) == {"findings": [], "ok": True}
    assert store.get_state(registry) == {}
    store.put_state(registry, {"lastRun": "run-1", "名前": "状态"})
    assert store.get_state(registry) == {"lastRun": "run-1", "名前": "状态"}
    assert store.get_json(f"state/{registry}/missing.json") is None


def test_wrong_secret_is_refused(cloud_env, registry):
    env = {**cloud_env, "TENCENTCLOUD_SECRETKEY": "wrong-key-0000000000000000000000"}
    bad = LogStore.from_env(env)
    with pytest.raises(StoreUnavailable) as info:
        bad.put_event(push(registry, 1))
    assert info.value.code == "Unavailable" and "403" in info.value.message
    assert bad.calls == 1  # a refusal is not retried
