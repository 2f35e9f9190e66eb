"""Replication log records and their COS key layout (pure: no I/O, no SDK imports).

Layout (see docs/logstore.md for the call budgets behind it):

- inbox:    ``inbox/<registryId>/<yyyy-mm-dd>/<eventId>/<payload>``   one object per push event, every replica's
            pending record in it; ``<payload>`` is the event's compact record encoded in the key so the audit reads
            pending records from LIST pages alone. When the payload would push the key over COS's 850-byte limit,
            the key ends in ``~`` instead and readers GET the body (rare path).
            A push stored while TCR could not list the replicas is *unexpanded*: the same path, with a payload
            that starts with ``x`` (``x~`` when it overflows) and holds the event without replicas; the audit
            replaces it by the expanded form (same eventId).
- by host:  ``inbox-host/<yyyy-mm-dd>/<host>/<hostEventId>/x<payload>``  an unexpanded push whose instance could
            not be identified without TCR (no ?registryId=, domain not cached): the audit resolves the host.
- segments: ``log/<registryId>/<replicaRegion>/<yyyy-mm-dd>/<segmentId>.jsonl``  resolved records, JSON lines
- tcrlog:   ``tcrlog/<registryId>/<replicaRegion>/<yyyy-mm-dd>/<batchId>.jsonl``  TCR's own replication log entries
- reports:  ``reports/<registryId>/<yyyy-mm-dd>/<runId>.json``, ``reports/latest.json``
- state:    ``state/<registryId>/audit.json`` and other small JSON objects

The date is always the UTC date of the record's ``pushedAt``, so one replica's day is one prefix.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import sys
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from shared.schemas import RECORD_STATUSES as STATUSES
from shared.times import parse_time

if TYPE_CHECKING:
    from shared.ports import LogEntry

SCHEMA_VERSION = 1
MAX_KEY_BYTES = 850  # COS object key limit
PAYLOAD_CHUNK = 200  # payload split into path parts, so file-backed stores never see a name over 255 bytes
OVERFLOW_MARK = "~"

INBOX_ROOT = "inbox"
HOST_INBOX_ROOT = "inbox-host"
UNEXPANDED_MARK = "x"
LOG_ROOT = "log"
TCRLOG_ROOT = "tcrlog"
REPORTS_ROOT = "reports"
STATE_ROOT = "state"

_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HEX_RE = re.compile(r"[0-9a-f]{8,64}")
_B64_RE = re.compile(r"[A-Za-z0-9_-]*")
_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


# json.dumps(..., ensure_ascii=False, separators=(",", ":")) without building an encoder per call
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class LayoutError(ValueError):
    """A key that is not part of the layout, or a name that cannot go into one."""


# ---------------------------------------------------------------------------------------------------------------------
# time helpers


def iso_utc(value: Any) -> str:
    """Canonical time text of the log: UTC, seconds precision, ``Z`` suffix (sorts as text)."""
    return parse_time(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_of(value: Any) -> str:
    return parse_time(value).strftime("%Y-%m-%d")


def _check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise LayoutError(f"{kind} {value!r} cannot be part of a log key (letters, digits, '-', '_', '.'; 1-64)")
    return value


@functools.lru_cache(maxsize=1024)  # a warm container checks the same few days over and over (strptime is slow)
def _check_day(day: str) -> str:
    if not isinstance(day, str) or not _DAY_RE.fullmatch(day):
        raise LayoutError(f"day {day!r} must be yyyy-mm-dd")
    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError as exc:
        raise LayoutError(f"day {day!r} is not a calendar date") from exc
    return day


def _sha(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(str(len(data)).encode() + b":" + data)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# the record


class Record(NamedTuple):
    eventId: str
    eventType: str
    registryId: str
    primaryRegion: str
    replicaRegistryId: str
    replicaRegion: str
    namespace: str
    repository: str
    tag: str
    digest: str
    pushedAt: str
    operator: str
    status: str
    replicatedAt: str | None = None
    lagSeconds: float | None = None
    source: str = "webhook"
    updatedAt: str = ""
    reportedAt: str | None = None  # the sender's push time when it was too far ahead; pushedAt is then the receipt
    hint: str | None = None  # pending only: why it is not resolved although the replica synced (not stored)

    @property
    def record_id(self) -> tuple[str, str]:
        return (self.eventId, self.replicaRegistryId)

    @property
    def day(self) -> str:
        return self.pushedAt[:10]

    def sort_key(self) -> tuple[str, str, str]:
        return (self.pushedAt, self.eventId, self.replicaRegistryId)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION}
        out.update(self._asdict())
        if self.hint is None:
            del out["hint"]  # optional: absent rather than null, so stored records keep their shape
        return out

    def with_status(
        self,
        status: str,
        *,
        updated_at: Any,
        replicated_at: Any = None,
        lag_seconds: float | None = None,
        source: str | None = None,
    ) -> Record:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        return self._replace(
            status=status,
            replicatedAt=iso_utc(replicated_at) if replicated_at is not None else None,
            lagSeconds=lag_seconds,
            source=source or self.source,
            updatedAt=iso_utc(updated_at),
            hint=None,
        )

    @classmethod
    def from_dict(cls, data: Any) -> Record:
        if not isinstance(data, dict):
            raise ValueError("a record must be a JSON object")
        version = data.get("schemaVersion")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1 or version > SCHEMA_VERSION:
            raise ValueError(f"unsupported schemaVersion {version!r}")
        values: dict[str, Any] = {}
        for name in cls._fields:
            if name in data:
                values[name] = data[name]
        record = cls(**values)
        record.validate()
        return record

    def validate(self) -> None:
        for name in ("eventId", "eventType", "registryId", "replicaRegistryId", "replicaRegion", "pushedAt", "status"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"record field {name} must be a non-empty string")
        for name in ("primaryRegion", "namespace", "repository", "tag", "digest", "operator", "source", "updatedAt"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"record field {name} must be a string")
        if self.status not in STATUSES:
            raise ValueError(f"record status {self.status!r} is not one of {STATUSES}")
        if self.replicatedAt is not None and not isinstance(self.replicatedAt, str):
            raise ValueError("record field replicatedAt must be a string or null")
        if self.reportedAt is not None:
            if not isinstance(self.reportedAt, str):
                raise ValueError("record field reportedAt must be a string or null")
            parse_time(self.reportedAt)
        if self.lagSeconds is not None and (
            not isinstance(self.lagSeconds, (int, float)) or isinstance(self.lagSeconds, bool)
        ):
            raise ValueError("record field lagSeconds must be a number or null")
        if self.hint is not None and not isinstance(self.hint, str):
            raise ValueError("record field hint must be a string or absent")
        parse_time(self.pushedAt)


def unconfirmed_hint(synced_at: Any) -> str:
    """The hint of a pending record whose replica synced after the push although TCR's log did not name it."""
    return f"replica synced at {iso_utc(synced_at)}; TCR's log did not list this image"


