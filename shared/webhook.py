"""Push webhook domain (DESIGN.md §5): from a registry notification to durable pending records.

Accepts TCR trigger payloads (`pushImage`), Harbor 2 (`PUSH_ARTIFACT`) and distribution
notification envelopes. Each pushed digest becomes ONE COS object holding a pending record per
replica, written before the 202 (one remote call per push). The instance and its replicas are
cached per warm container, so the TCR API is asked at most once per cache period.

TCR may not redeliver a push answered with a 5xx, so TCR never decides whether a push is kept: when
the replicas cannot be read (throttled, 5xx, instance not Running, timeout), the push is stored
unexpanded (one object, under its instance, or under its host when the instance is not known
either) and answered 202 `"expanded": false`; the audit expands it later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote, urlsplit

from shared import app, log, schemas
from shared.config import Config, whole_number
from shared.errors import ApiError, ConfigError, invalid_request
from shared.ports import Instance, LogStorePort, Replica, TcrPort

T = TypeVar("T")

PUSH_TYPES = {"pushImage", "PUSH_ARTIFACT"}
DELETE_TYPES = {"deleteImage", "DELETE_ARTIFACT"}
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.",
    "application/vnd.oci.image.manifest.",
    "application/vnd.oci.image.index.",
)
DEFAULT_CACHE_SECONDS = 60
# After TCR failed, this container stores pushes unexpanded without asking TCR again for a moment
# (capped by the cache period): a TCR outage costs neither a second per push nor a retry storm.
FAILURE_PAUSE_SECONDS = 2.0
SIGNATURE_HEADER = "x-signature"
TIMESTAMP_HEADER = "x-timestamp"
SIGNATURE_WINDOW_S = 300
TIMESTAMP_HOWTO = "X-Timestamp: <Unix seconds>"
SIGNATURE_HOWTO = (
    'X-Signature: sha256=<hex HMAC-SHA256 of timestamp + "." + rawQuery + "." + body>, rawQuery being the query '
    "parameters sorted by name as percent-encoded name=value pairs joined by & (body-only signatures are refused; "
    "docs/configuration.md)"
)
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
FUTURE_SKEW_S = 300  # a push time further ahead of this function's clock is replaced by the receive time
_NAMESPACE = re.compile(schemas.NAMESPACE)
_REPOSITORY = re.compile(schemas.REPOSITORY)
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_][a-z0-9_-]{0,62})*\.?")

# A push is stored (unexpanded when TCR cannot answer) and answered within 3 s of arrival: TCR gets 1.2 s, each
# attempt at most 1 s; no single COS attempt may take the function's whole 10 s either.
PROFILE = app.Profile("webhook", default_limit_s=10.0, cos_timeout_s=3, tcr_attempt_s=1.0, tcr_budget_s=1.2)


class Push(NamedTuple):
    """One image event, whatever the sender's format."""

    event_type: str  # pushImage or deleteImage
    namespace: str
    repository: str
    tag: str
    digest: str
    occurred_at: datetime
    operator: str
    host: str
    reported_at: datetime | None = None  # the sender's time, when it was too far ahead to be the push time


# -- authentication ---------------------------------------------------------------------------------


def canonical_query(query: Mapping[str, str]) -> str:
    """rawQuery of a signature: `name=value` pairs sorted by name, RFC 3986 percent-encoded, joined by `&`."""

    def enc(text: str) -> str:
        return quote(text, safe="-._~", encoding="utf-8", errors="surrogatepass")

    return "&".join(f"{enc(name)}={enc(value)}" for name, value in sorted(query.items()))


