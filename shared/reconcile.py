"""The audit's reconciliation of private access (issue 9): converge TCR to the desired state in COS.

The API records each VPC it attached in the state object `private-access` of the instance
(`{"version": 1, "vpcs": {"<region>/<vpcId>": {"region", "vpcId", "subnetId", "dns", "requestedAt",
"dnsCreatedAt"}}}`); TCR's endpoint takes time to become Running and the private DNS record needs its
AccessIp, so the timer audit finishes the job: for an entry with `dns: true` whose endpoint is Running
with an AccessIp and whose DNS record is not enabled, it creates the record (UsePublicDomain, the
entry's region) and notes `dnsCreatedAt`. It then reads the DNS status back.

Idempotent: when everything holds, a run reads (DescribeInternalEndpoints, then one
DescribeInternalEndpointDnsStatus for the endpoints that have an AccessIp) and writes nothing, in TCR
or in COS. A TCR failure (throttled, unavailable, refused) skips that step for this run and is
reported in `skipped`: the next run retries; it never fails the audit.

Pure orchestration on the ports: no I/O of its own.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import log
from shared import records as rl
from shared.errors import ApiError, LogStoreError
from shared.ports import EndpointDns, Instance, InternalEndpoint, LogStorePort, Replica, TcrPort
from shared.private_access import dns_view

STATE_NAME = "private-access"
HEALTHY = ("creating", "running")
UNKNOWN_REGION = "unknown"  # a VPC TCR lists that the product did not attach: TCR names no region for it


@dataclass
class Converged:
    """What one reconciliation saw and did for one instance."""

    regions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region -> its VPCs and their state
    findings: list[dict[str, Any]] = field(default_factory=list)
    dns_created: list[str] = field(default_factory=list)  # VPC ids whose DNS record this run created
    skipped: list[dict[str, Any]] = field(default_factory=list)  # steps a TCR or COS failure left to the next run
    writes: int = 0  # TCR and COS write calls of this run

    def report(self) -> dict[str, Any]:
        """The report's `privateAccess` field."""
        return {
            "regions": self.regions,
            "dnsCreated": self.dns_created,
            "complete": not self.skipped,
            "skipped": self.skipped,
        }