def event_id(
    *,
    registry_id: str,
    namespace: str,
    repository: str,
    tag: str,
    digest: str,
    occurred_at: Any,
    event_type: str = "pushImage",
) -> str:
    """Deterministic id of one push (or delete) event: a redelivery of the same event maps to the same id.

    24 hex characters (96 bits) of sha256 over the registry, namespace/repository, tag, digest, the occurrence time
    (canonical UTC seconds) and the event type.
    """
    return _sha("event", registry_id, namespace, repository, tag, digest, iso_utc(occurred_at), event_type)[:24]


def event_records(
    *,
    registry_id: str,
    primary_region: str,
    namespace: str,
    repository: str,
    tag: str,
    digest: str,
    pushed_at: Any,
    operator: str,
    replicas: Iterable[tuple[str, str]],
    now: Any,
    event_type: str = "pushImage",
    status: str = "pending",
    source: str = "webhook",
    reported_at: Any = None,
) -> list[Record]:
    """The records of one event, one per replica ``(replicaRegistryId, replicaRegion)``, sorted by replica id.

    ``reported_at`` is the sender's time when the push is recorded at another (its receipt); the event id comes
    from the sender's time then, so a redelivery received later is still the same event.
    """
    eid = event_id(
        registry_id=registry_id,
        namespace=namespace,
        repository=repository,
        tag=tag,
        digest=digest,
        occurred_at=pushed_at if reported_at is None else reported_at,
        event_type=event_type,
    )
    reported = None if reported_at is None else iso_utc(reported_at)
    pushed = iso_utc(pushed_at)
    updated = iso_utc(now)
    out = []
    for replica_id, replica_region in sorted(set(replicas)):
        rec = Record(
            eventId=eid,
            eventType=event_type,
            registryId=registry_id,
            primaryRegion=primary_region,
            replicaRegistryId=replica_id,
            replicaRegion=replica_region,
            namespace=namespace,
            repository=repository,
            tag=tag,
            digest=digest,
            pushedAt=pushed,
            operator=str(operator),
            status=status,
            source=source,
            updatedAt=updated,
            reportedAt=reported,
        )
        rec.validate()
        out.append(rec)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# dedupe


