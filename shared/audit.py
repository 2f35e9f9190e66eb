"""Audit (DESIGN.md §6): resolve pending replications, archive TCR's log, find drift, report, notify.

Idempotent, because SCF retries timer invocations: the run id derives from the timer event, record
keys are deterministic, notification ids are stable, and what was already announced (late
records, partly replicated events) is kept in a small per-instance state object. Pending
records come from list pages only; resolved ones leave the inbox in batches.

Pushes the webhook stored unexpanded (TCR could not list the replicas) are expanded first, with
the replica list of this run: a replica created after the push is not owed the image.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from shared import app, dashboard, jsontext, log, notify, reconcile, regions, rules, schemas
from shared import policy as policy_mod
from shared import records as rl
from shared import replication_log as tlog
from shared.config import Config
from shared.errors import ApiError, ConfigError, LogStoreError
from shared.ports import Instance, LogStorePort, NotifierPort, Replica, SyncStatus, TcrPort
from shared.regions import Region
from shared.times import parse_or_none

if TYPE_CHECKING:
    from shared.logstore import InboxItem
    from shared.runtime import Deadline

DEPLOYING_GRACE = timedelta(minutes=30)
CLOCK_SKEW = timedelta(seconds=2)
LATE_MEMORY = 20000
SUCCEEDED = tlog.SUCCEEDED
FAILED = ("failed", "fail", "error")
MAX_OUTBOX = 2000  # notices a receiver keeps refusing are dropped (oldest first) past this many
SETTLED_LOOKBACK_S = 600  # see Auditor._already_resolved

PROFILE = app.Profile("audit", default_limit_s=900.0, margin_s=5.0)


@dataclass
class Options:
    instances: list[str] | None = None
    sla_seconds: int = 900
    notify: bool = True


def parse_options(message: Any, default_sla: int) -> Options:
    """The timer trigger's `Message` (argument): empty, or JSON options validated by `timer.options`."""
    if message is None or (isinstance(message, str) and not message.strip()):
        return Options(sla_seconds=default_sla)
    try:
        data = jsontext.loads(message) if isinstance(message, str) else message
    except jsontext.DuplicateKey as exc:
        raise ApiError("InvalidJSON", f"Message: {exc}; send each option once") from None
    except ValueError:
        raise ApiError(
            "InvalidRequest", "Message: must be empty or a JSON object of audit options (rule: type)"
        ) from None
    schemas.validate("timer.options", data, where="Message")
    return Options(
        instances=data.get("instances"),
        sla_seconds=int(data.get("slaSeconds", default_sla)),
        notify=bool(data.get("notify", True)),
    )


def run_id_of(event: Mapping[str, Any], now: datetime) -> str:
    """The same timer event (an SCF retry) gives the same run id, so the retry overwrites its report."""
    basis = f"{event.get('TriggerName', '')}|{event.get('Time') or now.strftime('%Y-%m-%dT%H:%M')}"
    stamp = now.strftime("%Y%m%dT%H%M")
    if event.get("Time"):
        try:
            stamp = rl.parse_time(event["Time"]).strftime("%Y%m%dT%H%M%S")
        except ValueError:
            pass
    return f"{stamp}-{hashlib.sha256(basis.encode()).hexdigest()[:10]}"


# -- matching a pending record against what TCR says ---------------------------------------------------


@dataclass
class ReplicaView:
    """A replica as this run sees it: what TCR lists, then what its sync status and log say."""

    replica_id: str
    region: str
    region_id: int | None
    status: str
    created: datetime | None
    sync_status: str | None = None
    last_sync: datetime | None = None
    log: tlog.LogRead = field(default_factory=tlog.LogRead)
    error: str | None = None  # TCR refused to report this replica's sync status

    @classmethod
    def of(cls, replica: Replica) -> ReplicaView:
        return cls(replica.replica_registry_id, replica.region, replica.region_id, replica.status, replica.created)


class Decision(NamedTuple):
    status: str  # replicated, failed, late or pending
    at: datetime | None = None  # replicatedAt
    reason: str = ""
    hint: str | None = None  # the replica synced after the push, but TCR's log did not name the image


