"""TCR API adapter: the real TcrClient, TCR errors mapped to the product's codes, what is safe to retry.

- The SDK (`tencentcloud.tcr.v20190924.tcr_client`) is imported lazily: it costs ~100 ms and 20 MB.
- Every action goes through `client.call_json(...)` and the raw `{"Response": ...}` dict is checked
  here: the SDK skips errors whose Content-Type is `application/json; charset=...`, and it cannot
  deserialize the array shape of `ReplicationLog`. A Response carrying `Error` is always an error.
- The SDK's StandardRetryer is broken (reference/tcr-sdk-wire.md §5); retries are `shared.runtime.retry`:
  exponential backoff with full jitter, bounded by the invocation's `Deadline` (`set_deadline`).
- Retried: rate limits (always: the request was refused, not executed); transient internal and
  network errors for reads; for writes only where a repeat is harmless or re-checked first
  (CreateReplicationInstance looks at DescribeReplicationInstances before trying again).
- Results are the product's values (shared.ports: `Instance`, `Replica`, `SyncStatus`), built from TCR's
  answers by shared.tcr_wire; errors are classified and mapped by shared.tcr_errors.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from shared import regions
from shared import tcr_wire as wire
from shared.config import Config
from shared.errors import ApiError
from shared.ports import EndpointDns, Instance, InternalEndpoint, Replica, SyncStatus
from shared.runtime import Deadline, RetryPolicy, retry
from shared.tcr_errors import (
    ACCESS_EXISTS_CODES,
    REGION_CODES,
    TcrApiError,
    TcrCallError,
    access_error,
    clip,
    map_error,
    scrub,
)

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0

# ---------------------------------------------------------------------------------------------------


def api_host(region: str) -> str:
    """TCR's API host for a region: the nearby-access domain does not serve the finance zones (*-fsi),
    which need their regional domain (reference/regions.md, tcr-sdk-wire.md §2)."""
    return f"tcr.{region}.tencentcloudapi.com" if region.endswith("-fsi") else "tcr.tencentcloudapi.com"


def region_refusal(err: TcrCallError, primary: str | None, target: str | int | None) -> TcrApiError:
    """TCR refused a replica region: name the region rule it applied (shared.rules) when both regions are known,
    e.g. SameRegion or CrossBorder, else map TCR's code as any other."""
    mapped = map_error(err)
    if err.code not in REGION_CODES and err.code != "InvalidParameter":
        return mapped
    from shared import regions, rules

    source = regions.find(primary) if primary else None
    replica = regions.find(target) if target is not None else None
    if source is None or replica is None:
        return mapped
    broken = rules.pair_violations(source, replica)
    if not broken:
        return mapped
    first = min(broken, key=lambda v: rules.PRECEDENCE.index(v.code))
    return TcrApiError(
        first.code,
        f"{first.message} {err.reference}",
        tcr_code=err.code,
        request_id=err.request_id,
        action=err.action,
        details={"violations": [v.to_dict() for v in broken]},
    )


# ---------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------