def _rank(record: Record) -> tuple[int, str, str]:
    # a resolved record beats a pending one whatever its time (a webhook redelivery after the audit resolved it
    # must not turn it back to pending); otherwise the latest updatedAt wins; the JSON text breaks exact ties
    resolved = 0 if record.status == "pending" else 1
    return (resolved, record.updatedAt, json.dumps(record.to_dict(), sort_keys=True))


def dedupe(records: Iterable[Record]) -> list[Record]:
    """One record per ``(eventId, replicaRegistryId)``: resolved over pending, then latest ``updatedAt``.

    Returned sorted by ``(pushedAt, eventId, replicaRegistryId)``.
    """
    best: dict[tuple[str, str], Record] = {}
    for rec in records:
        current = best.get(rec.record_id)
        if current is None or _rank(rec) > _rank(current):
            best[rec.record_id] = rec
    return sorted(best.values(), key=Record.sort_key)


# ---------------------------------------------------------------------------------------------------------------------
# inbox keys: the event's compact record lives in the key itself


_COMPACT_FIELDS = (
    "eventType",
    "primaryRegion",
    "namespace",
    "repository",
    "tag",
    "digest",
    "pushedAt",
    "operator",
    "source",
    "status",
)
# optional event fields, after the replica pairs in the compact array; left out while null (older keys lack them)
_COMPACT_OPTIONAL = ("reportedAt",)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not _B64_RE.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def inbox_prefix(registry_id: str, day: str | None = None) -> str:
    base = f"{INBOX_ROOT}/{_check_name('registryId', registry_id)}/"
    return base if day is None else f"{base}{_check_day(day)}/"


def _event_fields(records: Sequence[Record]) -> Record:
    if not records:
        raise ValueError("an event needs at least one replica record")
    first = records[0]
    for rec in records[1:]:
        if rec.eventId != first.eventId or rec.registryId != first.registryId:
            raise ValueError("all records of an inbox object must belong to one event")
        if any(getattr(rec, name) != getattr(first, name) for name in (*_COMPACT_FIELDS, *_COMPACT_OPTIONAL)):
            raise ValueError("records of one event must agree on the event fields")
    if len({rec.replicaRegistryId for rec in records}) != len(records):
        raise ValueError("one record per replica")
    return first


def _window_bits(size: int) -> int:
    """The smallest deflate window (2**9 .. 2**15 bytes) that holds `size` bytes plus zlib's 262-byte lookahead.

    Such a window reaches every earlier byte of the input, as the 32 KiB one does, so level 9 deflates it to the
    same bytes (the key stays what it always was: tests/unit/test_records.py compares with 2**15), while zlib
    allocates and clears far less per key.
    """
    for bits in range(9, 15):
        if size + 262 <= 1 << bits:
            return bits
    return 15


def _pack(doc: Any, mark: str = "") -> str:
    """JSON, raw-deflated when shorter, base64url (``z…`` deflated, ``j…`` plain), cut into path parts."""
    raw = _COMPACT_JSON.encode(doc).encode("utf-8")
    packer = zlib.compressobj(9, zlib.DEFLATED, -_window_bits(len(raw)))
    packed = packer.compress(raw) + packer.flush()
    text = mark + ("z" + _b64(packed) if len(packed) < len(raw) else "j" + _b64(raw))
    return "/".join(text[i : i + PAYLOAD_CHUNK] for i in range(0, len(text), PAYLOAD_CHUNK))


def _unpack(payload: str) -> Any:
    kind, body = payload[:1], payload[1:]
    data = _unb64(body)
    if kind == "z":
        data = zlib.decompress(data, -15)
    elif kind != "j":
        raise ValueError("unknown payload kind")
    return json.loads(data.decode("utf-8"))


def encode_payload(records: Sequence[Record]) -> str:
    first = _event_fields(records)
    optional = [getattr(first, name) for name in _COMPACT_OPTIONAL]
    while optional and optional[-1] is None:
        optional.pop()
    compact = [
        SCHEMA_VERSION,
        *[getattr(first, name) for name in _COMPACT_FIELDS],
        sorted([rec.replicaRegistryId, rec.replicaRegion] for rec in records),
        *optional,
    ]
    return _pack(compact)


