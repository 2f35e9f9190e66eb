"""What the services need from outside, as typed ports, and the values that cross them.

The services (shared.replicas, shared.webhook, shared.audit) depend on these Protocols only: the TCR
adapter (shared.tcr), the log store (shared.logstore) and the notifier (shared.notify) implement them in
production, in-memory fakes in tests. TCR's wire dicts stop at the adapter (shared.tcr_wire turns them
into the values below), so a service never reads a TCR field name.

Times: a value keeps the text TCR wrote where the product shows or stores it verbatim (the replica
API's answers, the archive of TCR's log, log cursors), beside the same time parsed once by the adapter
(shared.times.parse_or_none) for the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from shared.errors import ConfigError
    from shared.logstore import InboxItem, Page, ResolveResult
    from shared.notify import Delivery, Notification
    from shared.records import PushEvent, Record
    from shared.runtime import Deadline


class Instance(NamedTuple):
    """A TCR Enterprise instance (DescribeInstances)."""

    registry_id: str
    name: str
    region: str  # completed from the region catalogue when TCR gives only the id
    region_id: int | None
    registry_type: str  # basic, standard or premium
    status: str  # Running, Deploying, ...
    public_domain: str = ""  # host name of its registry, lower case, no scheme or port ("" when TCR names none)
    created_at: str | None = None  # as TCR wrote it (None for TCR's null time)


class Replica(NamedTuple):
    """A replica instance of a primary (DescribeReplicationInstances)."""

    replica_registry_id: str
    region: str  # completed from the region catalogue when TCR gives only the id
    region_id: int | None
    status: str  # Deploying, Running, ...
    created_at: str | None = None  # as TCR wrote it: the replica API answers it as is
    created: datetime | None = None  # `created_at` parsed (None when absent or unreadable)


class LogEntry(NamedTuple):
    """One entry of a replica's replication log (TCR lists them newest first)."""

    resource_type: str
    source: str  # e.g. "ns/repo:[tag1,tag2]", maybe "...@sha256:..."
    destination: str
    status: str  # Succeed, Failed, InProgress, ...
    start_time: str | None  # as TCR wrote it: part of the entry's identity (log cursors, the COS archive)
    end_time: str | None  # None while the replication is in progress
    started: datetime | None = None  # `start_time` parsed
    ended: datetime | None = None  # `end_time` parsed

    @property
    def finished(self) -> bool:
        return bool(self.end_time)


class SyncStatus(NamedTuple):
    """A replica's sync status (DescribeReplicationInstanceSyncStatus), with one page of its log when asked."""

    status: str | None  # TCR's ReplicationStatus
    last_sync_at: str | None  # TCR's ReplicationTime as it wrote it
    last_sync: datetime | None = None  # `last_sync_at` parsed
    entries: tuple[LogEntry, ...] = ()
    # TCR answered the log as one object (its schema) rather than a list (its examples): a page then shows
    # one entry whatever the Limit, and the log is read one entry per call.
    one_entry_per_page: bool = False


class InternalEndpoint(NamedTuple):
    """A VPC attached to an instance for private access (DescribeInternalEndpoints, one `AccessVpc`).

    TCR's AccessVpc names no region: the caller knows which region it attached the VPC in.
    """

    vpc_id: str
    subnet_id: str
    status: str  # TCR's Status as it reports it (Running once the endpoint serves)
    access_ip: str | None  # AccessIp, the address the private DNS record points at (None until TCR has one)


class EndpointDns(NamedTuple):
    """The private DNS record of an instance's domain in one VPC (DescribeInternalEndpointDnsStatus,
    one `VpcPrivateDomainStatus`)."""

    vpc_id: str
    status: str  # TCR's Status as it reports it: ENABLE, DISABLE, or ERROR (TCR could not read it)
    region: str  # TCR's Region ("" when it names none)