def decide(record: rl.Record, replica: ReplicaView | None, now: datetime, sla: int) -> Decision:
    """One pending record against TCR's replication log: resolved only on an entry that names its image.

    A successful sync of the replica says nothing about which images it carried (TCR never received a push a
    forged or mistaken webhook reported), so it only adds a hint to a record the log read does not name.
    """
    pushed = rl.parse_time(record.pushedAt)
    if replica is None:
        return Decision("failed", None, "the replica no longer exists")
    log = replica.log
    named = False
    failure = ""
    for mention in log.mentions(record):
        if mention.started + CLOCK_SKEW < pushed:
            continue
        named = True
        state = mention.status.lower()
        if state in SUCCEEDED:  # a later success outweighs an earlier failure
            return Decision("replicated", mention.ended or mention.started, "TCR replication log")
        if state in FAILED and not failure and log.judged_on(mention.position, record):
            failure = f"TCR replication log reports {mention.status} for {mention.source}"
    if failure:
        return Decision("failed", None, failure)
    hint = None
    synced = replica.last_sync
    if (
        not named
        and synced is not None
        and synced >= pushed
        and str(replica.sync_status or "").lower() in SUCCEEDED
        and log.covers(record)
    ):
        hint = rl.unconfirmed_hint(synced)
    if (now - pushed).total_seconds() > sla:
        return Decision("late", None, f"not replicated within {sla} s", hint)
    return Decision("pending", None, "", hint)


# -- one instance ----------------------------------------------------------------------------------------


@dataclass
class InstanceAudit:
    registry_id: str
    report: dict[str, Any]
    observations: list[Any] = field(default_factory=list)  # what the dashboard can use of this run's decisions


