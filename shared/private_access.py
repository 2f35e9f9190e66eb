"""Private-network access to an instance: VPCs attached in the primary's region or a replica's (issue 9).

The API attaches a VPC (TCR's ManageInternalEndpoint Create) and records the desired access in the log store's
state object `private-access` (`state/<registryId>/private-access.json`):

    {"version": 1, "vpcs": {"<region>/<vpcId>": {"region", "vpcId", "subnetId", "dns", "requestedAt",
                                                "dnsCreatedAt"}}}

It never creates the DNS record: the endpoint has no AccessIp until it is Running, and the timer audit
(shared.reconcile) creates the record then. Detaching deletes the DNS record first, then the endpoint (TCR
refuses the reverse), then the entry. TCR's listing names no region per VPC: a VPC's region is its entry's; an
attached VPC without an entry (attached outside the product) is shown under the primary's region.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from shared import regions
from shared.errors import ApiError
from shared.ports import Instance, InternalEndpoint, LogStorePort, Replica, TcrPort

if TYPE_CHECKING:
    from shared.inputs import AttachPrivateAccess

STATE_NAME = "private-access"
STATE_VERSION = 1


def dns_view(entry: Mapping[str, Any] | None, dns_status_text: str | None) -> str:
    """The `dns` value of the API and the report: TCR's DNS status text read leniently (the SDK says
    ENABLE/DISABLE/ERROR, TCR's known callers compare ENABLED/DISABLED)."""
    if entry is not None and not entry.get("dns", True):
        return "disabled"
    text = (dns_status_text or "").strip().upper()
    if text.startswith("ENABLE"):
        return "enabled"
    if text.startswith(("ERROR", "FAIL")):
        return "failed"
    return "pending"


def entry_key(region: str, vpc_id: str) -> str:
    return f"{region}/{vpc_id}"


