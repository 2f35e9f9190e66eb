"""In-memory fakes of the ports (shared.ports): TCR, the log store in COS and the notifier.

The services' unit tests build on these; `tests/unit/test_ports.py` holds each fake to its port signature by
signature, as it holds the adapters. They behave as the adapters do where the services can tell:

- `FakeTcr` answers with the ports' values, lists replication logs newest first in either of TCR's answer
  shapes and page numberings, and fails the way the adapter does after mapping TCR's error (the product's
  codes: InstanceNotFound, InstanceNotRunning, Throttled, TcrRefused, ...). Like TCR (and localcloud), it
  refuses to describe or list the replicas of a named instance that is not Running. It does not apply TCR's
  own region refusals to `create_replica` (the service checks the rules before any write; script one with
  `fail("create_replica", "CrossBorder")`), retry, or wait: a scripted failure is the adapter's final answer.
  Private access: it refuses a VPC or subnet not added with `add_vpc` or of another region (VpcNotFound), a region
  that is neither the instance's nor a replica's (NoReplicaInRegion), a second attachment of a VPC (AccessExists),
  and an endpoint's deletion while its DNS record remains (TcrRefused, as TCR's ResourceInsufficient.ErrorVpcDnsStatus);
  endpoints stay `new_endpoint_status` ("Creating") without an AccessIp until `run_endpoints`. It lists every
  region's attachments under the instance (TCR's documents do not say whether the primary's list names those of
  its replicas' regions), and names DNS status ENABLE or DISABLE (never TCR's ERROR unless scripted).
- `FakeLogStore` keeps objects in a dict under the keys of shared.records (inbox objects with their payload in
  the key, unexpanded pushes, segments, TCR log archive, state, reports), so listing, expansion, resolution and
  queries see what the real store would. It does not compact segments (readers deduplicate either way), and
  `query` trusts its input (the routes validate it; the real store's refusals are tested against localcloud)
  and offers a next cursor only when more matching records exist.
- `FakeNotifier` keeps what it was asked to send, and can refuse (as a receiver that is down).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from shared import records as rl
from shared import regions
from shared.errors import ApiError, ConfigError
from shared.logstore import InboxItem, Page, ResolveResult
from shared.notify import Delivery, Notification
from shared.ports import EndpointDns, Instance, InternalEndpoint, LogEntry, Replica, SyncStatus
from shared.records import PushEvent, Record
from shared.runtime import Deadline
from shared.tcr_errors import TcrApiError
from shared.times import parse_or_none

# The TCR code behind each product code a scripted failure raises (what the adapter maps from).
_TCR_CODES = {
    "InstanceNotFound": "ResourceNotFound",
    "ReplicaNotFound": "ResourceNotFound",
    "InstanceNotRunning": "ResourceInsufficient.ErrorInstanceNotRunning",
    "Throttled": "RequestLimitExceeded",
    "TcrRefused": "FailedOperation",
    "Conflict": "FailedOperation.PreconditionFailed",
    "ReplicaExists": "InvalidParameter.ReplicationExists",
    "RegionNotSupported": "InvalidParameter.UnsupportedRegion",
    "SameRegion": "InvalidParameter",
    "CrossBorder": "InvalidParameter.UnsupportedRegion",
    "Unavailable": "ClientNetworkError",
    "UpstreamError": "InternalError",
    "AccessExists": "InternalError.ErrorConflict",
    "AccessNotFound": "ResourceNotFound",
    "VpcNotFound": "InvalidParameter",
    "NoReplicaInRegion": "InvalidParameter.UnsupportedRegion",
}
# Product codes whose error carries TCR's own code and message (error.tcr), as the adapter's
_WITH_TCR_DETAILS = frozenset({"TcrRefused", "AccessExists", "AccessNotFound", "VpcNotFound", "NoReplicaInRegion"})
_ACTIONS = {
    "describe_instances": "DescribeInstances",
    "get_instance": "DescribeInstances",
    "find_instance_by_domain": "DescribeInstances",
    "list_replicas": "DescribeReplicationInstances",
    "create_replica": "CreateReplicationInstance",
    "delete_replica": "DeleteReplicationInstance",
    "delete_instance": "DeleteInstance",
    "sync_status": "DescribeReplicationInstanceSyncStatus",
    "list_internal_endpoints": "DescribeInternalEndpoints",
    "create_internal_endpoint": "ManageInternalEndpoint",
    "delete_internal_endpoint": "ManageInternalEndpoint",
    "create_endpoint_dns": "CreateInternalEndpointDns",
    "delete_endpoint_dns": "DeleteInternalEndpointDns",
    "endpoint_dns_status": "DescribeInternalEndpointDnsStatus",
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def tcr_error(code: str, method: str = "list_replicas", message: str = "") -> ApiError:
    """The error the TCR adapter raises for `code` (a product code) after a call of `method` failed."""
    action = _ACTIONS.get(method, method)
    tcr_code = _TCR_CODES.get(code, "InternalError")
    text = message or f"TCR {action} failed: scripted {code} (TCR {action} {tcr_code}, RequestId fake-request)"
    details = (
        {"tcr": {"code": tcr_code, "message": text, "requestId": "fake-request"}} if code in _WITH_TCR_DETAILS else None
    )
    return TcrApiError(code, text, tcr_code=tcr_code, request_id="fake-request", action=action, details=details)


class _Failure:
    def __init__(self, error: ApiError, times: int | None, only: str | None) -> None:
        self.error = error
        self.times = times
        self.only = only


class _Scripted:
    """Call counting, hooks and scripted failures per port method (shared by the fakes)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, tuple[Any, ...]]] = []  # (method, its identifying arguments), in order
        self.hooks: dict[str, Callable[[], None]] = {}  # run at the start of a call (e.g. a racing request)
        self._failures: dict[str, list[_Failure]] = {}

    def fail(self, method: str, error: str | ApiError, *, times: int | None = None, only: str | None = None) -> None:
        """From now on `method` raises `error` (a product code or an ApiError): `times` times, or until `heal`;
        with `only`, just the calls that name that id."""
        if not hasattr(self, method):
            raise AttributeError(f"{type(self).__name__} has no {method}")
        exc = error if isinstance(error, ApiError) else self._error(error, method)
        self._failures.setdefault(method, []).append(_Failure(exc, times, only))

    def heal(self, method: str | None = None) -> None:
        if method is None:
            self._failures.clear()
        else:
            self._failures.pop(method, None)

    def _error(self, code: str, method: str) -> ApiError:
        return ApiError(code, f"scripted {code} in {method}")

    def _enter(self, method: str, *ids: Any) -> None:
        self.calls[method] += 1
        self.requests.append((method, ids))
        hook = self.hooks.get(method)
        if hook is not None:
            hook()
        for failure in self._failures.get(method, []):
            if failure.only is not None and failure.only not in ids:
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures[method].remove(failure)
            raise failure.error

    def calls_of(self, *methods: str) -> list[tuple[str, tuple[Any, ...]]]:
        """The calls of these methods (e.g. every write), in order, with their identifying arguments."""
        return [r for r in self.requests if r[0] in methods]


