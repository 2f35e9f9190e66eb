"""TCR API adapter: the real TcrClient, our own retry loop, TCR errors mapped to the product's codes.

- The SDK (`tencentcloud.tcr.v20190924.tcr_client`) is imported lazily: it costs ~100 ms and 20 MB.
- Every action goes through `client.call_json(...)` and the raw `{"Response": ...}` dict is checked
  here: the SDK skips errors whose Content-Type is `application/json; charset=...`, and it cannot
  deserialize the array shape of `ReplicationLog`. A Response carrying `Error` is always an error.
- The SDK's StandardRetryer is broken (reference/tcr-sdk-wire.md §5); `retry()` below is ours:
  exponential backoff with full jitter, bounded by a `Deadline` derived from the invocation's time.
- Retried: rate limits (always: the request was refused, not executed); transient internal and
  network errors for reads; for writes only where a repeat is harmless or re-checked first
  (CreateReplicationInstance looks at DescribeReplicationInstances before trying again).
- Results are plain dicts with the product's camelCase names, never SDK models.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, TypeVar

from shared.config import Config
from shared.errors import ApiError

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0
# Time kept back from the invocation's limit so a response can still be shaped and sent.
DEFAULT_DEADLINE_MARGIN_S = 1.0
NULL_TIME = "0001-01-01T00:00:00Z"

# ---------------------------------------------------------------------------------------------------
# Deadline and retry policy (pure: clock, sleep and random are injectable)
# ---------------------------------------------------------------------------------------------------


class Deadline:
    """A point in (monotonic) time after which no new remote attempt is started."""

    __slots__ = ("_clock", "expires_at")

    def __init__(self, expires_at: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.expires_at = expires_at  # None: no limit
        self._clock = clock

    @classmethod
    def never(cls, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(None, clock)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    @classmethod
    def from_context(
        cls,
        context: Mapping[str, Any] | None,
        started_at: float | None = None,
        *,
        margin_s: float = DEFAULT_DEADLINE_MARGIN_S,
        default_limit_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> Deadline:
        """From SCF's `context["time_limit_in_ms"]` and the handler's start time (`clock()` at entry).

        SCF's Python context has no remaining-time method, so the handler records when it started.
        A missing or invalid limit falls back to `default_limit_s`.
        """
        limit_s = default_limit_s
        raw = (context or {}).get("time_limit_in_ms")
        try:
            if raw is not None and float(raw) > 0:
                limit_s = float(raw) / 1000.0
        except (TypeError, ValueError):
            pass
        start = clock() if started_at is None else started_at
        return cls(start + max(0.0, limit_s - margin_s), clock)

    def remaining(self) -> float:
        if self.expires_at is None:
            return math.inf
        return max(0.0, self.expires_at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def within(self, seconds: float) -> Deadline:
        """A deadline no later than this one and no later than `seconds` from now."""
        cap = self._clock() + seconds
        expires = cap if self.expires_at is None else min(cap, self.expires_at)
        return Deadline(expires, self._clock)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"


class RetryPolicy(NamedTuple):
    """Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base * 2**(n-1))]."""

    max_attempts: int = 6
    base_s: float = 0.1
    cap_s: float = 3.0
    # Do not start another attempt with less than this much time left (it could not finish).
    min_attempt_s: float = 0.05

    def delay(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Wait before retry number `retry_number` (1 = the first retry)."""
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, retry_number - 1)))
        return rand() * ceiling