class TcrAdapter:
    """The TCR Enterprise API calls the functions make (shared.ports.TcrPort). One per warm container
    (see `default_adapter`).

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

    def _remember(self, instances: Iterable[Instance]) -> None:
        with self._lock:
            for inst in instances:
                if inst.registry_id and inst.region:
                    self._region_of[inst.registry_id] = inst.region

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
                action, code, scrub(clip(str(message or "")), self._secrets()), exc.get_request_id()
            ) from None
        except ValueError as exc:  # body is not JSON (call_json does not wrap it)
            raise TcrCallError(action, "JSONDecodeError", clip(str(exc))) from None
        except Exception as exc:  # anything else from the transport: treat as a network failure
            raise TcrCallError(action, "ClientNetworkError", f"{type(exc).__name__}: {clip(str(exc))}") from None
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
                scrub(clip(str(error.get("Message") or "")), self._secrets()),
                response.get("RequestId"),
            )
        return response

    def _call(
        self,
        action: str,
        params: Mapping[str, Any],
        *,
        region: str,
        not_found: str = "InstanceNotFound",
        deadline: Deadline | None = None,
    ) -> dict[str, Any]:
        """A read with retries (of any transient error), errors mapped."""

        def retryable(exc: Exception) -> bool:
            return isinstance(exc, TcrCallError) and exc.transient

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

    # -- instances ------------------------------------------------------------------------------

    def describe_instances(
        self,
        registry_ids: Iterable[str] | None = None,
        all_regions: bool = True,
        *,
        region: str | None = None,
        page_size: int = 100,
    ) -> list[Instance]:
        """Every instance (all pages), optionally only the given ids."""
        ids = list(registry_ids) if registry_ids is not None else None
        if ids == []:
            return []
        out: list[Instance] = []
        seen: set[str] = set()
        offset = 0
        while True:
            params: dict[str, Any] = {"Offset": offset, "Limit": page_size, "AllRegion": bool(all_regions)}
            if ids:
                params["Registryids"] = ids
            resp = self._call("DescribeInstances", params, region=self._region(region))
            page = resp.get("Registries") or []
            for raw in page:
                inst = wire.instance(raw)
                if inst.registry_id not in seen:
                    seen.add(inst.registry_id)
                    out.append(inst)
            offset += len(page)
            total = resp.get("TotalCount")
            if not page or len(page) < page_size or (isinstance(total, int) and offset >= total):
                break
        self._remember(out)
        return out

    def get_instance(self, registry_id: str, *, region: str | None = None) -> Instance:
        found = [i for i in self.describe_instances([registry_id], region=region) if i.registry_id == registry_id]
        if not found:
            raise ApiError("InstanceNotFound", f"no TCR instance {registry_id!r} in this account")
        return found[0]

    def find_instance_by_domain(self, domain: str, *, region: str | None = None) -> Instance | None:
        """The instance whose PublicDomain is the host of `domain` (a host, host:port or URL)."""
        host = wire.domain_host(domain)
        if not host:
            return None
        return next((i for i in self.describe_instances(region=region) if i.public_domain == host), None)

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
    ) -> list[Replica]:
        out: list[Replica] = []
        offset = 0
        while True:
            resp = self._call(
                "DescribeReplicationInstances",
                {"RegistryId": registry_id, "Offset": offset, "Limit": page_size},
                region=self._region(region, registry_id),
                deadline=deadline,
            )
            page = resp.get("ReplicationRegistries") or []
            out.extend(wire.replica(r) for r in page)
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
    ) -> Replica:
        """Create a replica; returns it (status as TCR lists it, or "Deploying" from the create answer).

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
        name, number = regions.name_and_id(region_name, region_id)
        uncertain = False

        def same_region(rep: Replica) -> bool:
            if number is not None and rep.region_id is not None:
                return rep.region_id == number
            return rep.region == name

        def existing() -> Replica | None:
            return next((r for r in self.list_replicas(registry_id, region=call_region) if same_region(r)), None)

        def attempt(_n: int) -> Replica:
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
            return Replica(str(resp.get("ReplicationRegistryId") or ""), name, number, "Deploying")

        def retryable(exc: Exception) -> bool:
            return isinstance(exc, TcrCallError) and (exc.rate_limited or exc.ambiguous)

        try:
            return self._retry(attempt, retryable, None)
        except TcrCallError as err:
            primary = region or self._region_of.get(registry_id)
            raise region_refusal(err, primary, region_name or region_id) from None

    def delete_replica(self, registry_id: str, replica_id: str, region_id: int, *, region: str | None = None) -> None:
        """Delete a replica; a retry that finds it gone counts as done."""
        self._idempotent_delete(
            "DeleteReplicationInstance",
            {"RegistryId": registry_id, "ReplicationRegistryId": replica_id, "ReplicationRegionId": int(region_id)},
            region=self._region(region, registry_id),
            not_found="ReplicaNotFound",
        )

    def _idempotent_delete(
        self,
        action: str,
        params: Mapping[str, Any],
        *,
        region: str,
        not_found: str = "InstanceNotFound",
        mapper: Callable[[TcrCallError], TcrApiError] | None = None,
    ) -> None:
        uncertain = False

        def attempt(_n: int) -> None:
            nonlocal uncertain
            try:
                self.call_once(action, params, region)
            except TcrCallError as err:
                if err.not_found and uncertain:
                    return
                if err.ambiguous:
                    uncertain = True
                raise

        def retryable(exc: Exception) -> bool:
            return isinstance(exc, TcrCallError) and (exc.rate_limited or exc.ambiguous)

        try:
            self._retry(attempt, retryable, None)
        except TcrCallError as err:
            raise (mapper(err) if mapper else map_error(err, not_found=not_found)) from None

    # -- sync status and its log ------------------------------------------------------------------

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
    ) -> SyncStatus:
        """The replica's sync status; with `show_log`, one page of its log (`page` is TCR's page number;
        shared.replication_log reads the log across pages)."""
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
        return wire.sync_status(resp)

    # -- private access (used by the private-access routes and the audit's reconciliation) ----------------

    def list_internal_endpoints(self, registry_id: str, *, region: str | None = None) -> list[InternalEndpoint]:
        resp = self._call(
            "DescribeInternalEndpoints", {"RegistryId": registry_id}, region=self._region(region, registry_id)
        )
        return wire.internal_endpoints(resp)

    def create_internal_endpoint(
        self,
        registry_id: str,
        vpc_id: str,
        subnet_id: str,
        region_name: str | None = None,
        region_id: int | None = None,
        *,
        region: str | None = None,
    ) -> None:
        """Attach a VPC. After an ambiguous failure the attachment may exist: the list is checked before trying
        again, and a conflict answer to our own retry is resolved by the list (as `create_replica` does)."""
        params = _endpoint_params("Create", registry_id, vpc_id, subnet_id, region_name, region_id)
        call_region = self._region(region, registry_id)
        uncertain = False

        def attached() -> bool:
            listed = self.list_internal_endpoints(registry_id, region=call_region)
            return any(e.vpc_id == vpc_id and e.subnet_id == subnet_id for e in listed)

        def attempt(_n: int) -> None:
            nonlocal uncertain
            if uncertain and attached():
                return
            try:
                self.call_once("ManageInternalEndpoint", params, call_region)
            except TcrCallError as err:
                if err.ambiguous:
                    uncertain = True
                elif err.code in ACCESS_EXISTS_CODES and uncertain and attached():
                    return
                raise

        where = region_name or _name(region_id)
        self._write(
            attempt,
            lambda err: access_error(err, operation="Create", vpc_id=vpc_id, subnet_id=subnet_id, region=where),
        )

    def delete_internal_endpoint(
        self,
        registry_id: str,
        vpc_id: str,
        subnet_id: str,
        region_name: str | None = None,
        region_id: int | None = None,
        *,
        region: str | None = None,
    ) -> None:
        """Detach a VPC; a retry that finds it gone counts as done."""
        self._idempotent_delete(
            "ManageInternalEndpoint",
            _endpoint_params("Delete", registry_id, vpc_id, subnet_id, region_name, region_id),
            region=self._region(region, registry_id),
            mapper=lambda err: access_error(
                err, operation="Delete", vpc_id=vpc_id, subnet_id=subnet_id, region=region_name or _name(region_id)
            ),
        )

    def create_endpoint_dns(
        self,
        registry_id: str,
        vpc_id: str,
        eni_lb_ip: str,
        region_name: str | None = None,
        *,
        region: str | None = None,
    ) -> None:
        """Resolve the instance's public domain (UsePublicDomain) to the endpoint inside the VPC. After an
        ambiguous failure the record's status is read before trying again."""
        params = _dns_params(registry_id, vpc_id, eni_lb_ip, region_name)
        call_region = self._region(region, registry_id)
        uncertain = False

        def attempt(_n: int) -> None:
            nonlocal uncertain
            if uncertain:
                status = self.endpoint_dns_status(registry_id, [(vpc_id, eni_lb_ip, region_name)], region=call_region)
                if any(d.vpc_id == vpc_id and d.status.upper().startswith("ENABLE") for d in status):
                    return
            try:
                self.call_once("CreateInternalEndpointDns", params, call_region)
            except TcrCallError as err:
                uncertain = uncertain or err.ambiguous
                raise

        self._write(attempt, map_error)

    def delete_endpoint_dns(
        self,
        registry_id: str,
        vpc_id: str,
        eni_lb_ip: str,
        region_name: str | None = None,
        *,
        region: str | None = None,
    ) -> None:
        """Remove the VPC's DNS record of the instance's domain; a retry that finds it gone counts as done."""
        self._idempotent_delete(
            "DeleteInternalEndpointDns",
            _dns_params(registry_id, vpc_id, eni_lb_ip, region_name),
            region=self._region(region, registry_id),
            mapper=lambda err: access_error(
                err, operation="Delete", vpc_id=vpc_id, subnet_id=None, region=region_name, dns=True
            ),
        )

    def endpoint_dns_status(
        self, registry_id: str, vpcs: Sequence[tuple[str, str, str | None]], *, region: str | None = None
    ) -> list[EndpointDns]:
        if not vpcs:
            return []
        vpc_set = [_dns_params(registry_id, vpc, ip, name) for vpc, ip, name in vpcs]
        resp = self._call(
            "DescribeInternalEndpointDnsStatus", {"VpcSet": vpc_set}, region=self._region(region, registry_id)
        )
        return wire.endpoint_dns(resp)

    def _write(self, attempt: Callable[[int], None], mapper: Callable[[TcrCallError], TcrApiError]) -> None:
        """A write retried on rate limits and ambiguous failures (`attempt` re-checks before repeating)."""

        def retryable(exc: Exception) -> bool:
            return isinstance(exc, TcrCallError) and (exc.rate_limited or exc.ambiguous)

        try:
            self._retry(attempt, retryable, None)
        except TcrCallError as err:
            raise mapper(err) from None