def _entries(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    vpcs = state.get("vpcs")
    if not isinstance(vpcs, Mapping):
        return {}
    return {
        str(k): dict(v)
        for k, v in sorted(vpcs.items())
        if isinstance(v, Mapping) and isinstance(v.get("vpcId"), str) and isinstance(v.get("region"), str)
    }


def _skip(out: Converged, step: str, exc: ApiError | LogStoreError, **where: Any) -> None:
    out.skipped.append({"step": step, "code": exc.code, "message": exc.message, **where})


def _enabled(status: EndpointDns | None) -> bool:
    return status is not None and status.status.strip().upper().startswith("ENABLE")


def converge(
    tcr: TcrPort, store: LogStorePort, inst: Instance, replicas: Sequence[Replica], now: datetime
) -> Converged:
    """Converge the instance's private access to its desired state; see the module's docstring."""
    registry_id = inst.registry_id
    out = Converged()
    state = store.get_state(registry_id, STATE_NAME)
    entries = _entries(state)
    wanted = {e["vpcId"]: e for e in entries.values()}
    try:
        endpoints = {ep.vpc_id: ep for ep in tcr.list_internal_endpoints(registry_id, region=inst.region)}
    except ApiError as exc:
        _skip(out, "DescribeInternalEndpoints", exc)
        log.event("audit.private-access-skipped", level="warning", registryId=registry_id, code=exc.code)
        return out  # nothing known: no findings, no summary (the dashboard shows "–")

    def readable(ep: InternalEndpoint | None) -> bool:
        return ep is not None and ep.status.lower() == "running" and bool(ep.access_ip)

    def read_dns(vpc_ids: Sequence[str]) -> dict[str, EndpointDns] | None:
        asked = [(v, str(endpoints[v].access_ip), wanted[v]["region"] if v in wanted else None) for v in vpc_ids]
        if not asked:
            return {}
        try:
            return {d.vpc_id: d for d in tcr.endpoint_dns_status(registry_id, asked, region=inst.region)}
        except ApiError as exc:
            _skip(out, "DescribeInternalEndpointDnsStatus", exc)
            return None

    dns = read_dns([v for v, ep in sorted(endpoints.items()) if readable(ep)])
    attempted: set[str] = set()
    failed_create: dict[str, str] = {}
    if dns is not None:  # without the status, creating could repeat a record: the next run decides
        for vpc_id, entry in wanted.items():
            ep = endpoints.get(vpc_id)
            if not entry.get("dns", True) or not readable(ep) or ep is None:
                continue
            current = dns.get(vpc_id)
            if _enabled(current) or dns_view(entry, current.status if current else None) == "failed":
                continue
            attempted.add(vpc_id)
            try:
                out.writes += 1
                tcr.create_endpoint_dns(registry_id, vpc_id, str(ep.access_ip), entry["region"], region=inst.region)
            except ApiError as exc:
                if exc.status == 429 or exc.status >= 500:
                    _skip(out, "CreateInternalEndpointDns", exc, vpcId=vpc_id, region=entry["region"])
                    attempted.discard(vpc_id)  # not attempted as far as findings go: the next run retries
                else:
                    failed_create[vpc_id] = f"{exc.code}: {exc.message}"
                continue
            out.dns_created.append(vpc_id)
            entry["dnsCreatedAt"] = rl.iso_utc(now)
        if out.dns_created:
            back = read_dns(out.dns_created)
            if back is not None:
                dns.update(back)
    _save(store, registry_id, state, entries, out)
    _summarize(out, inst, replicas, entries, endpoints, dns, attempted, failed_create)
    return out


def _save(
    store: LogStorePort, registry_id: str, state: Mapping[str, Any], entries: dict[str, dict[str, Any]], out: Converged
) -> None:
    """The state object again, only when this run changed it (a `dnsCreatedAt`)."""
    if not out.dns_created:
        return
    doc = copy.deepcopy(dict(state))
    vpcs = doc.setdefault("vpcs", {})
    for key, entry in entries.items():
        if entry["vpcId"] in out.dns_created and isinstance(vpcs.get(key), dict):
            vpcs[key]["dnsCreatedAt"] = entry["dnsCreatedAt"]
    if doc == state:
        return
    try:
        out.writes += 1
        store.put_state(registry_id, doc, STATE_NAME)
    except LogStoreError as exc:  # the record exists in TCR: the next run reads it ENABLE and writes this then
        _skip(out, "SaveState", exc)


def _summarize(
    out: Converged,
    inst: Instance,
    replicas: Sequence[Replica],
    entries: dict[str, dict[str, Any]],
    endpoints: Mapping[str, InternalEndpoint],
    dns: Mapping[str, EndpointDns] | None,
    attempted: set[str],
    failed_create: Mapping[str, str],
) -> None:
    """Per region the VPCs and their state, and the findings."""
    regions: dict[str, list[dict[str, Any]]] = {inst.region: []}
    for rep in replicas:
        regions.setdefault(rep.region, [])
    tracked = {e["vpcId"] for e in entries.values()}
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (entry, its row)
    for entry in entries.values():
        vpc_id = entry["vpcId"]
        ep = endpoints.get(vpc_id)
        status_text = dns.get(vpc_id).status if dns is not None and vpc_id in dns else None  # type: ignore[union-attr]
        row = {
            "vpcId": vpc_id,
            "subnetId": ep.subnet_id if ep is not None else entry.get("subnetId"),
            "status": ep.status if ep is not None else "NotFound",
            "accessIp": (ep.access_ip or None) if ep is not None else None,
            "dns": dns_view(entry, status_text),
            "dnsStatus": status_text,
            "dnsCreatedAt": entry.get("dnsCreatedAt"),
        }
        regions.setdefault(entry["region"], []).append(row)
        rows.append((entry, row))
    for vpc_id, ep in sorted(endpoints.items()):
        if vpc_id in tracked:
            continue  # attached outside the product (the console): shown, never changed
        found = dns.get(vpc_id) if dns is not None else None
        region = found.region if found is not None and found.region else UNKNOWN_REGION
        status_text = found.status if found is not None else None
        row = {
            "vpcId": vpc_id,
            "subnetId": ep.subnet_id,
            "status": ep.status,
            "accessIp": ep.access_ip or None,
            "dns": dns_view({"dns": True}, status_text) if status_text else "pending",
            "dnsStatus": status_text,
            "dnsCreatedAt": None,
            "attachedOutsideProduct": True,
        }
        regions.setdefault(region, []).append(row)
        rows.append(({"region": region, "vpcId": vpc_id, "dns": False}, row))
    out.regions = {r: regions[r] for r in sorted(regions)}

    for entry, row in rows:
        where = {"region": entry["region"], "vpcId": row["vpcId"], "status": row["status"], "dns": row["dns"]}
        if row["status"].lower() not in HEALTHY:
            detail = (
                "TCR lists no endpoint for this VPC: it was detached outside the product; attach it again or "
                "DELETE it through the replica API"
                if row["status"] == "NotFound"
                else f"the endpoint is {row['status']}: detach it and attach it again (DELETE, then POST)"
            )
            out.findings.append({"kind": "private_access_failed", **where, "detail": detail})
        elif row["dns"] == "failed":
            out.findings.append(
                {
                    "kind": "private_access_failed",
                    **where,
                    "detail": f"TCR reports the private DNS record {row['dnsStatus']}: detach and attach the VPC again",
                }
            )
        elif row["vpcId"] in failed_create:
            out.findings.append(
                {
                    "kind": "private_access_failed",
                    **where,
                    "detail": f"TCR refused to create the private DNS record ({failed_create[row['vpcId']]})",
                }
            )
        elif row["vpcId"] in attempted and row["dns"] != "enabled" and row["status"].lower() == "running":
            out.findings.append(
                {
                    "kind": "dns_missing",
                    **where,
                    "detail": "the private DNS record was created but TCR does not report it enabled; the next run "
                    "checks again and creates it if it is still missing",
                }
            )
    unknown = len(regions.get(UNKNOWN_REGION, []))
    if not rows:
        return  # the instance uses no private access anywhere: nothing to say per replica (opt-in, no daily noise)
    for rep in replicas:
        if rep.status != "Running" or regions.get(rep.region):
            continue
        detail = (
            f"no VPC is attached in {rep.region}: nodes there pull over the public network; attach one "
            f"(POST /instances/{inst.registry_id}/private-access)"
        )
        if unknown:
            detail += f" ({unknown} VPC(s) attached outside the product are of a region TCR does not name)"
        out.findings.append(
            {
                "kind": "replica_without_private_access",
                "replicaRegistryId": rep.replica_registry_id,
                "region": rep.region,
                "detail": detail,
            }
        )
