"""The routes' inputs as typed values, each built once at the edge.

A route hands its query or body to one constructor: it validates it against its JSON Schema
(shared.schemas), then turns the validated dict into the value, parsing times and numbers once, and
makes the checks a schema cannot express (an existing date, `since` not after `until`, the link's
lifetime). Every refusal is InvalidRequest naming the field and the rule. The services and the data
layer take these values and check none of it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from shared import schemas
from shared.errors import invalid_request
from shared.times import parse_time

DEFAULT_LOG_LIMIT = 100
DEFAULT_LINK_TTL_S = 900
LINK_TTL_RANGE_S = (60, 86400)


def _time(query: Mapping[str, str], name: str) -> datetime | None:
    text = query.get(name)
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        # the pattern admits 2024-02-30 and offsets that leave the years 1..9999 once in UTC
        raise invalid_request(
            f"query.{name}", "must be an existing ISO 8601 date or time, e.g. 2024-05-01T00:00:00Z", "time"
        ) from None


class RegionsQuery(NamedTuple):
    """GET /regions?primary=REGION (a region name or a TCR region id, resolved by the service)."""

    primary: str

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> RegionsQuery:
        schemas.validate("query.regions", query, where="query")
        return cls(query["primary"])


class CreateReplica(NamedTuple):
    """The body of POST /instances/{registryId}/replicas."""

    region: str | int  # a region name or a TCR region id, resolved by the region rules
    sync_tag: bool = False
    dry_run: bool = False

    @classmethod
    def from_body(cls, body: Any) -> CreateReplica:
        schemas.validate("replica.create", body)
        return cls(body["region"], body.get("syncTag", False), body.get("dryRun", False))


class DeleteInstance(NamedTuple):
    """The query of DELETE /instances/{registryId}: the instance's COS bucket goes only when asked."""

    delete_bucket: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> DeleteInstance:
        schemas.validate("query.deleteInstance", query, where="query")
        return cls(query.get("deleteBucket") == "true")


class DeleteReplica(NamedTuple):
    """The query of DELETE /instances/{registryId}/replicas/{replicaRegistryId}: detach the VPCs attached in the
    replica's region first, only when asked."""

    detach_private_access: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> DeleteReplica:
        schemas.validate("query.deleteReplica", query, where="query")
        return cls(query.get("detachPrivateAccess") == "true")


class AttachPrivateAccess(NamedTuple):
    """The body of POST /instances/{registryId}/private-access."""

    region: str  # a region name or a TCR region id, resolved by the service
    vpc_id: str
    subnet_id: str
    dns: bool = True
    dry_run: bool = False

    @classmethod
    def from_body(cls, body: Any) -> AttachPrivateAccess:
        schemas.validate("privateAccess.attach", body)
        return cls(body["region"], body["vpcId"], body["subnetId"], body.get("dns", True), body.get("dryRun", False))


class DetachPrivateAccess(NamedTuple):
    """The path and query of DELETE /instances/{registryId}/private-access/{vpcId}?region=REGION."""

    vpc_id: str
    region: str

    @classmethod
    def from_request(cls, vpc_id: str, query: Mapping[str, str]) -> DetachPrivateAccess:
        schemas.validate("path.vpcId", vpc_id, where="path.vpcId")
        schemas.validate("query.detachPrivateAccess", query, where="query")
        return cls(vpc_id, query["region"])


class LogQuery(NamedTuple):
    """The query of GET /instances/{registryId}/replication-logs; times parsed to UTC, seconds precision."""

    replica: str | None = None  # a replica registry id, or a region (name or TCR id) the service resolves
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    repository: str | None = None
    limit: int = DEFAULT_LOG_LIMIT
    cursor: str | None = None  # opaque: only the log store can read it (shared.errors.BadCursor)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LogQuery:
        schemas.validate("query.replicationLogs", query, where="query")
        since, until = _time(query, "since"), _time(query, "until")
        if since is not None and until is not None and since > until:
            raise invalid_request("query.since", f"must not be after query.until ({query['until']})", "order")
        limit = query.get("limit")
        return cls(
            replica=query.get("replica"),
            since=since,
            until=until,
            status=query.get("status"),
            repository=query.get("repository"),
            limit=int(limit) if limit is not None else DEFAULT_LOG_LIMIT,
            cursor=query.get("cursor"),
        )


class ReportLink(NamedTuple):
    """The query of GET /instances/{registryId}/report-link: how long the pre-signed link lives."""

    ttl: int = DEFAULT_LINK_TTL_S

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ReportLink:
        schemas.validate("query.reportLink", query, where="query")
        text = query.get("ttl")
        ttl = int(text) if text is not None else DEFAULT_LINK_TTL_S
        low, high = LINK_TTL_RANGE_S
        if not low <= ttl <= high:
            raise invalid_request("query.ttl", f"must be {low}..{high} seconds (got {ttl})", "range")
        return cls(ttl)


class WebhookQuery(NamedTuple):
    """The query of the webhook's POST /: the instance, when the trigger's address names it."""

    registry_id: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> WebhookQuery:
        schemas.validate("query.webhook", query, where="query")
        return cls(query.get("registryId"))