def inbox_key(records: Sequence[Record]) -> str:
    """Deterministic key of one event's inbox object; the same event with the same replicas maps to the same key."""
    first = _event_fields(records)
    if not _HEX_RE.fullmatch(first.eventId):
        raise LayoutError(f"eventId {first.eventId!r} must be lowercase hex")
    for rec in records:
        _check_name("replicaRegion", rec.replicaRegion)
    base = f"{inbox_prefix(first.registryId, first.day)}{first.eventId}/"
    key = base + encode_payload(records)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return base + OVERFLOW_MARK
    return key


class InboxKey(NamedTuple):
    key: str
    registry_id: str
    day: str
    event_id: str
    records: tuple[Record, ...] | None  # None: overflow or undecodable, GET the body
    unexpanded: bool = False  # an unexpanded push: `event` (or, when None, the body) holds it
    event: PushEvent | None = None


def parse_inbox_key(key: str, updated_at: str = "") -> InboxKey:
    """Decode an inbox key back to its pending records (``updatedAt`` comes from the listing's LastModified)."""
    parts = key.split("/")
    if len(parts) < 5 or parts[0] != INBOX_ROOT:
        raise LayoutError(f"not an inbox key: {key!r}")
    registry_id, day, eid = parts[1], parts[2], parts[3]
    _check_name("registryId", registry_id)
    _check_day(day)
    if not _HEX_RE.fullmatch(eid):
        raise LayoutError(f"not an inbox key: {key!r}")
    payload = "".join(parts[4:])
    if payload == OVERFLOW_MARK:
        return InboxKey(key, registry_id, day, eid, None)
    if payload.startswith(UNEXPANDED_MARK):
        event = _event_from_payload(payload[1:], registry_id=registry_id, day=day, eid=eid, received=updated_at)
        return InboxKey(key, registry_id, day, eid, () if event else None, True, event)
    try:
        compact = _unpack(payload)
        fixed = len(_COMPACT_FIELDS) + 2
        if (
            not isinstance(compact, list)
            or not fixed <= len(compact) <= fixed + len(_COMPACT_OPTIONAL)
            or compact[0] != SCHEMA_VERSION
        ):
            raise ValueError("unknown payload shape")
        values = dict(zip(_COMPACT_FIELDS, compact[1 : fixed - 1], strict=True))
        values.update(zip(_COMPACT_OPTIONAL, compact[fixed:], strict=False))
        records = tuple(
            Record(
                eventId=eid,
                registryId=registry_id,
                replicaRegistryId=sys.intern(replica_id),  # a few replicas, named by every record of a page
                replicaRegion=sys.intern(region),
                updatedAt=updated_at,
                **values,
            )
            for replica_id, region in compact[fixed - 1]
        )
        for rec in records:
            rec.validate()
            if rec.day != day:
                raise ValueError("payload date does not match the key's date")
    except (ValueError, TypeError, IndexError, zlib.error, binascii.Error, UnicodeDecodeError):
        return InboxKey(key, registry_id, day, eid, None)
    return InboxKey(key, registry_id, day, eid, records)


# ---------------------------------------------------------------------------------------------------------------------
# unexpanded pushes: stored before the replica list was known