def expected_signature(secret: str, timestamp: str, query: Mapping[str, str], body: str) -> str:
    """`sha256=<hex HMAC-SHA256(secret, timestamp + "." + rawQuery + "." + body)>`."""
    message = f"{timestamp}.{canonical_query(query)}.{body}".encode("utf-8", "surrogatepass")
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _check_signature(headers: Mapping[str, str], body: str, query: Mapping[str, str], secret: str, now: float) -> None:
    """A signature binds the timestamp and the query (e.g. `registryId`) too: a replay elsewhere or later fails."""
    stamp = headers.get(TIMESTAMP_HEADER, "")
    if not stamp:
        raise ApiError("Unauthorized", f"signed requests must carry {TIMESTAMP_HOWTO}; {SIGNATURE_HOWTO}")
    if not _UNIX_SECONDS.fullmatch(stamp) or abs(int(stamp) - now) > SIGNATURE_WINDOW_S:
        raise ApiError(
            "Unauthorized",
            f"X-Timestamp must be the current time in Unix seconds, within +-{SIGNATURE_WINDOW_S} s of the "
            f"receiver's clock (now {int(now)}); sign again with a fresh timestamp",
        )
    want = expected_signature(secret, stamp, query, body)
    sent = headers.get(SIGNATURE_HEADER, "").strip().encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(sent, want.encode("ascii")):
        raise ApiError("Unauthorized", f"the X-Signature does not match: {SIGNATURE_HOWTO}")


def authenticate(
    headers: Mapping[str, str],
    body: str,
    config: Config,
    *,
    query: Mapping[str, str],
    clock: Callable[[], float] = time.time,
) -> None:
    """Static secret header (what TCR triggers can send) or an HMAC-SHA256 signature of timestamp, query and body."""
    auth = config.webhook_auth
    sent = headers.get(auth.header.lower())
    if sent is not None and hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), auth.token.encode("utf-8")):
        return
    if headers.get(SIGNATURE_HEADER) and auth.hmac_secret:
        _check_signature(headers, body, query, auth.hmac_secret, clock())
        return
    raise ApiError(
        "Unauthorized",
        f"missing or wrong webhook credentials: send the configured secret in the {auth.header} header "
        f"(or sign the request: {TIMESTAMP_HOWTO} and {SIGNATURE_HOWTO})",
    )


# -- payload parsing ----------------------------------------------------------------------------------


def _time(value: Any, field: str) -> datetime:
    """occur_at (unix seconds) or a distribution timestamp (RFC 3339, nanoseconds, any offset)."""
    from shared.times import parse_time

    try:
        return parse_time(value)
    except ValueError:
        raise invalid_request(field, "must be an RFC 3339 time between the years 1 and 9999 (UTC)", "format") from None


def _as_received(occurred: datetime, now: datetime) -> tuple[datetime, datetime | None]:
    """(push time, sender's time): a time too far ahead would stay pending forever, so the receive time stands in."""
    if occurred > now + timedelta(seconds=FUTURE_SKEW_S):
        return now.replace(microsecond=0), occurred
    return occurred, None