class TcrPort(Protocol):
    """The TCR Enterprise API as the services use it. Failures raise `ApiError` with the product's codes.

    `region` sets the API region of the call; by default the adapter uses the region it learnt for the
    registry, else the function's own.
    """

    def describe_instances(self, registry_ids: Iterable[str] | None = None) -> list[Instance]:
        """Every instance of the account, or only those named."""
        ...

    def get_instance(self, registry_id: str) -> Instance:
        """The instance, or ApiError InstanceNotFound."""
        ...

    def find_instance_by_domain(self, domain: str) -> Instance | None:
        """The instance whose public domain is the host of `domain` (a host, host:port or URL)."""
        ...

    def list_replicas(self, registry_id: str, *, region: str | None = None) -> list[Replica]: ...

    def create_replica(
        self,
        registry_id: str,
        region_id: int | None = None,
        region_name: str | None = None,
        sync_tag: bool = False,
        *,
        region: str | None = None,
    ) -> Replica:
        """The new replica (TCR's create answer names only its id: status Deploying, no creation time)."""
        ...

    def delete_replica(
        self, registry_id: str, replica_id: str, region_id: int, *, region: str | None = None
    ) -> None: ...

    def delete_instance(self, registry_id: str, *, delete_bucket: bool = False, region: str | None = None) -> None: ...

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
        """The replica's sync status; with `show_log`, page `page` (TCR's page number) of `limit` log entries."""
        ...

    # private access: VPCs attached to an instance (or in a replica's region), and its domain's DNS in them

    def list_internal_endpoints(self, registry_id: str, *, region: str | None = None) -> list[InternalEndpoint]: ...

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
        """Attach the VPC (`region_name`/`region_id`: a replica's region; none: the instance's own). The
        endpoint is not Running yet: list it to follow it. ApiError AccessExists, VpcNotFound, NoReplicaInRegion."""
        ...

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
        """Detach the VPC (its DNS record first: TCR refuses while one remains). ApiError AccessNotFound."""
        ...

    def create_endpoint_dns(
        self,
        registry_id: str,
        vpc_id: str,
        eni_lb_ip: str,
        region_name: str | None = None,
        *,
        region: str | None = None,
    ) -> None:
        """Resolve the instance's public domain to `eni_lb_ip` (the endpoint's AccessIp) inside the VPC."""
        ...

    def delete_endpoint_dns(
        self,
        registry_id: str,
        vpc_id: str,
        eni_lb_ip: str,
        region_name: str | None = None,
        *,
        region: str | None = None,
    ) -> None: ...

    def endpoint_dns_status(
        self, registry_id: str, vpcs: Sequence[tuple[str, str, str | None]], *, region: str | None = None
    ) -> list[EndpointDns]:
        """The DNS record's status in each VPC, given as (vpc id, AccessIp, region name or None)."""
        ...


class LogStorePort(Protocol):
    """The replication log in COS (shared.logstore.LogStore), as the services use it.

    Failures raise the store's own errors (`shared.errors.LogStoreError`: StoreUnavailable, StoreCorrupt,
    BadCursor), never an `ApiError`: `shared.http` decides the answer.
    """

    # the webhook
    def put_event(self, records: Sequence[Record]) -> str: ...

    def put_unexpanded(self, event: PushEvent) -> str: ...

    def write_segments(self, resolved: Iterable[Record]) -> list[str]: ...

    # the audit
    def inbox_pages(self, registry_id: str) -> Iterator[list[InboxItem]]: ...

    def expand_events(
        self, expansions: Sequence[tuple[str, Sequence[Record]]], dropped: Sequence[str] = ()
    ) -> list[InboxItem]: ...

    def list_host_events(self) -> list[InboxItem]: ...

    def relocate_host_events(
        self, moves: Sequence[tuple[str, PushEvent]], dropped: Sequence[str] = ()
    ) -> list[str]: ...

    def read_segments(
        self, registry_id: str, replica_region: str, day: str, *, since: datetime | None = None
    ) -> list[Record]: ...

    def resolve(
        self,
        registry_id: str,
        resolved: Iterable[Record],
        inbox: Iterable[InboxItem] | None = None,
        *,
        settled: Iterable[tuple[str, str]] = (),
    ) -> ResolveResult: ...

    def archive_tcr_log(
        self, registry_id: str, replica_registry_id: str, replica_region: str, entries: Iterable[LogEntry]
    ) -> int: ...

    def get_state(self, registry_id: str, name: str = "audit") -> dict[str, Any]: ...

    def put_state(self, registry_id: str, state: dict[str, Any], name: str = "audit") -> None: ...

    def put_json(self, key: str, doc: Any) -> None: ...

    def get_json(self, key: str) -> Any: ...

    def put_text(self, key: str, text: str, content_type: str) -> None: ...

    # the replica API
    def get_text(self, key: str) -> str | None: ...

    def exists(self, key: str) -> bool: ...

    def presigned_get(self, key: str, ttl_s: int) -> str: ...

    def list_pending(self, registry_id: str) -> list[Record]: ...

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
    ) -> Page: ...


class NotifierPort(Protocol):
    """Signed notifications (shared.notify.Notifier), as the audit uses them."""

    @property
    def enabled(self) -> bool:
        """Notices are meant to go out (a misconfigured notifier is enabled: its deliveries fail)."""
        ...

    @property
    def config_error(self) -> ConfigError | None:
        """Why NOTIFY_URL or NOTIFY_SECRET is unusable, if it is."""
        ...

    def send_all(self, notifications: Iterable[Notification], deadline: Deadline | None = None) -> list[Delivery]: ...
