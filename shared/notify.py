"""Signed notifications (DESIGN.md §6): POST JSON to NOTIFY_URL, signed with NOTIFY_SECRET.

Headers: `Content-Type: application/json`, `X-Timestamp: <unix seconds>`,
`X-Signature: sha256=<hex HMAC-SHA256(NOTIFY_SECRET, timestamp + "." + body)>`,
`X-Notification-Id: <id>`. The body's `id` is stable per notification (the same finding or
digest always gets the same id), so receivers can drop redeliveries. Each attempt is signed with a
fresh timestamp over the same body bytes. Only stdlib `urllib`, so the layer stays small.
See docs/notifications.md for the bodies and the receiver's verification recipe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import log
from shared.config import Config, whole_number
from shared.errors import ConfigError
from shared.runtime import Deadline, RetryPolicy, retry

SCHEMA_VERSION = 1
KINDS = (
    "replicated",
    "late",
    "failed",
    "policy_violation",
    "replica_unhealthy",
    "replica_without_private_access",
    "private_access_failed",
    "dns_missing",
)
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
ID_HEADER = "X-Notification-Id"
DEFAULT_TOLERANCE_S = 300
USER_AGENT = "tcr-replication-notify/1"


# ---------------------------------------------------------------------------------------------------
# Signing and verification
# ---------------------------------------------------------------------------------------------------


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def sign(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`."""
    message = _bytes(str(timestamp)) + b"." + _bytes(body)
    return "sha256=" + hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest()


def verify(
    secret: str | bytes,
    timestamp: int | str | None,
    body: str | bytes,
    signature: str | None,
    tolerance: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """True if `signature` signs `timestamp + "." + body` with `secret` and the timestamp is fresh.

    `body` must be the exact bytes received. `tolerance` (seconds) bounds the age of the timestamp in
    both directions (replays of old messages fail); `tolerance <= 0` skips the freshness check.
    """
    if not secret or timestamp is None or not signature:
        return False
    ts_text = str(timestamp).strip()
    if not whole_number(ts_text):
        return False
    if tolerance > 0:
        current = time.time() if now is None else now
        if abs(current - int(ts_text)) > tolerance:
            return False
    expected = sign(secret, ts_text, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))


# ---------------------------------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------------------------------


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def notification_id(kind: str, *key: Any) -> str:
    """A stable id: the same kind and key always give the same id."""
    text = json.dumps([kind, *[str(k) if k is not None else "" for k in key]], separators=(",", ":"))
    return f"{kind}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:32]}"