class PushEvent(NamedTuple):
    """One push (or delete) kept without its replicas because TCR could not be read; the audit expands it.

    `registryId` is "" while only the `host` of the push is known (the instance could not be identified); its
    `eventId` is then a host event id, and `for_registry` gives the event the instance's records will carry.
    """

    eventId: str
    eventType: str
    registryId: str
    host: str
    namespace: str
    repository: str
    tag: str
    digest: str
    pushedAt: str
    operator: str
    receivedAt: str = ""
    reportedAt: str = ""  # the sender's time when it was too far ahead to be the push time (see Record)

    @property
    def day(self) -> str:
        return self.pushedAt[:10]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION}
        out.update(self._asdict())
        return out

    @classmethod
    def from_dict(cls, data: Any) -> PushEvent:
        """Unknown keys are ignored, so a later version may add fields."""
        if not isinstance(data, dict):
            raise ValueError("an unexpanded event must be a JSON object")
        version = data.get("schemaVersion", SCHEMA_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA_VERSION:
            raise ValueError(f"unsupported schemaVersion {version!r}")
        event = cls(**{name: data[name] for name in cls._fields if name in data})
        event.validate()
        return event

    def validate(self) -> None:
        for name in self._fields:
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"event field {name} must be a string")
        for name in ("eventId", "eventType", "pushedAt"):
            if not getattr(self, name):
                raise ValueError(f"event field {name} must be a non-empty string")
        if not self.registryId and not self.host:
            raise ValueError("an unexpanded event needs its registryId or its host")
        if not _HEX_RE.fullmatch(self.eventId):
            raise LayoutError(f"eventId {self.eventId!r} must be lowercase hex")
        parse_time(self.pushedAt)
        if self.reportedAt:
            parse_time(self.reportedAt)

    def for_registry(self, registry_id: str) -> PushEvent:
        """The same push, now that its instance is known (its eventId becomes the records' eventId)."""
        return push_event(
            registry_id=registry_id,
            host=self.host,
            namespace=self.namespace,
            repository=self.repository,
            tag=self.tag,
            digest=self.digest,
            pushed_at=self.pushedAt,
            operator=self.operator,
            event_type=self.eventType,
            received_at=self.receivedAt or None,
            reported_at=self.reportedAt or None,
        )

    def records(
        self, *, primary_region: str, replicas: Iterable[tuple[str, str]], now: Any, status: str = "pending"
    ) -> list[Record]:
        """The per-replica records of this event (the same a webhook with the replica list would have written)."""
        if not self.registryId:
            raise ValueError("an event known only by its host cannot be expanded")
        return event_records(
            registry_id=self.registryId,
            primary_region=primary_region,
            namespace=self.namespace,
            repository=self.repository,
            tag=self.tag,
            digest=self.digest,
            pushed_at=self.pushedAt,
            reported_at=self.reportedAt or None,
            operator=self.operator,
            replicas=replicas,
            now=now,
            event_type=self.eventType,
            status=status,
        )


def host_event_id(
    *, host: str, namespace: str, repository: str, tag: str, digest: str, occurred_at: Any, event_type: str
) -> str:
    """Deterministic id of a push known only by its host: a redelivery maps to the same key."""
    return _sha("hostevent", host, namespace, repository, tag, digest, iso_utc(occurred_at), event_type)[:24]


def push_event(
    *,
    registry_id: str,
    host: str,
    namespace: str,
    repository: str,
    tag: str,
    digest: str,
    pushed_at: Any,
    operator: str,
    event_type: str = "pushImage",
    received_at: Any = None,
    reported_at: Any = None,
) -> PushEvent:
    """An unexpanded event: under its instance when `registry_id` is known (same eventId as its records), else
    under its host."""
    if registry_id:
        _check_name("registryId", registry_id)
        eid = event_id(
            registry_id=registry_id,
            namespace=namespace,
            repository=repository,
            tag=tag,
            digest=digest,
            occurred_at=pushed_at if reported_at is None else reported_at,
            event_type=event_type,
        )
    else:
        eid = host_event_id(
            host=host,
            namespace=namespace,
            repository=repository,
            tag=tag,
            digest=digest,
            occurred_at=pushed_at if reported_at is None else reported_at,
            event_type=event_type,
        )
    event = PushEvent(
        eventId=eid,
        eventType=event_type,
        registryId=registry_id,
        host=host,
        namespace=namespace,
        repository=repository,
        tag=tag,
        digest=digest,
        pushedAt=iso_utc(pushed_at),
        operator=str(operator),
        receivedAt=iso_utc(received_at) if received_at is not None else "",
        reportedAt=iso_utc(reported_at) if reported_at is not None else "",
    )
    event.validate()
    return event


# in the key: every field but those of the key's path (registryId, day, eventId) and receivedAt (LastModified)
_EVENT_KEY_FIELDS = ("eventType", "host", "namespace", "repository", "tag", "digest", "pushedAt", "operator")


def host_key_part(host: str) -> str:
    """The host as a key part: itself when it is a plain lower-case DNS name, else a hash (never a DNS name)."""
    return host if _HOST_RE.fullmatch(host) else "_" + _sha("host", host)[:32]


def host_inbox_prefix(day: str | None = None) -> str:
    return f"{HOST_INBOX_ROOT}/" if day is None else f"{HOST_INBOX_ROOT}/{_check_day(day)}/"