class Auditor:
    def __init__(self, tcr: TcrPort, store: LogStorePort, config: Config, *, now: datetime, deadline: Deadline) -> None:
        self.tcr = tcr
        self.store = store
        self.config = config
        self.now = now
        self.deadline = deadline
        self.policy = policy_mod.parse(config.policy)
        self.tcr_budget = config.audit_tcr_call_budget
        self.tcr_calls = 0  # DescribeReplicationInstanceSyncStatus calls of this run, all instances
        self.log_pool: dict[Any, Any] = {}  # values shared by the replicas' log indexes (replication_log.index)

    def _replicas(self, inst: Instance) -> list[ReplicaView]:
        return [ReplicaView.of(rep) for rep in self.tcr.list_replicas(inst.registry_id, region=inst.region)]

    def _sync(
        self,
        inst: Instance,
        view: ReplicaView,
        oldest_pending: datetime | None,
        recent: datetime | None,
        allowance: int,
        cursor: Mapping[str, Any] | None,
    ) -> int:
        """Sync status and TCR's log back to the replica's oldest pending push, within `allowance` calls;
        archive the finished entries read."""
        registry_id = inst.registry_id

        def fetch(page: int, limit: int) -> SyncStatus:
            self.tcr_calls += 1
            return self.tcr.sync_status(
                registry_id, view.replica_id, view.region_id, show_log=True, page=page, limit=limit, region=inst.region
            )

        view.log = tlog.read(
            fetch, oldest=oldest_pending, recent=recent, allowance=allowance, cursor=cursor, now=self.now
        )
        view.sync_status = view.log.status
        view.last_sync = view.log.last_sync
        archived = [e for e in view.log.entries if e.finished]  # an entry in progress changes later
        count = self.store.archive_tcr_log(registry_id, view.replica_id, view.region, archived) if archived else 0
        view.log.index(self.log_pool)  # the run keeps what matching needs, not the entries (memory stays small)
        return count

    def _health(self, views: Iterable[ReplicaView]) -> list[dict[str, Any]]:
        problems = []
        for v in views:
            created = v.created
            if v.error:
                problems.append(
                    {"replicaRegistryId": v.replica_id, "region": v.region, "status": "Unknown", "detail": v.error}
                )
                continue
            if v.status == "Running":
                continue
            if v.status == "Deploying" and (created is None or self.now - created < DEPLOYING_GRACE):
                continue
            problems.append({"replicaRegistryId": v.replica_id, "region": v.region, "status": v.status})
        return problems

    def _sync_safely(
        self,
        inst: Instance,
        view: ReplicaView,
        oldest: datetime | None,
        recent: datetime | None,
        allowance: int,
        cursor: Mapping[str, Any] | None,
    ) -> int:
        """One replica's sync status and log; a refusal (e.g. the replica is being deleted) is a finding."""
        try:
            return self._sync(inst, view, oldest, recent, allowance, cursor)
        except ApiError as exc:
            if exc.status in (429, 503):
                raise  # throttled or unavailable: the whole instance waits for the next run
            view.error = f"{exc.code}: {exc.message}"
            return 0

    def _read_logs(
        self, inst: Instance, views: list[ReplicaView], first: list[InboxItem], run: _Run, *, more: bool, share: int
    ) -> int:
        """Each replica's log within this instance's part of the run's call budget (what one leaves, the next gets)."""
        oldest = _oldest_pending(first, [v.replica_id for v in views], more=more)
        recent = _recent_pushes(first, run.log_cursors)
        archived = 0
        spent = self.tcr_calls
        for i, view in enumerate(views):
            allowance = max(0, share - (self.tcr_calls - spent)) // (len(views) - i)
            rid = view.replica_id
            cursor = run.log_cursors.get(rid)
            archived += self._sync_safely(inst, view, oldest.get(rid), recent.get(rid), allowance, cursor)
        return archived

    def audit(
        self, inst: Instance, options: Options, notifier: NotifierPort, *, instances_left: int = 1
    ) -> InstanceAudit:
        registry_id = inst.registry_id
        primary = regions.find(inst.region)
        views = self._replicas(inst)
        run = _Run(registry_id, {v.replica_id: v for v in views}, options)
        run.notify = bool(options.notify and notifier.enabled)
        run.state = self.store.get_state(registry_id)
        run.late_seen = set(run.state.get("late", []))
        run.partial = dict(run.state.get("partial", {}))
        # always kept: a silent run (notify:false) or a disabled notifier leaves queued notices for a notifying run
        run.outbox = [n for n in run.state.get("outbox", []) if isinstance(n, dict)]
        run.hints = {k: v for k, v in dict(run.state.get("hints") or {}).items() if isinstance(v, str)}
        run.reopened = run.late_seen | set(run.hints)  # what the dashboard history may show open
        cursors = dict(run.state.get("logCursors") or {})
        run.log_cursors = {k: v for k, v in cursors.items() if k in run.replicas and isinstance(v, dict)}
        expansion = {"expanded": 0, "records": 0, "nothingOwed": 0, "duplicates": 0}
        pages: Iterator[list[InboxItem]] = (
            self._expand(inst, views, items, expansion) for items in self.store.inbox_pages(registry_id)
        )
        first = next(pages, [])
        second = next(pages, None)
        if second is not None:
            pages = itertools.chain([second], pages)
        share = max(0, self.tcr_budget - self.tcr_calls) // max(1, instances_left)
        archived = self._read_logs(inst, views, first, run, more=second is not None, share=share)

        for items in itertools.chain([first], pages):
            self._resolve_page(run, items)
            if self.deadline.remaining() < 30:
                run.complete = False  # the rest waits for the next run; what is done is saved
                break
        if run.complete:
            # every pending record was judged on what was read: the next run may skip it
            run.log_cursors = {
                v.replica_id: v.log.cursor for v in views if v.log.cursor is not None and not v.log.restart
            }
            run.hints = {k: v for k, v in run.hints.items() if k in run.still_pending}
        if run.log_cursors != run.state.get("logCursors", {}) or run.hints != run.state.get("hints", {}):
            self._save_state(run)
        access = self._private_access(inst, views)
        findings = self._findings(inst, primary, views, run, access)
        deliveries = self._deliver(run, notifier)
        report = {
            "registryId": registry_id,
            "primaryRegion": inst.region,
            "replicas": [
                {
                    "replicaRegistryId": v.replica_id,
                    "region": v.region,
                    "status": v.status,
                    "replicationStatus": v.sync_status,
                    "lastSyncAt": rl.iso_utc(v.last_sync) if v.last_sync else None,
                    "logCalls": v.log.calls,
                    "logReadComplete": v.log.complete and v.error is None,
                }
                for v in views
            ],
            "unexpandedEvents": expansion,
            "pendingBefore": run.seen_count,
            "resolved": {"replicated": run.counts["replicated"], "failed": run.counts["failed"]},
            "alreadyResolved": run.counts["settled"],
            "stillPending": len(run.still_pending),
            "late": run.counts["late"],
            "newlyLate": run.newly_late,
            "unconfirmed": run.counts["unconfirmed"],
            "logReadComplete": all(v.log.complete and v.error is None for v in views),
            "tcrLogEntriesArchived": archived,
            "segmentsWritten": run.segments,
            "complete": run.complete,
            "findings": findings,
            "privateAccess": access.report(),
            "notifications": {"kinds": dict(run.note_kinds), **notify.summarize(deliveries)},
        }
        return InstanceAudit(registry_id, report, run.observations)

    def _expand(
        self, inst: Instance, views: list[ReplicaView], items: list[InboxItem], counts: dict[str, int]
    ) -> list[InboxItem]:
        """Expand the unexpanded pushes of one inbox page into per-replica records (written before the page is
        resolved); an event already expanded, or owed to no replica, just leaves the inbox."""
        if not any(item.event is not None for item in items):
            return items
        known = {r.eventId for item in items if item.event is None for r in item.records}
        expansions: list[tuple[str, list[rl.Record]]] = []
        dropped: list[str] = []
        for item in items:
            event = item.event
            if event is None:
                continue
            if event.eventId in known:  # redelivered once TCR answered again: the expanded form stands
                dropped.append(item.key)
                counts["duplicates"] += 1
                continue
            owed = [(v.replica_id, v.region) for v in views if _owed(v, event.pushedAt)]
            if not owed:
                dropped.append(item.key)
                counts["nothingOwed"] += 1
                log.event("audit.nothing-owed", registryId=event.registryId, eventId=event.eventId)
                continue
            status = "deleted" if event.eventType == "deleteImage" else "pending"
            recs = event.records(primary_region=inst.region, replicas=owed, now=self.now, status=status)
            expansions.append((item.key, recs))
            known.add(event.eventId)
            counts["expanded"] += 1
            counts["records"] += len(recs)
        added = self.store.expand_events(expansions, dropped)
        return [item for item in items if item.event is None] + added

    def _save_state(self, run: _Run) -> None:
        state = {
            "late": sorted(run.late_seen - run.resolved_ids)[-LATE_MEMORY:],
            "partial": run.partial,
            "outbox": run.outbox[-MAX_OUTBOX:],
            "hints": dict(sorted(run.hints.items())[-LATE_MEMORY:]),
            "logCursors": run.log_cursors,
        }
        if state != {k: run.state.get(k, [] if k in ("late", "outbox") else {}) for k in state}:
            self.store.put_state(run.registry_id, state)
            run.state = state

    def _already_resolved(self, run: _Run, records: list[rl.Record]) -> set[tuple[str, str]]:
        """Ids of these records that a segment already holds (a push redelivered after it was resolved).

        Only segments holding a push at or after the oldest of these can hold one (a segment's name tells), so
        the rest of the day is not read again each run. SETTLED_LOOKBACK_S covers a push recorded at receipt
        (its sender's time ran ahead) and received again a little later, with a later push time.
        """
        oldest: dict[tuple[str, str], str] = {}
        for r in records:
            where = (r.replicaRegion, r.day)
            oldest[where] = min(oldest.get(where, r.pushedAt), r.pushedAt)
        found: set[tuple[str, str]] = set()
        for (region, day), pushed in sorted(oldest.items()):
            since = rl.parse_time(pushed) - timedelta(seconds=SETTLED_LOOKBACK_S)
            known = run.segment_ids.get((region, day))
            if known is None or since < known[0]:
                stored = self.store.read_segments(run.registry_id, region, day, since=since)
                known = (since, {r.record_id for r in stored if r.status != "pending"})
                run.segment_ids[(region, day)] = known
            found |= {r.record_id for r in records if r.record_id in known[1]}
        return found

    def _resolve_page(self, run: _Run, items: list[InboxItem]) -> None:
        """Decide one inbox page; keep its notices in the outbox, then move the resolved out (batched).

        The outbox and the announcement state are saved before the inbox changes, so a crash or an SCF
        retry can repeat the page but never lose a notice or announce one twice.
        """
        pending = [
            r
            for item in items
            for r in item.records
            if r.status == "pending" and r.replicaRegistryId not in run.seen.get(r.eventId, ())
        ]
        for rec in pending:
            run.seen[rec.eventId] = (*run.seen.get(rec.eventId, ()), rec.replicaRegistryId)
        run.seen_count += len(pending)
        if not pending:
            return
        settled = self._already_resolved(run, pending)
        run.counts["settled"] += len(settled)
        for e, r in settled:
            run.hints.pop(f"{e}:{r}", None)
            if f"{e}:{r}" in run.late_seen:
                run.resolved_ids.add(f"{e}:{r}")
        pending = [r for r in pending if r.record_id not in settled]
        resolved: list[rl.Record] = []
        notes: list[notify.Notification] = []
        observed: list[dashboard.Observation] = []
        for record in pending:
            status, at, reason, hint = decide(
                record, run.replicas.get(record.replicaRegistryId), self.now, run.options.sla_seconds
            )
            run.counts[status] += 1
            rid = f"{record.eventId}:{record.replicaRegistryId}"
            replica = run.replicas.get(record.replicaRegistryId)
            unconfirmed = bool(hint and replica is not None and replica.last_sync is not None)
            if unconfirmed and replica is not None and replica.last_sync is not None:
                run.counts["unconfirmed"] += 1
                run.hints[rid] = rl.iso_utc(replica.last_sync)
            else:
                run.hints.pop(rid, None)
            # TCR's times are whole seconds: an end can read earlier than the push by a fraction
            lag = round(max(0.0, (at - rl.parse_time(record.pushedAt)).total_seconds()), 3) if at else None
            observed.append(_observation(record, status, lag, (hint or "") if unconfirmed else ""))
            if status in ("replicated", "failed"):
                resolved.append(
                    record.with_status(status, updated_at=self.now, replicated_at=at, lag_seconds=lag, source="audit")
                )
                if rid in run.late_seen:  # (only what was announced late matters: the state's late list)
                    run.resolved_ids.add(rid)
                if status == "failed":
                    notes.append(notify.failed(*_image_args(record), reason))
                continue
            run.still_pending.add(rid)
            if replica is not None:
                replica.log.judge(record)
            if status == "late" and rid not in run.late_seen:
                run.late_seen.add(rid)
                run.newly_late += 1
                waited = round((self.now - rl.parse_time(record.pushedAt)).total_seconds(), 1)
                note = notify.late(*_image_args(record), run.options.sla_seconds, waited)
                if hint:
                    note.body["hint"] = hint
                notes.append(note)
        notes.extend(self._announce_complete_events(run, pending, resolved))
        _note(run, notes)
        # what the dashboard can use, not one observation per record (memory stays bounded over 100,000 records)
        run.observations = dashboard.reduce([*run.observations, *observed], run.reopened)
        self._save_state(run)
        if resolved or settled:
            result = self.store.resolve(run.registry_id, resolved, items, settled=settled)
            run.segments += len(result.segments_written)

    def _deliver(self, run: _Run, notifier: NotifierPort) -> list[notify.Delivery]:
        """Send the outbox (this run's notices and any a receiver refused before); keep what failed."""
        if not run.notify:
            return []
        pending = [notify.Notification(kind=b["kind"], id=b["id"], body=b) for b in run.outbox if "id" in b]
        try:
            deliveries = notifier.send_all(pending, self.deadline)
        except Exception as exc:  # a notifier bug must not cost the report: all stay queued
            log.event("audit.notify-error", level="error", registryId=run.registry_id, error=type(exc).__name__)
            deliveries = [notify.Delivery(n.id, n.kind, "failed", error=type(exc).__name__) for n in pending]
        sent = {d.id for d in deliveries if d.outcome == "sent"}
        kept: dict[str, dict[str, Any]] = {}  # once per id: a finding announced again each run is queued once
        for n in pending:
            if n.id not in sent:
                kept.setdefault(n.id, n.body)
        run.outbox = list(kept.values())
        self._save_state(run)
        return deliveries

    @staticmethod
    def _announce_complete_events(
        run: _Run, pending: list[rl.Record], resolved: list[rl.Record]
    ) -> list[notify.Notification]:
        """One "replicated everywhere" notice per event whose last pending replica resolved now, none failed."""
        notes: list[notify.Notification] = []
        resolved_by_id = {r.record_id: r for r in resolved}
        by_event: dict[str, list[rl.Record]] = {}
        for r in pending:
            by_event.setdefault(r.eventId, []).append(r)
        for event_id, recs in by_event.items():
            now_done = [resolved_by_id[r.record_id] for r in recs if r.record_id in resolved_by_id]
            if not now_done:
                continue
            earlier = run.partial.get(event_id, {})
            if len(now_done) < len(recs):
                earlier.update({r.replicaRegistryId: _brief(r) for r in now_done})
                run.partial[event_id] = earlier
                continue
            run.partial.pop(event_id, None)
            everything = list(earlier.values()) + [_brief(r) for r in now_done]
            if all(e["status"] == "replicated" for e in everything):
                first = now_done[0]
                registry_id, repository, tag, digest, pushed_at = _image_args(first)[:5]
                notes.append(
                    notify.replicated(
                        registry_id, repository, tag, digest, pushed_at, everything, primary_region=first.primaryRegion
                    )
                )
        return notes

    def _private_access(self, inst: Instance, views: list[ReplicaView]) -> reconcile.Converged:
        """Private access converged to the state the replica API recorded (TCR failures: skipped, reported)."""
        replicas = [Replica(v.replica_id, v.region, v.region_id, v.status) for v in views]
        return reconcile.converge(self.tcr, self.store, inst, replicas, self.now)

    def _findings(
        self,
        inst: Instance,
        primary: Region | None,
        views: list[ReplicaView],
        run: _Run,
        access: reconcile.Converged | None = None,
    ) -> list[dict[str, Any]]:
        """Policy drift, unhealthy replicas and private access, each with its notification (one id per finding
        and day)."""
        registry_id = inst.registry_id
        notes: list[notify.Notification] = []
        period = self.now.strftime("%Y-%m-%d")
        findings: list[dict[str, Any]] = []
        if primary is not None:
            drift = rules.audit_violations(primary, [rules.Replica(v.replica_id, v.region) for v in views], self.policy)
            findings.extend({"kind": "policy_violation", **v.to_dict()} for v in drift)
            if drift:
                notes.append(
                    notify.policy_violation(
                        registry_id, [v.to_dict() for v in drift], period=period, primary_region=primary.name
                    )
                )
        for p in self._health(views):
            findings.append({"kind": "replica_unhealthy", **p})
            notes.append(
                notify.replica_unhealthy(
                    registry_id, p["replicaRegistryId"], p["region"], p["status"], period=period, detail=p.get("detail")
                )
            )
        for finding in access.findings if access is not None else []:
            findings.append(finding)
            notes.append(notify.PRIVATE_ACCESS_BUILDERS[finding["kind"]](registry_id, finding, period=period))
        _note(run, notes)
        return findings