# ---------------------------------------------------------------------------------------------------------------------
# TCR


def tcr_time(when: datetime, *, micro: bool = False) -> str:
    """A time as TCR writes it: log start times with microseconds, the others in whole seconds."""
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if micro else when.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeTcr(_Scripted):
    """TCR Enterprise in memory: instances, their replicas, and each replica's replication log (newest first).

    `log_shape` is how TCR answers `ReplicationLog`: "array" (one page of up to `limit` entries) or "object"
    (one entry per answer, whatever the limit); `page_base` whether page numbers start at 1 (pages 0 and 1 are
    then the same page) or 0. `refuses_not_running`: TCR refuses to name (DescribeInstances with ids) or list the
    replicas of an instance that is not Running, as localcloud does; False: it answers with the instance's status.
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = utc_now,
        log_shape: str = "array",
        page_base: int = 1,
        new_replica_status: str = "Running",
        refuses_not_running: bool = True,
        new_endpoint_status: str = "Creating",
    ) -> None:
        super().__init__()
        self.refuses_not_running = refuses_not_running
        self.now = now
        self.log_shape = log_shape
        self.page_base = page_base
        self.new_replica_status = new_replica_status
        self.instances: dict[str, Instance] = {}
        self.replicas: dict[str, list[Replica]] = {}  # registry id -> its replicas, oldest first
        self.logs: dict[str, list[LogEntry]] = {}  # replica id -> its log, newest first
        self.sync: dict[str, tuple[str | None, datetime | None]] = {}  # replica id -> (status, last sync) set by hand
        self.sync_pages: list[tuple[str, int | None, int]] = []  # (replica id, page, limit) of each log read
        self.deleted_instances: dict[str, bool] = {}  # registry id -> whether its bucket was to be deleted
        self._serial = 0
        # private access
        self.new_endpoint_status = new_endpoint_status
        self.vpcs: dict[str, tuple[str, set[str]]] = {}  # vpc id -> (its region, its subnet ids): add_vpc
        self.endpoints: dict[str, dict[str, tuple[InternalEndpoint, str]]] = {}  # registry -> vpc -> (it, region)
        self.dns: dict[tuple[str, str], tuple[str, str]] = {}  # (registry id, vpc id) -> (EniLBIp, region name)

    def _error(self, code: str, method: str) -> ApiError:
        return tcr_error(code, method)

    # -- scripting ----------------------------------------------------------------------------------------------

    def add_instance(
        self,
        registry_id: str = "tcr-aaaa1111",
        region: str = "ap-guangzhou",
        *,
        registry_type: str = "premium",
        status: str = "Running",
        domain: str | None = None,
        name: str | None = None,
    ) -> Instance:
        found = regions.find(region)
        inst = Instance(
            registry_id=registry_id,
            name=name or registry_id.replace("tcr-", "demo-"),
            region=region,
            region_id=found.region_id if found else None,
            registry_type=registry_type,
            status=status,
            public_domain=(domain if domain is not None else f"{name or registry_id}.tencentcloudcr.com").lower(),
            created_at="2026-01-01T00:00:00Z",
        )
        self.instances[registry_id] = inst
        self.replicas.setdefault(registry_id, [])
        return inst

    def set_status(self, registry_id: str, status: str) -> None:
        self.instances[registry_id] = self.instances[registry_id]._replace(status=status)

    def add_replica(
        self,
        registry_id: str,
        region: str,
        *,
        replica_id: str | None = None,
        status: str = "Running",
        created: datetime | None = None,
    ) -> Replica:
        """A replica as TCR lists it (`created`: its creation time; None: TCR's null time)."""
        found = regions.find(region)
        number = found.region_id if found else None
        self._serial += 1
        rid = replica_id or f"{registry_id}-{number}-r{self._serial:05d}"
        created_at = tcr_time(created) if created is not None else None
        rep = Replica(rid, region, number, status, created_at, parse_or_none(created_at))
        self.replicas.setdefault(registry_id, []).append(rep)
        self.logs.setdefault(rid, [])
        return rep

    def log(
        self,
        replica_id: str,
        source: str,
        status: str = "Succeed",
        *,
        start: datetime,
        end: datetime | str | None = "auto",
        destination: str | None = None,
    ) -> LogEntry:
        """Add the newest entry of a replica's log (`end`: "auto" is 3 s after the start, None in progress)."""
        finish = start + timedelta(seconds=3) if end == "auto" else end
        assert finish is None or isinstance(finish, datetime)
        start_text = tcr_time(start, micro=True)
        end_text = tcr_time(finish) if finish is not None else None
        entry = LogEntry(
            "image",
            source,
            destination if destination is not None else source,
            status,
            start_text,
            end_text,
            parse_or_none(start_text),
            parse_or_none(end_text),
        )
        self.logs.setdefault(replica_id, []).insert(0, entry)
        return entry

    def add_vpc(self, vpc_id: str, region: str, *subnet_ids: str) -> None:
        """A VPC (and its subnets) that private access may attach (any other is refused as VpcNotFound)."""
        self.vpcs[vpc_id] = (region, set(subnet_ids) or {vpc_id.replace("vpc-", "subnet-")})

    def run_endpoints(self, registry_id: str | None = None, status: str = "Running") -> None:
        """The attachments (of one instance, or all) reach `status`, each with an AccessIp."""
        for rid, attached in self.endpoints.items():
            if registry_id not in (None, rid):
                continue
            for number, (vpc, (ep, region)) in enumerate(sorted(attached.items()), start=10):
                attached[vpc] = (ep._replace(status=status, access_ip=ep.access_ip or f"10.0.0.{number}"), region)

    def set_sync(self, replica_id: str, status: str | None, last_sync: datetime | None) -> None:
        """What the sync status says whatever the log (e.g. synced, though the log names no image)."""
        self.sync[replica_id] = (status, last_sync)

    # -- the port -----------------------------------------------------------------------------------------------

    def _instance(self, registry_id: str, *, running: bool = True) -> Instance:
        inst = self.instances.get(registry_id)
        if inst is None:
            raise ApiError("InstanceNotFound", f"TCR instance not found: {registry_id} (TCR ResourceNotFound)")
        if running and self.refuses_not_running and inst.status != "Running":
            raise tcr_error(
                "InstanceNotRunning",
                message=f"the instance is not running: {registry_id} is {inst.status}; wait until it is Running",
            )
        return inst

    def describe_instances(self, registry_ids: Iterable[str] | None = None) -> list[Instance]:
        ids = list(registry_ids) if registry_ids is not None else None
        self._enter("describe_instances", *(ids or ()))
        if ids is None:
            return list(self.instances.values())
        found = [i for i in self.instances.values() if i.registry_id in ids]
        for inst in found:
            self._instance(inst.registry_id)  # TCR refuses to name an instance that is not Running
        return found

    def get_instance(self, registry_id: str) -> Instance:
        self._enter("get_instance", registry_id)
        return self._instance(registry_id)

    def find_instance_by_domain(self, domain: str) -> Instance | None:
        self._enter("find_instance_by_domain", domain)
        text = domain.strip()
        host = (urlsplit(text if "://" in text else "//" + text).hostname or "").lower().rstrip(".")
        return next((i for i in self.instances.values() if host and i.public_domain == host), None)

    def list_replicas(self, registry_id: str, *, region: str | None = None) -> list[Replica]:
        self._enter("list_replicas", registry_id)
        self._instance(registry_id)
        return list(self.replicas.get(registry_id, []))

    def create_replica(
        self,
        registry_id: str,
        region_id: int | None = None,
        region_name: str | None = None,
        sync_tag: bool = False,
        *,
        region: str | None = None,
    ) -> Replica:
        self._enter("create_replica", registry_id, region_id, region_name)
        if region_id is None and not region_name:
            raise ApiError("InvalidRequest", "a replica region (name or TCR region id) is required")
        self._instance(registry_id)
        name, number = regions.name_and_id(region_name, region_id)
        for rep in self.replicas.get(registry_id, []):
            if rep.region == name:
                raise tcr_error("ReplicaExists", "create_replica", f"a replica already exists in {name}")
        created = self.add_replica(registry_id, name, status=self.new_replica_status, created=self.now())
        return Replica(created.replica_registry_id, name, number, "Deploying")  # TCR's answer names only the id

    def delete_replica(self, registry_id: str, replica_id: str, region_id: int, *, region: str | None = None) -> None:
        self._enter("delete_replica", registry_id, replica_id)
        self._instance(registry_id, running=False)
        reps = self.replicas.get(registry_id, [])
        rep = next((r for r in reps if r.replica_registry_id == replica_id), None)
        if rep is None:
            raise tcr_error("ReplicaNotFound", "delete_replica", f"TCR replica not found: {replica_id}")
        if rep.region_id != region_id:
            raise tcr_error("TcrRefused", "delete_replica", f"{replica_id} is in region {rep.region_id}")
        reps.remove(rep)
        self.logs.pop(replica_id, None)

    def delete_instance(self, registry_id: str, *, delete_bucket: bool = False, region: str | None = None) -> None:
        self._enter("delete_instance", registry_id)
        self._instance(registry_id, running=False)
        if self.replicas.get(registry_id):
            raise tcr_error("Conflict", "delete_instance", f"{registry_id} still has replicas")
        del self.instances[registry_id]
        self.replicas.pop(registry_id, None)
        self.deleted_instances[registry_id] = delete_bucket

    # -- private access ------------------------------------------------------------------------------------------

    def list_internal_endpoints(self, registry_id: str, *, region: str | None = None) -> list[InternalEndpoint]:
        self._enter("list_internal_endpoints", registry_id)
        self._instance(registry_id)
        return [ep for ep, _ in self.endpoints.get(registry_id, {}).values()]

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
        method = "create_internal_endpoint"
        self._enter(method, registry_id, vpc_id, subnet_id)
        inst = self._instance(registry_id)
        where = regions.name_and_id(region_name, region_id)[0] if region_name or region_id is not None else inst.region
        if where != inst.region and not any(r.region == where for r in self.replicas.get(registry_id, [])):
            raise tcr_error("NoReplicaInRegion", method, f"{registry_id} has no replica in {where}")
        vpc = self.vpcs.get(vpc_id)
        if vpc is None or vpc[0] != where or subnet_id not in vpc[1]:
            raise tcr_error("VpcNotFound", method, f"no VPC {vpc_id} with subnet {subnet_id} in {where}")
        attached = self.endpoints.setdefault(registry_id, {})
        if vpc_id in attached:
            raise tcr_error("AccessExists", method, f"{vpc_id} is already attached to {registry_id}")
        attached[vpc_id] = (InternalEndpoint(vpc_id, subnet_id, self.new_endpoint_status, None), where)

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
        method = "delete_internal_endpoint"
        self._enter(method, registry_id, vpc_id, subnet_id)
        self._instance(registry_id, running=False)
        attached = self.endpoints.get(registry_id, {})
        if vpc_id not in attached or attached[vpc_id][0].subnet_id != subnet_id:
            raise tcr_error("AccessNotFound", method, f"{vpc_id} is not attached to {registry_id}")
        if (registry_id, vpc_id) in self.dns:  # ResourceInsufficient.ErrorVpcDnsStatus: the DNS record goes first
            raise tcr_error("TcrRefused", method, f"the DNS record of {vpc_id} is not deleted")
        del attached[vpc_id]

    def create_endpoint_dns(
        self,
        registry_id: str,
        vpc_id: str,
        eni_lb_ip: str,
        region_name: str | None = None,
        *,
        region: str | None = None,
    ) -> None:
        self._enter("create_endpoint_dns", registry_id, vpc_id)
        inst = self._instance(registry_id)
        found = self.endpoints.get(registry_id, {}).get(vpc_id)
        if found is None or not found[0].access_ip or found[0].access_ip != eni_lb_ip:
            raise tcr_error("TcrRefused", "create_endpoint_dns", f"{vpc_id} has no endpoint at {eni_lb_ip}")
        self.dns[(registry_id, vpc_id)] = (eni_lb_ip, region_name or inst.region)

    def delete_endpoint_dns(
        self,
        registry_id: str,
        vpc_id: str,
        eni_lb_ip: str,
        region_name: str | None = None,
        *,
        region: str | None = None,
    ) -> None:
        self._enter("delete_endpoint_dns", registry_id, vpc_id)
        self._instance(registry_id, running=False)
        if self.dns.pop((registry_id, vpc_id), None) is None:
            raise tcr_error("AccessNotFound", "delete_endpoint_dns", f"{vpc_id} has no DNS record of {registry_id}")

    def endpoint_dns_status(
        self, registry_id: str, vpcs: Sequence[tuple[str, str, str | None]], *, region: str | None = None
    ) -> list[EndpointDns]:
        self._enter("endpoint_dns_status", registry_id, *(vpc for vpc, _, _ in vpcs))
        inst = self._instance(registry_id, running=False)
        out = []
        for vpc_id, _ip, name in vpcs:
            record = self.dns.get((registry_id, vpc_id))
            where = record[1] if record else (name or inst.region)
            out.append(EndpointDns(vpc_id, "ENABLE" if record else "DISABLE", where))
        return out

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
        self._enter("sync_status", registry_id, replica_id)
        self._instance(registry_id, running=False)
        rep = next((r for r in self.replicas.get(registry_id, []) if r.replica_registry_id == replica_id), None)
        if rep is None:
            raise tcr_error("ReplicaNotFound", "sync_status", f"TCR replica not found: {replica_id}")
        if region_id is not None and rep.region_id != region_id:
            raise tcr_error("TcrRefused", "sync_status", f"{replica_id} is in region {rep.region_id}")
        entries = self.logs.get(replica_id, [])
        if replica_id in self.sync:
            status, last = self.sync[replica_id]
        else:
            ends = [e.ended for e in entries if e.ended is not None]
            status, last = (entries[0].status if entries else "StatusUnKnow"), max(ends, default=None)
        last_text = tcr_time(last) if last is not None else None
        shown: tuple[LogEntry, ...] = ()
        if show_log:
            limit = max(1, min(20, int(limit)))
            self.sync_pages.append((replica_id, page, limit))
            number = page or 0
            first = (max(number, 1) - 1) * limit if self.page_base == 1 else number * limit
            shown = tuple(entries[first : first + limit])
            if self.log_shape == "object":
                shown = shown[:1]
        return SyncStatus(
            status, last_text, parse_or_none(last_text), shown, show_log and self.log_shape == "object" and bool(shown)
        )


# ---------------------------------------------------------------------------------------------------------------------
# the log store


class StoredObject(NamedTuple):
    body: bytes
    content_type: str
    modified: str  # LastModified, as the listing reports it (canonical UTC seconds)


class FakeLogStore(_Scripted):
    """The replication log bucket as a dict of key -> object, laid out by shared.records.

    `page_size`: objects per inbox list page (COS: 1000), small to make the audit page; `now`: the clock of
    LastModified (a record's `updatedAt` in the inbox).
    """

    def __init__(self, *, now: Callable[[], datetime] = utc_now, page_size: int = 1000) -> None:
        super().__init__()
        self.objects: dict[str, StoredObject] = {}
        self.now = now
        self.page_size = page_size
        self.puts: list[str] = []  # every key written, in order
        self.deletes: list[str] = []  # every key deleted, in order
        self.inbox_body_gets = 0
        self.segment_gets = 0

    def _error(self, code: str, method: str) -> ApiError:
        return ApiError(code, f"the replication log bucket did not answer {method} (scripted {code}); retry later")

    # -- objects ------------------------------------------------------------------------------------------------

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = StoredObject(body, content_type, rl.iso_utc(self.now()))
        self.puts.append(key)

    def _get(self, key: str) -> bytes | None:
        found = self.objects.get(key)
        return None if found is None else found.body

    def _delete_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)
            self.deletes.append(key)

    def keys(self, prefix: str = "") -> list[str]:
        """Listed as COS lists them: in key order."""
        return sorted(k for k in self.objects if k.startswith(prefix))

    def json(self, key: str) -> Any:
        return json.loads(self.objects[key].body)

    def records(self, registry_id: str) -> list[Record]:
        """Every record of an instance, as a reader sees it: segments and inbox, resolved over pending."""
        segments = [k for k in self.keys(rl.log_prefix(registry_id)) if k.endswith(".jsonl")]
        return rl.dedupe([*self._read_segments(segments), *self.list_pending(registry_id)])

    # -- the port: JSON, text, state ----------------------------------------------------------------------------

    def put_json(self, key: str, doc: Any) -> None:
        self._enter("put_json", key)
        self._put(key, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), "application/json")

    def get_json(self, key: str) -> Any:
        self._enter("get_json", key)
        data = self._get(key)
        return None if data is None else json.loads(data.decode("utf-8"))

    def put_text(self, key: str, text: str, content_type: str) -> None:
        self._enter("put_text", key)
        self._put(key, text.encode("utf-8"), content_type)

    def get_text(self, key: str) -> str | None:
        self._enter("get_text", key)
        data = self._get(key)
        return None if data is None else data.decode("utf-8", "replace")

    def exists(self, key: str) -> bool:
        self._enter("exists", key)
        return key in self.objects

    def presigned_get(self, key: str, ttl_s: int) -> str:
        self._enter("presigned_get", key)
        return f"https://fake-bucket.cos.invalid/{key}?expires={ttl_s}"

    def get_state(self, registry_id: str, name: str = "audit") -> dict[str, Any]:
        self._enter("get_state", registry_id, name)
        data = self._get(rl.state_key(registry_id, name))
        doc = None if data is None else json.loads(data.decode("utf-8"))
        return doc if isinstance(doc, dict) else {}

    def put_state(self, registry_id: str, state: dict[str, Any], name: str = "audit") -> None:
        self._enter("put_state", registry_id, name)
        self._put(rl.state_key(registry_id, name), json.dumps(state).encode("utf-8"), "application/json")

    # -- the port: the webhook ----------------------------------------------------------------------------------

    def put_event(self, records: Sequence[Record]) -> str:
        self._enter("put_event")
        return self._put_event(records)

    def _put_event(self, records: Sequence[Record]) -> str:
        records = sorted(records, key=lambda r: r.replicaRegistryId)
        for rec in records:
            rec.validate()
        key = rl.inbox_key(records)
        self._put(key, rl.inbox_body(records), "application/json")
        return key

    def put_unexpanded(self, event: PushEvent) -> str:
        self._enter("put_unexpanded")
        return self._put_unexpanded(event)

    def _put_unexpanded(self, event: PushEvent) -> str:
        key = rl.unexpanded_key(event)
        self._put(key, rl.unexpanded_body(event), "application/json")
        return key

    def write_segments(self, resolved: Iterable[Record]) -> list[str]:
        self._enter("write_segments")
        return self._write_segments(resolved)

    def _write_segments(self, resolved: Iterable[Record]) -> list[str]:
        keys = []
        for key, body in rl.segment_objects(resolved):
            self._put(key, body, "application/x-ndjson")
            keys.append(key)
        return keys

    # -- the port: the audit ------------------------------------------------------------------------------------

    def _inbox_items(
        self, keys: Iterable[str], parse: Callable[[str, str], rl.InboxKey] = rl.parse_inbox_key
    ) -> list[InboxItem]:
        items = []
        for key in keys:
            updated = self.objects[key].modified
            try:
                parsed = parse(key, updated)
            except rl.LayoutError:
                continue
            if parsed.unexpanded and parsed.event is not None:
                items.append(InboxItem(key, [], parsed.event))
            elif parsed.records is not None:
                items.append(InboxItem(key, list(parsed.records)))
            else:
                self.inbox_body_gets += 1
                data = self.objects[key].body
                if parsed.unexpanded:
                    items.append(InboxItem(key, [], rl.parse_unexpanded_body(data)._replace(receivedAt=updated)))
                else:
                    items.append(InboxItem(key, rl.parse_inbox_body(data)))
        return items

    def list_inbox(self, registry_id: str, day: str | None = None) -> list[InboxItem]:
        return self._inbox_items(self.keys(rl.inbox_prefix(registry_id, day)))

    def inbox_pages(self, registry_id: str) -> Iterator[list[InboxItem]]:
        self._enter("inbox_pages", registry_id)
        marker = ""
        while True:  # like COS: each page lists the keys after the last one seen, as they are now
            keys = [k for k in self.keys(rl.inbox_prefix(registry_id)) if k > marker][: self.page_size + 1]
            page = keys[: self.page_size]
            yield self._inbox_items(page)
            if len(keys) <= self.page_size:
                return
            marker = page[-1]

    def list_pending(self, registry_id: str, day: str | None = None) -> list[Record]:
        self._enter("list_pending", registry_id)
        out = [r for item in self.list_inbox(registry_id, day) for r in item.records]
        return sorted(out, key=Record.sort_key)

    def expand_events(
        self, expansions: Sequence[tuple[str, Sequence[Record]]], dropped: Sequence[str] = ()
    ) -> list[InboxItem]:
        self._enter("expand_events")
        items: list[InboxItem] = []
        deleted: list[Record] = []
        for _, recs in expansions:
            if not recs:
                continue
            if recs[0].status == "pending":
                items.append(InboxItem(self._put_event(recs), sorted(recs, key=lambda r: r.replicaRegistryId)))
            else:
                deleted.extend(recs)
        if deleted:
            self._write_segments(deleted)
        self._delete_many([key for key, _ in expansions] + list(dropped))
        return items

    def list_host_events(self) -> list[InboxItem]:
        self._enter("list_host_events")
        return self._inbox_items(self.keys(rl.host_inbox_prefix()), rl.parse_host_key)

    def relocate_host_events(self, moves: Sequence[tuple[str, PushEvent]], dropped: Sequence[str] = ()) -> list[str]:
        self._enter("relocate_host_events")
        keys = [self._put_unexpanded(event) for _, event in moves]
        self._delete_many([key for key, _ in moves] + list(dropped))
        return keys

    def _read_segments(self, keys: Iterable[str]) -> list[Record]:
        out: list[Record] = []
        for key in keys:
            self.segment_gets += 1
            data = self._get(key)
            if data is not None:
                out.extend(Record.from_dict(item) for item in rl.parse_jsonl(data))
        return out

    def read_segments(
        self, registry_id: str, replica_region: str, day: str, *, since: datetime | None = None
    ) -> list[Record]:
        self._enter("read_segments", registry_id, replica_region, day)
        mark = rl.stamp(since) if since is not None else None
        keys = [k for k in self.keys(rl.log_prefix(registry_id, replica_region, day)) if k.endswith(".jsonl")]
        return rl.dedupe(self._read_segments(k for k in keys if rl.segment_may_hold(k, mark)))

    def resolve(
        self,
        registry_id: str,
        resolved: Iterable[Record],
        inbox: Iterable[InboxItem] | None = None,
        *,
        settled: Iterable[tuple[str, str]] = (),
    ) -> ResolveResult:
        self._enter("resolve", registry_id)
        resolved = [r for r in resolved if r.registryId == registry_id]
        result = ResolveResult()
        result.segments_written = self._write_segments(resolved)
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
                    continue
            to_delete.append(item.key)
        self._delete_many(to_delete)
        result.inbox_deleted = len(to_delete)
        return result

    def archive_tcr_log(
        self, registry_id: str, replica_registry_id: str, replica_region: str, entries: Iterable[LogEntry]
    ) -> int:
        self._enter("archive_tcr_log", registry_id, replica_registry_id)
        state_key = rl.state_key(registry_id, f"tcrlog-{replica_registry_id}")
        state = json.loads(self.objects[state_key].body) if state_key in self.objects else {}
        seen: list[str] = list(state.get("seen", []))
        batches, new_ids = rl.tcr_log_batches(
            registry_id, replica_registry_id, replica_region, entries, seen, rl.day_of(self.now())
        )
        for key, body in batches:
            self._put(key, body, "application/x-ndjson")
        if new_ids:
            self._put(state_key, json.dumps({"seen": seen + new_ids}).encode("utf-8"), "application/json")
        return len(new_ids)

    # -- the port: the replica API ------------------------------------------------------------------------------

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
        self._enter("query", registry_id)
        lo = rl.iso_utc(since) if since is not None else None
        hi = rl.iso_utc(until) if until is not None else None
        filters = {"r": registry_id, "replica": replica, "since": lo, "until": hi, "status": status, "repo": repository}
        position = rl.decode_cursor(cursor, filters) if cursor else None

        def wanted(rec: Record) -> bool:
            return (
                (not replica or replica in (rec.replicaRegistryId, rec.replicaRegion))
                and (not status or rec.status == status)
                and (not repository or repository in (rec.repository, f"{rec.namespace}/{rec.repository}"))
                and (not lo or rec.pushedAt >= lo)
                and (not hi or rec.pushedAt <= hi)
                and not (position and rec.sort_key() <= position)
            )

        matching = [r for r in self.records(registry_id) if wanted(r)]
        out = matching[:limit]
        more = len(matching) > limit
        return Page(out, rl.encode_cursor(out[-1].sort_key(), filters) if more and out else None)