def unexpanded_key(event: PushEvent) -> str:
    """Deterministic key of an unexpanded event: a redelivery of the same push overwrites it."""
    event.validate()
    if event.registryId:
        base = f"{inbox_prefix(event.registryId, event.day)}{event.eventId}/"
    else:
        base = f"{host_inbox_prefix(event.day)}{host_key_part(event.host)}/{event.eventId}/"
    fields = {name: getattr(event, name) for name in _EVENT_KEY_FIELDS}
    if event.reportedAt:
        fields["reportedAt"] = event.reportedAt
    key = base + _pack(fields, UNEXPANDED_MARK)
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return base + UNEXPANDED_MARK + OVERFLOW_MARK
    return key


def unexpanded_body(event: PushEvent) -> bytes:
    return _COMPACT_JSON.encode(event.to_dict()).encode("utf-8")


def parse_unexpanded_body(data: bytes) -> PushEvent:
    return PushEvent.from_dict(json.loads(data.decode("utf-8")))


def _event_from_payload(payload: str, *, registry_id: str, day: str, eid: str, received: str) -> PushEvent | None:
    """The event in an unexpanded key's payload, or None (overflow or undecodable: GET the body)."""
    if payload == OVERFLOW_MARK:
        return None
    try:
        doc = _unpack(payload)
        if not isinstance(doc, dict):
            raise ValueError("unknown payload shape")
        event = PushEvent.from_dict({**doc, "eventId": eid, "registryId": registry_id, "receivedAt": received})
        if event.day != day:
            raise ValueError("payload date does not match the key's date")
    except (ValueError, TypeError, zlib.error, binascii.Error, UnicodeDecodeError):
        return None
    return event


def parse_host_key(key: str, updated_at: str = "") -> InboxKey:
    """An ``inbox-host/<day>/<host>/<hostEventId>/x<payload>`` key (registry_id is "")."""
    parts = key.split("/")
    if len(parts) < 5 or parts[0] != HOST_INBOX_ROOT:
        raise LayoutError(f"not a host inbox key: {key!r}")
    day, eid = parts[1], parts[3]
    _check_day(day)
    payload = "".join(parts[4:])
    if not _HEX_RE.fullmatch(eid) or not payload.startswith(UNEXPANDED_MARK):
        raise LayoutError(f"not a host inbox key: {key!r}")
    event = _event_from_payload(payload[1:], registry_id="", day=day, eid=eid, received=updated_at)
    return InboxKey(key, "", day, eid, () if event else None, True, event)


def inbox_body(records: Sequence[Record]) -> bytes:
    first = _event_fields(records)
    doc = {"schemaVersion": SCHEMA_VERSION, "eventId": first.eventId, "records": [r.to_dict() for r in records]}
    return _COMPACT_JSON.encode(doc).encode("utf-8")


def parse_inbox_body(data: bytes) -> list[Record]:
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise ValueError("inbox object has no records list")
    return [Record.from_dict(item) for item in doc["records"]]


# ---------------------------------------------------------------------------------------------------------------------
# segments and archives


def log_prefix(registry_id: str, replica_region: str | None = None, day: str | None = None) -> str:
    out = f"{LOG_ROOT}/{_check_name('registryId', registry_id)}/"
    if replica_region is not None:
        out += f"{_check_name('replicaRegion', replica_region)}/"
        if day is not None:
            out += f"{_check_day(day)}/"
    return out


def segment_id(records: Iterable[Record]) -> str:
    """Deterministic id of a segment: hash of the sorted record ids it holds (a retried run overwrites)."""
    ids = sorted({f"{r.eventId}|{r.replicaRegistryId}" for r in records})
    return _sha("segment", *ids)[:32]


_SEGMENT_NAME_RE = re.compile(r"s(\d{14})-n(\d{1,9})-[0-9a-f]{32}")


def stamp(value: Any) -> str:
    """A time as the 14 digits a segment's name carries (UTC, seconds; sorts as text)."""
    return parse_time(value).strftime("%Y%m%d%H%M%S")


def segment_key(registry_id: str, replica_region: str, day: str, records: Iterable[Record]) -> str:
    """``s<newest pushedAt>-n<count>-<id>.jsonl``: the name tells, without a GET, the latest push the segment
    holds (a record pushed after that is not in it) and how many records it holds. All three come from the
    record set alone, so a retried run overwrites the same object."""
    recs = list(records)
    newest = max((r.pushedAt for r in recs), default="1970-01-01T00:00:00Z")
    return f"{log_prefix(registry_id, replica_region, day)}s{stamp(newest)}-n{len(recs)}-{segment_id(recs)}.jsonl"