@dataclass
class _Run:
    """What one audit run of one instance has seen and decided so far (across inbox pages)."""

    registry_id: str
    replicas: dict[str, ReplicaView]
    options: Options
    # eventId -> the replicas whose record of it this run decided (an event's replica ids are few and interned)
    seen: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seen_count: int = 0
    still_pending: set[str] = field(default_factory=set)
    resolved_ids: set[str] = field(default_factory=set)
    late_seen: set[str] = field(default_factory=set)
    partial: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"replicated": 0, "failed": 0, "late": 0, "pending": 0, "settled": 0, "unconfirmed": 0}
    )
    note_kinds: dict[str, int] = field(default_factory=dict)  # notices of this run by kind (the report)
    observations: list[Any] = field(default_factory=list)
    reopened: set[str] = field(default_factory=set)  # record ids earlier runs left late or unconfirmed
    outbox: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)  # record id -> the replica's last sync (no log entry)
    log_cursors: dict[str, dict[str, Any]] = field(default_factory=dict)  # replica id -> where its log read resumes
    segment_ids: dict[tuple[str, str], tuple[datetime, set[tuple[str, str]]]] = field(default_factory=dict)
    notify: bool = False
    newly_late: int = 0
    segments: int = 0
    complete: bool = True


def _note(run: _Run, notes: list[notify.Notification]) -> None:
    """Count this run's notices by kind; queue them when it notifies."""
    for n in notes:
        run.note_kinds[n.kind] = run.note_kinds.get(n.kind, 0) + 1
    if run.notify:
        run.outbox.extend(n.body for n in notes)