def entries(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The state object's entries that are well formed (a hand-edited object cannot break the API)."""
    vpcs = state.get("vpcs")
    if not isinstance(vpcs, dict):
        return {}
    return {
        k: v
        for k, v in vpcs.items()
        if isinstance(v, dict) and isinstance(v.get("region"), str) and isinstance(v.get("vpcId"), str)
    }


def _where(inst: Instance, reps: list[Replica]) -> str:
    places = [f"{inst.region} (primary)"] + [f"{r.region} (replica {r.replica_registry_id}, {r.status})" for r in reps]
    return ", ".join(places)


class PrivateAccessService:
    """The private-access routes over TCR and the log store's state object."""

    def __init__(
        self,
        tcr: TcrPort,
        store_factory: Callable[[], LogStorePort],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.tcr = tcr
        self._store_factory = store_factory
        self._store: LogStorePort | None = None
        self._now = now

    @property
    def store(self) -> LogStorePort:
        if self._store is None:
            self._store = self._store_factory()
        return self._store

    def _state(self, registry_id: str) -> dict[str, Any]:
        state = self.store.get_state(registry_id, STATE_NAME)
        return {"version": STATE_VERSION, **state, "vpcs": entries(state)}

    def _put(self, registry_id: str, state: dict[str, Any]) -> None:
        self.store.put_state(registry_id, state, STATE_NAME)

    def _places(self, registry_id: str) -> tuple[Instance, list[Replica]]:
        inst = self.tcr.get_instance(registry_id)
        return inst, self.tcr.list_replicas(registry_id, region=inst.region)

    @staticmethod
    def _region_name(ref: str) -> str:
        found = regions.find(ref)
        if found is None:
            raise ApiError("UnknownRegion", f"unknown region {ref!r}; use a region name such as 'ap-shanghai'")
        return found.name

    @staticmethod
    def _call_region(inst: Instance, region: str) -> tuple[str | None, int | None]:
        """RegionName/RegionId of a TCR call for `region` (none for the primary's own region)."""
        if region == inst.region:
            return None, None
        found = regions.find(region)
        return region, found.region_id if found else None

    # -- GET ------------------------------------------------------------------------------------------

    def view(self, registry_id: str) -> dict[str, Any]:
        inst, reps = self._places(registry_id)
        endpoints = self.tcr.list_internal_endpoints(registry_id, region=inst.region)
        by_vpc = {e["vpcId"]: e for e in entries(self.store.get_state(registry_id, STATE_NAME)).values()}
        known = {inst.region} | {r.region for r in reps}

        def region_of(ep: InternalEndpoint) -> str:
            entry = by_vpc.get(ep.vpc_id)
            return entry["region"] if entry and entry["region"] in known else inst.region

        with_ip = [e for e in endpoints if e.access_ip]
        statuses: dict[str, str] = {}
        if with_ip:
            asked = [(e.vpc_id, e.access_ip or "", self._call_region(inst, region_of(e))[0]) for e in with_ip]
            statuses = {
                d.vpc_id: d.status for d in self.tcr.endpoint_dns_status(registry_id, asked, region=inst.region)
            }
        vpcs: dict[str, list[dict[str, Any]]] = {}
        for ep in endpoints:
            vpcs.setdefault(region_of(ep), []).append(
                {
                    "vpcId": ep.vpc_id,
                    "subnetId": ep.subnet_id,
                    "status": ep.status,
                    "accessIp": ep.access_ip or None,
                    "dns": dns_view(by_vpc.get(ep.vpc_id), statuses.get(ep.vpc_id)),
                }
            )
        out = [{"region": inst.region, "role": "primary", "replicaRegistryId": None, "vpcs": vpcs.get(inst.region, [])}]
        for rep in reps:
            out.append(
                {
                    "region": rep.region,
                    "role": "replica",
                    "replicaRegistryId": rep.replica_registry_id,
                    "vpcs": vpcs.get(rep.region, []) if rep.region != inst.region else [],
                }
            )
        return {"registryId": registry_id, "domain": inst.public_domain or None, "regions": out}

    # -- POST -----------------------------------------------------------------------------------------

    def plan_attach(self, registry_id: str, request: AttachPrivateAccess) -> tuple[Instance, dict[str, Any]]:
        """The checks before any write: the plan, or the ApiError that refuses it."""
        region = self._region_name(request.region)
        inst, reps = self._places(registry_id)
        replica: Replica | None = None
        if region != inst.region:
            replica = next((r for r in reps if r.region == region), None)
            if replica is None:
                raise ApiError(
                    "NoReplicaInRegion",
                    f"instance {registry_id} has neither its primary nor a replica in {region}; it is in "
                    f"{_where(inst, reps)}. Create a replica there first (POST /instances/{registry_id}/replicas "
                    f'{{"region": "{region}"}}), then attach the VPC once it is Running',
                    details={"regions": [inst.region] + [r.region for r in reps]},
                )
            if replica.status != "Running":
                raise ApiError(
                    "ReplicaNotRunning",
                    f"replica {replica.replica_registry_id} in {region} is {replica.status}, not Running; retry once "
                    f"GET /instances/{registry_id}/replicas shows it Running",
                    details={"replicaRegistryId": replica.replica_registry_id, "status": replica.status},
                )
        attached = self.tcr.list_internal_endpoints(registry_id, region=inst.region)
        found = next((e for e in attached if e.vpc_id == request.vpc_id), None)
        if found is not None:
            raise ApiError(
                "AccessExists",
                f"{request.vpc_id} is already attached to {registry_id} (subnet {found.subnet_id}, {found.status}); "
                f"see GET /instances/{registry_id}/private-access, or detach it first with "
                f"DELETE /instances/{registry_id}/private-access/{request.vpc_id}?region=<its region>",
                details={"vpcId": request.vpc_id, "subnetId": found.subnet_id},
            )
        plan = {
            "registryId": registry_id,
            "region": region,
            "role": "primary" if replica is None else "replica",
            "replicaRegistryId": replica.replica_registry_id if replica else None,
            "vpcId": request.vpc_id,
            "subnetId": request.subnet_id,
            "dns": request.dns,
        }
        return inst, plan

    def attach(self, registry_id: str, request: AttachPrivateAccess) -> dict[str, Any]:
        inst, plan = self.plan_attach(registry_id, request)
        if request.dry_run:
            return {"plan": plan, "allowed": True}
        region: str = plan["region"]
        name, region_id = self._call_region(inst, region)
        self.tcr.create_internal_endpoint(
            registry_id, request.vpc_id, request.subnet_id, name, region_id, region=inst.region
        )
        state = self._state(registry_id)
        # one entry per VPC: an entry left under another region by an endpoint deleted outside the product goes
        state["vpcs"] = {k: v for k, v in state["vpcs"].items() if v["vpcId"] != request.vpc_id}
        state["vpcs"][entry_key(region, request.vpc_id)] = {
            "region": region,
            "vpcId": request.vpc_id,
            "subnetId": request.subnet_id,
            "dns": request.dns,
            "requestedAt": self._now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dnsCreatedAt": None,
        }
        self._put(registry_id, state)
        return {
            "access": {
                "registryId": registry_id,
                "region": region,
                "vpcId": request.vpc_id,
                "subnetId": request.subnet_id,
                "status": "Creating",
                "dns": "pending" if request.dns else "disabled",
            }
        }

    # -- DELETE ---------------------------------------------------------------------------------------

    def detach(self, registry_id: str, vpc_id: str, region_ref: str) -> dict[str, Any]:
        region = self._region_name(region_ref)
        inst = self.tcr.get_instance(registry_id)
        return self._detach(registry_id, inst, vpc_id, region)

    def attached_in(self, registry_id: str, inst: Instance, region: str) -> list[dict[str, Any]]:
        """The VPCs attached in `region` (entries TCR still lists), for the delete-replica guard. Reads the state
        object only when TCR lists any attachment."""
        listed = {e.vpc_id: e for e in self.tcr.list_internal_endpoints(registry_id, region=inst.region)}
        if not listed:
            return []
        found = entries(self.store.get_state(registry_id, STATE_NAME)).values()
        return [
            {"vpcId": e["vpcId"], "subnetId": listed[e["vpcId"]].subnet_id, "region": region}
            for e in found
            if e["region"] == region and e["vpcId"] in listed
        ]

    def _detach(self, registry_id: str, inst: Instance, vpc_id: str, region: str) -> dict[str, Any]:
        endpoint = next(
            (e for e in self.tcr.list_internal_endpoints(registry_id, region=inst.region) if e.vpc_id == vpc_id), None
        )
        state = self._state(registry_id)
        key = entry_key(region, vpc_id)
        entry = state["vpcs"].get(key)
        elsewhere = [v["region"] for v in state["vpcs"].values() if v["vpcId"] == vpc_id and v["region"] != region]
        if entry is None and (endpoint is None or elsewhere):
            hint = f" it is attached in {elsewhere[0]}: use ?region={elsewhere[0]}" if elsewhere else ""
            raise ApiError(
                "AccessNotFound",
                f"{vpc_id} is not attached to {registry_id} in {region};{hint or ' nothing to detach'}. "
                f"GET /instances/{registry_id}/private-access lists the attached VPCs",
                details={"vpcId": vpc_id, "region": region},
            )
        dns_deleted = False
        if endpoint is not None:
            name, region_id = self._call_region(inst, region)
            if endpoint.access_ip:
                status = self.tcr.endpoint_dns_status(
                    registry_id, [(vpc_id, endpoint.access_ip, name)], region=inst.region
                )
                present = any(not d.status.upper().startswith("DISABLE") for d in status if d.vpc_id == vpc_id)
                if present or (entry is not None and entry.get("dnsCreatedAt")):
                    try:
                        self.tcr.delete_endpoint_dns(registry_id, vpc_id, endpoint.access_ip, name, region=inst.region)
                        dns_deleted = True
                    except ApiError as exc:
                        if exc.code != "AccessNotFound":
                            raise
            try:
                self.tcr.delete_internal_endpoint(
                    registry_id, vpc_id, endpoint.subnet_id, name, region_id, region=inst.region
                )
            except ApiError as exc:
                if exc.code != "AccessNotFound" or entry is None:  # an entry's endpoint gone already: done
                    raise
        if entry is not None:
            del state["vpcs"][key]
            self._put(registry_id, state)
        subnet = endpoint.subnet_id if endpoint is not None else (entry or {}).get("subnetId")
        return {
            "detached": {
                "registryId": registry_id,
                "region": region,
                "vpcId": vpc_id,
                "subnetId": subnet,
                "dnsDeleted": dns_deleted,
            }
        }

    def detach_region(self, registry_id: str, inst: Instance, region: str) -> list[dict[str, Any]]:
        """Detach every VPC attached in `region` (the delete-replica route's ?detachPrivateAccess=true)."""
        return [
            self._detach(registry_id, inst, a["vpcId"], region)["detached"]
            for a in self.attached_in(registry_id, inst, region)
        ]