def _valid_host(host: str) -> bool:
    if _HOST_NAME.fullmatch(host):
        return True
    if ":" not in host:
        return False
    import ipaddress

    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def host_of(url: str, field: str) -> str:
    """The lower-case host of a URL or of `host[:port]/...` ("" when it names none); malformed: a named 400."""
    if not url:
        return ""
    try:
        parts = urlsplit(url if "://" in url else "//" + url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a port that is not a number in 0-65535 raises here
    except ValueError:
        raise invalid_request(field, "is not a valid URL: its host or port is malformed", "format") from None
    if host and not _valid_host(host):
        raise invalid_request(field, "is not a valid URL: its host must be a DNS name or an IP address", "format")
    return host


def _registry_event(data: Mapping[str, Any], now: datetime) -> tuple[list[Push], str | None]:
    schemas.validate("webhook.registryEvent", data)
    event_data = data["event_data"]
    repo = event_data.get("repository") or {}
    resources = event_data.get("resources") or []
    where = "body.event_data.resources"
    hosts = [host_of(res.get("resource_url") or "", f"{where}[{i}].resource_url") for i, res in enumerate(resources)]
    kind = data["type"]
    if kind in PUSH_TYPES:
        event_type = "pushImage"
    elif kind in DELETE_TYPES:
        event_type = "deleteImage"
    else:
        return [], f"event type {kind!r} is not tracked (only pushes and deletes)"
    if not resources:
        return [], "the event lists no resources"
    sent = _time(int(data["occur_at"]), "body.occur_at") if "occur_at" in data else now
    occurred, reported = _as_received(sent, now)
    namespace = repo.get("namespace") or ""
    name = repo.get("name") or ""
    full = repo.get("repo_full_name") or ""
    if (not namespace or not name) and "/" in full:
        namespace, _, name = full.partition("/")
    operator = str(data.get("operator", ""))
    pushes = []
    for res, host in zip(resources, hosts, strict=True):
        digest = res.get("digest") or ""
        if not digest:
            continue
        tag = res.get("tag") or ""
        url = res.get("resource_url") or ""
        if not namespace or not name:
            # resource_url = <host>/<namespace>/<repo>:<tag> (or @<digest>)
            path = url.split("/", 1)[1] if "/" in url else ""
            path = path.split("@", 1)[0].rsplit(":", 1)[0] if path else ""
            namespace, _, name = path.partition("/")
        pushes.append(Push(event_type, namespace, name, tag, digest, occurred, operator, host, reported))
    if not pushes:
        return [], "no resource carries a digest"
    return pushes, None


def _distribution_event(event: Mapping[str, Any], index: int, now: datetime) -> Push | None:
    """One envelope event as a push (or delete); None for what is not tracked (blob pushes, pulls, ...)."""
    where = f"body.events[{index}]"
    target = event.get("target") or {}
    request_host = host_of((event.get("request") or {}).get("host") or "", f"{where}.request.host")
    url_host = host_of(target.get("url") or "", f"{where}.target.url")
    stamp = event.get("timestamp")
    sent = _time(stamp, f"{where}.timestamp") if stamp else now
    action = event.get("action")
    media = target.get("mediaType") or ""
    if action not in ("push", "delete") or not target.get("digest"):
        return None
    if action == "push" and not media.startswith(MANIFEST_TYPES):
        return None  # blob pushes are noise
    namespace, _, name = (target.get("repository") or "").partition("/")
    occurred, reported = _as_received(sent, now)
    return Push(
        "pushImage" if action == "push" else "deleteImage",
        namespace,
        name,
        target.get("tag") or "",
        target["digest"],
        occurred,
        str((event.get("actor") or {}).get("name") or ""),
        request_host or url_host,
        reported,
    )


def _distribution_envelope(data: Mapping[str, Any], now: datetime) -> tuple[list[Push], str | None]:
    schemas.validate("webhook.distributionEnvelope", data)
    pushes = [push for i, event in enumerate(data["events"]) if (push := _distribution_event(event, i, now))]
    if not pushes:
        return [], "the envelope holds no manifest push or delete"
    return pushes, None


def parse(body: Any, now: datetime) -> tuple[list[Push], str | None]:
    """The image events in a notification, or a reason to ignore it.

    Every field is checked, whether or not this notification needs it (a `?registryId=` makes the hosts
    unnecessary): a malformed one is a 400 naming its path and rule, never a 5xx.
    """
    if not isinstance(body, Mapping):
        raise invalid_request("body", "must be a JSON object", "type")
    if "events" in body and "type" not in body:
        return _distribution_envelope(body, now)
    pushes, ignored = _registry_event(body, now)
    for push in pushes:
        _check_names(push)
    return pushes, ignored


def _check_names(push: Push) -> None:
    """Names read from a resource_url (no schema saw them) must be whole names, like the schema's."""
    for value, pattern in ((push.namespace, _NAMESPACE), (push.repository, _REPOSITORY)):
        if value and not pattern.search(value):
            raise ApiError(
                "InvalidRequest",
                f"body.event_data.resources[].resource_url: the repository {value[:64]!r} is not a valid name "
                "(rule: pattern)",
                details={"field": "body.event_data.resources[].resource_url", "rule": "pattern"},
            )


# -- instance and replicas, cached per warm container ---------------------------------------------------


class Target(NamedTuple):
    registry_id: str
    region: str
    replicas: list[tuple[str, str]]  # (replicaRegistryId, region)
    expires: float


class ReplicaCache:
    """Instance → replicas, and domain → instance, kept for `ttl` seconds in this warm container.

    A TCR failure is remembered for a moment too (`FAILURE_PAUSE_SECONDS`, at most `ttl`): meanwhile the
    same question fails at once, without a remote call.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._targets: dict[str, Target] = {}
        self._domains: dict[str, tuple[str | None, float]] = {}
        self._instances: dict[str, tuple[Instance, float]] = {}  # learnt while resolving a domain
        self._failures: dict[str, tuple[ApiError, float]] = {}

    def clear(self) -> None:
        with self._lock:
            self._targets.clear()
            self._domains.clear()
            self._instances.clear()
            self._failures.clear()

    def _ask(self, key: str, ttl: float, question: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            failed = self._failures.get(key)
        if failed and failed[1] > now:
            raise ApiError(failed[0].code, f"{failed[0].message} (a moment ago; not asked again yet)")
        try:
            return question()
        except ApiError as exc:
            if exc.code != "InstanceNotFound":  # a definite answer, not a failure
                with self._lock:
                    self._failures[key] = (exc, self._clock() + min(ttl, FAILURE_PAUSE_SECONDS))
            raise

    def registry_for_domain(self, host: str, tcr: TcrPort, ttl: float) -> str | None:
        now = self._clock()
        with self._lock:
            hit = self._domains.get(host)
        if hit and hit[1] > now:
            return hit[0]
        inst = self._ask("domains", ttl, lambda: tcr.find_instance_by_domain(host))
        registry_id = inst.registry_id if inst else None
        with self._lock:
            self._domains[host] = (registry_id, now + ttl)
            if inst and registry_id:  # for target() in this same invocation, whatever the TTL
                self._instances[registry_id] = (inst, now + max(ttl, 5.0))
        return registry_id

    def target(self, registry_id: str, tcr: TcrPort, ttl: float) -> Target:
        now = self._clock()
        with self._lock:
            hit = self._targets.get(registry_id)
        if hit and hit.expires > now:
            return hit
        with self._lock:
            known = self._instances.pop(registry_id, None)

        def ask() -> tuple[Instance, list[Replica]]:
            inst = known[0] if known and known[1] > now else tcr.get_instance(registry_id)
            return inst, tcr.list_replicas(registry_id, region=inst.region)

        inst, reps = self._ask(f"instance:{registry_id}", ttl, ask)
        target = Target(
            registry_id,
            inst.region,
            [(r.replica_registry_id, r.region) for r in reps if r.replica_registry_id],
            now + ttl,
        )
        with self._lock:
            self._targets[registry_id] = target
        return target


CACHE = ReplicaCache()


def cache_seconds(config: Config) -> float:
    raw = config.raw("REPLICA_CACHE_SECONDS")
    if raw is None:
        return DEFAULT_CACHE_SECONDS
    if not whole_number(raw):
        raise ConfigError("REPLICA_CACHE_SECONDS", f"must be a whole number of seconds (got {raw!r})")
    return float(raw)


# -- the whole step -------------------------------------------------------------------------------------


def record(
    body: Any,
    *,
    registry_id: str | None,
    tcr: TcrPort,
    store: LogStorePort,
    config: Config,
    now: datetime | None = None,
    cache: ReplicaCache = CACHE,
) -> dict[str, Any]:
    """Write the pending (or delete) records of one notification; the reply body of the 202.

    The TCR part (instance by domain, replica list) may fail in any way: the pushes are then stored
    unexpanded, from the payload alone. Only a failed COS write escapes (a 5xx, so the sender retries).
    """
    from shared import records as rl

    now = now or datetime.now(timezone.utc)
    pushes, ignored = parse(body, now)
    if ignored:
        return {"accepted": False, "ignored": ignored}
    ttl = cache_seconds(config)
    registry = registry_id
    try:
        if registry is None:
            for host in sorted({p.host for p in pushes if p.host}):
                registry = cache.registry_for_domain(host, tcr, ttl)
                if registry:
                    break
        if registry is None:
            log.event("webhook.unresolved", level="warning", hosts=sorted({p.host for p in pushes}))
            return {
                "accepted": False,
                "ignored": "the instance could not be identified from the resource URL; add ?registryId=<id> to the "
                "trigger address",
            }
        target = cache.target(registry, tcr, ttl)
    except ApiError as exc:
        if exc.code == "InstanceNotFound":
            log.event("webhook.unknown-instance", level="warning", registryId=registry)
            return {"accepted": False, "ignored": f"instance {registry} was not found in this account"}
        return _store_unexpanded(pushes, registry, store, now, exc)
    if not target.replicas:
        return {
            "accepted": True,
            "expanded": True,
            "registryId": registry,
            "records": 0,
            "eventIds": [],
            "note": "no replicas to track",
        }
    event_ids: list[str] = []
    written = 0
    for push in pushes:
        deleted = push.event_type == "deleteImage"
        recs = rl.event_records(
            registry_id=registry,
            primary_region=target.region,
            namespace=push.namespace,
            repository=push.repository,
            tag=push.tag,
            digest=push.digest,
            pushed_at=push.occurred_at,
            reported_at=push.reported_at,
            operator=push.operator,
            replicas=target.replicas,
            now=now,
            event_type=push.event_type,
            status="deleted" if deleted else "pending",
        )
        if deleted:
            store.write_segments(recs)
        else:
            store.put_event(recs)
        written += len(recs)
        event_ids.append(recs[0].eventId)
    return {"accepted": True, "expanded": True, "registryId": registry, "records": written, "eventIds": event_ids}


def _event(push: Push, registry_id: str | None, received: datetime | None = None) -> Any:
    """The push as an event of its instance (or of its host while the instance is unknown)."""
    from shared import records as rl

    return rl.push_event(
        registry_id=registry_id or "",
        host=push.host,
        namespace=push.namespace,
        repository=push.repository,
        tag=push.tag,
        digest=push.digest,
        pushed_at=push.occurred_at,
        operator=push.operator,
        event_type=push.event_type,
        received_at=received,
        reported_at=push.reported_at,
    )


def _store_unexpanded(
    pushes: list[Push], registry_id: str | None, store: LogStorePort, now: datetime, cause: ApiError
) -> dict[str, Any]:
    """TCR could not tell the replicas: keep every push as it came (one object each) for the audit to expand.

    Without an instance, a push is kept under its host (a push of the notification that names none takes the
    host of one that does), and the audit resolves the host with DescribeInstances.
    """
    fallback_host = next((p.host for p in pushes if p.host), "")
    events = [_event(p if p.host else p._replace(host=fallback_host), registry_id, now) for p in pushes]
    for event in events:
        store.put_unexpanded(event)
    log.event(
        "webhook.unexpanded",
        level="warning",
        registryId=registry_id,
        hosts=sorted({e.host for e in events}) if not registry_id else None,
        events=len(events),
        code=cause.code,
        detail=cause.message[:300],
    )
    answer: dict[str, Any] = {
        "accepted": True,
        "expanded": False,
        "registryId": registry_id,
        "records": 0,
        "events": len(events),
        "reason": f"TCR could not be read ({cause.code}); the push is kept and the audit tracks it per replica",
    }
    if registry_id:
        answer["eventIds"] = [e.eventId for e in events]
    else:
        answer["hosts"] = sorted({e.host for e in events})
    return answer