def segment_meta(key: str) -> tuple[str | None, int | None]:
    """``(stamp, record count)`` from a segment's name; ``(None, None)`` for a segment named before names told."""
    name = key.rsplit("/", 1)[-1][: -len(".jsonl")]
    found = _SEGMENT_NAME_RE.fullmatch(name)
    return (found.group(1), int(found.group(2))) if found else (None, None)


def segment_may_hold(key: str, since: str | None) -> bool:
    """Whether a segment can hold a record pushed at or after `since` (a stamp); unnamed ones always may."""
    newest, _ = segment_meta(key)
    return since is None or newest is None or newest >= since


def parse_log_key(key: str) -> tuple[str, str, str, str]:
    """``(registryId, replicaRegion, day, segmentId)`` of a segment key."""
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != LOG_ROOT or not parts[4].endswith(".jsonl"):
        raise LayoutError(f"not a segment key: {key!r}")
    _check_day(parts[3])
    return parts[1], parts[2], parts[3], parts[4][: -len(".jsonl")]


def jsonl(items: Iterable[dict[str, Any]]) -> bytes:
    return "".join(_COMPACT_JSON.encode(i) + "\n" for i in items).encode("utf-8")


def segment_objects(resolved: Iterable[Record]) -> list[tuple[str, bytes]]:
    """Resolved records as segments, one per (registry, replica region, day): ``(key, JSON lines)``, by key."""
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for rec in dedupe(resolved):
        rec.validate()
        if rec.status == "pending":
            raise ValueError("pending records belong in the inbox, not in a segment")
        groups.setdefault((rec.registryId, rec.replicaRegion, rec.day), []).append(rec)
    return [
        (segment_key(registry_id, region, day, recs), jsonl(r.to_dict() for r in recs))
        for (registry_id, region, day), recs in sorted(groups.items())
    ]


def parse_jsonl(data: bytes) -> list[dict[str, Any]]:
    out = []
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("a JSON line must be an object")
            out.append(item)
    return out


def tcrlog_prefix(registry_id: str, replica_region: str | None = None, day: str | None = None) -> str:
    out = f"{TCRLOG_ROOT}/{_check_name('registryId', registry_id)}/"
    if replica_region is not None:
        out += f"{_check_name('replicaRegion', replica_region)}/"
        if day is not None:
            out += f"{_check_day(day)}/"
    return out


_TCRLOG_FIELDS = ("ResourceType", "Source", "Destination", "Status", "StartTime", "EndTime")


def tcr_log_doc(entry: LogEntry) -> dict[str, Any]:
    """An entry of TCR's replication log as the archive keeps it: TCR's own field names, times as TCR wrote them."""
    return {
        "ResourceType": entry.resource_type,
        "Source": entry.source,
        "Destination": entry.destination,
        "Status": entry.status,
        "StartTime": entry.start_time,
        "EndTime": entry.end_time,
    }


def tcr_entry_id(registry_id: str, replica_registry_id: str, entry: dict[str, Any]) -> str:
    """Deterministic id of one TCR replication log entry (hash of its fields)."""
    values = [str(entry.get(name) or "") for name in _TCRLOG_FIELDS]
    return _sha("tcrlog", registry_id, replica_registry_id, *values)[:32]


def tcrlog_key(registry_id: str, replica_region: str, day: str, entry_ids: Iterable[str]) -> str:
    return f"{tcrlog_prefix(registry_id, replica_region, day)}{_sha('tcrbatch', *sorted(set(entry_ids)))[:32]}.jsonl"


