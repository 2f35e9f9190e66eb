"""Key layout, key-encoded inbox records, dedupe and cursors of the replication log (shared.records)."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import records as rl
from shared.records import Record

DIGEST = "sha256:7ac7819e1523911399b798309025935a9968b277d86d50e5255465d6592c0266"
REPLICAS = [("tcr-dg284imq-5-os5gcu", "ap-shanghai"), ("tcr-dg284imq-8-a1b2c3", "ap-beijing")]


def event(**over):
    args = {
        "registry_id": "tcr-dg284imq",
        "primary_region": "ap-guangzhou",
        "namespace": "nginx",
        "repository": "nginx",
        "tag": "v1",
        "digest": DIGEST,
        "pushed_at": 1586774843,
        "operator": "3211064422",
        "replicas": REPLICAS,
        "now": "2020-04-13T10:47:30Z",
    }
    args.update(over)
    return rl.event_records(**args)


def test_times_are_canonical_utc_seconds():
    assert rl.iso_utc(1586774843) == "2020-04-13T10:47:23Z"
    assert rl.iso_utc("2020-04-13T18:47:23+08:00") == "2020-04-13T10:47:23Z"
    assert rl.iso_utc("2020-04-13T10:47:23.123456789Z") == "2020-04-13T10:47:23Z"
    assert rl.day_of("2020-04-13T23:59:59-01:00") == "2020-04-14"
    with pytest.raises(ValueError):
        rl.iso_utc("yesterday")
    with pytest.raises(ValueError):
        rl.iso_utc(True)


def test_event_id_is_deterministic_and_distinguishes_events():
    base = {
        "registry_id": "tcr-1",
        "namespace": "ns",
        "repository": "app",
        "tag": "v1",
        "digest": DIGEST,
        "occurred_at": 1586774843,
    }
    first = rl.event_id(**base)
    assert first == rl.event_id(**base)
    assert first == rl.event_id(**{**base, "occurred_at": "2020-04-13T10:47:23Z"})  # same instant, other spelling
    assert len(first) == 24 and int(first, 16) >= 0
    others = {
        rl.event_id(**{**base, "tag": "v2"}),
        rl.event_id(**{**base, "occurred_at": 1586774844}),
        rl.event_id(**{**base, "registry_id": "tcr-2"}),
        rl.event_id(**{**base, "repository": "app2"}),
        rl.event_id(**base, event_type="deleteImage"),
        # the separator cannot be forged by moving characters between fields
        rl.event_id(**{**base, "namespace": "ns/app", "repository": ""}),
    }
    assert first not in others and len(others) == 6


def test_records_of_one_event_one_per_replica():
    recs = event()
    assert [r.replicaRegistryId for r in recs] == sorted(r[0] for r in REPLICAS)
    assert {r.status for r in recs} == {"pending"}
    assert {r.eventId for r in recs} == {recs[0].eventId}
    doc = recs[0].to_dict()
    assert doc["schemaVersion"] == 1
    expected = {
        "schemaVersion", "eventId", "eventType", "registryId", "primaryRegion", "replicaRegistryId", "replicaRegion",
        "namespace", "repository", "tag", "digest", "pushedAt", "operator", "status", "replicatedAt", "lagSeconds",
        "source", "updatedAt", "reportedAt",
    }  # fmt: skip
    assert set(doc) == expected
    assert doc["reportedAt"] is None
    assert Record.from_dict(json.loads(json.dumps(doc))) == recs[0]


def test_reported_at_travels_through_the_key_the_body_and_segments():
    recs = event(pushed_at="2026-11-28T02:00:00Z", reported_at=32503680000)
    assert {(r.pushedAt, r.reportedAt) for r in recs} == {("2026-11-28T02:00:00Z", "3000-01-01T00:00:00Z")}
    assert recs[0].eventId == event(pushed_at=32503680000)[0].eventId, "the id is the sender's event"
    key = rl.inbox_key(recs)
    assert key.startswith("inbox/tcr-dg284imq/2026-11-28/")
    assert list(rl.parse_inbox_key(key, updated_at=recs[0].updatedAt).records) == recs
    assert rl.parse_inbox_body(rl.inbox_body(recs)) == recs
    assert [Record.from_dict(d) for d in rl.parse_jsonl(rl.jsonl(r.to_dict() for r in recs))] == recs
    with pytest.raises(ValueError):
        Record.from_dict({**recs[0].to_dict(), "reportedAt": "soon"})


def test_keys_and_records_written_before_reported_at_still_read():
    recs = event()
    # the key's compact array as it was written before reportedAt existed: version, fields, replica pairs
    raw = [1, "pushImage", "ap-guangzhou", "nginx", "nginx", "v1", DIGEST, "2020-04-13T10:47:23Z", "3211064422"]
    raw += ["webhook", "pending", sorted([r.replicaRegistryId, r.replicaRegion] for r in recs)]
    payload = "j" + base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    key = f"inbox/tcr-dg284imq/2020-04-13/{recs[0].eventId}/{payload}"
    packed = "".join(rl.inbox_key(recs).split("/")[4:])
    assert packed[0] == "z"
    today = zlib.decompress(base64.urlsafe_b64decode(packed[1:] + "=" * (-len(packed[1:]) % 4)), -15)
    assert json.loads(today) == raw, "a push in time keeps the same key as before"
    assert list(rl.parse_inbox_key(key, updated_at=recs[0].updatedAt).records) == recs
    old = {k: v for k, v in recs[0].to_dict().items() if k != "reportedAt"}
    assert Record.from_dict(old) == recs[0]


def test_from_dict_rejects_bad_records():
    good = event()[0].to_dict()
    for bad in (
        {**good, "schemaVersion": 99},
        {**good, "status": "done"},
        {**good, "pushedAt": "not a time"},
        {**good, "lagSeconds": "3"},
        {k: v for k, v in good.items() if k != "eventId"},
        [good],
    ):
        with pytest.raises((ValueError, TypeError)):
            Record.from_dict(bad)


def test_inbox_key_layout_and_round_trip():
    recs = event()
    key = rl.inbox_key(recs)
    assert key.startswith(f"inbox/tcr-dg284imq/2020-04-13/{recs[0].eventId}/")
    assert key == rl.inbox_key(list(reversed(recs)))  # order of replicas does not matter
    assert len(key.encode()) <= rl.MAX_KEY_BYTES
    assert all(len(part.encode()) <= 255 for part in key.split("/"))
    parsed = rl.parse_inbox_key(key, "2020-04-13T10:47:30Z")
    assert parsed.records is not None
    assert list(parsed.records) == recs


def test_redelivery_maps_to_the_same_key_even_when_written_later():
    assert rl.inbox_key(event(now="2020-04-13T10:47:30Z")) == rl.inbox_key(event(now="2020-04-14T00:00:00Z"))
    assert rl.inbox_key(event()) != rl.inbox_key(event(tag="v2"))


@pytest.mark.parametrize(
    ("repository", "tag"),
    [
        ("服务/前端-应用", "发布-1"),
        ("a" * 255, "t" * 128),
        ("emoji-🚀/x", "v1.0.0+build.7"),
        ("with space/and%percent?&=#", "../../etc"),
    ],
)
def test_unicode_and_long_names_stay_under_the_key_limit(repository, tag):
    recs = event(repository=repository, tag=tag, namespace="团队")
    key = rl.inbox_key(recs)
    assert len(key.encode("utf-8")) <= rl.MAX_KEY_BYTES
    assert all(len(part.encode()) <= 255 for part in key.split("/"))
    parsed = rl.parse_inbox_key(key, recs[0].updatedAt)
    if key.endswith("/" + rl.OVERFLOW_MARK):
        assert parsed.records is None  # readers GET the body
        assert rl.parse_inbox_body(rl.inbox_body(recs)) == recs
    else:
        assert list(parsed.records or ()) == recs


def test_too_big_for_a_key_gets_the_overflow_marker():
    # ids that do not compress: the key cannot hold 40 of them
    many = [(f"tcr-{hashlib.sha256(str(i).encode()).hexdigest()[:20]}", "ap-shanghai") for i in range(40)]
    recs = event(replicas=many, repository="r" * 200)
    key = rl.inbox_key(recs)
    assert key.endswith("/~")
    assert rl.parse_inbox_key(key).records is None
    assert rl.parse_inbox_body(rl.inbox_body(recs)) == recs


def test_undecodable_inbox_key_falls_back_to_a_get():
    eid = "0" * 24
    for payload in ("jnot*base64", "x" + base64.urlsafe_b64encode(b"[]").decode(), "j" + "A" * 10):
        parsed = rl.parse_inbox_key(f"inbox/tcr-1/2020-04-13/{eid}/{payload}")
        assert parsed.records is None
    with pytest.raises(rl.LayoutError):
        rl.parse_inbox_key("inbox/tcr-1/notaday/x/y")
    with pytest.raises(rl.LayoutError):
        rl.parse_inbox_key("log/tcr-1/ap-shanghai/2020-04-13/x.jsonl")


def test_key_parts_are_checked():
    with pytest.raises(rl.LayoutError):
        rl.inbox_prefix("../etc")
    with pytest.raises(rl.LayoutError):
        rl.log_prefix("tcr-1", "ap/shanghai")
    with pytest.raises(rl.LayoutError):
        rl.log_prefix("tcr-1", "ap-shanghai", "2020-13-45")


def test_segment_keys_are_deterministic_per_record_set():
    recs = [
        r.with_status("replicated", updated_at=1586774900, replicated_at=1586774890, lag_seconds=47.0) for r in event()
    ]
    shanghai = [r for r in recs if r.replicaRegion == "ap-shanghai"]
    key = rl.segment_key("tcr-dg284imq", "ap-shanghai", "2020-04-13", shanghai)
    assert key.startswith("log/tcr-dg284imq/ap-shanghai/2020-04-13/") and key.endswith(".jsonl")
    # a retried run with another outcome for the same records overwrites the same object
    late = [r.with_status("late", updated_at=1586775000) for r in shanghai]
    assert rl.segment_key("tcr-dg284imq", "ap-shanghai", "2020-04-13", late) == key
    assert rl.parse_log_key(key)[:3] == ("tcr-dg284imq", "ap-shanghai", "2020-04-13")
    other = event(tag="v2")
    assert rl.segment_key("tcr-dg284imq", "ap-shanghai", "2020-04-13", other) != key


def test_jsonl_round_trip_with_unicode():
    docs = [r.to_dict() for r in event(repository="服务")]
    assert rl.parse_jsonl(rl.jsonl(docs)) == docs


def test_dedupe_prefers_resolved_then_latest():
    pending = event()[0]
    late = pending.with_status("late", updated_at="2020-04-13T11:00:00Z")
    replicated = pending.with_status(
        "replicated", updated_at="2020-04-13T11:05:00Z", replicated_at="2020-04-13T11:04:00Z", lag_seconds=997.0
    )
    redelivered = Record.from_dict({**pending.to_dict(), "updatedAt": "2020-04-14T00:00:00Z"})
    assert rl.dedupe([late, replicated, redelivered, pending]) == [replicated]
    assert rl.dedupe([redelivered, late]) == [late]  # a redelivery after resolution never reverts to pending
    assert rl.dedupe([pending, redelivered]) == [redelivered]
    both = event()
    assert len(rl.dedupe([*both, *both])) == 2


def test_dedupe_sorts_by_push_time_event_and_replica():
    a = event(pushed_at="2020-04-13T12:00:00Z")
    b = event(pushed_at="2020-04-13T09:00:00Z", tag="v0")
    out = rl.dedupe([*a, *b])
    assert [r.pushedAt for r in out] == ["2020-04-13T09:00:00Z"] * 2 + ["2020-04-13T12:00:00Z"] * 2
    assert [r.replicaRegistryId for r in out[:2]] == sorted(r[0] for r in REPLICAS)


FILTERS = {"r": "tcr-1", "replica": None, "status": "pending"}


def test_cursor_round_trip():
    pos = ("2020-04-13T10:47:23Z", "ab" * 12, "tcr-1-5")
    cursor = rl.encode_cursor(pos, FILTERS)
    assert all(c.isalnum() or c in "-_" for c in cursor)
    assert rl.decode_cursor(cursor, FILTERS) == pos


def test_a_cursor_may_name_the_view_of_the_first_page():
    pos = ("2020-04-13T10:47:23Z", "ab" * 12, "tcr-1-5")
    cursor = rl.encode_cursor(pos, FILTERS, "0123456789abcdef")
    assert rl.decode_cursor(cursor, FILTERS) == pos
    assert rl.cursor_view(cursor) == "0123456789abcdef"
    assert rl.cursor_view(rl.encode_cursor(pos, FILTERS)) is None
    assert rl.cursor_view("!!!") is None and rl.cursor_view(None) is None
    with pytest.raises(ValueError):
        rl.encode_cursor(pos, FILTERS, "not-a-view")


def test_cursor_tampering_is_rejected():
    pos = ("2020-04-13T10:47:23Z", "ab" * 12, "tcr-1-5")
    cursor = rl.encode_cursor(pos, FILTERS)
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    forged = raw.replace("2020-04-13", "2020-04-01")
    forged_cursor = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    for bad in (forged_cursor, cursor[:-2], cursor + "A", "", "!!!", "a" * 2000, "eyJ2IjoxfQ"):
        with pytest.raises(ValueError):
            rl.decode_cursor(bad, FILTERS)
    with pytest.raises(ValueError, match="different filters"):
        rl.decode_cursor(cursor, {**FILTERS, "status": "late"})


names = st.text(min_size=0, max_size=120)


@settings(max_examples=150, deadline=None)
@given(namespace=names, repository=names, tag=names, operator=st.text(max_size=40))
def test_any_names_round_trip_through_the_key_or_the_body(namespace, repository, tag, operator):
    recs = event(namespace=namespace, repository=repository, tag=tag, operator=operator)
    key = rl.inbox_key(recs)
    assert len(key.encode("utf-8")) <= rl.MAX_KEY_BYTES
    parsed = rl.parse_inbox_key(key, recs[0].updatedAt)
    got = list(parsed.records) if parsed.records is not None else rl.parse_inbox_body(rl.inbox_body(recs))
    assert got == recs


def _deflate_32k(raw: bytes) -> bytes:
    """Level-9 raw deflate with zlib's default 32 KiB window: how every inbox key has been packed."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(raw) + packer.flush()


