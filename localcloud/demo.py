"""`python -m localcloud.demo` (`make demo`): the whole story on an embedded localcloud, every step checked.

The demo is a client like any other: it talks to the product's functions over HTTP only (urllib), and to TCR and
COS with the real SDKs (TcrClient, CosS3Client) pointed at localcloud. It never imports the product's `shared`
package. Any deviation from the documented contract (DESIGN.md §3-§6) stops it with a clear message and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from localcloud.cloud import LocalCloud

PRIMARY = "ap-guangzhou"
REPLICA_REGIONS = ("ap-shanghai", "ap-beijing")
PRIVATE_REGION = "ap-shanghai"  # the replica region whose default VPC the demo attaches
NAMESPACE = "team"
IMAGES = (("api", "1.0"), ("web", "1.0"), ("worker", "2.3"))
LAG_MS = (200, 800)
READY_AFTER_S = 1.0
API_TOKEN = "demo-api-token"
WEBHOOK_TOKEN = "demo-webhook-token"
WAIT_S = 30.0

# (region asked for, expected HTTP status, expected code): what the product must refuse, and why.
REFUSALS = (
    ("ap-hongkong", 422, "CrossBorder"),
    ("ap-taipei", 422, "RegionNotSupported"),
    (PRIMARY, 422, "SameRegion"),
)


class DemoError(Exception):
    """A step deviated from the contract: the message says which, `detail` shows the request and response."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


# --- output ----------------------------------------------------------------------------------------------------------


class Story:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.chapter = 0

    def heading(self, title: str) -> None:
        self.chapter += 1
        print(f"\n{self.chapter}. {title}", file=self.out, flush=True)

    def step(self, text: str) -> None:
        print(f"   ok  {text}", file=self.out, flush=True)

    def info(self, text: str) -> None:
        print(f"       {text}", file=self.out, flush=True)

    def wrapped(self, text: str, indent: int = 11) -> None:
        for line in textwrap.wrap(text, width=110 - indent, break_on_hyphens=False, break_long_words=False) or [""]:
            print(" " * indent + line, file=self.out, flush=True)


def _short(value: Any, limit: int = 600) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = WAIT_S, every_s: float = 0.2) -> Any:
    """Poll check() until it returns something truthy; DemoError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


# --- clients ---------------------------------------------------------------------------------------------------------


class Http:
    """JSON over HTTP with urllib, never through a proxy (everything is on 127.0.0.1)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)  # noqa: S310 - local
        try:
            with self._opener.open(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise DemoError(f"{method} {self.base + path}: no answer ({exc})") from None
        try:
            parsed = json.loads(raw or b"null")
        except ValueError:
            raise DemoError(
                f"{method} {path} answered HTTP {status} with a body that is not JSON",
                f"body: {_short(raw.decode('utf-8', 'replace'))}",
            ) from None
        return status, parsed

    def text(self, path: str) -> str:
        """GET a page (not JSON): 200 or the demo stops."""
        hdrs = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        req = urllib.request.Request(self.base + path, headers=hdrs)  # noqa: S310 - local
        try:
            with self._opener.open(req, timeout=60) as resp:
                return resp.read().decode("utf-8")
        except (urllib.error.URLError, OSError) as exc:
            raise DemoError(f"GET {self.base + path}: {exc}") from None

    def expect(self, method: str, path: str, status: int, body: Any = None) -> Any:
        """The call must answer `status`; anything else (a 5xx, a wrong code) stops the demo with the exchange."""
        got, parsed = self.call(method, path, body)
        if got != status:
            raise DemoError(
                f"{method} {path} answered HTTP {got}, expected {status}",
                f"request body: {_short(body)}\nresponse: {_short(parsed)}",
            )
        return parsed

    def expect_error(self, method: str, path: str, status: int, code: str, body: Any = None) -> dict[str, Any]:
        got, parsed = self.call(method, path, body)
        err = parsed.get("error") if isinstance(parsed, dict) else None
        if got != status or not isinstance(err, dict) or err.get("code") != code:
            raise DemoError(
                f"{method} {path} should be refused with HTTP {status} {code}; it answered HTTP {got} "
                f"{err.get('code') if isinstance(err, dict) else '(no error code)'}",
                f"request body: {_short(body)}\nresponse: {_short(parsed)}",
            )
        if not err.get("message"):
            raise DemoError(f"{method} {path}: the {code} refusal has no message", f"response: {_short(parsed)}")
        return err


class Tcr:
    """The real tencentcloud-sdk-python-tcr client, pointed at localcloud's TCR endpoint."""

    def __init__(self, env: dict[str, str]) -> None:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.tcr.v20190924 import tcr_client

        cred = credential.Credential(
            env["TENCENTCLOUD_SECRETID"], env["TENCENTCLOUD_SECRETKEY"], env.get("TENCENTCLOUD_SESSIONTOKEN") or None
        )
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=env["TCR_ENDPOINT"], protocol="http"))
        self.client = tcr_client.TcrClient(cred, PRIMARY, profile)

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        try:
            return self.client.call_json(action, params)["Response"]
        except TencentCloudSDKException as exc:
            raise DemoError(
                f"TCR {action} failed: {exc.get_code()}: {exc.get_message()}", f"params: {_short(params)}"
            ) from None