def _observation(record: rl.Record, status: str, lag: float | None, hint: str) -> dashboard.Observation:
    """A pending push with a hint but not yet late is shown as unconfirmed: the replica synced, the log is silent."""
    shown = "unconfirmed" if hint and status == "pending" else status
    image = f"{record.namespace}/{record.repository}" + (f":{record.tag}" if record.tag else "")
    return dashboard.Observation(
        record.eventId,
        record.replicaRegistryId,
        record.replicaRegion,
        image,
        record.digest,
        rl.parse_time(record.pushedAt),
        shown,
        lag if status == "replicated" else None,
        hint,
    )


def _publish_page(
    store: LogStorePort, inst: Instance, report: dict[str, Any], result: InstanceAudit, now: datetime, took: float
) -> None:
    """The dashboard beside the report: history merged, page and JSON written as latest and dated copies."""
    registry_id = result.registry_id
    history_key = rl.state_key(registry_id, "dashboard")
    history = dashboard.merge(store.get_json(history_key), result.observations, now)
    store.put_json(history_key, history)
    day, run_id = now.strftime("%Y-%m-%d"), str(report["runId"])
    page = dashboard.render(
        report,
        history,
        now=now,
        domain=inst.public_domain,
        duration_s=round(took, 1),
        links={"this report as JSON (replica API: GET .../report.json)": "report.json"},
        private_access=(report.get("privateAccess") or {}).get("regions") or {},
    )
    for key in (rl.instance_report_key(registry_id, "html", day, run_id), rl.instance_report_key(registry_id, "html")):
        store.put_text(key, page, "text/html; charset=utf-8")
    store.put_json(rl.instance_report_key(registry_id, "json"), report)


