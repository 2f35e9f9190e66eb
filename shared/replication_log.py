"""TCR's replication log of one replica, read as evidence (DESIGN §6): paged, within a budget, resumable.

DescribeReplicationInstanceSyncStatus lists the log newest first. `Offset` is a page number, and whether
the first page is 0 or 1 is undocumented (pages 0 and 1 may be the same page); `Limit` is at most 20. The
schema says `ReplicationLog` is one object, the example shows a list: with one object per answer a page
shows one entry whatever the Limit, so that log is walked with Limit 1 (one call per entry).

A run reads from the newest entry back to the oldest pending push of the replica, or until its share of
the call budget is spent, and leaves a cursor (kept in the audit's state): an anchor (the oldest entry it
saw still in progress, else the newest), how many entries past it were read, and how far back. The next
run re-reads the newest entries down to the anchor, skips what earlier runs read, and goes deeper only
if pending pushes are older than that. The skipped entries were read while every record they could prove
already existed and was judged (`since`), so they owe those records nothing; a record written since is
judged only on what this run read contiguously from the newest entry, and when that does not reach back
to its push, the next run starts over from the newest entry. A cursor older than a day starts over too.

The log moves down while it is read: each push that lands meanwhile starts a replication whose entry comes first,
so a page can repeat entries of the one before. An entry read before shows by how much; the read goes on from
there (only a page of first-page entries, with page 0 unchanged, means TCR ignores the page number). Whether
pages are numbered from 0 or 1 is learnt on a log that did not move around the probe.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from shared import records as rl
from shared.ports import LogEntry, SyncStatus
from shared.times import parse_or_none

PAGE = 20  # TCR's largest log page
SUCCEEDED = ("succeed", "success", "succeeded")  # TCR's log statuses of a finished replication, lower-cased
ORDER_MARGIN = timedelta(seconds=10)  # the log is newest first by start time, give or take this
YOUNG_MARGIN = timedelta(seconds=2)  # COS LastModified and the function's clock may disagree this much
CURSOR_LIFE = timedelta(days=1)  # then a pass starts over from the newest entry (nothing stale lingers)
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
LATEST = datetime.max.replace(tzinfo=timezone.utc)

Fetch = Callable[[int, int], SyncStatus]  # (page, limit) -> TcrPort.sync_status(..., show_log=True, ...)


def entry_key(entry: LogEntry) -> str:
    """Identity of one entry across calls (its status and end change while it is in progress)."""
    return f"{entry.source}|{entry.destination}|{entry.start_time}"


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


def written_before(record: rl.Record, since: datetime) -> bool:
    """The record (its inbox object's LastModified) is older than `since`, clocks give or take."""
    updated = parse_or_none(record.updatedAt)
    return updated is not None and updated + YOUNG_MARGIN < since


class Mention(NamedTuple):
    """What matching needs of one entry naming an image (kept, one per entry and tag, for a whole run: small)."""

    started: datetime
    position: int  # in LogRead.entries as read (the entries themselves are let go by `index`)
    status: str
    ended: datetime | None
    source: str  # for a failure's message; "" for an entry that succeeded
    digest: str

    def names(self, record: rl.Record) -> bool:
        """About this record's image: the digest where the entry carries one (the tag is the index's)."""
        return not (self.digest and record.digest and self.digest != record.digest)


@dataclass
class LogRead:
    """What one run read of one replica's log, and which pushes that read fully covers."""

    entries: list[LogEntry] = field(default_factory=list)  # newest first: the top part, then the deep part
    top: int = 0  # entries[:top] were read contiguously from the newest entry
    top_floor: datetime = LATEST  # every entry that started at or after this is in entries[:top]
    old_floor: datetime = LATEST  # the same for records older than `since` (this run plus earlier runs)
    since: datetime | None = None  # set when earlier runs' reading is relied on (a resumed pass)
    complete: bool = False  # read back to the oldest pending push, or to the log's end
    calls: int = 0
    cursor: dict[str, Any] | None = None  # where the next run goes on (None: from the newest entry)
    status: str | None = None
    last_sync: datetime | None = None
    # (repository, tag) -> its mention, or its mentions oldest first when there are several; (repository, "") ->
    # the mentions naming no tag (they may be about any tag)
    _by_image: dict[tuple[str, str], Mention | list[Mention]] | None = field(default=None, repr=False, compare=False)

    def index(self, pool: dict[Any, Any] | None = None) -> None:
        """Index the entries by repository and tag, then let them go: what a run keeps of a log of 10,000 entries
        is their mentions (~0.3 KB each), not the entries as TCR's answers held them (~1.5 KB each).

        Matching a record then costs the entries about its own image, not every entry of its repository (which
        made a backlog of one busy repository quadratic). Called by `mentions` when needed; once indexed,
        `entries` is empty. `pool`: equal values (image keys, times: a backlog's pushes share their seconds) kept
        once, for the logs of all the replicas a run reads.
        """
        if self._by_image is not None:
            return
        by_image: dict[tuple[str, str], Mention | list[Mention]] = {}
        keys: dict[Any, Any] = {} if pool is None else pool
        for i, entry in enumerate(self.entries):
            if entry.started is None:
                continue
            name, tags, digest = image_ref(entry.source or entry.destination)
            succeeded = entry.status.lower() in SUCCEEDED
            mention = Mention(
                keys.setdefault(entry.started, entry.started),
                keys.setdefault(i, i),  # positions repeat from one replica's log to the next
                sys.intern(entry.status),
                None if entry.ended is None else keys.setdefault(entry.ended, entry.ended),
                "" if succeeded else entry.source,
                sys.intern(digest),
            )
            for tag in tags or ("",):
                key = keys.setdefault((name, tag), (sys.intern(name), sys.intern(tag)))
                known = by_image.get(key)
                if known is None:
                    by_image[key] = mention  # one mention per image is the rule: no list for it
                elif isinstance(known, list):
                    known.append(mention)
                else:
                    by_image[key] = [known, mention]
        for found in by_image.values():
            if isinstance(found, list):
                found.sort(key=lambda m: (m.started, m.position))
        self._by_image = by_image
        self.entries = []

    def mentions(self, record: rl.Record) -> list[Mention]:
        """The entries naming this record's image, oldest start first."""
        if self._by_image is None:
            self.index()
        assert self._by_image is not None
        name = f"{record.namespace}/{record.repository}"
        found = _listed(self._by_image.get((name, record.tag)))
        untagged = _listed(self._by_image.get((name, ""))) if record.tag else []
        if untagged:
            found = sorted([*found, *untagged], key=lambda m: (m.started, m.position))
        return [m for m in found if m.names(record)]

    restart: bool = False  # a record written since the cursor's chain began is not covered: start over next run

    def is_old(self, record: rl.Record) -> bool:
        """The record existed when the entries skipped by this run were read (so they were judged for it)."""
        return self.since is None or written_before(record, self.since)

    def judge(self, record: rl.Record) -> None:
        """Note a record left undecided: if it is young and this run's reading does not cover it, start over."""
        if not self.is_old(record) and not self.covers(record):
            self.restart = True

    def covers(self, record: rl.Record) -> bool:
        """Every entry that could prove this record (started after its push, give or take) was read."""
        floor = self.old_floor if self.is_old(record) else self.top_floor
        return floor == EARLIEST or (floor != LATEST and floor + ORDER_MARGIN < rl.parse_time(record.pushedAt))

    def judged_on(self, index: int, record: rl.Record) -> bool:
        """A failure at `index` counts when every newer entry was read, now or (for old records) before."""
        return index < self.top or self.is_old(record)


def _listed(found: Mention | list[Mention] | None) -> list[Mention]:
    if found is None:
        return []
    return found if isinstance(found, list) else [found]


class _Pager:
    """Entries by absolute index (0 = newest), over TCR's pages, counting calls against an allowance."""

    def __init__(self, fetch: Fetch, allowance: int, base: int | None) -> None:
        self.fetch = fetch
        self.allowance = allowance
        self.calls = 0
        self.limit = PAGE
        self.base = base
        self.first: list[LogEntry] = []
        self.status = SyncStatus(None, None)
        self.ignores_paging = False
        self.second: list[LogEntry] | None = None  # page 1 as the probe read it, when numbering starts at 0

    def can_call(self) -> bool:
        return self.calls < self.allowance

    def _call(self, page: int) -> list[LogEntry]:
        self.calls += 1
        return list(self.fetch(page, self.limit).entries)

    def open(self) -> list[LogEntry]:
        """Page 0: the sync status, the answer's shape and the newest entries."""
        self.calls += 1
        self.status = self.fetch(0, PAGE)
        if self.status.one_entry_per_page:
            self.limit = 1
        self.first = list(self.status.entries)
        return self.first

    def head_moved(self) -> bool | None:
        """Page 0 again: did entries arrive at the head since it was last read? None when the allowance is spent."""
        if not self.can_call():
            return None
        self.calls += 1
        head = list(self.fetch(0, self.limit).entries)
        moved = [entry_key(e) for e in head] != [entry_key(e) for e in self.first]
        self.first = head
        return moved

    def probe(self) -> bool:
        """Page 1, to learn whether numbering starts at 0 or 1 (pages 0 and 1 alike); False when the allowance is
        spent. The log may move down meanwhile (a push starts a replication): page 0 moved down still begins with
        entries of the first page read, page 1 ends with some; a one-entry page tells nothing, so page 0 is read
        again until it did not move around the probe (`first` is then page 0 as it was at the probe).
        """
        first = [entry_key(e) for e in self.first]
        while True:
            if not self.can_call():
                return False
            probe = self._call(1)
            keys = [entry_key(e) for e in probe]
            if self.limit > 1 and len(first) > 1:
                same = any(keys[k:] == first[: len(keys) - k] for k in range(len(keys)) if keys[k:])
                break
            moved = self.head_moved()
            if moved is None:
                return False
            if not moved:
                same = keys == first
                break
            first = [entry_key(e) for e in self.first]
        self.base = 1 if same else 0
        self.second = None if same else probe
        return True

    def page(self, index: int) -> list[LogEntry] | None:
        """Page `index` (0-based, of `limit` entries); None when the allowance is spent."""
        if index == 0:
            return self.first
        if self.base is None and not self.probe():
            return None
        if index == 1 and self.second is not None:
            second, self.second = self.second, None  # once: the log may have moved since
            return second
        if not self.can_call():
            return None
        return self._call(index + (self.base or 0))


class _Walk:
    """The log as it was when the run began (index 0 = the newest entry then), over a log that may move down
    while it is read: a push starts a replication, its entry comes first and every other one is a page further.
    An entry read before shows how far the log moved; entries read before are left out."""

    def __init__(self, pager: _Pager) -> None:
        self.pager = pager
        self.known = {entry_key(e): i for i, e in enumerate(pager.first)}
        self.shift = 0  # entries that arrived at the head since the run began, as far as seen
        self.short = False  # the last page was short: the end of the log
        self.repeated_deep = False  # the last page repeated an entry read before that is not on the first page

    def at(self, index: int) -> list[LogEntry] | None:
        """The unread entries of the page holding `index`, from `index` on (maybe none); None: allowance spent."""
        limit = self.pager.limit
        number = (index + self.shift) // limit
        page = self.pager.page(number)
        if page is None:
            return None
        self.short = len(page) < limit
        self.repeated_deep = False
        fresh: list[tuple[int, LogEntry]] = []
        for j, entry in enumerate(page):
            key = entry_key(entry)
            if key in self.known:
                self.shift = number * limit + j - self.known[key]
                self.repeated_deep = self.repeated_deep or self.known[key] >= limit
            else:
                fresh.append((number * limit + j, entry))
        out = []
        for offset, entry in fresh:
            position = offset - self.shift
            if position >= index:
                self.known[entry_key(entry)] = position
                out.append(entry)
        return out


def read(
    fetch: Fetch,
    *,
    oldest: datetime | None,
    recent: datetime | None = None,
    allowance: int,
    cursor: Mapping[str, Any] | None,
    now: datetime,
) -> LogRead:
    """Read the log back to `oldest` (the oldest pending push; None: the first page only) within `allowance` calls.

    `recent`: the oldest push among the records written since the cursor's `since` (they are judged on this
    run's contiguous reading only, so that reading goes back to them).
    """
    out = LogRead()
    if allowance < 1:
        out.complete = oldest is None
        out.cursor = dict(cursor) if cursor else None
        return out
    pager = _Pager(fetch, allowance, cursor.get("base") if cursor else None)
    first = pager.open()
    out.status = pager.status.status
    out.last_sync = pager.status.last_sync
    chain = _usable(cursor, pager.limit, now)
    after = int(chain["after"]) if chain else 0

    top = list(first)
    ended = len(first) < pager.limit
    anchor_at = _find(top, chain)

    def top_done() -> bool:
        if ended or _reaches(_floor(top, False), oldest):
            return True
        if anchor_at is None or not _reaches(_floor(top, False), recent):
            return False
        return anchor_at + after > len(top)  # what lies between was read by earlier runs

    if pager.base is None and not top_done() and pager.probe():
        top = list(pager.first)  # the log as it was at the probe (it may have moved since page 0 was read)
        ended = len(top) < pager.limit
        anchor_at = _find(top, chain)
    walk = _Walk(pager)

    while not top_done():
        page = walk.at(len(top))
        if page is None:
            break
        if not page and not walk.short:
            # nothing new: either the log moved down meanwhile (go on from where it now is), or TCR answers
            # the first page whatever the page number (it shows no more than this); only the latter repeats
            # nothing but first-page entries, and then page 0 read again tells which
            if walk.repeated_deep:
                continue
            moved = pager.head_moved()
            if moved is None:
                break
            if not moved:
                pager.ignores_paging = True
                break
            continue
        top.extend(page)
        ended = walk.short
        if anchor_at is None:
            anchor_at = _find(top, chain)

    out.entries = list(top)
    out.top = len(top)
    out.top_floor = out.old_floor = _floor(top, ended)
    relied = (
        chain is not None
        and anchor_at is not None
        and not _reaches(out.top_floor, oldest)
        and anchor_at + after > len(top)
    )
    deep: list[LogEntry] = []
    since = now
    if chain is not None and anchor_at is not None and relied:
        since = parse_or_none(chain.get("since")) or now
        out.since = since
        out.old_floor = _floor_text(chain.get("floor"))
        position = anchor_at + after
        deep_ended = False
        while not deep_ended and not _reaches(out.old_floor, oldest):
            page = walk.at(position)
            if page is None:
                break
            if not page and not walk.short:
                if walk.repeated_deep:
                    continue
                moved = pager.head_moved()
                if moved is None:
                    break
                if moved:
                    continue
            deep.extend(page)
            deep_ended = walk.short
            position += len(page) if page else pager.limit
            out.old_floor = _floor(deep, deep_ended) if deep or deep_ended else out.old_floor
        out.entries.extend(deep)
    out.complete = _reaches(out.old_floor, oldest) or pager.ignores_paging
    out.calls = pager.calls
    if top and not pager.ignores_paging:
        unread = anchor_at + after + len(deep) if relied and anchor_at is not None else len(top)
        out.cursor = _next_cursor(top, unread, out.old_floor, since, pager)
    return out


def _reaches(floor: datetime, when: datetime | None) -> bool:
    """Reading down to `floor` covers every entry that started from `when` on (give or take the order margin)."""
    if when is None or floor == EARLIEST:
        return True
    return floor != LATEST and floor + ORDER_MARGIN < when


def _usable(cursor: Mapping[str, Any] | None, limit: int, now: datetime) -> Mapping[str, Any] | None:
    """The cursor, if it was made for this answer shape, is well formed and young enough to trust."""
    if not cursor or cursor.get("limit") != limit or not isinstance(cursor.get("anchor"), str):
        return None
    since = parse_or_none(cursor.get("since"))
    after = cursor.get("after")
    if since is None or now - since > CURSOR_LIFE or not isinstance(after, int) or after < 1:
        return None
    return cursor


def _find(entries: list[LogEntry], chain: Mapping[str, Any] | None) -> int | None:
    if not chain:
        return None
    for i, entry in enumerate(entries):
        if entry_key(entry) == chain.get("anchor"):
            return i
    return None


def _floor(entries: list[LogEntry], ended: bool) -> datetime:
    """Every entry that started at or after this was read (EARLIEST: the whole log, LATEST: nothing)."""
    if ended:
        return EARLIEST
    for entry in reversed(entries):
        if entry.started is not None:
            return entry.started
    return LATEST


def _floor_text(text: Any) -> datetime:
    if text == "end":
        return EARLIEST
    return parse_or_none(text) or LATEST


def _next_cursor(top: list[LogEntry], unread: int, floor: datetime, since: datetime, pager: _Pager) -> dict[str, Any]:
    """Re-read down to the oldest entry still in progress (its outcome is still owed), skip to `unread`."""
    unfinished = [i for i, e in enumerate(top) if not e.finished]
    anchor = unfinished[-1] if unfinished else 0
    return {
        "anchor": entry_key(top[anchor]),
        "after": unread - anchor,
        "floor": "end" if floor == EARLIEST else "" if floor == LATEST else rl.iso_utc(floor),
        "since": rl.iso_utc(since),
        "base": pager.base,
        "limit": pager.limit,
    }
