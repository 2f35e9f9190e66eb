"""TCR's replication log of one replica, read as evidence (DESIGN §6): paged, within a budget, resumable.

DescribeReplicationInstanceSyncStatus lists the log newest first. `Offset` is a page number, and whether
the first page is 0 or 1 is undocumented (pages 0 and 1 may be the same page); `Limit` is at most 20. The
schema says `ReplicationLog` is one object, the example shows a list: with one object per answer a page
shows one entry whatever the Limit, so that log is walked with Limit 1 (one call per entry).

A run reads from the newest entry back to the oldest pending push of the replica, or until its share of
the call budget is spent. Then a cursor tells the next run where to go on: it re-reads the newest entries
down to an anchor (the oldest entry it saw still in progress, else the newest), skips what earlier runs
already read, and continues deeper. The skipped entries were read while every record they could prove
already existed and was judged, so they owe nothing to those records. Records written since the cursor's
chain began (`since`) may still be owed something by them: those are judged only on what this run read
contiguously from the newest entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from shared import records as rl

PAGE = 20  # TCR's largest log page
ORDER_MARGIN = timedelta(seconds=10)  # the log is newest first by start time, give or take this
YOUNG_MARGIN = timedelta(seconds=60)  # COS LastModified and the function's clock may disagree this much
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
LATEST = datetime.max.replace(tzinfo=timezone.utc)

Fetch = Callable[[int, int], Mapping[str, Any]]  # (page, limit) -> TcrAdapter.sync_status(show_log=True)


def parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return rl.parse_time(value)
    except ValueError:
        return None


def entry_key(entry: Mapping[str, Any]) -> str:
    """Identity of one entry across calls (its status and end change while it is in progress)."""
    return f"{entry.get('source')}|{entry.get('destination')}|{entry.get('startTime')}"


def finished(entry: Mapping[str, Any]) -> bool:
    return bool(entry.get("endTime"))


def image_ref(text: str) -> tuple[str, set[str], str]:
    """TCR's `Source` (`ns/repo:[t1,t2]`, `ns/repo:tag`, maybe `...@sha256:...`) -> (`ns/repo`, tags, digest)."""
    text, _, digest = text.partition("@")
    name, sep, rest = text.partition(":[")
    if sep:
        return name, {t.strip() for t in rest.rstrip("]").split(",") if t.strip()}, digest
    name, colon, tag = text.rpartition(":")
    if not colon or "/" in tag:
        return text, set(), digest
    return name, ({tag} if tag else set()), digest


class Mention(NamedTuple):
    started: datetime
    index: int  # in LogRead.entries
    entry: dict[str, Any]
    tags: frozenset[str]
    digest: str

    def names(self, record: rl.Record) -> bool:
        """About this record's image: the tag and the digest where the entry carries them."""
        if self.tags and record.tag not in self.tags:
            return False
        return not (self.digest and record.digest and self.digest != record.digest)


@dataclass
class LogRead:
    """What one run read of one replica's log, and which pushes that read fully covers."""

    entries: list[dict[str, Any]] = field(default_factory=list)  # newest first: the top part, then the deep part
    top: int = 0  # entries[:top] were read contiguously from the newest entry
    top_floor: datetime = LATEST  # every entry that started at or after this is in entries[:top]
    old_floor: datetime = LATEST  # the same for records older than `since` (this run plus earlier runs)
    since: datetime | None = None  # set when earlier runs' reading is relied on (a resumed pass)
    complete: bool = False  # read back to the oldest pending push, or to the log's end
    calls: int = 0
    cursor: dict[str, Any] | None = None  # where the next run goes on (None: from the newest entry)
    status: str | None = None
    last_sync: datetime | None = None
    _by_name: dict[str, list[Mention]] | None = field(default=None, repr=False, compare=False)

    def mentions(self, record: rl.Record) -> list[Mention]:
        """The entries naming this record's image, oldest start first (the log is indexed once per run)."""
        if self._by_name is None:
            self._by_name = {}
            for i, entry in enumerate(self.entries):
                started = parse(entry.get("startTime"))
                if started is None:
                    continue
                name, tags, digest = image_ref(str(entry.get("source") or entry.get("destination") or ""))
                self._by_name.setdefault(name, []).append(Mention(started, i, entry, frozenset(tags), digest))
            for found in self._by_name.values():
                found.sort(key=lambda m: (m.started, m.index))
        found = self._by_name.get(f"{record.namespace}/{record.repository}", [])
        return [m for m in found if m.names(record)]

    def is_old(self, record: rl.Record) -> bool:
        """The record existed when the entries skipped by this run were read (so they were judged for it)."""
        if self.since is None:
            return True
        updated = parse(record.updatedAt)
        return updated is not None and updated + YOUNG_MARGIN < self.since

    def covers(self, record: rl.Record) -> bool:
        """Every entry that could prove this record (started after its push, give or take) was read."""
        floor = self.old_floor if self.is_old(record) else self.top_floor
        return floor == EARLIEST or (floor != LATEST and floor + ORDER_MARGIN < rl.parse_time(record.pushedAt))

    def judged_on(self, index: int, record: rl.Record) -> bool:
        """A failure at `index` counts when every newer entry was read, now or (for old records) before."""
        return index < self.top or self.is_old(record)