def _owed(view: ReplicaView, pushed_at: str) -> bool:
    """A replica created after the push does not get the image (TCR replicates what is pushed from then on)."""
    return view.created is None or view.created <= rl.parse_time(pushed_at)


def _list_instances(tcr: TcrPort, ids: list[str] | None) -> list[Instance]:
    """The named instances, or every instance. TCR refuses to name an instance that is not Running
    (ErrorInstanceNotRunning): then they are picked out of the whole listing."""
    if not ids:
        return list(tcr.describe_instances())
    try:
        return list(tcr.describe_instances(ids))
    except ApiError as exc:
        if exc.code != "InstanceNotRunning":
            raise
        return [i for i in tcr.describe_instances() if i.registry_id in ids]


def _place_host_events(store: LogStorePort, listed: list[Instance], complete: bool) -> dict[str, int]:
    """Pushes kept under their host (TCR was down and the instance unknown): move each into its instance's
    inbox, still unexpanded. A host of no instance leaves when `listed` is every instance (the webhook would
    have ignored it), and a host of a non-premium instance too (no replicas): both are counted and logged."""
    counts = {"moved": 0, "nothingOwed": 0, "unresolvable": 0, "waiting": 0}
    items = store.list_host_events()
    if not items:
        return counts
    by_host = {i.public_domain: i for i in listed if i.public_domain}
    moves: list[tuple[str, rl.PushEvent]] = []
    dropped: list[str] = []
    for item in items:
        event = item.event
        if event is None:
            continue
        inst = by_host.get(event.host.lower())
        if inst is None and not complete:
            counts["waiting"] += 1
        elif inst is None:
            dropped.append(item.key)
            counts["unresolvable"] += 1
            log.event("audit.unresolvable-push", level="warning", host=event.host, key=item.key)
        elif inst.registry_type.lower() != "premium":
            dropped.append(item.key)
            counts["nothingOwed"] += 1
        else:
            moves.append((item.key, event.for_registry(inst.registry_id)))
            counts["moved"] += 1
    store.relocate_host_events(moves, dropped)
    return counts


