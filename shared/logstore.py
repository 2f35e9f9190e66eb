"""The replication log in COS: inbox objects, compacted segments, TCR log archive, reports, state.

Every remote call goes through `LogStore._call`: `shared.runtime.retry` (full jitter, bounded by the invocation's
`Deadline`) for what `should_retry` accepts (5xx, SlowDown, network errors), and a count per attempt in
`store.calls` / `store.calls_by_op`. Build the SDK client with ``retry=0`` (as `make_client` does) so that the count
is exact and the backoff is ours, not the SDK's 1-2-3 s sleeps.

Call budgets (docs/logstore.md): webhook 1 PUT per event (expanded, or unexpanded when TCR cannot be read);
audit list pages + a few segment PUTs + batch deletes (no GET per record); a replica-day read = 1-2 lists + a
handful of segment GETs (compaction keeps them few).
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from shared import records as rl
from shared.errors import BadCursor, ConfigError, StoreCorrupt, StoreUnavailable
from shared.records import Record
from shared.runtime import Deadline, RetryPolicy, retry

if TYPE_CHECKING:
    from shared.ports import LogEntry

RETRYABLE_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed"}
)
# 6 attempts, waits up to 50 ms doubling, capped at 2 s: a COS hiccup is ridden out well inside a webhook's 10 s.
COS_RETRY = RetryPolicy(max_attempts=6, base_s=0.05, cap_s=2.0)
COMPACT_THRESHOLD = 8  # a replica-day with more segments than this has its cold ones merged
COLD_AFTER_S = 1200  # a segment whose pushes are this much older than its day's latest is cold (> SETTLED_LOOKBACK_S)
SEGMENT_FULL = 10_000  # records: a merged segment this big is not merged again
MAX_DELETE_BATCH = 1000
REGION_RE = re.compile(r"[a-z]{2,}(-[a-z]+)+(-\d+)?")
TCRLOG_SEEN_MAX = 2000


def merge_candidates(keys: Sequence[str]) -> list[str]:
    """The cold, not yet full segments of one replica-day to merge, oldest first, as many as fit in SEGMENT_FULL
    records (segments named before names told their time and size count as cold and empty)."""
    metas = {k: rl.segment_meta(k) for k in keys}
    stamps = [m[0] for m in metas.values() if m[0] is not None]
    if stamps:
        newest = datetime.strptime(max(stamps), "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
        cold_before: str | None = rl.stamp(newest - timedelta(seconds=COLD_AFTER_S))
    else:
        cold_before = None
    cold = [
        k
        for k, (mark, count) in metas.items()
        if (mark is None or cold_before is None or mark < cold_before) and (count is None or count < SEGMENT_FULL)
    ]
    chosen: list[str] = []
    total = 0
    for key in sorted(cold, key=lambda k: (metas[k][0] or "", k)):
        count = metas[key][1] or 0
        if chosen and total + count > SEGMENT_FULL:
            continue
        chosen.append(key)
        total += count
    return chosen


class InboxItem(NamedTuple):
    """One inbox object: the pending records of one event (all its replicas), or an unexpanded `event`."""

    key: str
    records: list[Record]
    event: rl.PushEvent | None = None  # stored before the replicas were known; `records` is then empty


class ResolveResult:
    """What `resolve` did (a plain class: `dataclasses` costs a cold start ~10 ms to import)."""

    __slots__ = ("compacted", "inbox_deleted", "inbox_rewritten", "segments_written")

    def __init__(self) -> None:
        self.segments_written: list[str] = []
        self.inbox_deleted = 0
        self.inbox_rewritten = 0
        self.compacted: list[str] = []


class Page(NamedTuple):
    records: list[Record]
    next_cursor: str | None

    def to_body(self) -> dict[str, Any]:
        return {"records": [r.to_dict() for r in self.records], "nextCursor": self.next_cursor}


class _Day(NamedTuple):
    segments: set[str]  # regions whose segments of the day exist (or may: a one-day query does not list)
    inbox: set[str]  # days whose inbox holds something (or may)


class _View:
    """What a query read so far: the days it has not reached yet, and the records past its last page."""

    __slots__ = ("days", "kept_at", "records")

    def __init__(self, days: list[tuple[str, _Day]], records: list[Record]) -> None:
        self.days = days
        self.records = records
        self.kept_at = 0.0


VIEW_TTL_S = 300.0
VIEW_MAX_RECORDS = 20000  # records kept over every view of a warm instance (~1 KB each)
_views: dict[str, tuple[str, _View]] = {}  # view id -> (where its next page starts, the view); oldest first
_views_lock = threading.Lock()


def random_view_id() -> str:
    return os.urandom(8).hex()


def _take_view(view_id: str, at: str) -> _View | None:
    """The view, taken out of the cache (a request at a time), if it is alive and its next page starts `at`."""
    with _views_lock:
        kept = _views.pop(view_id, None)
    if kept is None or kept[0] != at or time.monotonic() - kept[1].kept_at > VIEW_TTL_S:
        return None
    return kept[1]


def _keep_view(view_id: str, at: str, view: _View) -> None:
    view.kept_at = time.monotonic()
    with _views_lock:
        _views[view_id] = (at, view)
        now = view.kept_at
        for key in [k for k, (_, v) in _views.items() if now - v.kept_at > VIEW_TTL_S]:
            del _views[key]
        while sum(len(v.records) for _, v in _views.values()) > VIEW_MAX_RECORDS and _views:
            del _views[next(iter(_views))]


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_client(
    *,
    region: str,
    secret_id: str | None = None,
    secret_key: str | None = None,
    token: str | None = None,
    credentials: Any = None,
    endpoint: str | None = None,
    timeout: int = 10,
) -> Any:
    """A `CosS3Client` with the SDK's own retries off (the store retries and counts every attempt).

    `endpoint` is ``host:port`` of a local COS over http (COS_ENDPOINT); without it the client talks to real COS
    over https. `credentials` may be an object with ``secret_id``/``secret_key``/``token`` properties (re-read
    on every request, so rotating SCF role credentials keep working).
    """
    from qcloud_cos import CosConfig, CosS3Client

    kwargs: dict[str, Any] = {"Region": region, "Timeout": timeout}
    if credentials is not None:
        kwargs["CredentialInstance"] = credentials
    else:
        kwargs.update(SecretId=secret_id, SecretKey=secret_key, Token=token)
    if endpoint:
        host, _, port = endpoint.rpartition(":")
        if not host or not (port.isascii() and port.isdigit()):
            raise ConfigError("COS_ENDPOINT", f"must be host:port, got {endpoint!r}")
        kwargs.update(Scheme="http", IP=host, Port=int(port))
    else:
        kwargs["Scheme"] = "https"
    return CosS3Client(CosConfig(**kwargs), retry=0)


class LogStore:
    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        policy: RetryPolicy = COS_RETRY,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.policy = policy
        self.deadline = deadline or Deadline.never()  # no retry is started that could not finish before it
        self._sleep = sleep
        self._rand = rand
        self.calls = 0
        self.calls_by_op: dict[str, int] = {}
        self.path_style = False  # True when the endpoint is an address (COS_ENDPOINT), not COS's bucket domain
        self.inbox_body_gets = 0  # rare path: inbox keys whose record did not fit in the key
        self._credentials: Any = None
        self._client_factory: Callable[[tuple[str, str, str | None]], Any] | None = None
        self._credential_snapshot: tuple[str, str, str | None] | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, timeout: int = 10, **kwargs: Any) -> LogStore:
        """The store the functions use: LOG_BUCKET, LOG_BUCKET_REGION, COS_ENDPOINT and SCF's credentials.

        Missing or invalid settings raise ConfigError naming the variable. The SDK ignores the token of a
        `CredentialInstance`, so the client is built from the current values and rebuilt whenever SCF rotates them.
        """
        from shared.config import Config

        cfg = Config(environ)
        bucket = cfg.log_bucket
        region = cfg.log_bucket_region
        creds = cfg.credentials
        creds.check()
        endpoint = cfg.cos_endpoint
        netloc = endpoint.netloc if endpoint else None

        def factory(current: tuple[str, str, str | None]) -> Any:
            return make_client(
                region=region,
                secret_id=current[0],
                secret_key=current[1],
                token=current[2],
                endpoint=netloc,
                timeout=timeout,
            )

        store = cls(factory(creds.get_credential_info()), bucket, **kwargs)
        store.path_style = netloc is not None
        store._credentials = creds
        store._client_factory = factory
        store._credential_snapshot = creds.get_credential_info()
        return store

    def _fresh_client(self) -> Any:
        if self._credentials is not None and self._client_factory is not None:
            current = self._credentials.get_credential_info()
            if current != self._credential_snapshot:
                self.client = self._client_factory(current)
                self._credential_snapshot = current
        return self.client

    # -----------------------------------------------------------------------------------------------------------------
    # the one wrapper around COS

    def set_deadline(self, deadline: Deadline) -> None:
        """Bound every later call's retries by this invocation's deadline."""
        self.deadline = deadline

    def _call(self, op: str, fn: Callable[[], Any]) -> Any:
        """`fn()` with retries; every attempt counted. When the attempts or the time run out on an error worth
        retrying: StoreUnavailable. Any other error is raised as it is (the caller maps 404s and refusals)."""
        attempts = 0

        def attempt(_n: int) -> Any:
            nonlocal attempts
            attempts += 1
            self.calls += 1
            self.calls_by_op[op] = self.calls_by_op.get(op, 0) + 1
            self._fresh_client()
            return fn()

        try:
            return retry(
                attempt,
                should_retry=should_retry,
                policy=self.policy,
                deadline=self.deadline,
                sleep=self._sleep,
                rand=self._rand,
            )
        except Exception as exc:
            if not should_retry(exc):
                raise
            raise StoreUnavailable(
                f"the replication log bucket did not answer {op} after {attempts} attempts "
                f"({_describe(exc)}); retry later"
            ) from exc

    def _refused(self, op: str, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"the replication log bucket refused {op}: {_describe(exc)}")

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        from qcloud_cos.cos_exception import CosServiceError

        try:
            self._call(
                "PutObject",
                lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type),
            )
        except CosServiceError as exc:
            raise self._refused("PutObject", exc) from exc

    def _get(self, key: str) -> bytes | None:
        from qcloud_cos.cos_exception import CosServiceError

        def fetch() -> bytes:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
            return resp["Body"].get_raw_stream().read()

        try:
            return self._call("GetObject", fetch)
        except CosServiceError as exc:
            if exc.get_status_code() == 404:
                return None
            raise self._refused("GetObject", exc) from exc

    def exists(self, key: str) -> bool:
        from qcloud_cos.cos_exception import CosServiceError

        try:
            self._call("HeadObject", lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except CosServiceError as exc:
            if exc.get_status_code() == 404:
                return False
            raise self._refused("HeadObject", exc) from exc
        return True

    def _list(self, prefix: str, delimiter: str = "", marker: str = "") -> tuple[list[dict[str, Any]], list[str], str]:
        """One list page: (contents, common prefixes, next marker or "")."""
        from qcloud_cos.cos_exception import CosServiceError

        def fetch() -> dict[str, Any]:
            if hasattr(self.client, "send_request") and hasattr(self.client, "get_conf"):
                return _list_page(self.client, self.bucket, prefix, delimiter, marker)
            return self.client.list_objects(  # a stand-in client (unit tests)
                Bucket=self.bucket, Prefix=prefix, Delimiter=delimiter, Marker=marker, MaxKeys=1000
            )

        try:
            resp = self._call("ListObjects", fetch)
        except CosServiceError as exc:
            raise self._refused("ListObjects", exc) from exc
        contents = list(resp.get("Contents") or [])
        prefixes = [p["Prefix"] for p in resp.get("CommonPrefixes") or [] if "Prefix" in p]
        truncated = str(resp.get("IsTruncated", "false")).lower() == "true"
        next_marker = ""
        if truncated:
            next_marker = resp.get("NextMarker") or ""
            if not next_marker:
                last = [c["Key"] for c in contents] + prefixes
                next_marker = max(last) if last else ""
            if not next_marker:
                raise StoreUnavailable("the replication log bucket returned a truncated list without a marker")
        return contents, prefixes, next_marker

    def _list_all(self, prefix: str, delimiter: str = "") -> tuple[list[dict[str, Any]], list[str]]:
        contents: list[dict[str, Any]] = []
        prefixes: list[str] = []
        marker = ""
        while True:
            page, common, marker = self._list(prefix, delimiter, marker)
            contents.extend(page)
            prefixes.extend(common)
            if not marker:
                return contents, prefixes

    def _delete_many(self, keys: Sequence[str]) -> None:
        from qcloud_cos.cos_exception import CosServiceError

        for start in range(0, len(keys), MAX_DELETE_BATCH):
            batch = list(keys[start : start + MAX_DELETE_BATCH])
            for _ in range(max(1, self.policy.max_attempts)):
                if not batch:
                    break
                objects = {"Quiet": "true", "Object": [{"Key": k} for k in batch]}
                try:
                    resp = self._call(
                        "DeleteObjects",
                        functools.partial(self.client.delete_objects, Bucket=self.bucket, Delete=objects),
                    )
                except CosServiceError as exc:
                    raise self._refused("DeleteObjects", exc) from exc
                failed = [e.get("Key") for e in (resp or {}).get("Error") or [] if e.get("Key")]
                batch = [k for k in batch if k in set(failed)]
            if batch:
                raise StoreUnavailable(f"the replication log bucket kept refusing to delete {len(batch)} objects")

    # -----------------------------------------------------------------------------------------------------------------
    # JSON helpers, reports, state

    def put_json(self, key: str, doc: Any) -> None:
        self._put(key, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), "application/json")

    def put_text(self, key: str, text: str, content_type: str) -> None:
        self._put(key, text.encode("utf-8"), content_type)

    def get_text(self, key: str) -> str | None:
        data = self._get(key)
        return None if data is None else data.decode("utf-8", "replace")

    def presigned_get(self, key: str, ttl_s: int) -> str:
        """A GET link to one object that a browser can open for `ttl_s` seconds, without our credentials.

        Role credentials are temporary: the link carries their session token, and COS refuses it once they
        expire even if `ttl_s` has not passed. With COS_ENDPOINT (localcloud) the bucket goes into the path,
        since the endpoint is an address, not the bucket's domain.
        """
        client = self._fresh_client()
        token = self._credential_snapshot[2] if self._credential_snapshot else None
        params = {"x-cos-security-token": token} if token else {}
        url = client.get_presigned_url(Bucket=self.bucket, Key=key, Method="GET", Expired=ttl_s, Params=params)
        if self.path_style:
            scheme, _, rest = url.partition("://")
            host, _, path = rest.partition("/")
            url = f"{scheme}://{host}/{self.bucket}/{path}"
        return url

    def get_json(self, key: str) -> Any:
        """The JSON document at `key`, or None when there is none."""
        data = self._get(key)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise StoreCorrupt(f"the object {key} in the log bucket is not valid JSON") from exc

    def get_state(self, registry_id: str, name: str = "audit") -> dict[str, Any]:
        doc = self.get_json(rl.state_key(registry_id, name))
        return doc if isinstance(doc, dict) else {}

    def put_state(self, registry_id: str, state: dict[str, Any], name: str = "audit") -> None:
        self.put_json(rl.state_key(registry_id, name), state)

    # -----------------------------------------------------------------------------------------------------------------
    # webhook: one PUT per event

    def put_event(self, records: Sequence[Record]) -> str:
        """Durably write one event's pending records (all replicas) as one object. Returns its key.

        Deterministic key: a redelivery overwrites the same object. 1 remote call (plus retries).
        """
        records = sorted(records, key=lambda r: r.replicaRegistryId)
        for rec in records:
            rec.validate()
        key = rl.inbox_key(records)
        self._put(key, rl.inbox_body(records), "application/json")
        return key

    def put_unexpanded(self, event: rl.PushEvent) -> str:
        """Durably write one push whose replicas are not known yet (TCR could not be read). Returns its key.

        Deterministic key (under its instance, or under its host when the instance is unknown): a redelivery
        overwrites it. 1 remote call (plus retries). The audit expands it (`expand_events`).
        """
        key = rl.unexpanded_key(event)
        self._put(key, rl.unexpanded_body(event), "application/json")
        return key

    # -----------------------------------------------------------------------------------------------------------------
    # audit: pending records from list pages, resolution into segments

    def _inbox_items(
        self, contents: Iterable[dict[str, Any]], parse: Callable[[str, str], rl.InboxKey] = rl.parse_inbox_key
    ) -> list[InboxItem]:
        items = []
        for obj in contents:
            key = obj.get("Key", "")
            updated = ""
            if obj.get("LastModified"):
                try:
                    updated = rl.iso_utc(obj["LastModified"])
                except ValueError:
                    updated = ""
            try:
                parsed = parse(key, updated)
            except rl.LayoutError:
                continue  # not ours: never delete or interpret it
            if parsed.unexpanded and parsed.event is not None:
                items.append(InboxItem(key, [], parsed.event))
                continue
            if parsed.records is not None:
                items.append(InboxItem(key, list(parsed.records)))
                continue
            self.inbox_body_gets += 1
            data = self._get(key)
            if data is None:
                continue  # deleted between list and get: resolved by someone else
            try:
                if parsed.unexpanded:
                    items.append(InboxItem(key, [], rl.parse_unexpanded_body(data)._replace(receivedAt=updated)))
                else:
                    items.append(InboxItem(key, rl.parse_inbox_body(data)))
            except (ValueError, TypeError) as exc:
                raise StoreCorrupt(f"inbox object {key} is not a valid record set") from exc
        return items

    def list_host_events(self) -> list[InboxItem]:
        """Unexpanded pushes whose instance was not known (stored under their host): list calls only."""
        contents, _ = self._list_all(rl.host_inbox_prefix())
        return self._inbox_items(contents, rl.parse_host_key)

    def expand_events(
        self, expansions: Sequence[tuple[str, Sequence[Record]]], dropped: Sequence[str] = ()
    ) -> list[InboxItem]:
        """Replace unexpanded inbox objects by their records, crash-safe: every write first, then one batch delete.

        `expansions`: (unexpanded key, its records): pending records become an inbox object (`put_event`, the key a
        webhook with the replica list would have written), deleted ones go to segments. `dropped`: unexpanded keys
        that leave with nothing written (nothing owed, or already expanded). A crash before the delete leaves both
        forms, with the same eventId: the next run finds the expanded one and drops the other.
        Returns the new inbox items of the pending records.
        """
        items: list[InboxItem] = []
        deleted: list[Record] = []
        for _, recs in expansions:
            if not recs:
                continue
            if recs[0].status == "pending":
                items.append(InboxItem(self.put_event(recs), sorted(recs, key=lambda r: r.replicaRegistryId)))
            else:
                deleted.extend(recs)
        if deleted:
            self.write_segments(deleted)
        self._delete_many([key for key, _ in expansions] + list(dropped))
        return items

    def relocate_host_events(self, moves: Sequence[tuple[str, rl.PushEvent]], dropped: Sequence[str] = ()) -> list[str]:
        """Move pushes stored under their host to their instance's inbox (still unexpanded), then batch-delete the
        host keys (and `dropped`). Returns the new keys."""
        keys = [self.put_unexpanded(event) for _, event in moves]
        self._delete_many([key for key, _ in moves] + list(dropped))
        return keys

    def list_inbox(self, registry_id: str, day: str | None = None) -> list[InboxItem]:
        """Every inbox object of a registry (or of one day): list calls only, 1000 keys per call."""
        contents, _ = self._list_all(rl.inbox_prefix(registry_id, day))
        return self._inbox_items(contents)

    def inbox_pages(self, registry_id: str) -> Iterator[list[InboxItem]]:
        """The inbox of a registry one list page (up to 1000 objects) at a time, oldest day first.

        Lets the audit resolve a large backlog in bounded memory and save its progress page by page.
        """
        prefix = rl.inbox_prefix(registry_id)
        marker = ""
        while True:
            contents, _, marker = self._list(prefix, "", marker)
            yield self._inbox_items(contents)
            if not marker:
                return

    def list_pending(self, registry_id: str, day: str | None = None) -> list[Record]:
        """The pending (unresolved) records of a registry, from list pages only (no GET per record)."""
        out: list[Record] = []
        for item in self.list_inbox(registry_id, day):
            out.extend(item.records)
        return sorted(out, key=Record.sort_key)

    def write_segments(self, resolved: Iterable[Record]) -> list[str]:
        """Write resolved records as one segment per (registry, replica region, day). Returns the keys."""
        keys = []
        for key, body in rl.segment_objects(resolved):
            self._put(key, body, "application/x-ndjson")
            keys.append(key)
        return keys

    def resolve(
        self,
        registry_id: str,
        resolved: Iterable[Record],
        inbox: Iterable[InboxItem] | None = None,
        *,
        settled: Iterable[tuple[str, str]] = (),
        compact: bool = True,
    ) -> ResolveResult:
        """Move resolved records out of the inbox into segments, crash-safe and idempotent.

        1. write the resolved records as segments (durable) -- before anything is deleted;
        2. inbox objects some of whose replicas are still pending are rewritten with only those (new key);
        3. inbox objects with no pending replica left are batch-deleted (1000 keys per call);
        4. replica-days with more than COMPACT_THRESHOLD segments are compacted.
        `inbox` is what `list_inbox` returned (listed again when omitted). A crash between steps loses nothing:
        readers prefer a resolved record over its pending copy, and a retried run overwrites the same keys.
        `settled`: record ids already resolved in a segment (a redelivered push): their inbox copies just go.
        """
        resolved = [r for r in resolved if r.registryId == registry_id]
        result = ResolveResult()
        result.segments_written = self.write_segments(resolved)
        done = {r.record_id for r in resolved} | set(settled)
        items = list(inbox) if inbox is not None else self.list_inbox(registry_id)
        to_delete: list[str] = []
        for item in items:
            left = [r for r in item.records if r.record_id not in done]
            if len(left) == len(item.records):
                continue
            if left:
                new_key = rl.inbox_key(left)
                self._put(new_key, rl.inbox_body(left), "application/json")
                result.inbox_rewritten += 1
                if new_key == item.key:
                    continue  # an overflow key ("~"): the same key now holds only what is left
            to_delete.append(item.key)
        self._delete_many(to_delete)
        result.inbox_deleted = len(to_delete)
        if compact:
            for key in result.segments_written:
                _, region, day, _ = rl.parse_log_key(key)
                merged = self.compact(registry_id, region, day, threshold=COMPACT_THRESHOLD)
                if merged:
                    result.compacted.append(merged)
        return result

    def compact(self, registry_id: str, replica_region: str, day: str, *, threshold: int = 1) -> str | None:
        """Merge the cold segments of one replica-day when it has more than `threshold` segments.

        Cold: its latest push is more than COLD_AFTER_S older than the day's latest, so that the audit's
        redelivery check (`read_segments(since=...)`) does not need it; warm ones are left for a later run.
        A merge takes cold segments of fewer than SEGMENT_FULL records, oldest first, up to SEGMENT_FULL
        records: memory and the bytes rewritten stay bounded however big the day grows, and a day stays a
        handful of GETs.
        Writes the merged segment first, then deletes its sources; returns the merged key, or None if nothing
        was done. Costs 1 list (+ n GETs + 1 PUT + 1 batch delete when it merges).
        """
        contents, _ = self._list_all(rl.log_prefix(registry_id, replica_region, day))
        keys = sorted(c["Key"] for c in contents if c.get("Key", "").endswith(".jsonl"))
        if len(keys) <= threshold:
            return None
        chosen = merge_candidates(keys)
        if len(chosen) < 2:
            return None
        recs = rl.dedupe(self._read_segments(chosen))
        if not recs:
            return None
        merged = rl.segment_key(registry_id, replica_region, day, recs)
        self._put(merged, rl.jsonl(r.to_dict() for r in recs), "application/x-ndjson")
        self._delete_many([k for k in chosen if k != merged])
        return merged

    def _read_segments(self, keys: Iterable[str]) -> list[Record]:
        out: list[Record] = []
        for key in keys:
            data = self._get(key)
            if data is None:
                continue  # compacted away between list and get; its records are in the merged segment
            try:
                out.extend(Record.from_dict(item) for item in rl.parse_jsonl(data))
            except (ValueError, TypeError) as exc:
                raise StoreCorrupt(f"segment {key} in the log bucket is not valid") from exc
        return out

    # -----------------------------------------------------------------------------------------------------------------
    # reading

    def read_segments(
        self, registry_id: str, replica_region: str, day: str, *, since: datetime | None = None
    ) -> list[Record]:
        """The resolved records of one replica-day (1 list + one GET per segment), deduplicated; with `since`,
        only those of the segments holding a push at or after it (the others are not read)."""
        mark = rl.stamp(since) if since is not None else None
        keys = [k for k in self._segment_keys(registry_id, replica_region, day) if rl.segment_may_hold(k, mark)]
        return rl.dedupe(self._read_segments(keys))

    def read_day(self, registry_id: str, replica_region: str, day: str) -> list[Record]:
        """All records of one replica-day: its segments plus its still-pending inbox records, deduplicated."""
        pending = [r for r in self.list_pending(registry_id, day) if r.replicaRegion == replica_region]
        return rl.dedupe([*self.read_segments(registry_id, replica_region, day), *pending])

    def _days_under(self, prefix: str) -> list[str]:
        _, prefixes = self._list_all(prefix, "/")
        days = []
        for p in prefixes:
            name = p[len(prefix) :].rstrip("/")
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", name):
                days.append(name)
        return days

    def query(
        self,
        registry_id: str,
        *,
        replica: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status: str | None = None,
        repository: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """One page of records sorted by (pushedAt, eventId, replicaRegistryId).

        The arguments are the edge's validated values (shared.inputs.LogQuery): only the cursor, whose content
        only the store can read, is checked here (BadCursor). `replica` is a replica registry id or a region name.
        Days are read one at a time, oldest first, until the page is full; a day's inbox is listed before its
        segments, so that a record resolved meanwhile is found in one or the other.

        The first page's reading is kept for the next pages (a *view*, in this warm instance, VIEW_TTL_S at most):
        a cursor naming it continues from it without a remote call, and reads the store again only for the days
        the view has not reached. So reading a replica-day of 10,000 records page by page costs what reading the
        day once costs (DESIGN §11: <= 20 calls), and the pages are one consistent reading: every record once. A
        cursor whose view is gone (another instance, expired, or an older page asked again) reads afresh.
        """
        lo = rl.iso_utc(since) if since is not None else None
        hi = rl.iso_utc(until) if until is not None else None
        filters = {"r": registry_id, "replica": replica, "since": lo, "until": hi, "status": status, "repo": repository}
        position: tuple[str, str, str] | None = None
        if cursor:
            try:
                position = rl.decode_cursor(cursor, filters)
            except ValueError as exc:
                raise BadCursor(str(exc)) from exc

        # a replica registry id (tcr-...) can look like a region name: only a non-tcr value is a region
        region_filter = replica if replica and not replica.startswith("tcr-") and REGION_RE.fullmatch(replica) else None

        def wanted(rec: Record) -> bool:
            if replica and replica not in (rec.replicaRegistryId, rec.replicaRegion):
                return False
            if status and rec.status != status:
                return False
            if repository and repository not in (rec.repository, f"{rec.namespace}/{rec.repository}"):
                return False
            if lo and rec.pushedAt < lo:
                return False
            return not (hi and rec.pushedAt > hi)

        view_id = rl.cursor_view(cursor) or ""
        view = _take_view(view_id, rl.encode_cursor(position, filters)) if view_id and position else None
        if view is None:
            view_id = random_view_id()
            starts = [d for d in (lo[:10] if lo else "", position[0][:10] if position else "") if d]
            first_day = max(starts) if starts else ""
            days = self._query_days(registry_id, region_filter, first_day, hi[:10] if hi else "")
            view = _View(days, [])
        out = [r for r in view.records if not position or r.sort_key() > position]
        while len(out) < limit and view.days:
            day, regions = view.days.pop(0)
            recs: list[Record] = []
            if day in regions.inbox:  # the inbox first: a record resolved after this list is in a segment by then
                recs.extend(
                    r
                    for r in self.list_pending(registry_id, day)
                    if not region_filter or r.replicaRegion == region_filter
                )
            for region in sorted(regions.segments):
                recs.extend(self._read_segments(self._segment_keys(registry_id, region, day)))
            out.extend(r for r in rl.dedupe(recs) if wanted(r) and (not position or r.sort_key() > position))
        page = out[:limit]
        more = len(out) > limit or (len(out) == limit and bool(view.days))
        if not (more and page):
            return Page(page, None)
        view.records = out[limit:]
        next_cursor = rl.encode_cursor(page[-1].sort_key(), filters, view_id)
        _keep_view(view_id, rl.encode_cursor(page[-1].sort_key(), filters), view)
        return Page(page, next_cursor)

    def _query_days(self, registry_id: str, region_filter: str | None, first: str, last: str) -> list[tuple[str, _Day]]:
        """The days with records of a query, oldest first, each with the regions whose segments hold some and
        whether its inbox does: 2 lists, plus one per region when no region is named. A query within one day
        (since and until on it) lists nothing."""
        if first and first == last:
            regions = [region_filter] if region_filter else self._regions(registry_id)
            return [(first, _Day(set(regions), {first}))]
        regions = [region_filter] if region_filter else self._regions(registry_id)
        seg_days: dict[str, set[str]] = {}
        for region in regions:
            try:
                prefix = rl.log_prefix(registry_id, region)
            except rl.LayoutError:
                continue
            for day in self._days_under(prefix):
                seg_days.setdefault(day, set()).add(region)
        inbox_days = set(self._days_under(rl.inbox_prefix(registry_id)))
        days = sorted(d for d in set(seg_days) | inbox_days if (not first or d >= first) and (not last or d <= last))
        return [(d, _Day(seg_days.get(d, set()), inbox_days)) for d in days]

    def _regions(self, registry_id: str) -> list[str]:
        _, prefixes = self._list_all(rl.log_prefix(registry_id), "/")
        return sorted(p[len(rl.log_prefix(registry_id)) :].rstrip("/") for p in prefixes)

    def _segment_keys(self, registry_id: str, region: str, day: str) -> list[str]:
        contents, _ = self._list_all(rl.log_prefix(registry_id, region, day))
        return sorted(c["Key"] for c in contents if c["Key"].endswith(".jsonl"))

    # -----------------------------------------------------------------------------------------------------------------
    # TCR's own replication log, archived and deduplicated

    def archive_tcr_log(
        self, registry_id: str, replica_registry_id: str, replica_region: str, entries: Iterable[LogEntry]
    ) -> int:
        """Archive TCR replication log entries not archived before. Returns how many were new.

        Costs 1 GET of the replica's archive state, 1 PUT per day with new entries, 1 PUT of the state. A crash
        before the state is saved makes the retry write the same batch to the same key (deterministic), so
        nothing is duplicated; readers dedupe by entry id anyway.
        """
        state_name = f"tcrlog-{replica_registry_id}"
        state = self.get_state(registry_id, state_name)
        seen: list[str] = [s for s in state.get("seen", []) if isinstance(s, str)]
        batches, new_ids = rl.tcr_log_batches(
            registry_id, replica_registry_id, replica_region, entries, seen, rl.day_of(_now_iso())
        )
        for key, body in batches:
            self._put(key, body, "application/x-ndjson")
        if new_ids:
            self.put_state(registry_id, {"seen": (seen + new_ids)[-TCRLOG_SEEN_MAX:]}, state_name)
        return len(new_ids)


def _list_page(client: Any, bucket: str, prefix: str, delimiter: str, marker: str) -> dict[str, Any]:
    """One ListObjects page through the SDK's own request path (signing, transport, errors), its XML read here.

    The SDK's `list_objects` turns the answer into a dict by `eval` of its text: for a page of 1000 inbox keys
    (the record is in the key, ~0.5 KB each) that compile costs ~20 MB for a moment, which the allocator keeps,
    and the audit's memory is bounded by SCF's 128 MB. The answer's shape is the SDK's: Contents (Key,
    LastModified), CommonPrefixes (Prefix), IsTruncated, NextMarker, keys URL-decoded (encoding-type=url).
    """
    import xml.etree.ElementTree as ET
    from urllib.parse import unquote

    from qcloud_cos.cos_auth import CosS3Auth
    from qcloud_cos.cos_comm import format_values

    params = format_values(
        {"prefix": prefix, "delimiter": delimiter, "marker": marker, "max-keys": 1000, "encoding-type": "url"}
    )
    conf = client.get_conf()
    answer = client.send_request(
        method="GET",
        url=conf.uri(bucket=bucket),
        bucket=bucket,
        params=params,
        headers={},
        auth=CosS3Auth(conf, params=params),
    )
    root = ET.fromstring(answer.content)  # noqa: S314 - COS's answer to our own signed request

    def child(node: ET.Element, name: str) -> str:
        for item in node:
            if item.tag.rsplit("}", 1)[-1] == name:
                return item.text or ""
        return ""

    contents: list[dict[str, Any]] = []
    prefixes: list[dict[str, Any]] = []
    out: dict[str, Any] = {"Contents": contents, "CommonPrefixes": prefixes}
    for node in root:
        tag = node.tag.rsplit("}", 1)[-1]
        if tag == "Contents":
            contents.append({"Key": unquote(child(node, "Key")), "LastModified": child(node, "LastModified")})
        elif tag == "CommonPrefixes":
            prefixes.append({"Prefix": unquote(child(node, "Prefix"))})
        elif tag == "IsTruncated":
            out["IsTruncated"] = node.text or "false"
        elif tag == "NextMarker" and node.text:
            out["NextMarker"] = unquote(node.text)
    return out


def should_retry(exc: Exception) -> bool:
    """COS errors where another attempt may succeed and cannot do harm (every store write is idempotent: a
    deterministic key and a whole body): 5xx, 429 and SlowDown-like codes, and client/network failures."""
    from qcloud_cos.cos_exception import CosClientError, CosServiceError

    if isinstance(exc, CosServiceError):
        status = exc.get_status_code()
        return status >= 500 or status == 429 or exc.get_error_code() in RETRYABLE_CODES
    return isinstance(exc, (CosClientError, OSError))


def _describe(exc: Exception) -> str:
    status = getattr(exc, "get_status_code", None)
    if callable(status):
        code = exc.get_error_code() if hasattr(exc, "get_error_code") else "?"
        return f"HTTP {status()} {code}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
