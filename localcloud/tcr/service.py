"""The TCR API emulator: TCR's wire protocol, its actions and rules, and a simulated registry behind them.

See docs/localcloud-tcr.md for which behaviour is documented TCR behaviour and which is our assumption.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import itertools
import json
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from localcloud.faults import Faults
from localcloud.httpd import Request, Response
from localcloud.tcr import regions, vpcs
from localcloud.tcr.params import (
    REQUEST_FIELDS,
    ApiError,
    check_known,
    check_struct,
    get,
    go_time,
    iso_cst,
    iso_cst_micro,
    iso_z,
    iso_z_micro,
    paging,
)
from localcloud.tcr.signing import AuthError, verify
from localcloud.tcr.webhooks import PostWebhook, Scheduler, encode_payload, push_payload, urllib_post

API_VERSION = "2019-09-24"
JSON_CT = "application/json"  # exactly: the SDK compares the error Content-Type by string
OPERATOR_UIN = "100000000001"  # the account UIN TCR names as the webhook operator
WEBHOOK_ATTEMPTS = 3  # one delivery and two retries, like Harbor's job retry
WEBHOOK_RETRY_DELAYS_S = (0.2, 0.4)
MAX_TRIGGERS_PER_NAMESPACE = 20
KNOWN_EVENT_TYPES = {
    "pushImage",
    "pullImage",
    "deleteImage",
    "uploadChart",
    "deleteChart",
    "downloadChart",
    "scanningCompleted",
    "scanningFailed",
}
LOG_SHAPE_ENV = "LOCALCLOUD_REPLICATION_LOG_SHAPE"

_REGISTRY_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{3,48}[a-z0-9]$")
_NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
_REPO_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
# Registry.Status values TCR documents (tcr-api-fields.md): what the admin route may pin an instance to.
REGISTRY_STATUSES = (
    "Pending",
    "Deploying",
    "Running",
    "Unhealthy",
    "FailedCreated",
    "FailedUpdated",
    "Bucket-Error",
    "Isolate",
    "Deleting",
    "DeleteBucketFailed",
    "DeleteFailed",
)


class AdminError(Exception):
    """Bad input on the admin surface (not part of TCR): answered with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _empty_state() -> dict[str, Any]:
    return {
        "version": 1,
        "seq": {"namespace": 0, "trigger": 0, "triggerLog": 0, "replicationLog": 0, "push": 0, "vpc": 0},
        "instances": {},
        "replicas": {},
        "namespaces": {},
        "repos": {},
        "triggers": {},
        "triggerLogs": {},
        "replicationLogs": {},
        # registryId -> {"DeleteBucket": what DeleteInstance received (None: not sent), "DeletedAt"}
        "deletedInstances": {},
        # private-network access: VPCs added through the admin route (the defaults are derived, not stored),
        # registryId -> [endpoint], registryId -> [DNS record]
        "vpcs": [],
        "endpoints": {},
        "dnsRecords": {},
    }