def _oldest_pending(items: list[InboxItem], replica_ids: list[str], *, more: bool) -> dict[str, datetime]:
    """Per replica, a time no pending push of it predates: how far back its TCR log must be read.

    Inbox keys sort by day, then by event id: the first page holds the oldest day, and when more pages
    follow, they may hold pushes of the first page's last day from its midnight on.
    """
    oldest: dict[str, datetime] = {}
    days = []
    for item in items:
        for r in item.records:
            days.append(r.day)
            if r.status == "pending":
                pushed = rl.parse_time(r.pushedAt)
                oldest[r.replicaRegistryId] = min(pushed, oldest.get(r.replicaRegistryId, pushed))
    if more and days:
        midnight = rl.parse_time(max(days) + "T00:00:00Z")
        for replica_id in replica_ids:
            oldest[replica_id] = min(midnight, oldest.get(replica_id, midnight))
    return oldest


def _recent_pushes(items: list[InboxItem], cursors: Mapping[str, Mapping[str, Any]]) -> dict[str, datetime]:
    """Per replica with a cursor, the oldest push among records written since its chain began (first page)."""
    recent: dict[str, datetime] = {}
    for item in items:
        for r in item.records:
            since = parse_or_none((cursors.get(r.replicaRegistryId) or {}).get("since"))
            if r.status != "pending" or since is None or tlog.written_before(r, since):
                continue
            pushed = rl.parse_time(r.pushedAt)
            recent[r.replicaRegistryId] = min(pushed, recent.get(r.replicaRegistryId, pushed))
    return recent


def _image_args(r: rl.Record) -> tuple[str, str, str, str, str, str, str]:
    """The leading arguments of the per-image notifications."""
    return (
        r.registryId,
        f"{r.namespace}/{r.repository}",
        r.tag,
        r.digest,
        r.pushedAt,
        r.replicaRegistryId,
        r.replicaRegion,
    )


def _brief(r: rl.Record) -> dict[str, Any]:
    return {
        "replicaRegistryId": r.replicaRegistryId,
        "region": r.replicaRegion,
        "replicatedAt": r.replicatedAt,
        "lagSeconds": r.lagSeconds,
        "status": r.status,
    }


