"""Region rules for replicas (DESIGN.md §4): pure functions, data-driven by the region catalogue.

Every rule that refuses is collected, so a caller learns all of them at once; the error code
is the first in `PRECEDENCE`. Each refusal names the rule, the regions involved and the
alternative where one exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from shared import regions
from shared.errors import ApiError
from shared.policy import Policy
from shared.regions import Region

PRECEDENCE = (
    "InstanceNotFound",
    "NotPremium",
    "InstanceNotRunning",
    "UnknownRegion",
    "RegionNotSupported",
    "SameRegion",
    "CrossBorder",
    "ReplicaExists",
    "PolicyDenied",
)

UNSUPPORTED_REPLICATION = frozenset({"ap-taipei"})


class Instance(NamedTuple):
    """What the rules need to know of a primary instance."""

    registry_id: str
    region: str
    registry_type: str
    status: str


class Replica(NamedTuple):
    replica_registry_id: str
    region: str


class Violation(NamedTuple):
    code: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "rule": self.rule, "message": self.message}


class Plan(NamedTuple):
    """An allowed replica creation: what would be asked of TCR."""

    registry_id: str
    primary_region: Region
    replica_region: Region
    existing: tuple[Replica, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "registryId": self.registry_id,
            "primaryRegion": self.primary_region.name,
            "region": self.replica_region.name,
            "regionId": self.replica_region.region_id,
            "existingReplicas": [
                {"replicaRegistryId": r.replica_registry_id, "region": r.region} for r in self.existing
            ],
        }


def refuse(violations: Sequence[Violation]) -> ApiError:
    """One error for several refusals: code by precedence, every violation listed."""
    ordered = sorted(violations, key=lambda v: PRECEDENCE.index(v.code) if v.code in PRECEDENCE else len(PRECEDENCE))
    first = ordered[0]
    message = first.message
    if len(ordered) > 1:
        message += f" ({len(ordered) - 1} more rule(s) also refuse: see error.violations)"
    return ApiError(first.code, message, details={"violations": [v.to_dict() for v in ordered]})


def _region_support(region: Region, role: str) -> Violation | None:
    if region.name in UNSUPPORTED_REPLICATION:
        return Violation(
            "RegionNotSupported",
            "taiwan-not-supported",
            f"TCR instance replication is not supported in {region.name} (Taiwan, China), as primary or replica; "
            f"choose another region for the {role}",
        )
    if not region.tcr_served:
        return Violation(
            "RegionNotSupported",
            "tcr-not-served",
            f"TCR Enterprise is not offered in {region.name}; choose a region TCR serves for the {role} "
            "(GET /regions lists them)",
        )
    return None


def pair_violations(primary: Region, replica: Region, policy: Policy | None = None) -> list[Violation]:
    """Rules that depend only on the two regions (and the organisation's region lists)."""
    found: list[Violation] = []
    for region, role in ((primary, "primary"), (replica, "replica")):
        problem = _region_support(region, role)
        if problem:
            found.append(problem)
    if primary.name == replica.name:
        found.append(
            Violation(
                "SameRegion",
                "same-region",
                f"a replica must be in another region than its primary ({primary.name}); "
                "pick a different region for the replica",
            )
        )
    elif primary.mainland != replica.mainland:
        found.append(
            Violation(
                "CrossBorder",
                "no-cross-border",
                f"cross-border replication is not allowed: primary {primary.name} is {primary.area}, "
                f"replica {replica.name} is {replica.area}; instead create a separate TCR instance in "
                f"{replica.name} and set up cross-instance synchronisation (ManageReplication)",
            )
        )
    if policy is not None:
        denial = policy.region_denial(replica.name)
        if denial:
            found.append(Violation("PolicyDenied", "organisation-policy", denial))
    return found


def check_create(
    registry_id: str,
    instance: Instance | None,
    requested: str | int,
    existing: Iterable[Replica],
    policy: Policy | None = None,
) -> Plan:
    """Decide whether a replica of `registry_id` may be created in `requested`; raise ApiError if not."""
    existing = tuple(existing)
    found: list[Violation] = []
    primary_region = regions.find(instance.region) if instance else None
    if instance is None:
        found.append(
            Violation(
                "InstanceNotFound",
                "instance-exists",
                f"instance {registry_id} was not found; check the registry id (GET /instances/{{id}}/replicas)",
            )
        )
    else:
        if instance.registry_type.lower() != "premium":
            found.append(
                Violation(
                    "NotPremium",
                    "premium-only",
                    f"instance {registry_id} is {instance.registry_type!r}; instance replication needs a Premium "
                    "instance: upgrade it to premium first",
                )
            )
        if instance.status != "Running":
            found.append(
                Violation(
                    "InstanceNotRunning",
                    "instance-running",
                    f"instance {registry_id} is {instance.status!r}, not Running; retry when it is Running",
                )
            )
    replica_region = regions.find(requested)
    if replica_region is None:
        found.append(
            Violation(
                "UnknownRegion",
                "known-region",
                f"unknown region {requested!r}; use a region name such as 'ap-shanghai' or a TCR region id "
                "(GET /regions lists them)",
            )
        )
    if instance is not None and primary_region is None:
        found.append(Violation("UnknownRegion", "known-region", f"the primary's region {instance.region!r} is unknown"))
    if primary_region and replica_region:
        found.extend(pair_violations(primary_region, replica_region, policy))
        same = [r for r in existing if regions.find(r.region) == replica_region]
        if same:
            found.append(
                Violation(
                    "ReplicaExists",
                    "one-per-region",
                    f"instance {registry_id} already has a replica in {replica_region.name} "
                    f"({same[0].replica_registry_id}); one replica per region is allowed",
                )
            )
        if policy is not None:
            cap = policy.count_denial(len(existing))
            if cap:
                found.append(Violation("PolicyDenied", "organisation-policy", cap))
    if found:
        raise refuse(found)
    assert primary_region is not None and replica_region is not None
    return Plan(registry_id, primary_region, replica_region, existing)


def check_delete_instance(registry_id: str, replicas: Sequence[Replica]) -> None:
    """A primary with replicas cannot be deleted (rule 6)."""
    if replicas:
        listed = ", ".join(f"{r.replica_registry_id} ({r.region})" for r in replicas)
        raise ApiError(
            "ReplicasExist",
            f"instance {registry_id} still has {len(replicas)} replica(s): {listed}; delete them first "
            f"(DELETE /instances/{registry_id}/replicas/{{replicaRegistryId}})",
            details={"replicas": [{"replicaRegistryId": r.replica_registry_id, "region": r.region} for r in replicas]},
        )


def eligibility(primary: Region, policy: Policy | None = None) -> list[dict[str, Any]]:
    """Every catalogue region judged as a replica of a primary in `primary` (GET /regions)."""
    rows = []
    for region in regions.catalogue():
        problems = pair_violations(primary, region, policy)
        ordered = sorted(problems, key=lambda v: PRECEDENCE.index(v.code))
        rows.append(
            {
                "region": region.name,
                "regionId": region.region_id,
                "mainland": region.mainland,
                "replicaAllowed": not ordered,
                "reason": ordered[0].message if ordered else None,
                "code": ordered[0].code if ordered else None,
            }
        )
    return rows


def audit_violations(primary: Region, replicas: Sequence[Replica], policy: Policy | None) -> list[Violation]:
    """Drift found by the audit: replicas the rules or the policy would refuse today, missing required ones."""
    found: list[Violation] = []
    seen: dict[str, str] = {}
    for replica in replicas:
        region = regions.find(replica.region)
        if region is None:
            found.append(
                Violation(
                    "UnknownRegion",
                    "known-region",
                    f"replica {replica.replica_registry_id} is in unknown region {replica.region!r}",
                )
            )
            continue
        for v in pair_violations(primary, region, policy):
            found.append(Violation(v.code, v.rule, f"replica {replica.replica_registry_id}: {v.message}"))
        if region.name in seen:
            found.append(
                Violation(
                    "ReplicaExists",
                    "one-per-region",
                    f"replicas {seen[region.name]} and {replica.replica_registry_id} share region {region.name}",
                )
            )
        seen[region.name] = replica.replica_registry_id
    if policy is not None:
        for missing in policy.missing_required(primary.name, seen):
            found.append(
                Violation(
                    "PolicyDenied",
                    "required-region",
                    f"the policy requires a replica in {missing}; "
                    "none exists: create one (POST /instances/{id}/replicas)",
                )
            )
        over = policy.count_excess(len(replicas))
        if over:
            found.append(Violation("PolicyDenied", "organisation-policy", over))
    return found
