"""The organisation's replica policy: allowed, denied and required regions, and a replica cap.

Loaded from the `POLICY` setting (inline JSON, or a path to a JSON file), validated by the
`policy` schema and against the region catalogue. A malformed policy is a configuration
error naming `POLICY`: a policy that silently failed open would defeat its purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from shared import jsontext, regions
from shared.errors import ApiError, ConfigError


class Policy(NamedTuple):
    allowed: frozenset[str] | None = None
    denied: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    max_replicas: int | None = None

    def region_denial(self, region: str) -> str | None:
        if region in self.denied:
            return f"the organisation's policy denies replicas in {region}; choose another region or change POLICY"
        if self.allowed is not None and region not in self.allowed:
            allowed = ", ".join(sorted(self.allowed)) or "none"
            return f"the organisation's policy allows replicas only in: {allowed}; {region} is not among them"
        return None

    def count_denial(self, existing: int) -> str | None:
        if self.max_replicas is not None and existing + 1 > self.max_replicas:
            return (
                f"the organisation's policy allows at most {self.max_replicas} replica(s) per instance and "
                f"{existing} exist; delete one first or raise maxReplicas in POLICY"
            )
        return None

    def count_excess(self, existing: int) -> str | None:
        if self.max_replicas is not None and existing > self.max_replicas:
            return f"{existing} replicas exist but the organisation's policy allows at most {self.max_replicas}"
        return None

    def missing_required(self, primary: str, present: Iterable[str]) -> list[str]:
        have = set(present)
        return sorted(r for r in self.required if r != primary and r not in have)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deniedRegions": sorted(self.denied), "requiredRegions": sorted(self.required)}
        if self.allowed is not None:
            out["allowedRegions"] = sorted(self.allowed)
        if self.max_replicas is not None:
            out["maxReplicas"] = self.max_replicas
        return out


def _names(values: Iterable[str | int], field: str) -> frozenset[str]:
    names = set()
    for value in values:
        region = regions.find(value)
        if region is None:
            raise ConfigError("POLICY", f"{field} names unknown region {value!r}")
        names.add(region.name)
    return frozenset(names)


def from_mapping(data: Mapping[str, Any]) -> Policy:
    from shared import schemas

    try:
        schemas.validate("policy", data, where="POLICY")
    except ApiError as exc:
        raise ConfigError("POLICY", f"is invalid: {exc.message}") from None
    policy = Policy(
        allowed=_names(data["allowedRegions"], "allowedRegions") if "allowedRegions" in data else None,
        denied=_names(data.get("deniedRegions", ()), "deniedRegions"),
        required=_names(data.get("requiredRegions", ()), "requiredRegions"),
        max_replicas=data.get("maxReplicas"),
    )
    clash = policy.required & policy.denied
    if clash:
        raise ConfigError("POLICY", f"requires and denies the same region(s): {', '.join(sorted(clash))}")
    if policy.allowed is not None and not policy.required <= policy.allowed:
        raise ConfigError(
            "POLICY",
            "requires region(s) that allowedRegions does not allow: "
            + ", ".join(sorted(policy.required - policy.allowed)),
        )
    return policy


def parse(raw: str | None) -> Policy | None:
    """`POLICY` as inline JSON (starts with '{') or a path to a JSON file; empty means no policy."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not text.startswith("{"):
        path = Path(text)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("POLICY", f"names a file that cannot be read ({path}: {exc.strerror})") from None
    try:
        data = jsontext.loads(text)
    except jsontext.DuplicateKey as exc:
        raise ConfigError("POLICY", f"is ambiguous: {exc}") from None
    except ValueError as exc:
        raise ConfigError("POLICY", f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError("POLICY", "must be a JSON object")
    return from_mapping(data)