# ---------------------------------------------------------------------------------------------------------------------
# the notifier


class FakeNotifier:
    """Keeps what it sends. `refuse`: how many deliveries fail as a receiver that is down would make them
    (True: every one); `enabled=False`: NOTIFY_URL unset; `config_error`: a misconfigured notifier."""

    config_error: ConfigError | None = None

    def __init__(
        self, *, enabled: bool = True, refuse: int | bool = 0, config_error: ConfigError | None = None
    ) -> None:
        self._enabled = enabled
        self.refuse = refuse
        self.config_error = config_error
        self.sent: list[Notification] = []
        self.refused: list[Notification] = []
        self.batches = 0

    @property
    def enabled(self) -> bool:
        return self._enabled or self.config_error is not None

    def kinds(self) -> list[str]:
        return [n.kind for n in self.sent]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [n.body for n in self.sent if n.kind == kind]

    def send_all(self, notifications: Iterable[Notification], deadline: Deadline | None = None) -> list[Delivery]:
        self.batches += 1
        seen: set[str] = set()
        out: list[Delivery] = []
        for n in notifications:
            if n.id in seen:
                continue
            seen.add(n.id)
            if self.config_error is not None:
                out.append(Delivery(n.id, n.kind, "failed", error=self.config_error.message))
            elif not self._enabled:
                out.append(Delivery(n.id, n.kind, "skipped", error="NOTIFY_URL is not set"))
            elif self.refuse is True or (not isinstance(self.refuse, bool) and self.refuse > 0):
                if not isinstance(self.refuse, bool):
                    self.refuse -= 1
                self.refused.append(n)
                out.append(Delivery(n.id, n.kind, "failed", 1, 503, "receiver answered HTTP 503"))
            else:
                self.sent.append(n)
                out.append(Delivery(n.id, n.kind, "sent", 1, 204))
        return out