@dataclass(frozen=True)
class Notification:
    kind: str
    id: str
    body: dict[str, Any]

    def payload(self) -> bytes:
        """The exact bytes sent (and signed)."""
        return json.dumps(self.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build(kind: str, key: Iterable[Any], fields: Mapping[str, Any], *, created_at: float | None = None) -> Notification:
    """A notification of `kind` whose id derives from `key` (the fields that identify the event)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; expected one of {KINDS}")
    nid = notification_id(kind, *key)
    body: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "id": nid,
        "kind": kind,
        "createdAt": _utc(time.time() if created_at is None else created_at),
    }
    for name, value in fields.items():
        if name not in body:
            body[name] = value
    return Notification(kind=kind, id=nid, body=body)


def _image(registry_id: str, repository: str, tag: str | None, digest: str) -> dict[str, Any]:
    return {"registryId": registry_id, "repository": repository, "tag": tag, "digest": digest}


def replicated(
    registry_id: str,
    repository: str,
    tag: str | None,
    digest: str,
    pushed_at: str | None,
    replicas: Iterable[Mapping[str, Any]],
    *,
    primary_region: str | None = None,
    created_at: float | None = None,
) -> Notification:
    """Every replica has the digest. `replicas`: `{replicaRegistryId, region, replicatedAt, lagSeconds}`."""
    reps = [
        {
            "replicaRegistryId": r.get("replicaRegistryId"),
            "region": r.get("region") or r.get("replicaRegion"),
            "replicatedAt": r.get("replicatedAt"),
            "lagSeconds": r.get("lagSeconds"),
        }
        for r in replicas
    ]
    reps.sort(key=lambda r: (str(r["region"]), str(r["replicaRegistryId"])))
    lags = [r["lagSeconds"] for r in reps if isinstance(r["lagSeconds"], (int, float))]
    fields = {
        **_image(registry_id, repository, tag, digest),
        "primaryRegion": primary_region,
        "pushedAt": pushed_at,
        "replicas": reps,
        "maxLagSeconds": max(lags) if lags else None,
    }
    return build("replicated", (registry_id, repository, digest), fields, created_at=created_at)


def _replica_notice(
    kind: str,
    image: tuple[str, str, str | None, str, str | None],
    replica_registry_id: str,
    replica_region: str,
    extra: Mapping[str, Any],
    created_at: float | None,
) -> Notification:
    """A notice about one image on one replica: one id per (kind, image, replica)."""
    registry_id, repository, tag, digest, pushed_at = image
    fields = {
        **_image(registry_id, repository, tag, digest),
        "pushedAt": pushed_at,
        "replicaRegistryId": replica_registry_id,
        "replicaRegion": replica_region,
        **extra,
    }
    return build(kind, (registry_id, repository, digest, replica_registry_id), fields, created_at=created_at)


def late(
    registry_id: str,
    repository: str,
    tag: str | None,
    digest: str,
    pushed_at: str | None,
    replica_registry_id: str,
    replica_region: str,
    sla_seconds: int,
    waited_seconds: float,
    *,
    created_at: float | None = None,
) -> Notification:
    """A replica has not got the digest within the SLA."""
    return _replica_notice(
        "late",
        (registry_id, repository, tag, digest, pushed_at),
        replica_registry_id,
        replica_region,
        {"slaSeconds": sla_seconds, "waitedSeconds": waited_seconds},
        created_at,
    )


def failed(
    registry_id: str,
    repository: str,
    tag: str | None,
    digest: str,
    pushed_at: str | None,
    replica_registry_id: str,
    replica_region: str,
    reason: str,
    *,
    created_at: float | None = None,
) -> Notification:
    """TCR reports that replicating the digest to a replica failed."""
    return _replica_notice(
        "failed",
        (registry_id, repository, tag, digest, pushed_at),
        replica_registry_id,
        replica_region,
        {"reason": reason},
        created_at,
    )


def policy_violation(
    registry_id: str,
    violations: Iterable[Mapping[str, Any]],
    *,
    period: str,
    primary_region: str | None = None,
    created_at: float | None = None,
) -> Notification:
    """Replicas that break the region rules or the policy. One id per instance, findings and `period`.

    `period` (e.g. the UTC date) decides how often a lasting problem is announced again.
    """
    items = [dict(v) for v in violations]
    items.sort(key=lambda v: json.dumps(v, sort_keys=True, default=str))
    fingerprint = hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    fields = {"registryId": registry_id, "primaryRegion": primary_region, "period": period, "violations": items}
    return build("policy_violation", (registry_id, period, fingerprint), fields, created_at=created_at)


def replica_unhealthy(
    registry_id: str,
    replica_registry_id: str,
    replica_region: str,
    status: str,
    *,
    period: str,
    detail: str | None = None,
    created_at: float | None = None,
) -> Notification:
    """A replica is not Running (or its sync status is bad). One id per replica, status and `period`."""
    fields = {
        "registryId": registry_id,
        "replicaRegistryId": replica_registry_id,
        "replicaRegion": replica_region,
        "status": status,
        "detail": detail,
        "period": period,
    }
    key = (registry_id, replica_registry_id, status, period)
    return build("replica_unhealthy", key, fields, created_at=created_at)


def private_access(
    kind: str, registry_id: str, finding: Mapping[str, Any], *, period: str, created_at: float | None = None
) -> Notification:
    """One private-access finding of the audit (`replica_without_private_access`, `private_access_failed`,
    `dns_missing`). One id per instance, replica or VPC, state and `period`."""
    if kind not in ("replica_without_private_access", "private_access_failed", "dns_missing"):
        raise ValueError(f"not a private-access finding: {kind!r}")
    fields = {"registryId": registry_id, **{k: v for k, v in finding.items() if k != "kind"}, "period": period}
    target = finding.get("replicaRegistryId") or finding.get("vpcId")
    key = (registry_id, finding.get("region"), target, finding.get("status"), finding.get("dns"), period)
    return build(kind, key, fields, created_at=created_at)


def replica_without_private_access(registry_id: str, finding: Mapping[str, Any], *, period: str) -> Notification:
    """A Running replica whose region has no VPC attached: nodes there pull over the public network."""
    return private_access("replica_without_private_access", registry_id, finding, period=period)


def private_access_failed(registry_id: str, finding: Mapping[str, Any], *, period: str) -> Notification:
    """An attached VPC whose endpoint is neither Creating nor Running, or whose DNS record failed."""
    return private_access("private_access_failed", registry_id, finding, period=period)


def dns_missing(registry_id: str, finding: Mapping[str, Any], *, period: str) -> Notification:
    """A DNS record asked for and created, that TCR does not report enabled."""
    return private_access("dns_missing", registry_id, finding, period=period)


PRIVATE_ACCESS_BUILDERS = {
    "replica_without_private_access": replica_without_private_access,
    "private_access_failed": private_access_failed,
    "dns_missing": dns_missing,
}


# ---------------------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    """What happened to one notification: `sent`, `skipped` (not configured) or `failed`."""

    id: str
    kind: str
    outcome: str
    attempts: int = 0
    status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
        }


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Permanent(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _describe(error: object) -> str:
    """A failure's class and, for an OS error, its errno text: never the client's message, which may quote the URL."""
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return type(error).__name__


def _opener() -> Any:
    """A urllib opener that never follows redirects (a signed body is never re-posted elsewhere)."""
    import urllib.request  # lazily: only the audit sends notifications

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler())


@dataclass
class Notifier:
    """Sends notifications to one receiver. `Notifier.from_config(cfg)` is disabled without NOTIFY_URL."""

    url: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=4, base_s=0.2, cap_s=2.0))
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False)
    calls: int = 0
    config_error: ConfigError | None = None

    @classmethod
    def from_config(cls, config: Config | None = None, **kwargs: Any) -> Notifier:
        """Raises ConfigError for NOTIFY_URL without NOTIFY_SECRET (or a bad URL)."""
        target = (config or Config()).notify
        if target is None:
            return cls(None, None, **kwargs)
        return cls(target.url, target.secret, **kwargs)

    @classmethod
    def misconfigured(cls, error: ConfigError) -> Notifier:
        """A notifier whose every delivery fails with `error`: notices wait in the outbox until it is fixed."""
        return cls(None, None, config_error=error)

    @property
    def problem(self) -> str | None:
        return self.config_error.message if self.config_error is not None else None

    @property
    def enabled(self) -> bool:
        """Notifications are meant to go out (a misconfigured notifier is enabled: its deliveries fail)."""
        return bool(self.url and self.secret) or self.config_error is not None

    def headers(self, notification: Notification, body: bytes, timestamp: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.secret or "", timestamp, body),
            ID_HEADER: notification.id,
        }

    def _post_once(self, notification: Notification, body: bytes, timeout: float) -> int:
        """One attempt. Every failure becomes _Retryable or _Permanent with a message that never holds the URL
        (the client's own messages may quote its path and query, where a receiver's credential can be)."""
        if self.url is None:
            raise _Permanent("NOTIFY_URL is not set")
        timestamp = int(self.clock())
        import http.client
        import urllib.error
        import urllib.request

        self.calls += 1
        try:
            request = urllib.request.Request(  # noqa: S310 - NOTIFY_URL is validated to be http(s)
                self.url, data=body, method="POST", headers=self.headers(notification, body, timestamp)
            )
            with _opener().open(request, timeout=timeout) as response:
                response.read(65536)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            exc.close()
        except urllib.error.URLError as exc:
            raise _Retryable(_describe(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, not HTTP
            raise _Retryable(_describe(exc)) from None
        except Exception as exc:  # an unforeseen client failure is a failed delivery, not a crash
            raise _Permanent(f"{type(exc).__name__} while sending") from None
        if 200 <= status < 300:
            return status
        if status in (408, 425, 429) or status >= 500:
            raise _Retryable(f"receiver answered HTTP {status}", status)
        raise _Permanent(f"receiver answered HTTP {status}", status)

    def send(self, notification: Notification, deadline: Deadline | None = None) -> Delivery:
        """Deliver one notification with bounded retries inside `deadline`; never raises for delivery."""
        if self.problem is not None:
            return Delivery(notification.id, notification.kind, "failed", error=self.problem)
        if not self.enabled:
            return Delivery(notification.id, notification.kind, "skipped", error="NOTIFY_URL is not set")
        deadline = deadline or Deadline.never()
        body = notification.payload()
        attempts = 0

        def attempt(_n: int) -> int:
            nonlocal attempts
            remaining = deadline.remaining()
            if remaining <= 0:
                raise _Permanent("no time left in this invocation")
            attempts += 1
            return self._post_once(notification, body, min(self.timeout_s, remaining))

        try:
            status = retry(
                attempt,
                should_retry=lambda exc: isinstance(exc, _Retryable),
                policy=self.policy,
                deadline=deadline,
                sleep=self.sleep,
                rand=self.rand,
            )
        except (_Retryable, _Permanent) as exc:
            log.event(
                "notify.failed",
                level="warning",
                id=notification.id,
                kind=notification.kind,
                target=log.origin(self.url),
                attempts=attempts,
                status=exc.status,
                error=str(exc),
            )
            return Delivery(notification.id, notification.kind, "failed", attempts, exc.status, str(exc))
        return Delivery(notification.id, notification.kind, "sent", attempts, status)

    def send_all(self, notifications: Iterable[Notification], deadline: Deadline | None = None) -> list[Delivery]:
        """Deliver each notification once (duplicates by id are sent once)."""
        seen: set[str] = set()
        out: list[Delivery] = []
        for notification in notifications:
            if notification.id in seen:
                continue
            seen.add(notification.id)
            out.append(self.send(notification, deadline))
        return out


def summarize(deliveries: Iterable[Delivery]) -> dict[str, int]:
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    for d in deliveries:
        counts[d.outcome] = counts.get(d.outcome, 0) + 1
    return counts