@settings(max_examples=300, deadline=None)
@given(
    replicas=st.lists(
        st.tuples(st.from_regex(r"tcr-[a-z0-9]{8}-[0-9]{1,2}-[a-z0-9]{6}", fullmatch=True), st.sampled_from(
            ["ap-shanghai", "ap-beijing", "ap-singapore", "na-siliconvalley", "eu-frankfurt"])),
        min_size=1, max_size=40, unique_by=lambda r: r[0]),
    tag=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=0, max_size=128),
    repository=st.from_regex(r"[a-z0-9]{1,60}(/[a-z0-9]{1,60}){0,3}", fullmatch=True),
)  # fmt: skip
def test_inbox_keys_pack_to_the_same_bytes_as_with_the_32k_window(replicas, tag, repository):
    """The packer's smaller window must not change a single key (a redelivery after an upgrade overwrites)."""
    recs = event(replicas=replicas, tag=tag, repository=repository)
    key = rl.inbox_key(recs)
    if key.endswith(rl.OVERFLOW_MARK):
        return
    packed = "".join(key.split("/")[4:])
    raw = json.dumps(
        [1, *[getattr(recs[0], f) for f in rl._COMPACT_FIELDS], sorted([r.replicaRegistryId, r.replicaRegion]
                                                                       for r in recs)],
        ensure_ascii=False, separators=(",", ":"),
    ).encode()  # fmt: skip
    deflated = _deflate_32k(raw)
    want = "z" + base64.urlsafe_b64encode(deflated).decode().rstrip("=") if len(deflated) < len(raw) else None
    assert want is None or packed == want


@pytest.mark.parametrize("size", [1, 200, 249, 250, 251, 762, 763, 1786, 4000, 16122, 32506, 32507, 40000])
def test_window_bits_reach_every_byte_and_pack_the_same(size):
    """At the edges of each window size: random-ish and repetitive input deflate to the 32 KiB window's bytes."""
    for source in (hashlib.sha256(str(size).encode()).hexdigest().encode() * (size // 64 + 1), bytes(range(256)) * 200):
        raw = source[:size]
        bits = rl._window_bits(size)
        assert size + 262 <= 1 << bits or bits == 15
        packer = zlib.compressobj(9, zlib.DEFLATED, -bits)
        assert packer.compress(raw) + packer.flush() == _deflate_32k(raw)