def run(
    event: Mapping[str, Any],
    *,
    tcr: TcrPort,
    store: LogStorePort,
    notifier: NotifierPort,
    config: Config,
    deadline: Deadline,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One audit run over the selected (or every premium) instance; returns the run summary."""
    now = now or datetime.now(timezone.utc)
    schemas.validate("timer.event", event, where="event")
    options = parse_options(event.get("Message"), config.sla_seconds)
    run_id = run_id_of(event, now)
    auditor = Auditor(tcr, store, config, now=now, deadline=deadline)
    listed = _list_instances(tcr, options.instances)
    if options.instances:
        instances = listed
        missing = sorted(set(options.instances) - {i.registry_id for i in instances})
    else:
        instances = [i for i in listed if i.registry_type.lower() == "premium"]
        missing = []
    summary: dict[str, Any] = {
        "runId": run_id,
        "startedAt": rl.iso_utc(now),
        "instances": [],
        "missingInstances": missing,
        "errors": [],
        "complete": True,
    }
    try:
        summary["hostEvents"] = _place_host_events(store, listed, complete=not options.instances)
    except (ApiError, LogStoreError) as exc:
        log.event("audit.host-events-failed", level="error", code=exc.code)
        summary["errors"].append({"registryId": "", "code": exc.code, "message": exc.message})
        summary["complete"] = False
    error = notifier.config_error
    if error is not None:  # NOTIFY_URL or NOTIFY_SECRET is invalid: audit anyway, notices wait in the outbox
        summary["errors"].append({"code": error.code, "variable": error.variable, "message": error.message})
    kinds: dict[str, int] = {}
    sent = {"sent": 0, "skipped": 0, "failed": 0}
    for index, inst in enumerate(sorted(instances, key=lambda i: i.registry_id)):
        registry_id = inst.registry_id
        if deadline.remaining() < 20:
            summary["complete"] = False
            summary["errors"].append(
                {"registryId": registry_id, "code": "Deferred", "message": "no time left; next run"}
            )
            continue
        try:
            began = time.monotonic()
            result = auditor.audit(inst, options, notifier, instances_left=len(instances) - index)
            report = {"runId": run_id, "generatedAt": rl.iso_utc(now), **result.report}
            key = rl.report_key(registry_id, now.strftime("%Y-%m-%d"), run_id)
            store.put_json(key, report)
            _publish_page(store, inst, report, result, now, time.monotonic() - began)
        except (ApiError, LogStoreError) as exc:  # TCR or the bucket failed this instance: the next one goes on
            log.event("audit.instance-failed", level="error", registryId=registry_id, code=exc.code)
            summary["errors"].append({"registryId": registry_id, "code": exc.code, "message": exc.message})
            summary["complete"] = False
            continue
        for kind, n in result.report["notifications"]["kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + n
        for outcome in sent:
            sent[outcome] += result.report["notifications"].get(outcome, 0)
        summary["instances"].append({"registryId": registry_id, "report": key, **_headline(result.report)})
        summary["complete"] = summary["complete"] and result.report["complete"]
    if not (options.notify and notifier.enabled):
        sent["skipped"] = sum(kinds.values())
    summary["notifications"] = {"kinds": kinds, **sent}
    summary["finishedAt"] = rl.iso_utc(datetime.now(timezone.utc))
    store.put_json(rl.LATEST_REPORT_KEY, summary)
    summary["latestReport"] = rl.LATEST_REPORT_KEY
    return summary


def _headline(report: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "unexpandedEvents": report["unexpandedEvents"],
        "pendingBefore": report["pendingBefore"],
        "resolved": report["resolved"],
        "stillPending": report["stillPending"],
        "unconfirmed": report["unconfirmed"],
        "findings": len(report["findings"]),
    }


def _notifier(config: Config) -> notify.Notifier:
    """The configured notifier; invalid notify settings give one that reports itself misconfigured.

    Notifying is not the audit's core: statuses and reports go on, and notices wait in the outbox.
    """
    try:
        return notify.Notifier.from_config(config)
    except ConfigError as exc:
        log.event("audit.notify-misconfigured", level="error", variable=exc.variable, message=exc.message)
        return notify.Notifier.misconfigured(exc)


def handle(event: Any, services: Any) -> dict[str, Any]:
    """The timer invocation: one run with the invocation's services; bad options fail once, loudly."""
    try:
        summary = run(
            event if isinstance(event, dict) else {},
            tcr=services.tcr,
            store=services.store,
            notifier=_notifier(services.config),
            config=services.config,
            deadline=services.deadline,
        )
    except (ApiError, LogStoreError) as exc:
        # Bad options or configuration: a retry would fail the same way, so fail loudly once.
        log.event("audit.failed", level="error", code=exc.code, message=exc.message)
        if isinstance(exc, LogStoreError) or exc.status >= 500:
            raise
        return {"error": {"code": exc.code, "message": exc.message}}
    log.event(
        "audit.done",
        runId=summary["runId"],
        instances=len(summary["instances"]),
        complete=summary["complete"],
        notifications=summary["notifications"],
    )
    return summary
