"""Request parameter checks with TCR's error codes, and the time formats TCR answers with."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_MISSING = object()


def _type_name(kind: str) -> str:
    return {
        "str": "a string",
        "int": "an integer",
        "uint": "a non-negative integer",
        "bool": "a boolean",
        "list_str": "a list of strings",
        "list_obj": "a list of objects",
        "obj": "an object",
    }[kind]


def _check(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "uint":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list_str":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "list_obj":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if kind == "obj":
        return isinstance(value, dict)
    raise ValueError(kind)


def get(params: dict[str, Any], name: str, kind: str, *, required: bool = False, default: Any = None) -> Any:
    """One parameter: MissingParameter when required and absent, InvalidParameter when of the wrong type."""
    value = params.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ApiError("MissingParameter", f"The request is missing the required parameter `{name}`.")
        return default
    if not _check(value, kind):
        raise ApiError("InvalidParameter", f"The parameter `{name}` must be {_type_name(kind)}.")
    if required and kind == "str" and not value.strip():
        raise ApiError("InvalidParameter", f"The parameter `{name}` must not be empty.")
    return value


def paging(params: dict[str, Any], *, default_limit: int, max_limit: int) -> tuple[int, int]:
    offset = get(params, "Offset", "int", default=0)
    limit = get(params, "Limit", "int", default=default_limit)
    if offset < 0:
        raise ApiError("InvalidParameter", "The parameter `Offset` must not be negative.")
    if limit < 1 or limit > max_limit:
        raise ApiError("InvalidParameter", f"The parameter `Limit` must be between 1 and {max_limit}.")
    return offset, limit


def iso_cst(ts: float) -> str:
    """2024-07-19T15:33:22+08:00 (Registry.CreatedAt, ReplicationRegistry.CreatedAt, TaskDetail times)."""
    return datetime.fromtimestamp(int(ts), tz=CST).isoformat()


def _go_fraction(text: str) -> str:
    """Go's RFC3339Nano drops trailing zeros of the fraction, and the dot with them (the API's examples show
    `.78381Z` and `.302804Z`): clients must parse 0-9 digits."""
    head, dot, rest = text.partition(".")
    if not dot:
        return text
    digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
    zone = rest[len(digits) :]
    digits = digits.rstrip("0")
    return f"{head}.{digits}{zone}" if digits else f"{head}{zone}"


def iso_cst_micro(ts: float) -> str:
    """2020-04-14T02:47:23.177329+08:00 (WebhookTriggerLog times)."""
    return _go_fraction(datetime.fromtimestamp(ts, tz=CST).isoformat(timespec="microseconds"))


def iso_z(ts: float) -> str:
    """2021-09-28T08:00:15Z (ReplicationTime, ReplicationLog.EndTime): seconds, truncated."""
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_z_micro(ts: float) -> str:
    """2021-09-28T07:47:44.302804Z (ReplicationLog.StartTime, TcrImageInfo.UpdateTime)."""
    return _go_fraction(datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def go_time(ts: float) -> str:
    """2024-12-10 14:30:36.806284 +0000 UTC (TcrRepositoryInfo times, Go's time.String())."""
    return _go_fraction(datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC"))


# The documented request fields of each action we serve (tcr-api-fields.md, which matches the SDK's
# `tencentcloud/tcr/v20190924/models.py` <Action>Request; CreateNamespace is not in the reference and comes
# from the SDK model). Anything else in a request body is `UnknownParameter`.
REQUEST_FIELDS: dict[str, frozenset[str]] = {
    action: frozenset(fields)
    for action, fields in {
        "CreateInstance": (
            "RegistryName",
            "RegistryType",
            "TagSpecification",
            "RegistryChargeType",
            "RegistryChargePrepaid",
            "SyncTag",
            "EnableCosMAZ",
            "DeletionProtection",
            "EnableCosVersioning",
        ),
        "DescribeInstances": ("Registryids", "Offset", "Limit", "Filters", "AllRegion"),
        "DeleteInstance": ("RegistryId", "DeleteBucket", "DryRun"),
        "DescribeRegions": (),
        "CreateReplicationInstance": ("RegistryId", "ReplicationRegionId", "ReplicationRegionName", "SyncTag"),
        "DeleteReplicationInstance": ("RegistryId", "ReplicationRegistryId", "ReplicationRegionId"),
        "DescribeReplicationInstances": ("RegistryId", "Offset", "Limit"),
        "DescribeReplicationInstanceCreateTasks": ("ReplicationRegistryId", "ReplicationRegionId"),
        "DescribeReplicationInstanceSyncStatus": (
            "RegistryId",
            "ReplicationRegistryId",
            "ReplicationRegionId",
            "ShowReplicationLog",
            "Offset",
            "Limit",
        ),
        "CreateNamespace": (
            "RegistryId",
            "NamespaceName",
            "IsPublic",
            "TagSpecification",
            "IsAutoScan",
            "IsPreventVUL",
            "Severity",
            "CVEWhitelistItems",
        ),
        "DescribeRepositories": ("RegistryId", "NamespaceName", "RepositoryName", "Offset", "Limit", "SortBy"),
        "DescribeImages": (
            "RegistryId",
            "NamespaceName",
            "RepositoryName",
            "ImageVersion",
            "Limit",
            "Offset",
            "Digest",
            "ExactMatch",
        ),
        "CreateWebhookTrigger": ("RegistryId", "Trigger", "Namespace", "Product", "PreheatRegion"),
        "DescribeWebhookTrigger": ("RegistryId", "Limit", "Offset", "Namespace"),
        "DescribeWebhookTriggerLog": ("RegistryId", "Namespace", "Id", "Limit", "Offset"),
        # private-network access (tcr-private-access.md; SDK models <Action>Request)
        "ManageInternalEndpoint": ("RegistryId", "Operation", "VpcId", "SubnetId", "RegionId", "RegionName"),
        "DescribeInternalEndpoints": ("RegistryId",),
        "CreateInternalEndpointDns": ("InstanceId", "VpcId", "EniLBIp", "UsePublicDomain", "RegionName", "RegionId"),
        "DeleteInternalEndpointDns": ("InstanceId", "VpcId", "EniLBIp", "UsePublicDomain", "RegionName"),
        "DescribeInternalEndpointDnsStatus": ("VpcSet",),
    }.items()
}

# Fields of the data structures sent inside requests (tcr-api-fields.md data structures / SDK models).
STRUCT_FIELDS: dict[str, frozenset[str]] = {
    name: frozenset(fields)
    for name, fields in {
        "WebhookTrigger": (
            "Name",
            "Targets",
            "EventTypes",
            "Condition",
            "Enabled",
            "Id",
            "Description",
            "NamespaceId",
            "NamespaceName",
            "Product",
            "PreheatRegion",
        ),
        "WebhookTarget": ("Address", "Headers"),
        "Header": ("Key", "Values"),
        "Filter": ("Name", "Values"),
        "TagSpecification": ("ResourceType", "Tags"),
        "Tag": ("Key", "Value"),
        "RegistryChargePrepaid": ("Period", "RenewFlag"),
        "CVEWhitelistItem": ("CVEID",),
        "VpcAndDomainInfo": ("InstanceId", "VpcId", "EniLBIp", "UsePublicDomain", "RegionName"),
    }.items()
}


def check_known(value: dict[str, Any], allowed: frozenset[str], where: str = "") -> None:
    """UnknownParameter naming the first field of `value` (sorted) that is not in `allowed`."""
    unknown = sorted(k for k in value if k not in allowed)
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ApiError("UnknownParameter", f"The parameter `{name}` is not recognized.")


def check_struct(value: Any, struct: str, where: str) -> None:
    """Check an object (or each object of a list) against a data structure's fields; other types are left to get()."""
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if isinstance(item, dict):
            check_known(item, STRUCT_FIELDS[struct], f"{where}.{i}" if isinstance(value, list) else where)