def retry(
    fn: Callable[[int], T],
    *,
    should_retry: Callable[[Exception], bool],
    policy: RetryPolicy,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Call `fn(attempt)` (attempt counts from 0) until it returns, or re-raise its last exception.

    Stops when `should_retry` says no, after `policy.max_attempts` attempts, or when the wait plus a
    minimal attempt would not fit before `deadline`.
    """
    attempt = 0
    while True:
        try:
            return fn(attempt)
        except Exception as exc:
            attempt += 1
            if attempt >= policy.max_attempts or not should_retry(exc):
                raise
            wait = policy.delay(attempt, rand)
            if deadline.remaining() < wait + policy.min_attempt_s:
                raise
            if wait > 0:
                sleep(wait)


# ---------------------------------------------------------------------------------------------------
# Errors: classification and mapping
# ---------------------------------------------------------------------------------------------------

NETWORK_CODES = frozenset({"ClientNetworkError", "ServerNetworkError", "JSONDecodeError", "BadResponse"})
TRANSIENT_INTERNAL_CODES = frozenset(
    {
        "InternalError",
        "InternalError.Unknown",
        "InternalError.ErrorTcrInternal",
        "InternalError.DbError",
        "FailedOperation.DependenceError",
        "ResourceUnavailable",
    }
)
CONFLICT_CODES = frozenset(
    {
        "FailedOperation.PreconditionFailed",
        "FailedOperation.ErrorTcrResourceConflict",
        "InternalError.ErrConflict",
        "InternalError.ErrorConflict",
        "InternalError.ErrorTcrResourceConflict",
        "ResourceInUse",
        "OperationDenied",
        "OperationDenied.QuotaOverLimit",
        "InvalidParameter.ErrNamespaceExist",
        "InvalidParameter.ErrTriggerExist",
        "InvalidParameter.ErrRepoExist",
        "InvalidParameter.ErrorNameExists",
        "LimitExceeded",
        "LimitExceeded.ErrTriggerMaxLimit",
        "LimitExceeded.ErrNamespaceMaxLimit",
        "LimitExceeded.ErrRepoMaxLimit",
    }
)
REGION_CODES = frozenset({"InvalidParameter.UnsupportedRegion", "FailedOperation.ValidateSupportedRegionFail"})
# Classes of codes by which TCR refuses a request (the request cannot succeed as it is), as opposed to
# failing (InternalError*, network, 5xx): an unforeseen refusal is 422 TcrRefused, not 502.
REFUSAL_CLASSES = frozenset(
    {
        "InvalidParameter",
        "FailedOperation",
        "UnsupportedOperation",
        "OperationDenied",
        "ResourceInsufficient",
        "LimitExceeded",
    }
)
# Codes filed under a refusal class that name a fault of TCR itself (errorcodes.py: database, dependency,
# empty answer of its core, its own client): a retry may succeed, so they stay failures.
UPSTREAM_FAULT_CODES = frozenset(
    {
        "FailedOperation.DbError",
        "FailedOperation.DependenceError",
        "FailedOperation.EmptyCoreBody",
        "FailedOperation.ErrorGetDBDataError",
        "FailedOperation.GetDBDataError",
        "FailedOperation.GetSecurityPolicyFail",
        "FailedOperation.GetTcrClient",
    }
)


def is_rate_limit(code: str) -> bool:
    return code == "RequestLimitExceeded" or code.startswith("RequestLimitExceeded.")


def is_refusal(code: str) -> bool:
    """TCR refused the request (its code's class says so), rather than failed to carry it out."""
    return code.split(".", 1)[0] in REFUSAL_CLASSES and code not in UPSTREAM_FAULT_CODES


class TcrCallError(Exception):
    """One failed TCR call, before mapping: the TCR (or SDK) code, message and RequestId."""

    def __init__(self, action: str, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{action}: {code}: {message}")
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def network(self) -> bool:
        return self.code in NETWORK_CODES

    @property
    def rate_limited(self) -> bool:
        return is_rate_limit(self.code)

    @property
    def transient(self) -> bool:
        """Worth trying again for a read."""
        return self.rate_limited or self.network or self.code in TRANSIENT_INTERNAL_CODES

    @property
    def ambiguous(self) -> bool:
        """A write that failed like this may or may not have been carried out."""
        return self.network or self.code in TRANSIENT_INTERNAL_CODES


class TcrApiError(ApiError):
    """An ApiError that came from TCR: keeps the upstream code, RequestId and action for logs."""

    def __init__(
        self, code: str, message: str, *, tcr_code: str, request_id: str | None, action: str, **kw: Any
    ) -> None:
        super().__init__(code, message, **kw)
        self.tcr_code = tcr_code
        self.tcr_request_id = request_id
        self.action = action


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def map_error(err: TcrCallError, *, not_found: str = "InstanceNotFound") -> TcrApiError:
    """Map a TCR failure to the product's error codes (DESIGN.md §3)."""
    code = err.code
    ref = f"(TCR {err.action} {code}" + (f", RequestId {err.request_id})" if err.request_id else ")")
    upstream = _clip(err.message)
    if is_rate_limit(code):
        ours, text = "Throttled", f"TCR rate limit still hit after retries {ref}; retry later"
    elif code.startswith("ResourceNotFound") or code == "InternalError.ErrNotExist":
        what = "replica" if not_found == "ReplicaNotFound" else "instance"
        ours, text = not_found, f"TCR {what} not found: {upstream} {ref}"
    elif code == "InvalidParameter.ReplicationExists":
        ours, text = "ReplicaExists", f"a replica already exists in that region: {upstream} {ref}"
    elif code in REGION_CODES:
        ours, text = "RegionNotSupported", f"TCR does not support that region for this operation: {upstream} {ref}"
    elif code == "ResourceInsufficient.ErrorInstanceNotRunning":
        ours, text = "InstanceNotRunning", f"the instance is not running: {upstream} {ref}; wait until it is Running"
    elif code in CONFLICT_CODES:
        ours, text = "Conflict", f"TCR refused the operation in the current state: {upstream} {ref}"
    elif err.network:
        ours, text = "Unavailable", f"TCR could not be reached or answered badly: {upstream} {ref}; retry later"
    elif code == "DeadlineExceeded":
        ours, text = "Unavailable", f"no time left in this invocation to call TCR {ref}; retry"
    elif is_refusal(code):
        tcr = {"code": code, "message": upstream}
        if err.request_id:
            tcr["requestId"] = err.request_id
        text = (
            f"TCR refused {err.action}: {upstream} {ref}; see error.tcr, change the request or the instance "
            "as TCR says (retrying the same request will not help)"
        )
        return TcrApiError(
            "TcrRefused", text, tcr_code=code, request_id=err.request_id, action=err.action, details={"tcr": tcr}
        )
    else:
        ours, text = "UpstreamError", f"TCR call failed: {upstream} {ref}"
    return TcrApiError(ours, text, tcr_code=code, request_id=err.request_id, action=err.action)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------------------------------------------
# Normalisers: TCR shapes -> plain dicts with the product's names
# ---------------------------------------------------------------------------------------------------


def _time(value: Any) -> str | None:
    if not value or value == NULL_TIME:
        return None
    return str(value)


def instance_from_tcr(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "registryId": r.get("RegistryId"),
        "registryName": r.get("RegistryName"),
        "registryType": r.get("RegistryType"),
        "status": r.get("Status"),
        "region": r.get("RegionName"),
        "regionId": r.get("RegionId"),
        "publicDomain": r.get("PublicDomain"),
        "internalEndpoint": r.get("InternalEndpoint"),
        "createdAt": _time(r.get("CreatedAt")),
        "deletionProtection": r.get("DeletionProtection"),
    }


def replica_from_tcr(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "registryId": r.get("RegistryId"),
        "replicaRegistryId": r.get("ReplicationRegistryId"),
        "region": r.get("ReplicationRegionName"),
        "regionId": r.get("ReplicationRegionId"),
        "status": r.get("Status"),
        "createdAt": _time(r.get("CreatedAt")),
    }


def log_from_tcr(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": r.get("ResourceType"),
        "source": r.get("Source"),
        "destination": r.get("Destination"),
        "status": r.get("Status"),
        "startTime": _time(r.get("StartTime")),
        "endTime": _time(r.get("EndTime")),
    }


def replication_log_entries(value: Any) -> list[dict[str, Any]]:
    """`ReplicationLog` is an object in the schema and an array in the examples: accept both (and null)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [log_from_tcr(value)] if any(v is not None for v in value.values()) else []
    if isinstance(value, list):
        return [log_from_tcr(item) for item in value if isinstance(item, Mapping)]
    return []


def image_from_tcr(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "digest": r.get("Digest"),
        "tag": r.get("ImageVersion"),
        "size": r.get("Size"),
        "updatedAt": r.get("UpdateTime"),
        "kind": r.get("Kind"),
    }


def api_host(region: str) -> str:
    """TCR's API host for a region: the nearby-access domain does not serve the finance zones (*-fsi),
    which need their regional domain (reference/regions.md, tcr-sdk-wire.md §2)."""
    return f"tcr.{region}.tencentcloudapi.com" if region.endswith("-fsi") else "tcr.tencentcloudapi.com"


def _host_of(domain: str) -> str:
    host = domain.strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0]
    if host.startswith("["):
        return host
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


# ---------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------


class TcrAdapter:
    """TCR Enterprise API calls the product needs. One per warm container (see `default_adapter`).

    `region` on any method sets X-TC-Region for that call; by default the region learnt for the
    registry (from DescribeInstances) is used, else TENCENTCLOUD_REGION.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        credentials: Any | None = None,
        policy: RetryPolicy | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config or Config()
        self.credentials = credentials if credentials is not None else self.config.credentials
        self.policy = policy or RetryPolicy()
        self.timeout_s = timeout_s
        self.deadline = deadline or Deadline.never()
        self._sleep = sleep
        self._rand = rand
        self._lock = threading.Lock()
        self._clients: dict[tuple[str | None, str, float], Any] = {}
        self._region_of: dict[str, str] = {}
        self.calls = 0
        self.calls_by_action: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"TcrAdapter(calls={self.calls})"

    # -- plumbing -------------------------------------------------------------------------------

    def set_deadline(self, deadline: Deadline) -> None:
        """Bound every later call's retries by this invocation's deadline."""
        self.deadline = deadline

    def warm(self, region: str | None = None) -> None:
        """Import the SDK and build the client now (a cold container's first call pays for it), so that a
        deadline set next bounds the remote calls only."""
        self._client(self._region(region))

    def _client(self, region: str) -> Any:
        endpoint = self.config.tcr_endpoint
        key = (endpoint.netloc if endpoint else None, region, self.timeout_s)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                return client
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.tcr.v20190924.tcr_client import TcrClient

        if endpoint:
            http = HttpProfile(endpoint=endpoint.netloc, protocol="http", reqTimeout=self.timeout_s)
        else:
            http = HttpProfile(endpoint=api_host(region), reqTimeout=self.timeout_s)
        http.keepAlive = True
        profile = ClientProfile(httpProfile=http, language="en-US", disable_region_breaker=True)
        client = TcrClient(self.credentials, region, profile)
        with self._lock:
            # Only the clients of the current endpoint are kept.
            for old in [k for k in self._clients if k[0] != key[0]]:
                del self._clients[old]
            return self._clients.setdefault(key, client)

    def _region(self, region: str | None, registry_id: str | None = None) -> str:
        if region:
            return region
        if registry_id:
            with self._lock:
                known = self._region_of.get(registry_id)
            if known:
                return known
        return self.config.region

    def _remember(self, instances: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            for inst in instances:
                if inst.get("registryId") and inst.get("region"):
                    self._region_of[inst["registryId"]] = inst["region"]

    def _count(self, action: str) -> None:
        with self._lock:
            self.calls += 1
            self.calls_by_action[action] = self.calls_by_action.get(action, 0) + 1

    def _secrets(self) -> tuple[str, ...]:
        secrets = getattr(self.credentials, "secrets", None)
        return tuple(secrets()) if callable(secrets) else ()

    def call_once(self, action: str, params: Mapping[str, Any], region: str) -> dict[str, Any]:
        """One attempt: the `Response` dict, or TcrCallError (never an SDK exception)."""
        if self.deadline.remaining() < self.policy.min_attempt_s:
            raise TcrCallError(action, "DeadlineExceeded", "the invocation's deadline has passed")
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        client = self._client(region)
        self.credentials.get_credential_info()  # a missing credential is a ConfigError, not a remote call
        self._count(action)
        try:
            data = client.call_json(action, dict(params))
        except ApiError:
            raise  # ConfigError from the credentials
        except TencentCloudSDKException as exc:
            code = str(exc.get_code() or "UpstreamError")
            message = exc.get_message()
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            raise TcrCallError(
                action, code, _scrub(_clip(str(message or "")), self._secrets()), exc.get_request_id()
            ) from None
        except ValueError as exc:  # body is not JSON (call_json does not wrap it)
            raise TcrCallError(action, "JSONDecodeError", _clip(str(exc))) from None
        except Exception as exc:  # anything else from the transport: treat as a network failure
            raise TcrCallError(action, "ClientNetworkError", f"{type(exc).__name__}: {_clip(str(exc))}") from None
        response = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(response, dict):
            raise TcrCallError(action, "BadResponse", "the answer has no Response object")
        error = response.get("Error")
        if error is not None:  # also the errors the SDK lets through (Content-Type with a charset)
            if not isinstance(error, dict):
                error = {}
            raise TcrCallError(
                action,
                str(error.get("Code") or "UpstreamError"),
                _scrub(_clip(str(error.get("Message") or "")), self._secrets()),
                response.get("RequestId"),
            )
        return response

    def _call(
        self,
        action: str,
        params: Mapping[str, Any],
        *,
        region: str,
        write: bool = False,
        not_found: str = "InstanceNotFound",
        deadline: Deadline | None = None,
    ) -> dict[str, Any]:
        """Call with retries (reads: any transient error; writes: rate limits only) and map errors."""

        def retryable(exc: Exception) -> bool:
            if not isinstance(exc, TcrCallError):
                return False
            return exc.rate_limited if write else exc.transient

        try:
            return self._retry(lambda _n: self.call_once(action, params, region), retryable, deadline)
        except TcrCallError as err:
            raise map_error(err, not_found=not_found) from None

    def _retry(self, fn: Callable[[int], T], should_retry: Callable[[Exception], bool], deadline: Deadline | None) -> T:
        return retry(
            fn,
            should_retry=should_retry,
            policy=self.policy,
            deadline=deadline or self.deadline,
            sleep=self._sleep,
            rand=self._rand,
        )

    def call(self, action: str, params: Mapping[str, Any], *, region: str | None = None) -> dict[str, Any]:
        """Any read action, with retries; the raw Response dict."""
        return self._call(action, params, region=self._region(region, params.get("RegistryId")))

    # -- instances ------------------------------------------------------------------------------

    def describe_instances(
        self,
        registry_ids: Iterable[str] | None = None,
        all_regions: bool = True,
        *,
        region: str | None = None,
        page_size: int = 100,
    ) -> list[dict[str, Any]]:
        """Every instance (all pages), optionally only the given ids."""
        ids = list(registry_ids) if registry_ids is not None else None
        if ids == []:
            return []
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        offset = 0
        while True:
            params: dict[str, Any] = {"Offset": offset, "Limit": page_size, "AllRegion": bool(all_regions)}
            if ids:
                params["Registryids"] = ids
            resp = self._call("DescribeInstances", params, region=self._region(region))
            page = resp.get("Registries") or []
            for raw in page:
                inst = instance_from_tcr(raw)
                if inst["registryId"] not in seen:
                    seen.add(inst["registryId"])
                    out.append(inst)
            offset += len(page)
            total = resp.get("TotalCount")
            if not page or len(page) < page_size or (isinstance(total, int) and offset >= total):
                break
        self._remember(out)
        return out

    def get_instance(self, registry_id: str, *, region: str | None = None) -> dict[str, Any]:
        found = [i for i in self.describe_instances([registry_id], region=region) if i["registryId"] == registry_id]
        if not found:
            raise ApiError("InstanceNotFound", f"no TCR instance {registry_id!r} in this account")
        return found[0]

    def find_instance_by_domain(self, domain: str, *, region: str | None = None) -> dict[str, Any] | None:
        """The instance whose PublicDomain is the host of `domain` (a host, host:port or URL)."""
        host = _host_of(domain)
        if not host:
            return None
        for inst in self.describe_instances(region=region):
            if inst.get("publicDomain") and _host_of(inst["publicDomain"]) == host:
                return inst
        return None

    def create_instance(
        self,
        name: str,
        registry_type: str = "premium",
        *,
        region: str | None = None,
        deletion_protection: bool = False,
    ) -> str:
        """Create an instance (demo and tests); returns its RegistryId. Not retried after ambiguous errors."""
        resp = self._call(
            "CreateInstance",
            {"RegistryName": name, "RegistryType": registry_type, "DeletionProtection": deletion_protection},
            region=self._region(region),
            write=True,
        )
        registry_id = str(resp.get("RegistryId") or "")
        if registry_id:
            with self._lock:
                self._region_of[registry_id] = self._region(region)
        return registry_id

    def delete_instance(self, registry_id: str, *, delete_bucket: bool = False, region: str | None = None) -> None:
        """Delete an instance; a retry that finds it gone counts as done.

        `DeleteBucket=true` makes TCR delete the instance's COS bucket, i.e. every image: only on request.
        """
        self._idempotent_delete(
            "DeleteInstance",
            {"RegistryId": registry_id, "DeleteBucket": bool(delete_bucket)},
            region=self._region(region, registry_id),
            not_found="InstanceNotFound",
        )

    # -- replicas -------------------------------------------------------------------------------

    def list_replicas(
        self, registry_id: str, *, region: str | None = None, page_size: int = 100, deadline: Deadline | None = None
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            resp = self._call(
                "DescribeReplicationInstances",
                {"RegistryId": registry_id, "Offset": offset, "Limit": page_size},
                region=self._region(region, registry_id),
                deadline=deadline,
            )
            page = resp.get("ReplicationRegistries") or []
            out.extend(replica_from_tcr(r) for r in page)
            offset += len(page)
            total = resp.get("TotalCount")
            if not page or len(page) < page_size or (isinstance(total, int) and offset >= total):
                break
        return out

    def create_replica(
        self,
        registry_id: str,
        region_id: int | None = None,
        region_name: str | None = None,
        sync_tag: bool = False,
        *,
        region: str | None = None,
    ) -> dict[str, Any]:
        """Create a replica; returns the replica dict (status as TCR reports it, or "Deploying").

        After an ambiguous failure (network error, internal error) the replica may exist: the
        replica list is checked before trying again, and a ReplicationExists answer to our own
        retry is resolved by the list, so one call never creates two replicas.
        """
        if region_id is None and not region_name:
            raise ApiError("InvalidRequest", "a replica region (name or TCR region id) is required")
        params: dict[str, Any] = {"RegistryId": registry_id, "SyncTag": bool(sync_tag)}
        if region_id is not None:
            params["ReplicationRegionId"] = int(region_id)
        if region_name:
            params["ReplicationRegionName"] = region_name
        call_region = self._region(region, registry_id)
        uncertain = False

        def matches(rep: Mapping[str, Any]) -> bool:
            if region_id is not None and rep.get("regionId") is not None:
                return int(rep["regionId"]) == int(region_id)
            return bool(region_name) and rep.get("region") == region_name

        def existing() -> dict[str, Any] | None:
            for rep in self.list_replicas(registry_id, region=call_region):
                if matches(rep):
                    return rep
            return None

        def attempt(_n: int) -> dict[str, Any]:
            nonlocal uncertain
            if uncertain:
                found = existing()
                if found is not None:
                    return found
            try:
                resp = self.call_once("CreateReplicationInstance", params, call_region)
            except TcrCallError as err:
                if err.ambiguous:
                    uncertain = True
                elif err.code == "InvalidParameter.ReplicationExists" and uncertain:
                    found = existing()
                    if found is not None:
                        return found
                raise
            return {
                "registryId": registry_id,
                "replicaRegistryId": resp.get("ReplicationRegistryId"),
                "region": region_name,
                "regionId": region_id,
                "status": "Deploying",
                "createdAt": None,
            }

        def retryable(exc: Exception) -> bool:
            return isinstance(exc, TcrCallError) and (exc.rate_limited or exc.ambiguous)

        try:
            return self._retry(attempt, retryable, None)
        except TcrCallError as err:
            primary = region or self._region_of.get(registry_id)
            raise self._refine_region_error(err, primary, region_id, region_name) from None

    @staticmethod
    def _refine_region_error(
        err: TcrCallError, primary: str | None, region_id: int | None, region_name: str | None
    ) -> TcrApiError:
        """Name the rule TCR applied when both regions are known: SameRegion or CrossBorder."""
        mapped = map_error(err)
        if err.code not in REGION_CODES and err.code != "InvalidParameter":
            return mapped
        from shared import regions

        source = regions.find(primary) if primary else None
        target = regions.find(region_name) if region_name else None
        if target is None and region_id is not None:
            target = regions.find(int(region_id))
        if source is None or target is None:
            return mapped
        ref = f"(TCR {err.action} {err.code}" + (f", RequestId {err.request_id})" if err.request_id else ")")
        if source.name == target.name:
            text = f"a replica must be in another region than its primary ({source.name}) {ref}"
            return TcrApiError("SameRegion", text, tcr_code=err.code, request_id=err.request_id, action=err.action)
        if source.mainland != target.mainland and target.tcr_served:
            text = (
                f"replication between {source.name} ({source.area}) and {target.name} ({target.area}) is "
                f"cross-border and not supported; use a separate instance with cross-instance synchronisation {ref}"
            )
            return TcrApiError("CrossBorder", text, tcr_code=err.code, request_id=err.request_id, action=err.action)
        return mapped

    def delete_replica(self, registry_id: str, replica_id: str, region_id: int, *, region: str | None = None) -> None:
        """Delete a replica; a retry that finds it gone counts as done."""
        self._idempotent_delete(
            "DeleteReplicationInstance",
            {"RegistryId": registry_id, "ReplicationRegistryId": replica_id, "ReplicationRegionId": int(region_id)},
            region=self._region(region, registry_id),
            not_found="ReplicaNotFound",
        )

    def replica_create_tasks(self, replica_id: str, region_id: int, *, region: str | None = None) -> dict[str, Any]:
        resp = self._call(
            "DescribeReplicationInstanceCreateTasks",
            {"ReplicationRegistryId": replica_id, "ReplicationRegionId": int(region_id)},
            region=self._region(region),
            not_found="ReplicaNotFound",
        )
        return {"status": resp.get("Status"), "tasks": list(resp.get("TaskDetail") or [])}

    def _idempotent_delete(self, action: str, params: Mapping[str, Any], *, region: str, not_found: str) -> None:
        uncertain = False

        def attempt(_n: int) -> None:
            nonlocal uncertain
            try:
                self.call_once(action, params, region)
            except TcrCallError as err:
                gone = err.code.startswith("ResourceNotFound") or err.code == "InternalError.ErrNotExist"
                if gone and uncertain:
                    return
                if err.ambiguous:
                    uncertain = True
                raise

        def retryable(exc: Exception) -> bool:
            return isinstance(exc, TcrCallError) and (exc.rate_limited or exc.ambiguous)

        try:
            self._retry(attempt, retryable, None)
        except TcrCallError as err:
            raise map_error(err, not_found=not_found) from None

    # -- sync status and logs -------------------------------------------------------------------

    def sync_status(
        self,
        registry_id: str,
        replica_id: str,
        region_id: int | None = None,
        *,
        show_log: bool = False,
        page: int | None = None,
        limit: int = 20,
        region: str | None = None,
    ) -> dict[str, Any]:
        """`{"status", "replicationTime", "logs": [...], "requestId"}`; `page` is TCR's log page number."""
        params: dict[str, Any] = {"RegistryId": registry_id, "ReplicationRegistryId": replica_id}
        if region_id is not None:
            params["ReplicationRegionId"] = int(region_id)
        if show_log:
            params["ShowReplicationLog"] = True
            params["Limit"] = max(1, min(20, int(limit)))
            if page is not None:
                params["Offset"] = int(page)
        resp = self._call(
            "DescribeReplicationInstanceSyncStatus",
            params,
            region=self._region(region, registry_id),
            not_found="ReplicaNotFound",
        )
        raw_log = resp.get("ReplicationLog")
        return {
            "status": resp.get("ReplicationStatus"),
            "replicationTime": _time(resp.get("ReplicationTime")),
            "logs": replication_log_entries(raw_log),
            "logShape": "array" if isinstance(raw_log, list) else "object" if isinstance(raw_log, Mapping) else None,
            "requestId": resp.get("RequestId"),
        }

    def replication_logs(
        self,
        registry_id: str,
        replica_id: str,
        region_id: int | None = None,
        *,
        limit: int = 20,
        max_pages: int = 500,
        region: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every replication log entry TCR still holds for the replica (all pages, newest first as TCR lists).

        The log's `Offset` is a page number; whether the first page is 0 or 1 is not documented
        consistently, so paging starts at 0 and a page 1 identical to page 0 is skipped. When TCR answers
        with the documented single-object shape, a page shows one entry only: paging continues with
        Limit 1 so that no entry is missed.
        """
        limit = max(1, min(20, int(limit)))
        out: list[dict[str, Any]] = []
        previous: list[dict[str, Any]] | None = None
        page_no = 0
        for _ in range(max_pages):
            status = self.sync_status(
                registry_id, replica_id, region_id, show_log=True, page=page_no, limit=limit, region=region
            )
            logs = status["logs"]
            if status["logShape"] == "object" and limit > 1:
                # One entry per answer whatever the Limit: restart with pages of one entry.
                limit, out, previous, page_no = 1, [], None, 0
                continue
            if page_no == 1 and previous is not None and logs == previous:
                page_no += 1  # the server treats pages 0 and 1 alike
                continue
            if previous is not None and logs and logs == previous:
                break  # the server ignores paging: nothing new will come
            out.extend(logs)
            if len(logs) < limit:
                break
            previous = logs
            page_no += 1
        return out

    # -- regions, namespaces, images, triggers ---------------------------------------------------

    def describe_regions(self, *, region: str | None = None) -> list[dict[str, Any]]:
        resp = self._call("DescribeRegions", {}, region=self._region(region))
        return [
            {
                "region": r.get("RegionName"),
                "regionId": r.get("RegionId"),
                "alias": r.get("Alias"),
                "status": r.get("Status"),
            }
            for r in resp.get("Regions") or []
        ]

    def create_namespace(self, registry_id: str, name: str, *, public: bool = False, region: str | None = None) -> bool:
        """Create a namespace; True if created, False if it already existed."""
        try:
            self._call(
                "CreateNamespace",
                {"RegistryId": registry_id, "NamespaceName": name, "IsPublic": bool(public)},
                region=self._region(region, registry_id),
                write=True,
            )
        except TcrApiError as err:
            if err.tcr_code in ("InvalidParameter.ErrNamespaceExist", "InvalidParameter.ErrNamespaceReserved"):
                return False
            raise
        return True

    def describe_images(
        self,
        registry_id: str,
        namespace: str,
        repository: str,
        *,
        digest: str | None = None,
        tag: str | None = None,
        page_size: int = 100,
        region: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every image of a repository (all pages; `Offset` is a page number from 1). Unknown repo: []."""
        out: list[dict[str, Any]] = []
        page_no = 1
        while True:
            params: dict[str, Any] = {
                "RegistryId": registry_id,
                "NamespaceName": namespace,
                "RepositoryName": repository,
                "Limit": page_size,
                "Offset": page_no,
            }
            if digest:
                params["Digest"] = digest
            if tag:
                params["ImageVersion"] = tag
                params["ExactMatch"] = True
            try:
                resp = self._call("DescribeImages", params, region=self._region(region, registry_id))
            except TcrApiError as err:
                if err.tcr_code in ("ResourceNotFound.ErrNoRepo", "ResourceNotFound.ErrNoNamespace"):
                    return []
                raise
            page = resp.get("ImageInfoList") or []
            out.extend(image_from_tcr(i) for i in page)
            total = resp.get("TotalCount")
            if not page or len(page) < page_size or (isinstance(total, int) and len(out) >= total):
                break
            page_no += 1
        return out

    def create_webhook_trigger(
        self,
        registry_id: str,
        namespace: str,
        name: str,
        address: str,
        *,
        headers: Mapping[str, str | list[str]] | None = None,
        event_types: Iterable[str] = ("pushImage",),
        condition: str = ".*",
        enabled: bool = True,
        description: str | None = None,
        region: str | None = None,
    ) -> dict[str, Any]:
        """Create a webhook trigger on a namespace; returns `{"id", "name", "namespace", ...}`."""
        target: dict[str, Any] = {"Address": address}
        if headers:
            target["Headers"] = [
                {"Key": k, "Values": list(v) if isinstance(v, (list, tuple)) else [v]} for k, v in headers.items()
            ]
        trigger: dict[str, Any] = {
            "Name": name,
            "Targets": [target],
            "EventTypes": list(event_types),
            "Condition": condition,
            "Enabled": bool(enabled),
        }
        if description:
            trigger["Description"] = description
        resp = self._call(
            "CreateWebhookTrigger",
            {"RegistryId": registry_id, "Namespace": namespace, "Trigger": trigger},
            region=self._region(region, registry_id),
            write=True,
        )
        out = resp.get("Trigger") or {}
        return {
            "id": out.get("Id"),
            "name": out.get("Name", name),
            "namespace": namespace,
            "namespaceId": out.get("NamespaceId"),
            "eventTypes": out.get("EventTypes", list(event_types)),
            "enabled": out.get("Enabled", enabled),
        }


_default: TcrAdapter | None = None
_default_lock = threading.Lock()


def default_adapter() -> TcrAdapter:
    """The warm container's adapter (its clients survive between invocations)."""
    global _default  # noqa: PLW0603 - one adapter per warm container, on purpose
    with _default_lock:
        if _default is None:
            _default = TcrAdapter()
        return _default
