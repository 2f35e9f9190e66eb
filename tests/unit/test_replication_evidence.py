"""`audit.decide` on hand-built TCR log entries; the paged, budgeted, resumable log read (shared.replication_log)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared import records as rl
from shared import replication_log as tlog
from shared.audit import Decision, ReplicaView, decide
from shared.ports import LogEntry, SyncStatus
from shared.times import parse_or_none
from tests.fakes import FakeTcr

REGISTRY, REPLICA = "tcr-aaaa1111", "tcr-aaaa1111-1-x"
PUSHED = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)
NOW = PUSHED + timedelta(minutes=5)
SLA = 900


def record(tag: str = "9.9", repository: str = "api", digest: str = "sha256:" + "9e" * 32, **over: Any) -> rl.Record:
    rec = rl.event_records(
        registry_id=REGISTRY,
        primary_region="ap-guangzhou",
        namespace="team",
        repository=repository,
        tag=tag,
        digest=digest,
        pushed_at=PUSHED,
        operator="1",
        replicas=[(REPLICA, "ap-shanghai")],
        now=PUSHED,
    )[0]
    return rec._replace(**over)


def entry(source: str, status: str = "Succeed", start: datetime | None = None, end: Any = "auto") -> LogEntry:
    start = start or PUSHED + timedelta(seconds=5)
    if end == "auto":
        end = start + timedelta(seconds=3)
    start_text = start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    end_text = end.strftime("%Y-%m-%dT%H:%M:%SZ") if end else None
    started, ended = parse_or_none(start_text), parse_or_none(end_text)
    return LogEntry("image", source, source, status, start_text, end_text, started, ended)


def replica(entries: list[LogEntry], *, read_all: bool = True, synced: datetime | None = None, **log: Any):
    read = tlog.LogRead(entries=entries, top=len(entries), complete=read_all)
    if read_all:
        read.top_floor = read.old_floor = tlog.EARLIEST
    for name, value in log.items():
        setattr(read, name, value)
    return ReplicaView(
        replica_id=REPLICA,
        region="ap-shanghai",
        region_id=4,
        status="Running",
        created=None,
        sync_status="Succeed" if synced else None,
        last_sync=synced,
        log=read,
    )


HINT = "replica synced at 2026-11-28T10:00:30Z; TCR's log did not list this image"


def test_a_sync_of_another_image_is_no_evidence_only_a_hint():
    rep = replica([entry("team/web:[1.0]")], synced=PUSHED + timedelta(seconds=30))
    assert decide(record(), rep, NOW, SLA) == Decision("pending", None, "", HINT)
    late = decide(record(), rep, PUSHED + timedelta(seconds=SLA + 1), SLA)
    assert (late.status, late.at, late.hint) == ("late", None, HINT)


def test_an_entry_naming_the_image_after_the_push_replicates_it():
    start = PUSHED + timedelta(seconds=5)
    rep = replica([entry("team/api:[9.9]", start=start)], synced=PUSHED + timedelta(seconds=30))
    got = decide(record(), rep, NOW, SLA)
    assert (got.status, got.at, got.hint) == ("replicated", start + timedelta(seconds=3), None)


@pytest.mark.parametrize(
    ("source", "replicated"),
    [
        ("team/api:[9.9]", True),
        ("team/api:[1.0, 9.9]", True),
        ("team/api:9.9", True),
        ("team/api", True),  # no tags carried: the repository is the evidence
        ("team/api:[1.0]", False),
        ("team/api2:[9.9]", False),
        ("other/api:[9.9]", False),
        ("team/api:[9.9]@sha256:" + "9e" * 32, True),
        ("team/api:[9.9]@sha256:" + "00" * 32, False),  # the entry's digest is another image
    ],
)
def test_what_names_the_image(source, replicated):
    got = decide(record(), replica([entry(source)]), NOW, SLA)
    assert (got.status == "replicated") is replicated


def test_an_entry_that_started_before_the_push_is_about_an_earlier_push():
    early = replica([entry("team/api:[9.9]", start=PUSHED - timedelta(seconds=10))])
    assert decide(record(), early, NOW, SLA).status == "pending"
    skewed = replica([entry("team/api:[9.9]", start=PUSHED - timedelta(seconds=1))])  # clock skew allowed
    assert decide(record(), skewed, NOW, SLA).status == "replicated"


def test_failures_and_a_later_success():
    failed = replica([entry("team/api:[9.9]", status="Failed")])
    got = decide(record(), failed, NOW, SLA)
    assert got.status == "failed" and "Failed" in got.reason
    retried = replica(
        [
            entry("team/api:[9.9]", start=PUSHED + timedelta(seconds=60)),
            entry("team/api:[9.9]", status="Failed", start=PUSHED + timedelta(seconds=5)),
        ]
    )
    assert decide(record(), retried, NOW, SLA).status == "replicated"
    running = replica([entry("team/api:[9.9]", status="InProgress", end=None)], synced=PUSHED + timedelta(seconds=30))
    assert decide(record(), running, NOW, SLA) == Decision("pending"), "named, in progress: no hint"


def test_no_hint_without_a_successful_sync_after_the_push_or_a_full_read():
    other = [entry("team/web:[1.0]")]
    assert decide(record(), replica(other), NOW, SLA).hint is None  # no sync reported
    before = replica(other, synced=PUSHED - timedelta(seconds=5))
    assert decide(record(), before, NOW, SLA).hint is None
    unread = replica(other, read_all=False, synced=PUSHED + timedelta(seconds=30))
    unread.log.top_floor = unread.log.old_floor = PUSHED  # the read stopped at the push: older entries unread
    assert decide(record(), unread, NOW, SLA) == Decision("pending")
    failed_sync = replica(other, synced=PUSHED + timedelta(seconds=30))
    failed_sync.sync_status = "Failed"
    assert decide(record(), failed_sync, NOW, SLA).hint is None


def test_a_replica_that_is_gone_fails_the_record():
    assert decide(record(), None, NOW, SLA).status == "failed"


def test_on_a_resumed_read_a_deep_failure_counts_only_for_records_older_than_the_chain():
    deep_failure = entry("team/api:[9.9]", status="Failed")
    since = PUSHED + timedelta(minutes=2)
    rep = replica([entry("team/web:[1.0]"), deep_failure], since=since, top=1)
    rep.log.top_floor = PUSHED + timedelta(seconds=5)
    old = record(updatedAt=rl.iso_utc(PUSHED))
    young = record(updatedAt=rl.iso_utc(since + timedelta(minutes=1)))
    assert decide(old, rep, NOW, SLA).status == "failed"
    # a record written after the chain began may have a success among the entries this run skipped
    assert decide(young, rep, NOW, SLA) == Decision("pending")


# -- reading the log ---------------------------------------------------------------------------------------


class FakeLog:
    """One replica's log as TCR serves it (tests.fakes.FakeTcr): newest first, `Offset` a page number (base 0 or 1),
    either shape; entry i started `i` seconds after `start`."""

    def __init__(self, count: int, *, shape: str = "array", base: int = 1, start: datetime = PUSHED) -> None:
        self.tcr = FakeTcr(log_shape=shape, page_base=base)
        self.tcr.add_instance(REGISTRY)
        self.tcr.add_replica(REGISTRY, "ap-shanghai", replica_id=REPLICA)
        for i in range(count):
            self.tcr.log(REPLICA, f"team/app:[{i}]", start=start + timedelta(seconds=i))

    @property
    def entries(self) -> list[LogEntry]:
        return self.tcr.logs[REPLICA]

    @property
    def calls(self) -> list[tuple[int | None, int]]:
        return [(page, limit) for _, page, limit in self.tcr.sync_pages]

    def push(self, n: int) -> None:
        newest = self.entries[0].started if self.entries else PUSHED
        assert newest is not None
        for i in range(n):
            self.tcr.log(REPLICA, f"team/new:[{i}]", start=newest + timedelta(seconds=i + 1))

    def fetch(self, page: int, limit: int) -> SyncStatus:
        return self.tcr.sync_status(REGISTRY, REPLICA, show_log=True, page=page, limit=limit)

    def sources(self, read: tlog.LogRead) -> list[str]:
        return [e.source for e in read.entries]


def read(log: FakeLog, *, oldest: datetime | None = PUSHED, allowance: int = 100, cursor: Any = None):
    return tlog.read(log.fetch, oldest=oldest, allowance=allowance, cursor=cursor, now=NOW)


@pytest.mark.parametrize(
    # one entry per page: page 0 is read again after the page-numbering probe, to see the log did not move meanwhile
    ("shape", "base", "calls"),
    [("array", 1, 4), ("array", 0, 3), ("object", 1, 48), ("object", 0, 47)],
)
def test_the_whole_log_across_pages_in_both_shapes_and_page_bases(shape, base, calls):
    log = FakeLog(45, shape=shape, base=base)
    got = read(log)
    assert log.sources(got) == [e.source for e in log.entries], "every entry once, newest first"
    assert got.complete and got.top_floor == tlog.EARLIEST
    assert got.cursor is not None and got.cursor["floor"] == "end", "the next run needs only what is new"
    assert got.calls == len(log.calls) == calls
    assert all(limit == (20 if shape == "array" else 1) for _, limit in log.calls[1:])


def test_reading_stops_once_past_the_oldest_pending_push():
    log = FakeLog(100, start=PUSHED - timedelta(seconds=100))  # entry i started at PUSHED - 100 s + i s
    got = read(log, oldest=PUSHED - timedelta(seconds=30))
    # entries 99..40: the first page of entries that started over 10 s before the oldest push ends the read
    assert got.complete and len(got.entries) == 60 and got.calls == 4
    only_status = read(log, oldest=None)
    assert only_status.complete and only_status.calls == 1 and len(only_status.entries) == 20


@pytest.mark.parametrize("shape", ["array", "object"])
def test_a_spent_budget_resumes_where_it_stopped(shape):
    limit = 20 if shape == "array" else 1
    log = FakeLog(7 * limit, shape=shape)
    everything = [e.source for e in log.entries]
    first = read(log, allowance=3 if shape == "array" else 4)  # one entry per page: page 0 read again after the probe
    assert not first.complete and first.calls == (3 if shape == "array" else 4)
    assert len(first.entries) == 2 * limit and first.cursor is not None
    assert first.covers(record(updatedAt=rl.iso_utc(PUSHED))) is False

    log.push(3 if shape == "array" else 1)  # new pushes while waiting for the next run
    second = read(log, allowance=3, cursor=first.cursor)
    assert second.calls == 3 and not second.complete
    assert log.sources(second)[: second.top] == [e.source for e in log.entries[: second.top]]
    deep = log.sources(second)[second.top :]
    assert deep == everything[2 * limit : 2 * limit + len(deep)] and deep, "goes on where the first run stopped"

    runs = [first, second]
    while not runs[-1].complete:
        runs.append(read(log, allowance=3, cursor=runs[-1].cursor))
        assert len(runs) < 20
    seen = {s for r in runs for s in log.sources(r)}
    assert seen == {e.source for e in log.entries}, "nothing left unread"
    assert runs[-1].old_floor == tlog.EARLIEST and runs[-1].cursor["floor"] == "end"


def test_an_entry_still_in_progress_is_read_again_next_run():
    log = FakeLog(60)
    log.entries[5] = log.entries[5]._replace(status="InProgress", end_time=None, ended=None)
    first = read(log, allowance=3)
    assert first.cursor is not None and first.cursor["anchor"] == tlog.entry_key(log.entries[5])
    done = "2026-11-28T10:10:00Z"
    log.entries[5] = log.entries[5]._replace(status="Succeed", end_time=done, ended=parse_or_none(done))
    second = read(log, allowance=3, cursor=first.cursor)
    statuses = {e.source: e.status for e in second.entries[: second.top]}
    assert statuses[log.entries[5].source] == "Succeed"


def test_a_cursor_of_the_other_shape_or_an_anchor_gone_starts_over():
    log = FakeLog(60)
    first = read(log, allowance=2)
    other = FakeLog(60, shape="object")
    again = read(other, allowance=2, cursor=first.cursor)
    assert again.since is None and again.cursor is not None and again.cursor["limit"] == 1
    gone = dict(first.cursor, anchor="nothing|like|this")
    fresh = read(log, allowance=3, cursor=gone)
    assert fresh.since is None and len(fresh.entries) == fresh.top


def test_no_budget_reads_nothing_and_keeps_the_cursor():
    log = FakeLog(60)
    cursor = read(log, allowance=2).cursor
    got = read(log, allowance=0, cursor=cursor)
    assert got.calls == 0 and got.entries == [] and got.cursor == cursor and not got.complete
    assert got.covers(record()) is False


def test_the_hint_is_an_optional_record_field_never_stored_on_resolved_records():
    plain = record()
    assert "hint" not in plain.to_dict(), "absent, not null: stored records keep their shape"
    hinted = plain._replace(hint=rl.unconfirmed_hint(PUSHED + timedelta(seconds=30)))
    assert rl.Record.from_dict(hinted.to_dict()) == hinted and hinted.to_dict()["hint"] == HINT
    assert hinted.with_status("replicated", updated_at=NOW, replicated_at=NOW).hint is None
    with pytest.raises(ValueError, match="hint"):
        rl.Record.from_dict({**plain.to_dict(), "hint": 5})


def test_after_a_full_pass_a_run_reads_only_what_is_new():
    # a record no entry names (a push TCR never received) keeps the oldest pending push where it is: later
    # runs must not read the whole log back to it again and again
    log = FakeLog(200)
    ghost = record(updatedAt=rl.iso_utc(PUSHED - timedelta(minutes=1)))
    full = read(log, oldest=PUSHED)
    assert full.complete and full.calls == 1 + 1 + 10  # page 0, the page-numbering probe, pages 2..11 (empty)
    log.push(5)
    later = tlog.read(log.fetch, oldest=PUSHED, allowance=100, cursor=full.cursor, now=NOW + timedelta(minutes=5))
    assert later.calls == 1 and later.complete and later.top == 20
    assert later.covers(ghost) and later.is_old(ghost), "judged on what earlier runs read"
    later.judge(ghost)
    assert not later.restart


def test_a_record_written_after_the_pass_began_and_not_covered_starts_over():
    log = FakeLog(200)
    full = read(log, oldest=PUSHED)
    late_arrival = record(updatedAt=rl.iso_utc(NOW + timedelta(minutes=1)))  # e.g. a webhook delivered late
    later = tlog.read(log.fetch, oldest=PUSHED, allowance=3, cursor=full.cursor, now=NOW + timedelta(minutes=5))
    assert not later.is_old(late_arrival) and not later.covers(late_arrival)
    later.judge(late_arrival)
    assert later.restart, "the next run reads from the newest entry back to it"
    recent = tlog.read(
        log.fetch, oldest=PUSHED, recent=PUSHED, allowance=100, cursor=full.cursor, now=NOW + timedelta(minutes=5)
    )
    assert recent.covers(late_arrival), "told about it, the run reads contiguously back to its push"


def test_a_cursor_older_than_a_day_starts_over():
    log = FakeLog(60)
    full = read(log, oldest=PUSHED)
    later = tlog.read(log.fetch, oldest=PUSHED, allowance=100, cursor=full.cursor, now=NOW + timedelta(days=2))
    assert later.since is None and later.top == len(later.entries) == 60, "read again from the newest entry"


def test_the_index_finds_the_image_among_many_of_its_repository_and_lets_the_entries_go():
    entries = [entry(f"team/api:[{i}]", start=PUSHED + timedelta(seconds=1 + i % 50)) for i in range(3000)]
    entries.append(entry("team/api", status="Failed", start=PUSHED + timedelta(seconds=2)))  # names no tag
    entries.append(entry("team/api:[77,x]", start=PUSHED + timedelta(seconds=60), end=PUSHED + timedelta(seconds=99)))
    view = replica(entries)
    view.log.index({})
    assert view.log.entries == []
    found = view.log.mentions(record(tag="77"))
    assert [(m.status, m.started) for m in found] == [
        ("Failed", PUSHED + timedelta(seconds=2)),
        ("Succeed", PUSHED + timedelta(seconds=28)),
        ("Succeed", PUSHED + timedelta(seconds=60)),
    ], "its own entries and the untagged one, oldest first"
    assert found[0].source == "team/api" and found[1].source == "", "a success keeps no source text"
    assert decide(record(tag="77"), view, NOW, SLA) == Decision(
        "replicated", PUSHED + timedelta(seconds=31), "TCR replication log"
    )
    assert [m.status for m in view.log.mentions(record(tag="x"))] == ["Failed", "Succeed"]
    assert decide(record(tag="nope"), view, NOW, SLA).status == "failed", "only the untagged failure names it"


@pytest.mark.parametrize("phase", [0, 1])  # 1: the log also moves between page 0 and the page-numbering probe
@pytest.mark.parametrize(("shape", "base"), [("object", 1), ("object", 0), ("array", 1), ("array", 0)])
def test_pushes_landing_while_the_log_is_read_neither_stop_the_read_nor_hide_entries(shape, base, phase):
    # Found by `make soak`: with pushes arriving during a run, the log moves down by one entry between calls; a
    # page then repeats what the previous one showed, which the reader took for "TCR ignores paging" and stopped
    # after 2-3 calls, claiming a complete read: no audit resolved anything while pushes kept coming.
    log = FakeLog(45, shape=shape, base=base)
    before = [e.source for e in log.entries]

    calls = 0

    def moving(page: int, limit: int) -> SyncStatus:
        nonlocal calls
        answer = log.fetch(page, limit)
        calls += 1
        if calls % 3 == phase:
            log.push(1)  # a replication starts after every third call
        return answer

    got = tlog.read(moving, oldest=PUSHED, allowance=400, cursor=None, now=NOW)
    sources = [e.source for e in got.entries]
    assert set(before) <= set(sources), "every entry that was there when the run began is read"
    keys = [tlog.entry_key(e) for e in got.entries]
    assert len(keys) == len(set(keys)), "none twice"
    assert [x for x in sources if x in before] == before, "newest first (some that arrived meanwhile may lead)"
    assert got.complete and got.top_floor == tlog.EARLIEST