def _name(region_id: int | None) -> str | None:
    """A region id's name, for messages (None: the instance's own region)."""
    return regions.name_and_id(None, region_id)[0] if region_id is not None else None


def _endpoint_params(
    operation: str, registry_id: str, vpc_id: str, subnet_id: str, region_name: str | None, region_id: int | None
) -> dict[str, Any]:
    """ManageInternalEndpoint's request: RegionName/RegionId name a replica's region (none: the instance's)."""
    params: dict[str, Any] = {"RegistryId": registry_id, "Operation": operation, "VpcId": vpc_id, "SubnetId": subnet_id}
    if region_name:
        params["RegionName"] = region_name
    if region_id is not None:
        params["RegionId"] = int(region_id)
    return params


def _dns_params(registry_id: str, vpc_id: str, eni_lb_ip: str, region_name: str | None) -> dict[str, Any]:
    """The VPC and endpoint of a DNS record (Create/DeleteInternalEndpointDns, one VpcAndDomainInfo)."""
    params: dict[str, Any] = {"InstanceId": registry_id, "VpcId": vpc_id, "EniLBIp": eni_lb_ip, "UsePublicDomain": True}
    if region_name:
        params["RegionName"] = region_name
    return params


_default: TcrAdapter | None = None
_default_lock = threading.Lock()


def reset_default_adapter() -> None:
    global _default  # noqa: PLW0603
    with _default_lock:
        _default = None


def default_adapter() -> TcrAdapter:
    """The warm container's adapter (its clients survive between invocations)."""
    global _default  # noqa: PLW0603 - one adapter per warm container, on purpose
    with _default_lock:
        if _default is None:
            _default = TcrAdapter()
        return _default