class TcrService:
    def __init__(
        self,
        *,
        keys: dict[str, str],
        faults: Faults,
        replica_ready_after_s: float = 1.0,
        now: Callable[[], float] = time.time,
        post_webhook: PostWebhook | None = None,
        tokens: dict[str, str] | None = None,
        endpoint_ready_after_s: float | None = None,
    ) -> None:
        self._keys = dict(keys)
        self._tokens = dict(tokens or {})  # SecretId of temporary credentials -> its session token
        self._faults = faults
        self._ready_after = float(replica_ready_after_s)
        # an internal endpoint (VPC attachment) is Creating this long, then Running (default: as replicas)
        self._endpoint_ready_after = float(
            replica_ready_after_s if endpoint_ready_after_s is None else endpoint_ready_after_s
        )
        self._now = now
        self._post = post_webhook or urllib_post
        self._lock = threading.RLock()
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._ids = random.Random()
        self._s = _empty_state()
        self._last_end: dict[str, float | None] = {}  # replica id -> latest EndTime of its log (a cache of _s)
        self._sched = Scheduler()
        # admin-only record of every webhook delivery and its attempts (not TCR's; not in snapshot())
        self._deliveries: dict[str, list[dict[str, Any]]] = {}
        self._arrivals = itertools.count(1)
        self._handlers: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "CreateInstance": self._create_instance,
            "DescribeInstances": self._describe_instances,
            "DeleteInstance": self._delete_instance,
            "DescribeRegions": self._describe_regions,
            "CreateReplicationInstance": self._create_replication_instance,
            "DeleteReplicationInstance": self._delete_replication_instance,
            "DescribeReplicationInstances": self._describe_replication_instances,
            "DescribeReplicationInstanceCreateTasks": self._describe_create_tasks,
            "DescribeReplicationInstanceSyncStatus": self._describe_sync_status,
            "CreateNamespace": self._create_namespace,
            "DescribeRepositories": self._describe_repositories,
            "DescribeImages": self._describe_images,
            "CreateWebhookTrigger": self._create_webhook_trigger,
            "DescribeWebhookTrigger": self._describe_webhook_trigger,
            "DescribeWebhookTriggerLog": self._describe_webhook_trigger_log,
            "ManageInternalEndpoint": self._manage_internal_endpoint,
            "DescribeInternalEndpoints": self._describe_internal_endpoints,
            "CreateInternalEndpointDns": self._create_internal_endpoint_dns,
            "DeleteInternalEndpointDns": self._delete_internal_endpoint_dns,
            "DescribeInternalEndpointDnsStatus": self._describe_internal_endpoint_dns_status,
        }

    # ------------------------------------------------------------------ wire protocol

    def handle(self, req: Request) -> Response:
        request_id = str(uuid.uuid4())
        action = req.header("x-tc-action")
        if action:
            with self._stats_lock:
                self._stats[action] += 1
        try:
            if req.method != "POST":
                raise ApiError("UnsupportedProtocol", "localcloud's TCR API accepts POST with a JSON body only.")
            try:
                verify(
                    method=req.method,
                    path=req.path,
                    raw_query=req.raw_query,
                    headers=req.headers,
                    body=req.body,
                    keys=self._keys,
                    now=self._now(),
                    tokens=self._tokens,
                )
            except AuthError as exc:
                raise ApiError(exc.code, exc.message) from None
            if not action:
                raise ApiError("MissingParameter", "The request is missing the X-TC-Action header.")
            version = req.header("x-tc-version")
            if version != API_VERSION:
                raise ApiError("NoSuchVersion", f"The API version {version!r} does not exist; use {API_VERSION}.")
            handler = self._handlers.get(action)
            if handler is None:
                raise ApiError("InvalidAction", f"The action {action} does not exist or is not supported.")
            decision = self._faults.decide("tcr", action)
            if decision.latency_s > 0:
                time.sleep(decision.latency_s)
            if decision.drop:
                return Response(drop=True)
            if decision.error is not None:
                raise ApiError(str(decision.error), f"Injected fault for {action} (localcloud fault plan).")
            try:
                params = json.loads(req.body.decode("utf-8") or "{}")
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ApiError("InvalidParameter", "The request body is not valid JSON.") from None
            if not isinstance(params, dict):
                raise ApiError("InvalidParameter", "The request body must be a JSON object.")
            check_known(params, REQUEST_FIELDS[action])
            result = handler(params, req.header("x-tc-region"))
            return self._answer({**result, "RequestId": request_id})
        except ApiError as exc:
            return self._answer({"Error": {"Code": exc.code, "Message": exc.message}, "RequestId": request_id})

    @staticmethod
    def _answer(body: dict[str, Any]) -> Response:
        data = json.dumps({"Response": body}, ensure_ascii=False).encode("utf-8")
        return Response(200, {"Content-Type": JSON_CT}, data)

    def stats(self) -> dict[str, int]:
        with self._stats_lock:
            return dict(self._stats)

    def snapshot(self) -> dict:
        with self._lock:
            return copy.deepcopy(self._s)

    def restore(self, data: dict) -> None:
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("not a localcloud TCR state (version 1)")
        state = _empty_state()
        for key, value in data.items():
            if key in state:
                state[key] = copy.deepcopy(value)
        with self._lock:
            self._s = state
            self._last_end = {}
            now = self._now()
            for replica_id, entries in state["replicationLogs"].items():
                for entry in entries:
                    if entry["Status"] == "InProgress":
                        self._sched.call_later(
                            entry["_due"] - now, lambda r=replica_id, i=entry["_id"]: self._complete(r, i)
                        )

    def close(self) -> None:
        self._sched.close()

    # ------------------------------------------------------------------ helpers

    def _instance(self, registry_id: str, region: str) -> dict[str, Any]:
        """The instance, seen from the request's region: TCR instances are regional, so an instance of
        another region than X-TC-Region is not found, exactly as an unknown RegistryId."""
        inst = self._s["instances"].get(registry_id)
        if inst is None or inst["RegionName"] != region:
            where = f"in the region {region}" if region else "(the request names no region in X-TC-Region)"
            raise ApiError("ResourceNotFound", f"The instance {registry_id} does not exist {where}.")
        return inst

    def _replica_status(self, rep: dict[str, Any]) -> str:
        return "Running" if self._now() >= rep["created"] + self._ready_after else "Deploying"

    def _instance_status(self, inst: dict[str, Any]) -> str:
        """A status pinned by the admin route, else `Deploying` until `replica_ready_after_s` after creation."""
        pinned = inst.get("pinnedStatus")
        if pinned:
            return str(pinned)
        return "Running" if self._now() >= inst["created"] + self._ready_after else "Deploying"

    def _require_running(self, inst: dict[str, Any]) -> None:
        """TCR's `ResourceInsufficient.ErrorInstanceNotRunning` (listed by the SDK for CreateReplicationInstance,
        DescribeInstances and DescribeReplicationInstances) for an instance that is not Running."""
        status = self._instance_status(inst)
        if status != "Running":
            raise ApiError(
                "ResourceInsufficient.ErrorInstanceNotRunning",
                f"The instance {inst['RegistryId']} is {status}, not Running; retry when it is Running.",
            )

    def _region_of_request(self, region: str) -> tuple[str, int]:
        if not region:
            raise ApiError("MissingParameter", "The request is missing the Region (X-TC-Region header).")
        if not regions.is_served(region):
            raise ApiError("InvalidParameter.UnsupportedRegion", f"TCR does not serve the region {region}.")
        return region, regions.REGION_IDS[region]

    @staticmethod
    def _check_tags(tags: dict[str, Any] | None) -> None:
        if tags is not None:
            check_struct(tags, "TagSpecification", "TagSpecification")
            check_struct(get(tags, "Tags", "list_obj"), "Tag", "TagSpecification.Tags")

    def _new_id(self, n: int) -> str:
        return "".join(self._ids.choice(_ID_CHARS) for _ in range(n))

    def _registry_view(self, inst: dict[str, Any]) -> dict[str, Any]:
        return {
            "RegistryId": inst["RegistryId"],
            "RegistryName": inst["RegistryName"],
            "RegistryType": inst["RegistryType"],
            "Status": self._instance_status(inst),
            "PublicDomain": f"{inst['RegistryName']}.tencentcloudcr.com",
            "CreatedAt": iso_cst(inst["created"]),
            "RegionName": inst["RegionName"],
            "RegionId": inst["RegionId"],
            "EnableAnonymous": False,
            "TokenValidTime": 87600,
            "InternalEndpoint": inst["InternalEndpoint"],
            "TagSpecification": inst["TagSpecification"],
            "ExpiredAt": inst["ExpiredAt"],
            "PayMod": inst["PayMod"],
            "RenewFlag": inst["RenewFlag"],
            "DeletionProtection": inst["DeletionProtection"],
            "AIFeature": False,
            "EnableCosMAZ": inst["EnableCosMAZ"],
            "EnableCosVersioning": inst["EnableCosVersioning"],
        }

    def _replica_view(self, rep: dict[str, Any]) -> dict[str, Any]:
        return {
            "RegistryId": rep["RegistryId"],
            "ReplicationRegistryId": rep["ReplicationRegistryId"],
            "ReplicationRegionId": rep["ReplicationRegionId"],
            "ReplicationRegionName": rep["ReplicationRegionName"],
            "Status": self._replica_status(rep),
            "CreatedAt": iso_cst(rep["created"]),
        }

    def _replicas_of(self, registry_id: str) -> list[dict[str, Any]]:
        reps = [r for r in self._s["replicas"].values() if r["RegistryId"] == registry_id]
        return sorted(reps, key=lambda r: (r["created"], r["ReplicationRegistryId"]))

    def _ensure_namespace(self, registry_id: str, name: str, public: bool) -> dict[str, Any]:
        spaces = self._s["namespaces"].setdefault(registry_id, {})
        if name not in spaces:
            self._s["seq"]["namespace"] += 1
            spaces[name] = {"id": self._s["seq"]["namespace"], "public": public, "created": self._now()}
        return spaces[name]

    # ------------------------------------------------------------------ instances and regions

    def _create_instance(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        name = get(p, "RegistryName", "str", required=True)
        rtype = get(p, "RegistryType", "str", required=True)
        tags = get(p, "TagSpecification", "obj")
        charge = get(p, "RegistryChargeType", "int", default=0)
        prepaid = get(p, "RegistryChargePrepaid", "obj")
        self._check_tags(tags)
        check_struct(prepaid, "RegistryChargePrepaid", "RegistryChargePrepaid")
        get(p, "SyncTag", "bool")
        cos_maz = get(p, "EnableCosMAZ", "bool", default=False)
        protection = get(p, "DeletionProtection", "bool", default=False)
        versioning = get(p, "EnableCosVersioning", "bool", default=False)
        if rtype not in ("basic", "standard", "premium"):
            raise ApiError("InvalidParameter", "RegistryType must be one of basic, standard, premium.")
        if not _REGISTRY_NAME_RE.match(name):
            raise ApiError(
                "InvalidParameter.ErrorRegistryName",
                "RegistryName must be 5-50 characters of lower-case letters, digits and '-', "
                "starting with a letter and not ending with '-'.",
            )
        if charge not in (0, 1):
            raise ApiError("InvalidParameter", "RegistryChargeType must be 0 (postpaid) or 1 (prepaid).")
        region_name, region_id = self._region_of_request(region)
        with self._lock:
            if any(i["RegistryName"] == name for i in self._s["instances"].values()):
                raise ApiError("InvalidParameter.ErrorNameExists", f"An instance named {name} already exists.")
            registry_id = "tcr-" + self._new_id(8)
            while registry_id in self._s["instances"]:
                registry_id = "tcr-" + self._new_id(8)
            now = self._now()
            months = int((prepaid or {}).get("Period", 1) or 1)
            self._s["instances"][registry_id] = {
                "RegistryId": registry_id,
                "RegistryName": name,
                "RegistryType": rtype,
                "RegionName": region_name,
                "RegionId": region_id,
                "created": now,
                "InternalEndpoint": f"10.0.{self._ids.randint(0, 255)}.{self._ids.randint(1, 254)}",
                "TagSpecification": tags or {"ResourceType": "instance", "Tags": []},
                "ExpiredAt": iso_cst(now + months * 30 * 86400) if charge == 1 else "",
                "PayMod": charge,
                "RenewFlag": int((prepaid or {}).get("RenewFlag", 0) or 0) if charge == 1 else 0,
                "DeletionProtection": protection,
                "EnableCosMAZ": cos_maz,
                "EnableCosVersioning": versioning,
            }
        return {"RegistryId": registry_id}

    def _describe_instances(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        ids = get(p, "Registryids", "list_str")
        filters = get(p, "Filters", "list_obj", default=[])
        check_struct(filters, "Filter", "Filters")
        all_region = get(p, "AllRegion", "bool", default=False)
        offset, limit = paging(p, default_limit=20, max_limit=100)
        checked: list[tuple[str, set[str]]] = []
        for f in filters:
            fname = get(f, "Name", "str", required=True)
            values = get(f, "Values", "list_str", required=True)
            if fname not in ("RegistryName", "RegistryId"):
                raise ApiError("InvalidParameter", f"Unsupported filter name {fname}; use RegistryName or RegistryId.")
            checked.append((fname, set(values)))
        if not all_region:
            self._region_of_request(region)
        with self._lock:
            found = sorted(self._s["instances"].values(), key=lambda i: (i["created"], i["RegistryId"]))
            found = [
                i
                for i in found
                if (all_region or i["RegionName"] == region)
                and (not ids or i["RegistryId"] in ids)
                and all(i[fname] in values for fname, values in checked)
            ]
            if ids:
                for inst in found:
                    self._require_running(inst)
            page = [self._registry_view(i) for i in found[offset : offset + limit]]
        return {"TotalCount": len(found), "Registries": page}

    def _delete_instance(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        delete_bucket = get(p, "DeleteBucket", "bool")
        dry_run = get(p, "DryRun", "bool", default=False)
        with self._lock:
            inst = self._instance(registry_id, region)
            reps = self._replicas_of(registry_id)
            if reps:
                raise ApiError(
                    "FailedOperation.PreconditionFailed",
                    f"The instance {registry_id} still has {len(reps)} replication instance(s) "
                    f"({', '.join(r['ReplicationRegistryId'] for r in reps)}); delete them first.",
                )
            if inst["DeletionProtection"]:
                raise ApiError("OperationDenied", f"The instance {registry_id} has deletion protection enabled.")
            if not dry_run:
                del self._s["instances"][registry_id]
                for key in ("namespaces", "repos", "triggers", "triggerLogs", "endpoints", "dnsRecords"):
                    self._s[key].pop(registry_id, None)
                # The bucket (the images) is not emulated: what was asked for it is kept for tests and people.
                self._s["deletedInstances"][registry_id] = {
                    "DeleteBucket": delete_bucket,
                    "DeletedAt": iso_cst(self._now()),
                }
        return {}

    def _describe_regions(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        created = "2020-09-22T00:00:00+00:00"
        out = [
            {
                "Alias": r.alias,
                "RegionId": r.region_id,
                "RegionName": r.name,
                "Status": "alluser",
                "Remark": "alluser",
                "CreatedAt": created,
                "UpdatedAt": created,
                "Id": r.region_id,
            }
            for r in regions.served_regions()
        ]
        return {"TotalCount": len(out), "Regions": out}

    # ------------------------------------------------------------------ replication instances

    def _create_replication_instance(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        region_id = get(p, "ReplicationRegionId", "uint")
        region_name = get(p, "ReplicationRegionName", "str")
        get(p, "SyncTag", "bool")
        if region_id is None and region_name is None:
            raise ApiError("MissingParameter", "Give ReplicationRegionId or ReplicationRegionName (or both).")
        if region_id is not None and region_id not in regions.NAMES_BY_ID:
            raise ApiError("InvalidParameter", f"ReplicationRegionId {region_id} is not a TCR region id.")
        if region_name is not None and region_name not in regions.REGION_IDS:
            raise ApiError("InvalidParameter", f"ReplicationRegionName {region_name} is not a region.")
        if region_id is not None and region_name is not None and regions.REGION_IDS[region_name] != region_id:
            raise ApiError(
                "InvalidParameter",
                f"ReplicationRegionId {region_id} ({regions.NAMES_BY_ID[region_id]}) and ReplicationRegionName "
                f"{region_name} name different regions.",
            )
        target = region_name if region_name is not None else regions.NAMES_BY_ID[region_id]
        target_id = regions.REGION_IDS[target]
        with self._lock:
            inst = self._instance(registry_id, region)
            if inst["RegistryType"] != "premium":
                raise ApiError(
                    "UnsupportedOperation",
                    f"Replication instances need a premium instance; {registry_id} is {inst['RegistryType']}.",
                )
            self._require_running(inst)
            if target == regions.TAIWAN or not regions.is_served(target):
                raise ApiError(
                    "InvalidParameter.UnsupportedRegion", f"TCR does not support replication instances in {target}."
                )
            if target == inst["RegionName"]:
                raise ApiError(
                    "InvalidParameter", f"The replication region {target} is the region of the instance itself."
                )
            if regions.is_mainland(target) != regions.is_mainland(inst["RegionName"]):
                # A code of the action's own list (docs/localcloud-tcr.md), not ValidateSupportedRegionFail.
                raise ApiError(
                    "InvalidParameter.UnsupportedRegion",
                    f"Replication between mainland China and regions outside it is not supported "
                    f"({inst['RegionName']} -> {target}).",
                )
            for rep in self._replicas_of(registry_id):
                if rep["ReplicationRegionName"] == target:
                    raise ApiError(
                        "InvalidParameter.ReplicationExists",
                        f"A replication instance in {target} exists: {rep['ReplicationRegistryId']}.",
                    )
            replica_id = f"{registry_id}-{target_id}-{self._new_id(6)}"
            self._s["replicas"][replica_id] = {
                "RegistryId": registry_id,
                "ReplicationRegistryId": replica_id,
                "ReplicationRegionId": target_id,
                "ReplicationRegionName": target,
                "created": self._now(),
                "tasks": [str(uuid.UUID(int=self._ids.getrandbits(128), version=4)) for _ in range(2)],
            }
            self._s["replicationLogs"][replica_id] = []
        return {"ReplicationRegistryId": replica_id}

    def _replica(self, replica_id: str, registry_id: str | None, region_id: int | None) -> dict[str, Any]:
        rep = self._s["replicas"].get(replica_id)
        if rep is None or (registry_id is not None and rep["RegistryId"] != registry_id):
            raise ApiError("ResourceNotFound", f"The replication instance {replica_id} does not exist.")
        if region_id is not None and rep["ReplicationRegionId"] != region_id:
            raise ApiError(
                "InvalidParameter",
                f"The replication instance {replica_id} is in region {rep['ReplicationRegionId']}, not {region_id}.",
            )
        return rep

    def _delete_replication_instance(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        replica_id = get(p, "ReplicationRegistryId", "str", required=True)
        region_id = get(p, "ReplicationRegionId", "uint", required=True)
        with self._lock:
            self._instance(registry_id, region)
            rep = self._replica(replica_id, registry_id, region_id)
            del self._s["replicas"][replica_id]
            self._drop_private_access(registry_id, rep["ReplicationRegionName"])
            self._s["replicationLogs"].pop(replica_id, None)
            self._last_end.pop(replica_id, None)
        return {}

    def _describe_replication_instances(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        offset, limit = paging(p, default_limit=20, max_limit=100)
        with self._lock:
            self._require_running(self._instance(registry_id, region))
            reps = self._replicas_of(registry_id)
            page = [self._replica_view(r) for r in reps[offset : offset + limit]]
        return {"TotalCount": len(reps), "ReplicationRegistries": page}

    def _describe_create_tasks(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        replica_id = get(p, "ReplicationRegistryId", "str", required=True)
        region_id = get(p, "ReplicationRegionId", "uint", required=True)
        with self._lock:
            rep = self._replica(replica_id, None, region_id)
            primary = self._s["instances"].get(rep["RegistryId"])
            if primary is None or primary["RegionName"] != region:
                raise ApiError(
                    "ResourceNotFound",
                    f"The replication instance {replica_id} does not exist in the region {region or '(none)'}.",
                )
            now = self._now()
            created = rep["created"]
            details = []
            for name, uid, done_at in (
                ("SyncDBTask", rep["tasks"][0], created + self._ready_after / 2),
                ("CreateTcrCrdTask", rep["tasks"][1], created + self._ready_after),
            ):
                done = now >= done_at
                details.append(
                    {
                        "TaskName": name,
                        "TaskUUID": f"tcr-task-{replica_id}-{uid}",
                        "TaskStatus": "SUCCESS" if done else "RUNNING",
                        "TaskMessage": "",
                        "CreatedTime": iso_cst(created),
                        "FinishedTime": iso_cst(done_at) if done else "",
                    }
                )
        overall = "SUCCESS" if all(d["TaskStatus"] == "SUCCESS" for d in details) else "RUNNING"
        return {"TaskDetail": details, "Status": overall}

    @staticmethod
    def _log_view(entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "ResourceType": entry["ResourceType"],
            "Source": entry["Source"],
            "Destination": entry["Destination"],
            "Status": entry["Status"],
            "StartTime": iso_z_micro(entry["start"]),
            "EndTime": iso_z(entry["end"]) if entry["end"] is not None else "",
        }

    def _describe_sync_status(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        replica_id = get(p, "ReplicationRegistryId", "str", required=True)
        region_id = get(p, "ReplicationRegionId", "uint")
        show = get(p, "ShowReplicationLog", "bool", default=False)
        page_no, limit = paging(p, default_limit=5, max_limit=20)
        with self._lock:
            self._instance(registry_id, region)
            self._replica(replica_id, registry_id, region_id)
            log = self._s["replicationLogs"].get(replica_id, [])  # oldest first; answered newest first
            status = log[-1]["Status"] if log else "StatusUnKnow"
            if replica_id not in self._last_end:
                self._last_end[replica_id] = max((e["end"] for e in log if e["end"] is not None), default=None)
            last = self._last_end[replica_id]
            start = (max(page_no, 1) - 1) * limit
            page = [self._log_view(log[-1 - i]) for i in range(start, min(start + limit, len(log)))]
        out: dict[str, Any] = {
            "ReplicationStatus": status,
            "ReplicationTime": iso_z(last) if last is not None else "0001-01-01T00:00:00Z",
        }
        if show:
            if os.environ.get(LOG_SHAPE_ENV, "").strip().lower() == "array":
                out["ReplicationLog"] = page
            else:
                out["ReplicationLog"] = page[0] if page else None
        return out

    # ------------------------------------------------------------------ namespaces, repositories, images

    def _create_namespace(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        name = get(p, "NamespaceName", "str", required=True)
        public = get(p, "IsPublic", "bool", default=False)
        self._check_tags(get(p, "TagSpecification", "obj"))
        check_struct(get(p, "CVEWhitelistItems", "list_obj"), "CVEWhitelistItem", "CVEWhitelistItems")
        if not _NAMESPACE_RE.match(name):
            raise ApiError(
                "InvalidParameter",
                "NamespaceName must be 2-60 characters of lower-case letters, digits, '.', '_' and '-'.",
            )
        with self._lock:
            self._instance(registry_id, region)
            if name in self._s["namespaces"].get(registry_id, {}):
                raise ApiError("InvalidParameter.ErrNamespaceExist", f"The namespace {name} already exists.")
            self._ensure_namespace(registry_id, name, public)
        return {}

    def _describe_repositories(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        ns = get(p, "NamespaceName", "str")
        repo_name = get(p, "RepositoryName", "str")
        sort_by = get(p, "SortBy", "str")
        page_no, limit = paging(p, default_limit=20, max_limit=100)
        sort_keys = {"creation_time": "created", "name": "full", "update_time": "updated"}
        if sort_by is not None and sort_by.lstrip("-") not in sort_keys:
            raise ApiError("InvalidParameter", "SortBy must be one of -creation_time, -name, -update_time.")
        with self._lock:
            self._instance(registry_id, region)
            spaces = self._s["namespaces"].get(registry_id, {})
            if ns is not None and ns not in spaces:
                raise ApiError("ResourceNotFound.ErrNoNamespace", f"The namespace {ns} does not exist.")
            repos = [
                {**r, "full": full}
                for full, r in self._s["repos"].get(registry_id, {}).items()
                if (ns is None or r["namespace"] == ns) and (repo_name is None or repo_name in r["name"])
            ]
            key = sort_keys[sort_by.lstrip("-")] if sort_by else "created"
            repos.sort(key=lambda r: (r[key], r["full"]), reverse=bool(sort_by and sort_by.startswith("-")))
            start = (max(page_no, 1) - 1) * limit
            page = [
                {
                    "Name": r["full"],
                    "Namespace": r["namespace"],
                    "CreationTime": go_time(r["created"]),
                    "Public": spaces[r["namespace"]]["public"],
                    "Description": "",
                    "BriefDescription": "",
                    "UpdateTime": go_time(r["updated"]),
                }
                for r in repos[start : start + limit]
            ]
        return {"RepositoryList": page, "TotalCount": len(repos)}

    def _describe_images(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        ns = get(p, "NamespaceName", "str", required=True)
        repo_name = get(p, "RepositoryName", "str", required=True)
        version = get(p, "ImageVersion", "str")
        digest = get(p, "Digest", "str")
        exact = get(p, "ExactMatch", "bool", default=False)
        page_no, limit = paging(p, default_limit=20, max_limit=100)
        with self._lock:
            self._instance(registry_id, region)
            if ns not in self._s["namespaces"].get(registry_id, {}):
                raise ApiError("ResourceNotFound.ErrNoNamespace", f"The namespace {ns} does not exist.")
            repo = self._s["repos"].get(registry_id, {}).get(f"{ns}/{repo_name}")
            if repo is None:
                raise ApiError("ResourceNotFound.ErrNoRepo", f"The repository {ns}/{repo_name} does not exist.")
            images = [
                (tag, img)
                for tag, img in repo["images"].items()
                if (version is None or (tag == version if exact else version in tag))
                and (digest is None or img["digest"] == digest)
            ]
            images.sort(key=lambda ti: (ti[1]["updated"], ti[0]), reverse=True)
            start = (max(page_no, 1) - 1) * limit
            page = [
                {
                    "Digest": img["digest"],
                    "Size": img["size"],
                    "ImageVersion": tag,
                    "UpdateTime": iso_z_micro(img["updated"]),
                    "Kind": "Artifact::application/vnd.docker.distribution.manifest.v2+json",
                    "KmsSignature": "",
                }
                for tag, img in images[start : start + limit]
            ]
        return {"ImageInfoList": page, "TotalCount": len(images)}

    # ------------------------------------------------------------------ webhook triggers

    def _create_webhook_trigger(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        trig = get(p, "Trigger", "obj", required=True)
        check_struct(trig, "WebhookTrigger", "Trigger")
        ns = get(p, "Namespace", "str", required=True)
        get(p, "Product", "str")
        get(p, "PreheatRegion", "str")
        name = get(trig, "Name", "str", required=True)
        targets_in = get(trig, "Targets", "list_obj", required=True)
        check_struct(targets_in, "WebhookTarget", "Trigger.Targets")
        for i, t in enumerate(targets_in):
            check_struct(t.get("Headers"), "Header", f"Trigger.Targets.{i}.Headers")
        events = get(trig, "EventTypes", "list_str", required=True)
        condition = get(trig, "Condition", "str", required=True)
        enabled = get(trig, "Enabled", "bool", required=True)
        description = get(trig, "Description", "str", default="")
        if not targets_in:
            raise ApiError("InvalidParameter", "Trigger.Targets must name at least one target.")
        if not events or any(e not in KNOWN_EVENT_TYPES for e in events):
            raise ApiError("InvalidParameter", f"Trigger.EventTypes must be among {sorted(KNOWN_EVENT_TYPES)}.")
        try:
            re.compile(condition)
        except re.error as exc:
            raise ApiError("InvalidParameter", f"Trigger.Condition is not a valid regular expression: {exc}") from None
        targets = []
        for t in targets_in:
            address = get(t, "Address", "str", required=True)
            if not re.match(r"^https?://[^/\s]+", address):
                raise ApiError("InvalidParameter", "Trigger.Targets[].Address must be an http:// or https:// URL.")
            headers = []
            for h in get(t, "Headers", "list_obj", default=[]):
                key = get(h, "Key", "str", required=True)
                values = get(h, "Values", "list_str", required=True)
                if not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", key):
                    raise ApiError("InvalidParameter", f"Header key {key!r} is not a valid HTTP header name.")
                headers.append({"Key": key, "Values": list(values)})
            targets.append({"Address": address, "Headers": headers})
        with self._lock:
            self._instance(registry_id, region)
            space = self._s["namespaces"].get(registry_id, {}).get(ns)
            if space is None:
                raise ApiError("ResourceNotFound.ErrNoNamespace", f"The namespace {ns} does not exist.")
            existing = [t for t in self._s["triggers"].get(registry_id, []) if t["NamespaceName"] == ns]
            if any(t["Name"] == name for t in existing):
                raise ApiError("InvalidParameter.ErrTriggerExist", f"A trigger named {name} already exists in {ns}.")
            if len(existing) >= MAX_TRIGGERS_PER_NAMESPACE:
                raise ApiError("LimitExceeded.ErrTriggerMaxLimit", f"The namespace {ns} already has the most triggers.")
            self._s["seq"]["trigger"] += 1
            stored = {
                "Id": self._s["seq"]["trigger"],
                "Name": name,
                "Targets": targets,
                "EventTypes": list(events),
                "Condition": condition,
                "Enabled": enabled,
                "Description": description,
                "NamespaceId": space["id"],
                "NamespaceName": ns,
            }
            self._s["triggers"].setdefault(registry_id, []).append(stored)
            return {"Trigger": copy.deepcopy(stored)}

    def _describe_webhook_trigger(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        ns = get(p, "Namespace", "str")
        offset, limit = paging(p, default_limit=20, max_limit=100)
        with self._lock:
            self._instance(registry_id, region)
            found = [t for t in self._s["triggers"].get(registry_id, []) if ns is None or t["NamespaceName"] == ns]
            page = copy.deepcopy(found[offset : offset + limit])
        return {"TotalCount": len(found), "Triggers": page}

    def _describe_webhook_trigger_log(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        ns = get(p, "Namespace", "str", required=True)
        trigger_id = get(p, "Id", "int")
        offset, limit = paging(p, default_limit=20, max_limit=100)
        with self._lock:
            self._instance(registry_id, region)
            if ns not in self._s["namespaces"].get(registry_id, {}):
                raise ApiError("ResourceNotFound.ErrNoNamespace", f"The namespace {ns} does not exist.")
            if trigger_id is not None and not any(
                t["Id"] == trigger_id and t["NamespaceName"] == ns for t in self._s["triggers"].get(registry_id, [])
            ):
                raise ApiError("ResourceNotFound.ErrNoTrigger", f"The trigger {trigger_id} does not exist in {ns}.")
            logs = [
                entry
                for entry in reversed(self._s["triggerLogs"].get(registry_id, []))
                if entry["namespace"] == ns and (trigger_id is None or entry["TriggerId"] == trigger_id)
            ]
            page = [
                {
                    "Id": e["Id"],
                    "TriggerId": e["TriggerId"],
                    "EventType": e["EventType"],
                    "NotifyType": "http",
                    "Detail": e["Detail"],
                    "CreationTime": iso_cst_micro(e["created"]),
                    "UpdateTime": iso_cst_micro(e["updated"]),
                    "Status": e["Status"],
                }
                for e in logs[offset : offset + limit]
            ]
        return {"TotalCount": len(logs), "Logs": page}

    # ------------------------------------------------------------------ private-network access (VPC attachments)

    def _vpc_catalogue(self, region: str | None = None) -> list[dict[str, Any]]:
        """Every region's default VPC, then the added ones, optionally of one region."""
        names = [region] if region is not None else [r.name for r in regions.served_regions()]
        out = [vpcs.default_vpc(name) for name in names if regions.is_served(name)]
        out += [v for v in self._s["vpcs"] if region is None or v["region"] == region]
        return copy.deepcopy(out)

    def _find_vpc(self, vpc_id: str) -> dict[str, Any] | None:
        return next((v for v in self._vpc_catalogue() if v["vpcId"] == vpc_id), None)

    @staticmethod
    def _access_region(p: dict[str, Any], inst: dict[str, Any], *, with_id: bool, where: str = "") -> str:
        """RegionName / RegionId of a private-access request ("used for a replica's region"); absent: the
        instance's own region (the SDK docstring: "defaults to the primary instance's region")."""
        name = get(p, "RegionName", "str")
        rid = get(p, "RegionId", "uint") if with_id else None
        if rid is not None and rid not in regions.NAMES_BY_ID:
            raise ApiError("InvalidParameter", f"{where}RegionId {rid} is not a TCR region id.")
        if name is not None and name not in regions.REGION_IDS:
            raise ApiError("InvalidParameter", f"{where}RegionName {name} is not a region.")
        if name is not None and rid is not None and regions.REGION_IDS[name] != rid:
            raise ApiError("InvalidParameter", f"{where}RegionId {rid} and RegionName {name} name different regions.")
        if name is not None:
            return str(name)
        if rid is not None:
            return regions.NAMES_BY_ID[rid]
        return str(inst["RegionName"])

    def _where_instance_is(self, inst: dict[str, Any]) -> list[str]:
        return [inst["RegionName"]] + [r["ReplicationRegionName"] for r in self._replicas_of(inst["RegistryId"])]

    def _endpoint_status(self, ep: dict[str, Any]) -> str:
        return "Running" if self._now() >= ep["created"] + self._endpoint_ready_after else "Creating"

    def _endpoint_view(self, ep: dict[str, Any]) -> dict[str, Any]:
        status = self._endpoint_status(ep)
        return {
            "VpcId": ep["VpcId"],
            "SubnetId": ep["SubnetId"],
            "Status": status,
            # no address until the endpoint is up: Terraform waits for a non-empty AccessIp
            "AccessIp": ep["AccessIp"] if status == "Running" else "",
        }

    def _drop_private_access(self, registry_id: str, region: str) -> None:
        """What goes with a replica (assumed, docs/localcloud-tcr.md): its region's endpoints and DNS records."""
        for key in ("endpoints", "dnsRecords"):
            kept = [e for e in self._s[key].get(registry_id, []) if e["RegionName"] != region]
            self._s[key][registry_id] = kept

    def _manage_internal_endpoint(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        operation = get(p, "Operation", "str", required=True)
        vpc_id = get(p, "VpcId", "str", required=True)
        subnet_id = get(p, "SubnetId", "str", required=True)
        if operation not in ("Create", "Delete"):
            raise ApiError("InvalidParameter", f"Operation must be Create or Delete, not {operation!r}.")
        with self._lock:
            inst = self._instance(registry_id, region)
            target = self._access_region(p, inst, with_id=True)
            endpoints = self._s["endpoints"].setdefault(registry_id, [])
            if operation == "Delete":
                ep = next(
                    (
                        e
                        for e in endpoints
                        if e["VpcId"] == vpc_id and e["SubnetId"] == subnet_id and e["RegionName"] == target
                    ),
                    None,
                )
                if ep is None:
                    raise ApiError(
                        "ResourceNotFound",
                        f"The instance {registry_id} has no internal endpoint in {vpc_id}/{subnet_id} ({target}).",
                    )
                if any(
                    d["VpcId"] == vpc_id and d["RegionName"] == target
                    for d in self._s["dnsRecords"].get(registry_id, [])
                ):
                    raise ApiError(
                        "ResourceInsufficient.ErrorVpcDnsStatus",
                        f"The VPC {vpc_id} still has private DNS records for {registry_id}; "
                        "delete them (DeleteInternalEndpointDns) first.",
                    )
                endpoints.remove(ep)
                return {"RegistryId": registry_id}
            where = self._where_instance_is(inst)
            if target not in where:
                raise ApiError(
                    "InvalidParameter",
                    f"The instance {registry_id} has neither its primary nor a replication instance in {target} "
                    f"(it is in {', '.join(where)}); create a replication instance there first.",
                )
            if target == inst["RegionName"]:
                status = self._instance_status(inst)
            else:
                rep = next(r for r in self._replicas_of(registry_id) if r["ReplicationRegionName"] == target)
                status = self._replica_status(rep)
            if status != "Running":
                raise ApiError(
                    "OperationDenied", f"The instance of {registry_id} in {target} is {status}, not Running."
                )
            vpc = self._find_vpc(vpc_id)
            if vpc is None:
                raise ApiError("InvalidParameter", f"The VPC {vpc_id} does not exist.")
            if vpc["region"] != target:
                raise ApiError(
                    "InvalidParameter", f"The VPC {vpc_id} is in {vpc['region']}, not in the requested region {target}."
                )
            subnet = next((s for s in vpc["subnets"] if s["subnetId"] == subnet_id), None)
            if subnet is None:
                raise ApiError("InvalidParameter", f"The subnet {subnet_id} does not exist in the VPC {vpc_id}.")
            if any(e["VpcId"] == vpc_id for e in endpoints):
                raise ApiError(
                    "InternalError.ErrorConflict",
                    f"The VPC {vpc_id} is already attached to the instance {registry_id}.",
                )
            used = {e["AccessIp"] for eps in self._s["endpoints"].values() for e in eps}
            try:
                access_ip = vpcs.host_address(subnet["cidr"], used)
            except ValueError as exc:
                raise ApiError("InternalError.ErrorOverLimit", str(exc)) from None
            endpoints.append(
                {
                    "VpcId": vpc_id,
                    "SubnetId": subnet_id,
                    "RegionName": target,
                    "AccessIp": access_ip,
                    "created": self._now(),
                }
            )
        return {"RegistryId": registry_id}

    def _describe_internal_endpoints(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "RegistryId", "str", required=True)
        with self._lock:
            self._instance(registry_id, region)
            out = [self._endpoint_view(e) for e in self._s["endpoints"].get(registry_id, [])]
        return {"AccessVpcSet": out, "TotalCount": len(out)}

    def _dns_instance(self, registry_id: str, region: str) -> dict[str, Any]:
        """The DNS actions list no ResourceNotFound: an unknown instance is InvalidParameter there."""
        try:
            return self._instance(registry_id, region)
        except ApiError as exc:
            raise ApiError("InvalidParameter", exc.message) from None

    def _create_internal_endpoint_dns(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "InstanceId", "str", required=True)
        vpc_id = get(p, "VpcId", "str", required=True)
        ip = get(p, "EniLBIp", "str", required=True)
        public = get(p, "UsePublicDomain", "bool", default=False)
        with self._lock:
            inst = self._dns_instance(registry_id, region)
            target = self._access_region(p, inst, with_id=True)
            vpc = self._find_vpc(vpc_id)
            if vpc is None or vpc["region"] != target:
                raise ApiError("InvalidParameter", f"The VPC {vpc_id} does not exist in {target}.")
            ep = next(
                (
                    e
                    for e in self._s["endpoints"].get(registry_id, [])
                    if e["VpcId"] == vpc_id and e["RegionName"] == target
                ),
                None,
            )
            if ep is None or self._endpoint_status(ep) != "Running":
                raise ApiError(
                    "InvalidParameter",
                    f"The instance {registry_id} has no Running internal endpoint in {vpc_id} ({target}).",
                )
            if ep["AccessIp"] != ip:
                raise ApiError("InvalidParameter", f"EniLBIp {ip} is not the endpoint's address in {vpc_id}.")
            records = self._s["dnsRecords"].setdefault(registry_id, [])
            key = (vpc_id, target, public)
            if not any((d["VpcId"], d["RegionName"], d["UsePublicDomain"]) == key for d in records):
                records.append({"VpcId": vpc_id, "RegionName": target, "UsePublicDomain": public, "EniLBIp": ip})
        return {}

    def _delete_internal_endpoint_dns(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        registry_id = get(p, "InstanceId", "str", required=True)
        vpc_id = get(p, "VpcId", "str", required=True)
        ip = get(p, "EniLBIp", "str", required=True)
        public = get(p, "UsePublicDomain", "bool", default=False)
        with self._lock:
            inst = self._dns_instance(registry_id, region)
            target = self._access_region(p, inst, with_id=False)
            records = self._s["dnsRecords"].get(registry_id, [])
            key = (vpc_id, target, public)
            for d in list(records):
                if (d["VpcId"], d["RegionName"], d["UsePublicDomain"]) == key:
                    if d["EniLBIp"] != ip:
                        raise ApiError("InvalidParameter", f"EniLBIp {ip} is not the record's address in {vpc_id}.")
                    records.remove(d)
        return {}

    def _describe_internal_endpoint_dns_status(self, p: dict[str, Any], region: str) -> dict[str, Any]:
        items = get(p, "VpcSet", "list_obj", required=True)
        check_struct(items, "VpcAndDomainInfo", "VpcSet")
        out = []
        with self._lock:
            for i, item in enumerate(items):
                registry_id = get(item, "InstanceId", "str", required=True)
                vpc_id = get(item, "VpcId", "str", required=True)
                ip = get(item, "EniLBIp", "str", required=True)
                public = get(item, "UsePublicDomain", "bool", default=False)
                inst = self._dns_instance(registry_id, region)
                target = self._access_region(item, inst, with_id=False, where=f"VpcSet.{i}.")
                enabled = any(
                    (d["VpcId"], d["RegionName"], d["UsePublicDomain"], d["EniLBIp"]) == (vpc_id, target, public, ip)
                    for d in self._s["dnsRecords"].get(registry_id, [])
                )
                out.append({"Region": target, "VpcId": vpc_id, "Status": "ENABLED" if enabled else "DISABLED"})
        return {"VpcSet": out}

    # ------------------------------------------------------------------ admin: the VPC catalogue

    def admin_list_vpcs(self, region: str | None) -> dict:
        """`{"vpcs": [...]}`: the catalogue, of one region when given (an unknown region is a 400)."""
        if region is not None and not regions.is_served(region):
            raise AdminError(400, f"`region` {region!r} is not a TCR region.")
        with self._lock:
            return {"vpcs": self._vpc_catalogue(region)}

    def admin_add_vpc(self, body: dict) -> dict:
        """Add a VPC with one subnet (`{"region", "cidr"?}`); answers the new VPC."""
        if not isinstance(body, dict):
            raise AdminError(400, "The body must be a JSON object.")
        unknown = set(body) - {"region", "cidr"}
        if unknown:
            raise AdminError(400, f"Unknown fields: {sorted(unknown)}.")
        region = body.get("region")
        if not isinstance(region, str) or not regions.is_served(region):
            raise AdminError(400, "`region` is required and must be a TCR region such as ap-shanghai.")
        cidr = body.get("cidr")
        try:
            if cidr is not None:
                cidr = vpcs.check_cidr(cidr)
            with self._lock:
                seq = self._s["seq"].get("vpc", 0) + 1
                taken = [v["cidr"] for v in self._vpc_catalogue(region)]
                vpc = vpcs.new_vpc(region, cidr, taken, seq)
                self._s["seq"]["vpc"] = seq
                self._s["vpcs"].append(vpc)
                return copy.deepcopy(vpc)
        except ValueError as exc:
            raise AdminError(400, str(exc)) from None

    # ------------------------------------------------------------------ admin: instance status

    def admin_instance_status(self, body: dict) -> dict:
        """Pin an instance's Registry.Status (`{"registryId", "status"}`); `"status": null` unpins it, so the
        status follows the creation lifecycle again. Answers `{"registryId", "status"}` (the status now seen)."""
        if not isinstance(body, dict):
            raise AdminError(400, "The body must be a JSON object.")
        unknown = set(body) - {"registryId", "status"}
        if unknown:
            raise AdminError(400, f"Unknown fields: {sorted(unknown)}.")
        registry_id = body.get("registryId")
        if not isinstance(registry_id, str) or not registry_id:
            raise AdminError(400, "`registryId` is required and must be a non-empty string.")
        if "status" not in body:
            raise AdminError(400, f"`status` is required: one of {list(REGISTRY_STATUSES)}, or null to unpin.")
        status = body["status"]
        if status is not None and status not in REGISTRY_STATUSES:
            raise AdminError(400, f"`status` must be one of {list(REGISTRY_STATUSES)}, or null to unpin.")
        with self._lock:
            inst = self._s["instances"].get(registry_id)
            if inst is None:
                raise AdminError(404, f"The instance {registry_id} does not exist.")
            if status is None:
                inst.pop("pinnedStatus", None)
            else:
                inst["pinnedStatus"] = status
            return {"registryId": registry_id, "status": self._instance_status(inst)}

    # ------------------------------------------------------------------ admin push: webhooks and replication

    def admin_push(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise AdminError(400, "The body must be a JSON object.")
        for field in ("registryId", "namespace", "repository", "tag"):
            if not isinstance(body.get(field), str) or not body[field]:
                raise AdminError(400, f"`{field}` is required and must be a non-empty string.")
        unknown = set(body) - {"registryId", "namespace", "repository", "tag", "digest", "size"}
        if unknown:
            raise AdminError(400, f"Unknown fields: {sorted(unknown)}.")
        registry_id, ns, repo, tag = body["registryId"], body["namespace"], body["repository"], body["tag"]
        if not _NAMESPACE_RE.match(ns):
            raise AdminError(400, "`namespace` must be 2-60 characters of a-z, 0-9, '.', '_' and '-'.")
        if not _REPO_RE.match(repo) or len(repo) > 200:
            raise AdminError(400, "`repository` must be lower-case path components (a-z, 0-9, '.', '_', '-', '/').")
        if not _TAG_RE.match(tag):
            raise AdminError(400, "`tag` must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.")
        digest = body.get("digest")
        if digest is not None and (not isinstance(digest, str) or not _DIGEST_RE.match(digest)):
            raise AdminError(400, "`digest` must be sha256:<64 lower-case hex digits>.")
        size = body.get("size", 0)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AdminError(400, "`size` must be a non-negative integer (bytes).")

        deliveries: list[dict[str, Any]] = []
        with self._lock:
            inst = self._s["instances"].get(registry_id)
            if inst is None:
                raise AdminError(404, f"The instance {registry_id} does not exist.")
            now = self._now()
            self._s["seq"]["push"] += 1
            if digest is None:
                seed = f"{registry_id}/{ns}/{repo}:{tag}#{self._s['seq']['push']}"
                digest = "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
            if not size:
                size = 1024 * 1024 + int(digest[7:15], 16) % (64 * 1024 * 1024)
            space = self._ensure_namespace(registry_id, ns, False)
            full = f"{ns}/{repo}"
            repos = self._s["repos"].setdefault(registry_id, {})
            record = repos.setdefault(full, {"namespace": ns, "name": repo, "created": now, "images": {}})
            record["updated"] = now
            record["images"][tag] = {"digest": digest, "size": size, "updated": now}

            # Webhooks: every enabled pushImage trigger of the namespace whose Condition matches.
            payload = push_payload(
                occur_at=int(now),
                digest=digest,
                tag=tag,
                public_domain=f"{inst['RegistryName']}.tencentcloudcr.com",
                namespace=ns,
                repository=repo,
                repo_created=int(record["created"]),
                public=space["public"],
                operator=OPERATOR_UIN,
            )
            data = encode_payload(payload)
            hook = self._faults.part("webhook")
            fail_rate = float(hook.get("failRate", 0.0))
            redeliver_rate = float(hook.get("redeliverRate", 0.0))
            reorder_rate = float(hook.get("reorderRate", 0.0))
            delay_lo, delay_hi = hook.get("reorderDelayMs", [200, 2000])
            subject = f"{ns}/{repo}:{tag}"
            for trig in self._s["triggers"].get(registry_id, []):
                if not (trig["NamespaceName"] == ns and trig["Enabled"] and "pushImage" in trig["EventTypes"]):
                    continue
                if not re.search(trig["Condition"], subject):
                    continue
                for target in trig["Targets"]:
                    headers = {h["Key"]: ", ".join(h["Values"]) for h in target["Headers"]}
                    headers["Content-Type"] = JSON_CT
                    copies = 2 if self._faults.random() < redeliver_rate else 1
                    for copy_index in range(copies):
                        plan = [self._faults.random() < fail_rate for _ in range(WEBHOOK_ATTEMPTS)]
                        held = 0.0  # drawn only when reordering is on: seeded runs without it keep their draws
                        if reorder_rate and self._faults.random() < reorder_rate:
                            held = self._faults.uniform(float(delay_lo), float(delay_hi)) / 1000.0
                        self._s["seq"]["triggerLog"] += 1
                        log_id = self._s["seq"]["triggerLog"]
                        self._s["triggerLogs"].setdefault(registry_id, []).append(
                            {
                                "Id": log_id,
                                "TriggerId": trig["Id"],
                                "EventType": "pushImage",
                                "Detail": data.decode("utf-8"),
                                "created": now,
                                "updated": now,
                                "Status": "pending",
                                "namespace": ns,
                            }
                        )
                        delivery = {
                            "logId": log_id,
                            "triggerId": trig["Id"],
                            "address": target["Address"],
                            "digest": digest,
                            "redelivery": copy_index > 0,
                            "heldMs": round(held * 1000.0, 1),
                            "plan": plan,
                            "attempts": [],
                            "outcome": "pending",
                        }
                        self._deliveries.setdefault(registry_id, []).append(delivery)
                        deliveries.append({"delivery": delivery, "headers": headers, "data": data})

            # Replication: to every replica, after a lag (and after the replica is deployed).
            repl = self._faults.part("replication")
            lo, hi = repl.get("lagMs", [50, 300])
            repl_fail = float(repl.get("failRate", 0.0))
            replications = 0
            for rep in self._replicas_of(registry_id):
                lag = self._faults.uniform(float(lo), float(hi)) / 1000.0
                fails = self._faults.random() < repl_fail
                delay = max(0.0, rep["created"] + self._ready_after - now) + lag
                self._s["seq"]["replicationLog"] += 1
                entry_id = self._s["seq"]["replicationLog"]
                ref = f"{ns}/{repo}:[{tag}]"
                self._s["replicationLogs"].setdefault(rep["ReplicationRegistryId"], []).append(
                    {
                        "_id": entry_id,
                        "_due": now + delay,
                        "_fail": fails,
                        "digest": digest,
                        "ResourceType": "image",
                        "Source": ref,
                        "Destination": ref,
                        "Status": "InProgress",
                        "start": now,
                        "end": None,
                    }
                )
                replica_id = rep["ReplicationRegistryId"]
                self._sched.call_later(delay, lambda r=replica_id, i=entry_id: self._complete(r, i))
                replications += 1

        for d in deliveries:
            self._sched.spawn(
                lambda a=(registry_id, d["delivery"], d["headers"], d["data"]): self._deliver(*a),
                name=f"localcloud-tcr-webhook-{d['delivery']['logId']}",
            )
        return {"digest": digest, "webhooks": len(deliveries), "replications": replications}

    def _complete(self, replica_id: str, entry_id: int) -> None:
        with self._lock:
            log = self._s["replicationLogs"].get(replica_id, [])
            at = bisect.bisect_left(log, entry_id, key=lambda e: e["_id"])  # ids grow as entries are appended
            entry = log[at] if at < len(log) else None
            if entry is not None and entry["_id"] == entry_id and entry["Status"] == "InProgress":
                entry["Status"] = "Failed" if entry["_fail"] else "Succeed"
                entry["end"] = self._now()
                if replica_id in self._last_end:
                    last = self._last_end[replica_id]
                    self._last_end[replica_id] = entry["end"] if last is None else max(last, entry["end"])

    def _deliver(self, registry_id: str, delivery: dict[str, Any], headers: dict[str, str], data: bytes) -> None:
        log_id = delivery["logId"]
        if delivery["heldMs"] and not self._sched.sleep(delivery["heldMs"] / 1000.0):
            return
        for attempt, simulated_failure in enumerate(delivery["plan"]):
            if attempt and not self._sched.sleep(WEBHOOK_RETRY_DELAYS_S[min(attempt, len(WEBHOOK_RETRY_DELAYS_S)) - 1]):
                return
            ok = False
            record: dict[str, Any] = {"arrival": None, "status": None, "error": None, "injected": simulated_failure}
            if not simulated_failure:
                with self._lock:
                    record["arrival"] = next(self._arrivals)
                try:
                    status = self._post(delivery["address"], dict(headers), data)
                    record["status"] = status
                    ok = 200 <= status < 300
                except Exception as exc:
                    record["error"] = type(exc).__name__
                    ok = False
            with self._lock:
                delivery["attempts"].append(record)
                if ok or attempt == len(delivery["plan"]) - 1:
                    delivery["outcome"] = "delivered" if ok else "failed"
                for entry in self._s["triggerLogs"].get(registry_id, []):
                    if entry["Id"] == log_id:
                        entry["Status"] = "finished" if ok else "error"
                        entry["updated"] = self._now()
            if ok:
                return

    def admin_webhook_deliveries(self, registry_id: str) -> dict[str, Any]:
        """Every webhook delivery of an instance, in push order, with each attempt (admin surface only)."""
        with self._lock:
            if registry_id not in self._s["instances"]:
                raise AdminError(404, f"The instance {registry_id} does not exist.")
            out = copy.deepcopy(self._deliveries.get(registry_id, []))
        for d in out:
            d.pop("plan", None)
        return {"registryId": registry_id, "deliveries": out}
