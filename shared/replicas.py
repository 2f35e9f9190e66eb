"""The replica API's domain: every operation checks the region rules before any write to TCR.

Handlers call these with the typed values the edge built and checked once (shared.inputs); results are
plain dicts shaped for the JSON answers of DESIGN.md §3, built from the ports' values (`replica_view`).
TCR's own refusals arrive as the same `ApiError` codes (see `shared.tcr_errors`).
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from shared import log, regions, rules
from shared import policy as policy_mod
from shared.config import Config
from shared.errors import ApiError
from shared.ports import Instance, LogStorePort, Replica, TcrPort
from shared.times import parse_or_none

if TYPE_CHECKING:
    from shared.inputs import CreateReplica, LogQuery
    from shared.runtime import Deadline

# TCR's CreatedAt has whole seconds: a replica created more than this after ours can never tie with it.
CREATED_AT_RESOLUTION_S = 1.0
# Allowance for the function's clock against TCR's when waiting for that moment to pass.
CLOCK_SKEW_S = 0.5
# Time kept back from the invocation's deadline for the listing, a deletion and the answer.
CAP_CHECK_RESERVE_S = 5.0
_LATEST = datetime.max.replace(tzinfo=timezone.utc)


def replica_view(rep: Replica, registry_id: str | None = None) -> dict[str, Any]:
    """A replica as the API answers it (DESIGN §3, docs/openapi.yaml `Replica`); with the primary's id
    in the create and delete answers."""
    view: dict[str, Any] = {
        "replicaRegistryId": rep.replica_registry_id,
        "region": rep.region,
        "regionId": rep.region_id,
        "status": rep.status,
        "createdAt": rep.created_at,
    }
    if registry_id is not None:
        view["registryId"] = registry_id
    return view


def _brief(rep: Replica) -> dict[str, Any]:
    return {"replicaRegistryId": rep.replica_registry_id, "region": rep.region}


def _as_rule_instance(inst: Instance) -> rules.Instance:
    return rules.Instance(inst.registry_id, inst.region, inst.registry_type, inst.status)


def _as_rule_replica(rep: Replica) -> rules.Replica:
    return rules.Replica(rep.replica_registry_id, rep.region)


def creation_order(rep: Replica) -> tuple[datetime, str]:
    """Oldest first; a replica without a creation time counts as the newest; ties by replica id."""
    return rep.created or _LATEST, rep.replica_registry_id


def split_at_cap(replicas: Iterable[Replica], cap: int) -> tuple[list[Replica], list[Replica]]:
    """(kept, beyond): the `cap` replicas created first, and those created after them.

    Every request that raced past the cap check computes the same split from the same list, so each
    can tell on its own whether its replica is one too many.
    """
    ordered = sorted(replicas, key=creation_order)
    return ordered[:cap], ordered[cap:]


def _completed(listed: Replica, mine: Replica) -> Replica:
    """The listed version of our replica, with what the listing left empty taken from ours."""
    missing = {k: v for k, v in mine._asdict().items() if getattr(listed, k) in (None, "")}
    return listed._replace(**missing)


def settle_delay(created_at: datetime | None, now: datetime) -> float:
    """Seconds to wait until no replica created later can share `created_at` (TCR's whole seconds)."""
    if created_at is None:
        return CREATED_AT_RESOLUTION_S + CLOCK_SKEW_S
    settled = created_at + timedelta(seconds=CREATED_AT_RESOLUTION_S + CLOCK_SKEW_S)
    return max(0.0, (settled - now).total_seconds())


VIEW_STATE_TTL_S = 300.0
_view_states: dict[str, tuple[float, str, dict[str, Any]]] = {}  # view id -> (kept at, registry id, audit state)


def _view_state(view: str | None, registry_id: str) -> dict[str, Any] | None:
    kept = _view_states.get(view) if view else None
    if kept is None or kept[1] != registry_id or time.monotonic() - kept[0] > VIEW_STATE_TTL_S:
        return None
    return kept[2]


def _keep_view_state(view: str, registry_id: str, state: dict[str, Any]) -> None:
    now = time.monotonic()
    _view_states[view] = (now, registry_id, state)
    for key in [k for k, v in _view_states.items() if now - v[0] > VIEW_STATE_TTL_S]:
        del _view_states[key]
    while len(_view_states) > 32:
        del _view_states[next(iter(_view_states))]


class ReplicaService:
    """Replica operations over a TCR adapter and (for logs and pending counts) the COS log store."""

    def __init__(
        self,
        tcr: TcrPort | None,
        config: Config | None = None,
        store_factory: Callable[[], LogStorePort] | None = None,
        *,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._tcr = tcr
        self.config = config or Config()
        self._store_factory = store_factory
        self.deadline = deadline
        self._sleep = sleep
        self._now = now

    @property
    def tcr(self) -> TcrPort:
        if self._tcr is None:
            raise RuntimeError("this ReplicaService was built without TCR (region eligibility only)")
        return self._tcr

    def _policy(self) -> policy_mod.Policy | None:
        return policy_mod.parse(self.config.policy)

    def _store(self) -> LogStorePort:
        if self._store_factory is None:
            from shared.logstore import LogStore

            return LogStore.from_env()
        return self._store_factory()

    # -- reads ------------------------------------------------------------------------------------

    def regions_for(self, primary: str) -> dict[str, Any]:
        region = regions.find(primary)
        if region is None:
            raise ApiError(
                "UnknownRegion",
                f"unknown region {primary!r}; use a region name such as 'ap-guangzhou' or a TCR region id",
            )
        return {"primary": region.name, "regions": rules.eligibility(region, self._policy())}

    def instance(self, registry_id: str) -> Instance:
        return self.tcr.get_instance(registry_id)

    def list(self, registry_id: str) -> dict[str, Any]:
        inst = self.instance(registry_id)
        reps = self.tcr.list_replicas(registry_id, region=inst.region)
        return {"registryId": registry_id, "region": inst.region, "replicas": [replica_view(r) for r in reps]}

    def _find_replica(self, registry_id: str, replica_id: str) -> tuple[Instance, Replica]:
        inst = self.instance(registry_id)
        for rep in self.tcr.list_replicas(registry_id, region=inst.region):
            if rep.replica_registry_id == replica_id:
                return inst, rep
        raise ApiError(
            "ReplicaNotFound",
            f"instance {registry_id} has no replica {replica_id}; list them with GET /instances/{registry_id}/replicas",
        )

    # -- writes -----------------------------------------------------------------------------------

    def plan_create(self, registry_id: str, region_ref: str | int) -> tuple[rules.Plan, Instance]:
        """The rules, run before any write: the plan to execute, or the ApiError that refuses it."""
        policy = self._policy()
        try:
            inst: Instance | None = self.instance(registry_id)
        except ApiError as exc:
            if exc.code != "InstanceNotFound":
                raise
            inst = None
        existing = self.tcr.list_replicas(registry_id, region=inst.region) if inst else []
        plan = rules.check_create(
            registry_id,
            _as_rule_instance(inst) if inst else None,
            region_ref,
            [_as_rule_replica(r) for r in existing],
            policy,
        )
        assert inst is not None
        return plan, inst

    def create(self, registry_id: str, request: CreateReplica) -> dict[str, Any]:
        plan, inst = self.plan_create(registry_id, request.region)
        if request.dry_run:
            return {"plan": {**plan.to_dict(), "syncTag": request.sync_tag}, "allowed": True}
        created = self.tcr.create_replica(
            registry_id, plan.replica_region.region_id, plan.replica_region.name, request.sync_tag, region=inst.region
        )
        if created.created_at is None:
            # TCR's create answer carries only the id; its listing knows the status and creation time
            created = self._listed_version(registry_id, inst, created)
        created = created._replace(
            region=created.region or plan.replica_region.name,
            region_id=created.region_id or plan.replica_region.region_id,
        )
        policy = self._policy()
        if policy is not None and policy.max_replicas is not None:
            created = self._keep_within_cap(registry_id, inst, created, policy.max_replicas)
        return {"replica": replica_view(created, registry_id)}

    def _listed_version(self, registry_id: str, inst: Instance, rep: Replica) -> Replica:
        listed = self.tcr.list_replicas(registry_id, region=inst.region)
        return next((r for r in listed if r.replica_registry_id == rep.replica_registry_id), rep)

    def _keep_within_cap(self, registry_id: str, inst: Instance, mine: Replica, cap: int) -> Replica:
        """Concurrent creates can each pass the cap check before any of them exists. After creating,
        every request waits until no later replica can tie with its own, lists the replicas, and deletes
        its own if it is beyond the `cap` created first: exactly `cap` remain, whoever raced."""
        delay = settle_delay(mine.created, self._now())
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline.remaining() - CAP_CHECK_RESERVE_S))
        if delay > 0:
            self._sleep(delay)
        mine_id = mine.replica_registry_id
        listed = self.tcr.list_replicas(registry_id, region=inst.region)
        found = next((r for r in listed if r.replica_registry_id == mine_id), None)
        if found is None:
            listed.append(mine)
        kept, beyond = split_at_cap(listed, cap)
        if all(r.replica_registry_id != mine_id for r in beyond):
            return _completed(found, mine) if found is not None else mine
        raise self._undo_beyond_cap(registry_id, inst, mine, kept, cap, len(listed))

    def _undo_beyond_cap(
        self, registry_id: str, inst: Instance, mine: Replica, kept: builtins.list[Replica], cap: int, total: int
    ) -> ApiError:
        mine_id = mine.replica_registry_id
        try:
            if mine.region_id is None:
                raise ApiError("UpstreamError", f"TCR reported replica {mine_id} without a region id")
            self.tcr.delete_replica(registry_id, mine_id, mine.region_id, region=inst.region)
            outcome, deleted = "was deleted again", True
        except ApiError as exc:
            outcome = (
                f"could not be deleted ({exc.code}: {exc.message}); delete it with "
                f"DELETE /instances/{registry_id}/replicas/{mine_id}"
            )
            deleted = False
        winners = ", ".join(f"{r.replica_registry_id} ({r.region})" for r in kept) or "none"
        message = (
            f"the organisation's policy allows at most {cap} replica(s) per instance; concurrent requests made "
            f"{total}, and the {cap} created first are kept: {winners}. This request's replica {mine_id} in "
            f"{mine.region} was created after them and {outcome}; delete a replica or raise maxReplicas "
            "in POLICY before trying again"
        )
        log.event(
            "replicas.over-cap",
            level="warning",
            registryId=registry_id,
            replicaRegistryId=mine_id,
            cap=cap,
            total=total,
            deleted=deleted,
        )
        return ApiError(
            "PolicyDenied",
            message,
            details={
                "violations": [{"code": "PolicyDenied", "rule": "organisation-policy", "message": message}],
                "replicas": [_brief(r) for r in kept],
                "replica": {**replica_view(mine, registry_id), "deleted": deleted},
            },
        )

    def delete(self, registry_id: str, replica_id: str, *, detach_private_access: bool = False) -> dict[str, Any]:
        """Delete a replica. VPCs attached in its region would lose their registry silently (TCR removes their
        endpoints with it): refused with PrivateAccessExists unless the caller asked to detach them first."""
        inst, rep = self._find_replica(registry_id, replica_id)
        if rep.region_id is None:
            raise ApiError("UpstreamError", f"TCR reported replica {replica_id} without a region id; retry later")
        from shared.private_access import PrivateAccessService

        access = PrivateAccessService(self.tcr, self._store)
        detached: builtins.list[dict[str, Any]] = []
        if rep.region != inst.region:
            if detach_private_access:
                detached = access.detach_region(registry_id, inst, rep.region)
            else:
                attached = access.attached_in(registry_id, inst, rep.region)
                if attached:
                    names = ", ".join(f"{a['vpcId']} (subnet {a['subnetId']})" for a in attached)
                    raise ApiError(
                        "PrivateAccessExists",
                        f"{rep.region} has VPCs attached to {registry_id}: {names}; nodes there would lose the "
                        f"registry. Detach them (DELETE /instances/{registry_id}/private-access/<vpcId>?region="
                        f"{rep.region}) or retry with ?detachPrivateAccess=true",
                        details={"vpcs": attached},
                    )
        self.tcr.delete_replica(registry_id, replica_id, rep.region_id, region=inst.region)
        answer: dict[str, Any] = {"deleted": replica_view(rep, registry_id)}
        if detach_private_access:
            answer["detachedPrivateAccess"] = detached
        return answer

    def delete_instance(self, registry_id: str, *, delete_bucket: bool = False) -> dict[str, Any]:
        """Delete a primary; its COS bucket (every image) only when the caller asked for it."""
        inst = self.instance(registry_id)
        reps = self.tcr.list_replicas(registry_id, region=inst.region)
        rules.check_delete_instance(registry_id, [_as_rule_replica(r) for r in reps])
        self.tcr.delete_instance(registry_id, delete_bucket=delete_bucket, region=inst.region)
        return {"deleted": {"registryId": registry_id, "region": inst.region, "bucketDeleted": delete_bucket}}

    # -- sync ---------------------------------------------------------------------------------------

    def sync_status(self, registry_id: str, replica_id: str, *, now: datetime | None = None) -> dict[str, Any]:
        inst, rep = self._find_replica(registry_id, replica_id)
        status = self.tcr.sync_status(registry_id, replica_id, rep.region_id, region=inst.region)
        now = now or datetime.now(timezone.utc)
        pending = [r for r in self._store().list_pending(registry_id) if r.replicaRegistryId == replica_id]
        oldest = min((t for t in (parse_or_none(r.pushedAt) for r in pending) if t), default=None)
        lag = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        return {
            "registryId": registry_id,
            "replicaRegistryId": replica_id,
            "region": rep.region,
            "replicaStatus": rep.status,
            "status": status.status,
            "lastSyncAt": status.last_sync_at,
            "lagSeconds": round(lag, 3),
            "pending": len(pending),
        }

    def logs(self, registry_id: str, query: LogQuery) -> dict[str, Any]:
        """One page of the replication log; a replica given as a region (name or TCR id) is read by its name."""
        replica = query.replica
        if replica and not replica.startswith("tcr-"):
            region = regions.find(replica)
            if region is None:
                raise ApiError("UnknownRegion", f"query.replica: unknown region {replica!r}")
            replica = region.name
        # a late record is stored as pending (the inbox is not rewritten per record): read both, then split
        unresolved = query.status in ("pending", "late")
        page = self._store().query(
            registry_id,
            replica=replica,
            since=query.since,
            until=query.until,
            status="pending" if unresolved else query.status,
            repository=query.repository,
            limit=query.limit,
            cursor=query.cursor,
        )
        from shared import records  # the log store imported it already

        views = (records.cursor_view(query.cursor), records.cursor_view(page.next_cursor))
        body = self._as_audited(registry_id, page.to_body(), views)
        if unresolved:
            body["records"] = [r for r in body["records"] if r.get("status") == query.status]
        return body

    def _as_audited(
        self, registry_id: str, body: dict[str, Any], views: tuple[str | None, str | None] = (None, None)
    ) -> dict[str, Any]:
        """Pending records as the last audit judged them: `late` once it announced them late, with its hint when
        the replica synced without TCR's log naming the image (its state object: one GET per page, none per record;
        none for the next pages of a query whose first page read it: `views`, the view the request's cursor named
        and the one its next cursor names, see LogStore.query).
        """
        pending = [r for r in body.get("records", []) if r.get("status") == "pending"]
        if not pending:
            return body
        state = _view_state(views[0], registry_id)
        if state is None:
            state = self._store().get_state(registry_id)
        if views[1]:
            _keep_view_state(views[1], registry_id, state)
        late = {str(i) for i in state.get("late") or [] if isinstance(i, str)}
        kept = state.get("hints")
        hints: dict[str, Any] = kept if isinstance(kept, dict) else {}
        from shared import records  # the log store imported it already

        for rec in pending:
            rid = f"{rec.get('eventId')}:{rec.get('replicaRegistryId')}"
            if rid in late:
                rec["status"] = "late"
            synced = hints.get(rid)
            if isinstance(synced, str):
                try:
                    rec["hint"] = records.unconfirmed_hint(synced)
                except ValueError:
                    continue
        return body
