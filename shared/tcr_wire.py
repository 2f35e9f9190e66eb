"""TCR's answers (the `Response` dicts of the API) turned into the product's values (shared.ports).

The one place that knows TCR's field names and quirks: its null time, the replication log that is an
object in the schema and a list in the examples, regions named by id only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from shared import regions
from shared.ports import EndpointDns, Instance, InternalEndpoint, LogEntry, Replica, SyncStatus
from shared.times import parse_or_none

NULL_TIME = "0001-01-01T00:00:00Z"  # TCR's "no time"


def _time(value: Any) -> str | None:
    if not value or value == NULL_TIME:
        return None
    return str(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _region_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


def domain_host(domain: str) -> str:
    """The lower-case host of a domain, host:port or URL, without a trailing dot ("" when it names none)."""
    text = domain.strip()
    try:
        host = urlsplit(text if "://" in text else "//" + text).hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


def instance(r: Mapping[str, Any]) -> Instance:
    region, region_id = regions.name_and_id(r.get("RegionName"), _region_id(r.get("RegionId")))
    return Instance(
        registry_id=_text(r.get("RegistryId")),
        name=_text(r.get("RegistryName")),
        region=region,
        region_id=region_id,
        registry_type=_text(r.get("RegistryType")),
        status=_text(r.get("Status")),
        public_domain=domain_host(_text(r.get("PublicDomain"))),
        created_at=_time(r.get("CreatedAt")),
    )


def replica(r: Mapping[str, Any]) -> Replica:
    region, region_id = regions.name_and_id(r.get("ReplicationRegionName"), _region_id(r.get("ReplicationRegionId")))
    created_at = _time(r.get("CreatedAt"))
    return Replica(
        replica_registry_id=_text(r.get("ReplicationRegistryId")),
        region=region,
        region_id=region_id,
        status=_text(r.get("Status")),
        created_at=created_at,
        created=parse_or_none(created_at),
    )


def log_entry(r: Mapping[str, Any]) -> LogEntry:
    start, end = _time(r.get("StartTime")), _time(r.get("EndTime"))
    return LogEntry(
        resource_type=_text(r.get("ResourceType")),
        source=_text(r.get("Source")),
        destination=_text(r.get("Destination")),
        status=_text(r.get("Status")),
        start_time=start,
        end_time=end,
        started=parse_or_none(start),
        ended=parse_or_none(end),
    )


def log_entries(value: Any) -> tuple[LogEntry, ...]:
    """`ReplicationLog` is an object in the schema and an array in the examples: accept both (and null)."""
    if isinstance(value, Mapping):
        return (log_entry(value),) if any(v is not None for v in value.values()) else ()
    if isinstance(value, list):
        return tuple(log_entry(item) for item in value if isinstance(item, Mapping))
    return ()


def sync_status(response: Mapping[str, Any]) -> SyncStatus:
    """A DescribeReplicationInstanceSyncStatus answer."""
    last_sync_at = _time(response.get("ReplicationTime"))
    log = response.get("ReplicationLog")
    return SyncStatus(
        status=response.get("ReplicationStatus"),
        last_sync_at=last_sync_at,
        last_sync=parse_or_none(last_sync_at),
        entries=log_entries(log),
        one_entry_per_page=isinstance(log, Mapping),
    )


def internal_endpoints(response: Mapping[str, Any]) -> list[InternalEndpoint]:
    """A DescribeInternalEndpoints answer: its `AccessVpcSet` (null when none is attached)."""
    return [
        InternalEndpoint(
            vpc_id=_text(r.get("VpcId")),
            subnet_id=_text(r.get("SubnetId")),
            status=_text(r.get("Status")),
            access_ip=_text(r.get("AccessIp")) or None,
        )
        for r in response.get("AccessVpcSet") or ()
        if isinstance(r, Mapping)
    ]


def endpoint_dns(response: Mapping[str, Any]) -> list[EndpointDns]:
    """A DescribeInternalEndpointDnsStatus answer: its `VpcSet` of VpcPrivateDomainStatus."""
    return [
        EndpointDns(vpc_id=_text(r.get("VpcId")), status=_text(r.get("Status")), region=_text(r.get("Region")))
        for r in response.get("VpcSet") or ()
        if isinstance(r, Mapping)
    ]