def cos_client(env: dict[str, str]) -> Any:
    """The real cos-python-sdk-v5 client, pointed at localcloud's COS endpoint."""
    from qcloud_cos import CosConfig, CosS3Client

    host, _, port = env["COS_ENDPOINT"].rpartition(":")
    config = CosConfig(
        Region=env["LOG_BUCKET_REGION"],
        SecretId=env["TENCENTCLOUD_SECRETID"],
        SecretKey=env["TENCENTCLOUD_SECRETKEY"],
        Token=env.get("TENCENTCLOUD_SESSIONTOKEN") or None,
        Scheme="http",
        IP=host,
        Port=int(port),
        Timeout=30,
    )
    return CosS3Client(config, retry=1)


# --- the story -------------------------------------------------------------------------------------------------------


def _image(rec: dict[str, Any]) -> str:
    return f"{rec.get('namespace')}/{rec.get('repository')}:{rec.get('tag')}"


def _lag(value: Any) -> str:
    return f"{float(value):.1f} s" if isinstance(value, (int, float)) else "-"


def _all_logs(api: Http, registry_id: str, query: str = "") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(50):
        params = "limit=100" + (f"&{query}" if query else "")
        if cursor:
            params += "&cursor=" + urllib.request.quote(cursor, safe="")
        page = api.expect("GET", f"/instances/{registry_id}/replication-logs?{params}", 200)
        records.extend(page.get("records") or [])
        cursor = page.get("nextCursor")
        if not cursor:
            return records
    raise DemoError("GET replication-logs kept returning a nextCursor after 50 pages")