def tcr_log_batches(
    registry_id: str,
    replica_registry_id: str,
    replica_region: str,
    entries: Iterable[LogEntry],
    seen: Iterable[str],
    today: str,
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """TCR log entries not in `seen`, one archive object per day of their start (else `today`):
    ``([(key, JSON lines)], the new entry ids in order)``. Deterministic keys: a retried batch overwrites itself."""
    known = set(seen)
    new_ids: list[str] = []
    by_day: dict[str, list[dict[str, Any]]] = {}
    for item in entries:
        entry = tcr_log_doc(item)
        eid = tcr_entry_id(registry_id, replica_registry_id, entry)
        if eid in known:
            continue
        known.add(eid)
        new_ids.append(eid)
        when = entry.get("StartTime") or entry.get("EndTime")
        try:
            day = day_of(when) if when else today
        except ValueError:
            day = today
        doc = {"entryId": eid, "registryId": registry_id, "replicaRegistryId": replica_registry_id}
        by_day.setdefault(day, []).append({**doc, "replicaRegion": replica_region, **entry})
    batches = [
        (tcrlog_key(registry_id, replica_region, day, [d["entryId"] for d in docs]), jsonl(docs))
        for day, docs in sorted(by_day.items())
    ]
    return batches, new_ids


def report_key(registry_id: str, day: str, run_id: str) -> str:
    return (
        f"{REPORTS_ROOT}/{_check_name('registryId', registry_id)}/{_check_day(day)}/{_check_name('runId', run_id)}.json"
    )


LATEST_REPORT_KEY = f"{REPORTS_ROOT}/latest.json"


def instance_report_key(registry_id: str, ext: str, day: str | None = None, run_id: str | None = None) -> str:
    """`reports/<id>/latest.<ext>`, or the dated copy `reports/<id>/<day>/<runId>.<ext>` (ext: json or html)."""
    if ext not in ("json", "html"):
        raise LayoutError(f"report extension {ext!r} is not json or html")
    registry = _check_name("registryId", registry_id)
    if day is None or run_id is None:
        return f"{REPORTS_ROOT}/{registry}/latest.{ext}"
    return f"{REPORTS_ROOT}/{registry}/{_check_day(day)}/{_check_name('runId', run_id)}.{ext}"


def state_key(registry_id: str, name: str = "audit") -> str:
    return f"{STATE_ROOT}/{_check_name('registryId', registry_id)}/{_check_name('state name', name)}.json"


# ---------------------------------------------------------------------------------------------------------------------
# query cursors


def _filters_tag(filters: dict[str, Any]) -> str:
    return _sha("filters", json.dumps(filters, sort_keys=True, default=str))[:8]


_VIEW_RE = re.compile(r"[0-9a-f]{16}")


def encode_cursor(position: tuple[str, str, str], filters: dict[str, Any], view: str | None = None) -> str:
    """Opaque, URL-safe cursor: the last returned sort key, bound to the query's filters, with a check sum.

    `view`: the id of what the first page read, when the instance that answered keeps it for the next pages."""
    doc: dict[str, Any] = {"v": 1, "k": list(position), "f": _filters_tag(filters)}
    if view is not None:
        if not _VIEW_RE.fullmatch(view):
            raise ValueError("a view id is 16 lowercase hex digits")
        doc["s"] = view
    body = json.dumps(doc, separators=(",", ":"))
    check = _sha("cursor", body)[:8]
    return _b64((body + check).encode("utf-8"))


def decode_cursor(cursor: str, filters: dict[str, Any]) -> tuple[str, str, str]:
    """The position of a cursor; ValueError when it is malformed, altered or from a different query."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 1024:
        raise ValueError("cursor is malformed")
    try:
        text = _unb64(cursor).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("cursor is malformed") from exc
    body, check = text[:-8], text[-8:]
    if len(text) <= 8 or _sha("cursor", body)[:8] != check:
        raise ValueError("cursor is malformed or was altered")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ValueError("cursor is malformed") from exc
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise ValueError("cursor is malformed")
    if doc.get("f") != _filters_tag(filters):
        raise ValueError("cursor belongs to a query with different filters")
    key = doc.get("k")
    if not isinstance(key, list) or len(key) != 3 or not all(isinstance(k, str) for k in key):
        raise ValueError("cursor is malformed")
    view = doc.get("s")
    if view is not None and (not isinstance(view, str) or not _VIEW_RE.fullmatch(view)):
        raise ValueError("cursor is malformed")
    return (key[0], key[1], key[2])


def cursor_view(cursor: str | None) -> str | None:
    """The view id a cursor carries (None: none, or not a well-formed cursor; `decode_cursor` checks it)."""
    if not cursor:
        return None
    try:
        text = _unb64(cursor).decode("utf-8")
        doc = json.loads(text[:-8])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    view = doc.get("s") if isinstance(doc, dict) else None
    return view if isinstance(view, str) and _VIEW_RE.fullmatch(view) else None