class _Pager:
    """Entries by absolute index (0 = newest), over TCR's pages, counting calls against an allowance."""

    def __init__(self, fetch: Fetch, allowance: int, base: int | None) -> None:
        self.fetch = fetch
        self.allowance = allowance
        self.calls = 0
        self.limit = PAGE
        self.base = base
        self.first: list[dict[str, Any]] = []
        self.status: Mapping[str, Any] = {}
        self.ignores_paging = False

    def can_call(self) -> bool:
        return self.calls < self.allowance

    def _call(self, page: int) -> list[dict[str, Any]]:
        self.calls += 1
        answer = self.fetch(page, self.limit)
        return [dict(e) for e in answer.get("logs") or []]

    def open(self) -> list[dict[str, Any]]:
        """Page 0: the sync status, the answer's shape and the newest entries."""
        self.calls += 1
        self.status = self.fetch(0, PAGE)
        if self.status.get("logShape") == "object":
            self.limit = 1
        self.first = [dict(e) for e in self.status.get("logs") or []]
        return self.first

    def page(self, index: int) -> list[dict[str, Any]] | None:
        """Page `index` (0-based, of `limit` entries); None when the allowance is spent."""
        if index == 0:
            return self.first
        if self.base is None:
            if not self.can_call():
                return None
            probe = self._call(1)
            if [entry_key(e) for e in probe] == [entry_key(e) for e in self.first]:
                self.base = 1  # pages 0 and 1 are the same page: numbering starts at 1
            else:
                self.base = 0
                if index == 1:
                    return probe
        if not self.can_call():
            return None
        return self._call(index + self.base)


def read(
    fetch: Fetch,
    *,
    oldest: datetime | None,
    allowance: int,
    cursor: Mapping[str, Any] | None,
    now: datetime,
) -> LogRead:
    """Read the log back to `oldest` (the oldest pending push; None: the first page only) within `allowance` calls."""
    out = LogRead()
    if allowance < 1:
        out.complete = oldest is None
        out.cursor = dict(cursor) if cursor else None
        return out
    pager = _Pager(fetch, allowance, cursor.get("base") if cursor else None)
    first = pager.open()
    out.status = pager.status.get("status")
    out.last_sync = parse(pager.status.get("replicationTime"))
    resume = dict(cursor) if cursor and cursor.get("limit") == pager.limit else None

    def far_enough(entries: list[dict[str, Any]]) -> bool:
        if oldest is None:
            return True
        started = parse(entries[-1].get("startTime")) if entries else None
        return started is not None and started + ORDER_MARGIN < oldest

    # the top part: contiguous from the newest entry, until far enough back or, when resuming, past the anchor
    top = list(first)
    ended = len(first) < pager.limit
    anchor_at = _find(top, resume)
    while not ended and not far_enough(top):
        if resume and anchor_at is not None and anchor_at + int(resume.get("after") or 0) > len(top):
            break  # what lies between was read by earlier runs: go on deeper
        page = pager.page(len(top) // pager.limit)
        if page is None:
            break
        if page and [entry_key(e) for e in page] == [entry_key(e) for e in top[-len(page) :]]:
            pager.ignores_paging = True  # the same page again: TCR shows no more than this
            break
        top.extend(page)
        ended = len(page) < pager.limit
        if anchor_at is None:
            anchor_at = _find(top, resume)

    out.entries = list(top)
    out.top = len(top)
    out.top_floor = out.old_floor = _floor(top, ended)
    deep: list[dict[str, Any]] = []
    deep_ended = False
    jump: int | None = None
    since = now
    if resume and anchor_at is not None and not ended and not far_enough(top):
        jump = anchor_at + int(resume.get("after") or 0)
    if resume and jump is not None and jump > len(top):
        since = parse(resume.get("since")) or now
        position = jump
        while not deep_ended and not far_enough(deep):
            page = pager.page(position // pager.limit)
            if page is None:
                break
            deep.extend(page[position % pager.limit :])
            deep_ended = len(page) < pager.limit
            position = (position // pager.limit + 1) * pager.limit
        if deep or deep_ended:
            out.entries.extend(deep)
            out.since = since
            out.old_floor = _floor(deep, deep_ended)
    else:
        jump = None
    out.complete = ended or deep_ended or far_enough(deep if jump is not None else top) or pager.ignores_paging
    out.calls = pager.calls
    if not out.complete and top:
        out.cursor = _next_cursor(top, len(top) if jump is None else jump + len(deep), since, pager)
    return out


def _find(entries: list[dict[str, Any]], resume: Mapping[str, Any] | None) -> int | None:
    if not resume:
        return None
    for i, entry in enumerate(entries):
        if entry_key(entry) == resume.get("anchor"):
            return i
    return None


def _floor(entries: list[dict[str, Any]], ended: bool) -> datetime:
    if ended:
        return EARLIEST
    for entry in reversed(entries):
        started = parse(entry.get("startTime"))
        if started is not None:
            return started
    return LATEST


def _next_cursor(top: list[dict[str, Any]], unread: int, since: datetime, pager: _Pager) -> dict[str, Any]:
    """Re-read down to the oldest entry still in progress (its outcome is still owed), skip to `unread`."""
    unfinished = [i for i, e in enumerate(top) if not finished(e)]
    anchor = unfinished[-1] if unfinished else 0
    return {
        "anchor": entry_key(top[anchor]),
        "after": unread - anchor,
        "since": rl.iso_utc(since),
        "base": pager.base,
        "limit": pager.limit,
    }