def play(cloud: LocalCloud, story: Story, page_dir: Path | None = None) -> None:
    env = cloud.env()
    page_dir = page_dir or Path(tempfile.mkdtemp(prefix="localcloud-demo-"))
    api = Http(env["REPLICAS_URL"], API_TOKEN)
    admin = Http(cloud.host_url)
    tcr = Tcr(env)
    cos = cos_client(env)
    bucket = env["LOG_BUCKET"]

    # 1 -----------------------------------------------------------------------------------------------------------
    story.heading(f"A TCR Premium instance in {PRIMARY} (TCR API, real SDK)")
    created = tcr.call("CreateInstance", {"RegistryName": "demo-registry", "RegistryType": "premium"})
    registry_id = created.get("RegistryId")
    if not registry_id:
        raise DemoError("CreateInstance returned no RegistryId", _short(created))
    story.step(f"CreateInstance -> {registry_id}")

    def instance_running() -> dict[str, Any] | None:
        found = tcr.call("DescribeInstances", {"Limit": 100}).get("Registries") or []
        return next((r for r in found if r.get("RegistryId") == registry_id and r.get("Status") == "Running"), None)

    inst = wait_for(f"instance {registry_id} to be Running", instance_running)
    story.step(f"{registry_id} is Running ({inst.get('RegistryType')}, public domain {inst.get('PublicDomain')})")
    health = api.expect("GET", "/healthz", 200)
    if health != {"ok": True}:
        raise DemoError("GET /healthz did not answer {'ok': true}", _short(health))
    story.step(f"replica API is up: GET {env['REPLICAS_URL']}/healthz -> 200")

    # 2 -----------------------------------------------------------------------------------------------------------
    story.heading(f"Where can a replica of an {PRIMARY} primary go? (GET /regions)")
    regions = api.expect("GET", f"/regions?primary={PRIMARY}", 200).get("regions")
    if not isinstance(regions, list) or not regions:
        raise DemoError("GET /regions returned no regions list")
    allowed = sorted(r["region"] for r in regions if r.get("replicaAllowed"))
    refused: dict[str, list[str]] = {}
    for r in regions:
        if not r.get("replicaAllowed"):
            refused.setdefault(str(r.get("code") or "refused"), []).append(r["region"])
    for want in REPLICA_REGIONS:
        if want not in allowed:
            raise DemoError(f"GET /regions says {want} is not eligible", _short(regions))
    story.step(f"{len(regions)} TCR regions checked against the rules")
    story.info(f"allowed ({len(allowed)}): {', '.join(allowed)}")
    for code, names in sorted(refused.items()):
        shown = ", ".join(sorted(names)[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        story.info(f"{code} ({len(names)}): {shown}")

    # 3 -----------------------------------------------------------------------------------------------------------
    story.heading("Replicas through the replica API (POST /instances/{id}/replicas)")
    for region in REPLICA_REGIONS:
        rep = api.expect("POST", f"/instances/{registry_id}/replicas", 202, {"region": region}).get("replica") or {}
        if rep.get("region") != region or not rep.get("replicaRegistryId"):
            raise DemoError(f"the 202 for {region} does not describe a replica in {region}", _short(rep))
        story.step(f"202 {region}: {rep['replicaRegistryId']} ({rep.get('status')})")

    story.heading("What the product refuses, and why")
    for region, status, code in REFUSALS:
        err = api.expect_error("POST", f"/instances/{registry_id}/replicas", status, code, {"region": region})
        story.step(f"{region}: {status} {code}")
        story.wrapped(err["message"])
    err = api.expect_error("DELETE", f"/instances/{registry_id}", 409, "ReplicasExist")
    story.step(f"DELETE /instances/{registry_id} while replicas exist: 409 ReplicasExist")
    story.wrapped(err["message"])

    plan_region = "ap-chengdu"
    dry = api.expect("POST", f"/instances/{registry_id}/replicas", 200, {"region": plan_region, "dryRun": True})
    if dry.get("allowed") is not True or not isinstance(dry.get("plan"), dict):
        raise DemoError(f"the dryRun for {plan_region} is not an allowed plan", _short(dry))
    story.step(f"dryRun {plan_region}: 200 allowed, nothing created")
    plan = dry["plan"]
    existing = plan.get("existingReplicas")
    story.info(
        f"plan: replica in {plan.get('region')} (region id {plan.get('regionId')}) of {plan.get('registryId')} "
        f"in {plan.get('primaryRegion')}, next to {len(existing) if isinstance(existing, list) else '?'} "
        f"existing replica(s), syncTag {json.dumps(plan.get('syncTag'))}"
    )

    # 4 -----------------------------------------------------------------------------------------------------------
    story.heading("Replicas deploy (Deploying -> Running)")

    def replicas_running() -> list[dict[str, Any]] | None:
        reps = api.expect("GET", f"/instances/{registry_id}/replicas", 200).get("replicas") or []
        ok = sorted(r.get("region") for r in reps) == sorted(REPLICA_REGIONS)
        return reps if ok and all(r.get("status") == "Running" for r in reps) else None

    replicas = wait_for("both replicas to be Running", replicas_running)
    for rep in replicas:
        story.step(f"{rep['region']}: {rep['replicaRegistryId']} Running")
    if any(r.get("region") == plan_region for r in replicas):
        raise DemoError(f"the dryRun created a replica in {plan_region}", _short(replicas))
    region_of = {r["replicaRegistryId"]: r["region"] for r in replicas}

    # private access -----------------------------------------------------------------------------------------------
    story.heading(f"Private network access in {PRIVATE_REGION} (POST /instances/{{id}}/private-access)")
    vpcs = admin.expect("GET", f"/_localcloud/vpcs?region={PRIVATE_REGION}", 200).get("vpcs") or []
    if not vpcs or not vpcs[0].get("subnets"):
        raise DemoError(f"localcloud lists no default VPC in {PRIVATE_REGION}", _short(vpcs))
    vpc_id, subnet_id = vpcs[0]["vpcId"], vpcs[0]["subnets"][0]["subnetId"]
    story.step(f"default VPC of {PRIVATE_REGION}: {vpc_id} (subnet {subnet_id}, {vpcs[0].get('cidr')})")
    attach = {"region": PRIVATE_REGION, "vpcId": vpc_id, "subnetId": subnet_id, "dns": True}
    access = api.expect("POST", f"/instances/{registry_id}/private-access", 202, attach).get("access") or {}
    if access.get("vpcId") != vpc_id or access.get("dns") != "pending":
        raise DemoError("the attach answer does not show the VPC with its DNS pending", _short(access))
    story.step(f"POST private-access {PRIVATE_REGION} {vpc_id}: 202, {access.get('status')}, dns {access.get('dns')}")
    refused = api.expect_error(
        "POST", f"/instances/{registry_id}/private-access", 422, "NoReplicaInRegion", {**attach, "region": "ap-chengdu"}
    )
    story.step("ap-chengdu (no replica there): 422 NoReplicaInRegion")
    story.wrapped(str(refused.get("message")))

    def endpoint_running() -> dict[str, Any] | None:
        return _private_vpc(api, registry_id, vpc_id, lambda v: v.get("status") == "Running" and v.get("accessIp"))

    row = wait_for(f"the endpoint of {vpc_id} to be Running", endpoint_running)
    story.step(f"endpoint Running at {row['accessIp']}; dns {row.get('dns')} (the audit creates the record)")

    # 5 -----------------------------------------------------------------------------------------------------------
    story.heading("A namespace and the push webhook trigger (TCR API)")
    tcr.call("CreateNamespace", {"RegistryId": registry_id, "NamespaceName": NAMESPACE, "IsPublic": False})
    story.step(f"CreateNamespace {NAMESPACE}")
    trigger = {
        "Name": "replication-log",
        "Targets": [
            {"Address": env["WEBHOOK_URL"], "Headers": [{"Key": "X-Webhook-Token", "Values": [WEBHOOK_TOKEN]}]}
        ],
        "EventTypes": ["pushImage"],
        "Condition": ".*",
        "Enabled": True,
        "Description": "record every push in the replication log",
    }
    trig = tcr.call("CreateWebhookTrigger", {"RegistryId": registry_id, "Namespace": NAMESPACE, "Trigger": trigger})
    trigger_id = (trig.get("Trigger") or {}).get("Id")
    if trigger_id is None:
        raise DemoError("CreateWebhookTrigger returned no trigger id", _short(trig))
    story.step(f"CreateWebhookTrigger #{trigger_id} -> {env['WEBHOOK_URL']} (header X-Webhook-Token)")

    # 6 -----------------------------------------------------------------------------------------------------------
    story.heading(f"Push {len(IMAGES)} images (localcloud admin push)")
    for repo, tag in IMAGES:
        body = {"registryId": registry_id, "namespace": NAMESPACE, "repository": repo, "tag": tag}
        pushed = admin.expect("POST", "/_localcloud/push", 200, body)
        story.step(f"{NAMESPACE}/{repo}:{tag} -> {str(pushed.get('digest'))[:19]}...")
    last_push = time.monotonic()

    def deliveries_done() -> list[dict[str, Any]] | None:
        params = {"RegistryId": registry_id, "Namespace": NAMESPACE, "Id": trigger_id, "Limit": 100}
        logs = tcr.call("DescribeWebhookTriggerLog", params).get("Logs") or []
        return logs if len(logs) >= len(IMAGES) and all(x.get("Status") == "finished" for x in logs) else None

    logs = wait_for("TCR to deliver every push to the webhook", deliveries_done)
    story.step(f"DescribeWebhookTriggerLog: {len(logs)} deliveries finished")
    expected_pairs = {(f"{NAMESPACE}/{repo}:{tag}", region) for repo, tag in IMAGES for region in REPLICA_REGIONS}

    def pending_recorded() -> list[dict[str, Any]] | None:
        recs = _all_logs(api, registry_id, "status=pending")
        got = {(_image(r), r.get("replicaRegion")) for r in recs}
        return recs if got >= expected_pairs else None

    pending = wait_for("one pending record per image and replica", pending_recorded)
    story.step(f"replication log: {len(pending)} pending records (one per image and replica)")

    # 7 -----------------------------------------------------------------------------------------------------------
    story.heading("Replication, then the audit (timer trigger)")
    wait_s = max(0.0, last_push + LAG_MS[1] / 1000.0 + 0.3 - time.monotonic())
    time.sleep(wait_s)
    story.step(f"waited past the longest replication lag ({LAG_MS[1]} ms)")
    summary: dict[str, Any] = {}
    for attempt in range(1, 4):
        summary = admin.expect("POST", "/_localcloud/timer/audit", 200, {})
        mine = [i for i in summary.get("instances") or [] if i.get("registryId") == registry_id]
        if summary.get("errors") or not mine:
            raise DemoError("the audit reported errors or skipped the instance", _short(summary))
        head = mine[0]
        resolved = head.get("resolved") or {}
        story.step(
            f"audit run {summary.get('runId')}: {head.get('pendingBefore')} pending before, "
            f"{resolved.get('replicated')} replicated, {resolved.get('failed')} failed, "
            f"{head.get('stillPending')} still pending, {head.get('findings')} findings"
        )
        if head.get("stillPending") == 0:
            break
        if attempt == 3:
            raise DemoError("records are still pending after 3 audit runs", _short(summary))
        time.sleep(1.0)
    for rep_id, region in sorted(region_of.items(), key=lambda kv: kv[1]):
        sync = api.expect("GET", f"/instances/{registry_id}/replicas/{rep_id}/sync-status", 200)
        story.step(
            f"sync-status {region}: {sync.get('status')}, last sync {sync.get('lastSyncAt')}, "
            f"pending {sync.get('pending')}"
        )

    # private access after the audit -----------------------------------------------------------------------------
    story.heading("Private DNS after the audit (GET /instances/{id}/private-access)")
    row = _private_vpc(api, registry_id, vpc_id, lambda v: True) or {}
    if row.get("dns") == "pending":
        admin.expect("POST", "/_localcloud/timer/audit", 200, {})  # the first run may have found the endpoint new
        row = _private_vpc(api, registry_id, vpc_id, lambda v: True) or {}
    story.step(f"{PRIVATE_REGION} {vpc_id}: {row.get('status')}, accessIp {row.get('accessIp')}, dns {row.get('dns')}")
    domain = api.expect("GET", f"/instances/{registry_id}/private-access", 200).get("domain")
    if row.get("dns") == "enabled":
        dns = tcr.call(
            "DescribeInternalEndpointDnsStatus",
            {"VpcSet": [{"InstanceId": registry_id, "VpcId": vpc_id, "EniLBIp": row.get("accessIp"),
                         "UsePublicDomain": True, "RegionName": PRIVATE_REGION}]},
        )  # fmt: skip
        status = ((dns.get("VpcSet") or [{}])[0]).get("Status")
        story.step(f"{domain} resolves to {row.get('accessIp')} inside {vpc_id} (TCR DNS status {status})")
    else:
        story.info(f"the private DNS record of {domain} is {row.get('dns')} (created by the audit once it converges)")

    # 8 -----------------------------------------------------------------------------------------------------------
    story.heading("The replication log (GET /instances/{id}/replication-logs, stored in COS)")
    records = _all_logs(api, registry_id)
    rows = sorted(
        (_image(r), str(r.get("replicaRegion")), str(r.get("status")), _lag(r.get("lagSeconds"))) for r in records
    )
    width = max([len("IMAGE")] + [len(r[0]) for r in rows])
    story.info(f"{'IMAGE':<{width}}  {'REPLICA':<12}  {'STATUS':<10}  LAG")
    for image, region, status, lag in rows:
        story.info(f"{image:<{width}}  {region:<12}  {status:<10}  {lag}")
    got = {(r[0], r[1]) for r in rows if r[2] == "replicated"}
    if got != expected_pairs or len(rows) != len(expected_pairs):
        raise DemoError(
            f"the log should hold exactly one replicated record per image and replica ({len(expected_pairs)})",
            _short(records, 2000),
        )
    story.step(f"{len(rows)} records, every image replicated to every replica")
    listing = cos.list_objects(Bucket=bucket, Prefix=f"log/{registry_id}/", MaxKeys=1000)
    segments = [o["Key"] for o in listing.get("Contents") or []]
    if not segments:
        raise DemoError(f"no log segments under cos://{bucket}/log/{registry_id}/")
    story.step(f"COS: {len(segments)} log segment(s) under cos://{bucket}/log/{registry_id}/")
    for key in segments:
        story.info(key)

    # 9 -----------------------------------------------------------------------------------------------------------
    story.heading("The audit report (COS)")
    report_key = next(
        (i.get("report") for i in summary.get("instances") or [] if i.get("registryId") == registry_id), None
    )
    if not report_key:
        raise DemoError("the audit summary names no report key", _short(summary))
    try:
        raw = cos.get_object(Bucket=bucket, Key=report_key)["Body"].get_raw_stream().read()
        report = json.loads(raw)
    except Exception as exc:
        raise DemoError(f"cannot read the report cos://{bucket}/{report_key}: {exc}") from None
    story.step(f"cos://{bucket}/{report_key} (and reports/latest.json)")
    story.info(
        f"registryId {report.get('registryId')}, primary {report.get('primaryRegion')}, "
        f"pendingBefore {report.get('pendingBefore')}, resolved {report.get('resolved')}, "
        f"stillPending {report.get('stillPending')}, findings {len(report.get('findings') or [])}"
    )
    for rep in report.get("replicas") or []:
        story.info(
            f"replica {rep.get('region')}: {rep.get('status')}, sync {rep.get('replicationStatus')}, "
            f"last sync {rep.get('lastSyncAt')}"
        )

    # 10 ----------------------------------------------------------------------------------------------------------
    story.heading("The dashboard (HTML page beside the report)")
    page = api.text(f"/instances/{registry_id}/report")
    if registry_id not in page or "<svg" not in page:
        raise DemoError("the report page does not show the instance and its lag charts", _short(page))
    page_path = page_dir / f"{registry_id}.html"
    page_path.write_text(page, encoding="utf-8")
    story.step(f"GET /instances/{registry_id}/report -> {page_path}")
    story.info(f"open it: file://{page_path}")
    link = api.expect("GET", f"/instances/{registry_id}/report-link?ttl=900", 200)
    story.step(f"pre-signed link, valid until {link.get('expiresAt')} (while localcloud runs):")
    story.wrapped(str(link.get("url")))

    # 11 ----------------------------------------------------------------------------------------------------------
    story.heading("Clean up (private access, replicas through the API, then the instance)")
    detached = (
        api.expect("DELETE", f"/instances/{registry_id}/private-access/{vpc_id}?region={PRIVATE_REGION}", 202).get(
            "detached"
        )
        or {}
    )
    story.step(
        f"DELETE private-access {vpc_id} ({PRIVATE_REGION}): 202, DNS record deleted: {detached.get('dnsDeleted')}"
    )
    for rep_id, region in sorted(region_of.items(), key=lambda kv: kv[1]):
        api.expect("DELETE", f"/instances/{registry_id}/replicas/{rep_id}", 202)
        story.step(f"DELETE replica {region} ({rep_id}): 202")

    def replicas_gone() -> bool:
        return not api.expect("GET", f"/instances/{registry_id}/replicas", 200).get("replicas")

    wait_for("the replicas to be gone", replicas_gone)
    story.step("no replicas left")
    api.expect("DELETE", f"/instances/{registry_id}", 202)
    story.step(f"DELETE /instances/{registry_id}: 202")

    def instance_gone() -> bool:
        found = tcr.call("DescribeInstances", {"Limit": 100}).get("Registries") or []
        return not any(r.get("RegistryId") == registry_id and r.get("Status") != "Deleting" for r in found)

    wait_for(f"instance {registry_id} to be deleted", instance_gone)
    story.step(f"{registry_id} deleted")


def _private_vpc(
    api: Http, registry_id: str, vpc_id: str, ok: Callable[[dict[str, Any]], Any]
) -> dict[str, Any] | None:
    """The VPC's row in GET private-access (under any region) when `ok` holds for it."""
    view = api.expect("GET", f"/instances/{registry_id}/private-access", 200)
    for region in view.get("regions") or []:
        for vpc in region.get("vpcs") or []:
            if vpc.get("vpcId") == vpc_id and ok(vpc):
                return dict(vpc)
    return None


def create_instance(host_url: str | None = None, name: str = "demo-registry", namespace: str = NAMESPACE) -> str:
    """On a running localcloud (e.g. `make serve`): a premium instance (waited for until Running), a namespace
    and the push webhook trigger.

    Uses the real TcrClient; returns the new RegistryId. `host_url` defaults to LOCALCLOUD_URL or
    http://127.0.0.1:$LOCALCLOUD_PORT (9000); endpoints, credentials and WEBHOOK_TOKEN come from that
    localcloud's GET /_localcloud/env. Raises DemoError when a step fails.
    """
    port = os.environ.get("LOCALCLOUD_PORT") or "9000"
    base = host_url or os.environ.get("LOCALCLOUD_URL") or f"http://127.0.0.1:{port}"
    env = Http(base).expect("GET", "/_localcloud/env", 200)
    tcr = Tcr(env)
    registry_id = str(tcr.call("CreateInstance", {"RegistryName": name, "RegistryType": "premium"})["RegistryId"])

    def running() -> bool:  # TCR deploys a new instance first; replicas are refused until it is Running
        found = tcr.call("DescribeInstances", {"Limit": 100}).get("Registries") or []
        return any(r.get("RegistryId") == registry_id and r.get("Status") == "Running" for r in found)

    wait_for(f"instance {registry_id} to be Running", running)
    tcr.call("CreateNamespace", {"RegistryId": registry_id, "NamespaceName": namespace, "IsPublic": False})
    if env.get("WEBHOOK_TOKEN"):
        target = {
            "Address": env["WEBHOOK_URL"],
            "Headers": [{"Key": "X-Webhook-Token", "Values": [env["WEBHOOK_TOKEN"]]}],
        }
        trigger = {"Name": "replication-log", "Targets": [target], "EventTypes": ["pushImage"], "Condition": ".*"}
        tcr.call(
            "CreateWebhookTrigger",
            {"RegistryId": registry_id, "Namespace": namespace, "Trigger": {**trigger, "Enabled": True}},
        )
    return registry_id


def _tail(path: Path, lines: int = 15) -> str:
    """The last function log lines that say something (not the START/END/Report bookkeeping)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    bookkeeping = re.compile(r"\] (START|END|Report) RequestId: ")
    return "\n".join([line for line in text.splitlines() if not bookkeeping.search(line)][-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.demo", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
    out = sys.stdout
    story = Story(out)
    log_dir = Path(tempfile.mkdtemp(prefix="localcloud-demo-"))
    log_path = log_dir / "functions.log"
    started = time.monotonic()
    print("TCR instance replication, end to end, on localcloud (a local Tencent Cloud: TCR API, COS, SCF)", file=out)
    with open(log_path, "w", encoding="utf-8") as log_stream:
        cloud = LocalCloud(
            port=0,
            faults={"replication": {"lagMs": list(LAG_MS)}},
            replica_ready_after_s=READY_AFTER_S,
            function_env={"API_TOKEN": API_TOKEN, "WEBHOOK_TOKEN": WEBHOOK_TOKEN},
            log_stream=log_stream,
        )
        try:
            cloud.start()
        except OSError as exc:
            print(f"DEMO FAILED: cannot start localcloud: {exc}", file=sys.stderr)
            return 1
        print(
            f"localcloud: functions {cloud.host_url}, TCR 127.0.0.1:{cloud.tcr_port}, COS 127.0.0.1:{cloud.cos_port}",
            file=out,
        )
        print(f"function logs: {log_path}", file=out, flush=True)
        try:
            play(cloud, story, page_dir=log_dir)
        except DemoError as exc:
            log_stream.flush()
            print(f"\nDEMO FAILED: {exc.message}", file=sys.stderr)
            if exc.detail:
                print(textwrap.indent(exc.detail, "  "), file=sys.stderr)
            tail = _tail(log_path)
            if tail:
                print(f"last function log lines ({log_path}):\n{textwrap.indent(tail, '  ')}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        finally:
            cloud.stop()
    print(f"\nDone in {time.monotonic() - started:.1f} s: localcloud stopped. Function logs: {log_path}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
