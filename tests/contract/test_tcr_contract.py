"""Contract tests of localcloud's TCR API emulator, driven through the real tencentcloud-sdk-python-tcr client.

Every expectation here is written from the TCR documentation (shared/reference/*), not from the emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tcr.v20190924 import models, tcr_client

from localcloud.faults import Faults
from localcloud.httpd import Request, Response, Server
from localcloud.tcr import AdminError, TcrService

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

SID = "AKIDLOCALCLOUD0000000000000000000000"
SKEY = "localcloudSecretKey00000000000000"
# temporary (role) credentials, as SCF injects them: a different key pair that is only valid with its token
ROLE_SID = "AKIDROLETEMPORARY0000000000000000000"
ROLE_SKEY = "roleTemporarySecretKey00000000000"
ROLE_TOKEN = "role-session-token-0001"
READY_S = 0.2


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 10.0) -> Any:
    """Poll until check() is truthy (bounded), return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Clock:
    """A server clock the test moves forward (starts at the real time so SDK signatures stay valid)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Router:
    """The handler of the module's one server: it passes each request to the current test's TcrService."""

    def __init__(self) -> None:
        self.svc: TcrService | None = None
        self.port = 0

    def handle(self, req: Request) -> Response:
        assert self.svc is not None
        return self.svc.handle(req)


class Cloud:
    """A fresh TcrService per test, served by the module's server (or its own one when no router is given)."""

    def __init__(
        self, router: Router | None = None, *, now: Callable[[], float] = time.time, ready_s: float = READY_S
    ) -> None:
        self.faults = Faults({"replication": {"lagMs": [5, 20]}})
        self.svc = TcrService(
            keys={SID: SKEY, ROLE_SID: ROLE_SKEY},
            tokens={ROLE_SID: ROLE_TOKEN},
            faults=self.faults,
            replica_ready_after_s=ready_s,
            now=now,
        )
        self.server: Server | None = None
        if router is None:
            self.server = Server(self.svc.handle, 0).start()
            port = self.server.port
        else:
            router.svc = self.svc
            port = router.port
        self.endpoint = f"127.0.0.1:{port}"

    def client(
        self, region: str = "ap-guangzhou", key: str = SKEY, sid: str = SID, token: str | None = None
    ) -> tcr_client.TcrClient:
        profile = ClientProfile(httpProfile=HttpProfile(endpoint=self.endpoint, protocol="http", reqTimeout=5))
        return tcr_client.TcrClient(credential.Credential(sid, key, token), region, profile)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.svc.close()


@pytest.fixture(scope="module")
def router() -> Iterator[Router]:
    r = Router()
    server = Server(r.handle, 0).start()
    r.port = server.port
    try:
        yield r
    finally:
        server.close()


@pytest.fixture
def cloud(router: Router) -> Iterator[Cloud]:
    c = Cloud(router)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked_cloud(router: Router, clock: Clock) -> Iterator[Cloud]:
    c = Cloud(router, now=clock)
    try:
        yield c
    finally:
        c.close()


class Receiver:
    """A tiny webhook target: stdlib http.server on a free port, recording every POST."""

    def __init__(self, status: int = 200) -> None:
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        lock = threading.Lock()
        calls = self.calls

        class H(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    calls.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def sdk_error(fn: Callable[[], Any]) -> str:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return str(info.value.get_code())


def instance_status(client: tcr_client.TcrClient, registry_id: str) -> str:
    """From the region's listing: naming a not-Running instance in `Registryids` is refused."""
    req = models.DescribeInstancesRequest()
    req.Limit = 100
    return next(r.Status for r in client.DescribeInstances(req).Registries if r.RegistryId == registry_id)


def create_instance(client: tcr_client.TcrClient, name: str, rtype: str = "premium", *, wait: bool = True) -> str:
    """CreateInstance; with `wait`, also wait until the new instance is Running (TCR deploys it first)."""
    req = models.CreateInstanceRequest()
    req.RegistryName = name
    req.RegistryType = rtype
    resp = client.CreateInstance(req)
    assert resp.RequestId
    if wait:
        wait_for(lambda: instance_status(client, resp.RegistryId) == "Running", f"{resp.RegistryId} Running")
    return resp.RegistryId


def create_replica(client: tcr_client.TcrClient, registry_id: str, **kw: Any) -> str:
    req = models.CreateReplicationInstanceRequest()
    req.RegistryId = registry_id
    for k, v in kw.items():
        setattr(req, k, v)
    return client.CreateReplicationInstance(req).ReplicationRegistryId


def describe_replicas(client: tcr_client.TcrClient, registry_id: str) -> models.DescribeReplicationInstancesResponse:
    req = models.DescribeReplicationInstancesRequest()
    req.RegistryId = registry_id
    return client.DescribeReplicationInstances(req)


def sync_status(
    client: tcr_client.TcrClient, registry_id: str, replica_id: str, **kw: Any
) -> models.DescribeReplicationInstanceSyncStatusResponse:
    req = models.DescribeReplicationInstanceSyncStatusRequest()
    req.RegistryId = registry_id
    req.ReplicationRegistryId = replica_id
    for k, v in kw.items():
        setattr(req, k, v)
    return client.DescribeReplicationInstanceSyncStatus(req)


def self_signed_post(endpoint: str, action: str, body: dict[str, Any], ts: int, key: str = SKEY) -> dict[str, Any]:
    """TC3-HMAC-SHA256 signed here from the documented algorithm, so the timestamp can be anything."""
    payload = json.dumps(body)
    ct = "application/json"
    canonical = f"POST\n/\n\ncontent-type:{ct}\nhost:{endpoint}\n\ncontent-type;host\n" + (
        hashlib.sha256(payload.encode()).hexdigest()
    )
    date = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d")
    to_sign = f"TC3-HMAC-SHA256\n{ts}\n{date}/tcr/tc3_request\n" + hashlib.sha256(canonical.encode()).hexdigest()

    def h(k: bytes, m: str) -> bytes:
        return hmac.new(k, m.encode(), hashlib.sha256).digest()

    k = h(h(h(("TC3" + key).encode(), date), "tcr"), "tc3_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": ct,
        "Host": endpoint,
        "X-TC-Action": action,
        "X-TC-Version": "2019-09-24",
        "X-TC-Region": "ap-guangzhou",
        "X-TC-Timestamp": str(ts),
        "Authorization": f"TC3-HMAC-SHA256 Credential={SID}/{date}/tcr/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={sig}",
    }
    req = urllib.request.Request(f"http://{endpoint}/", data=payload.encode(), headers=headers, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        return json.loads(resp.read())


# ---------------------------------------------------------------- signing and envelopes


def test_signed_sdk_call_succeeds_and_envelope_is_exact(cloud: Cloud) -> None:
    resp = cloud.client().call_json("DescribeRegions", {})
    assert set(resp) == {"Response"}
    assert isinstance(resp["Response"]["RequestId"], str) and resp["Response"]["RequestId"]


def test_wrong_secret_key_is_signature_failure(cloud: Cloud) -> None:
    client = cloud.client(key="notTheRightKey0000000000000000000")
    assert sdk_error(lambda: client.DescribeRegions(models.DescribeRegionsRequest())) == "AuthFailure.SignatureFailure"


def test_unknown_secret_id_is_secret_id_not_found(cloud: Cloud) -> None:
    client = cloud.client(sid="AKIDUNKNOWN000000000000000000000000")
    assert sdk_error(lambda: client.DescribeRegions(models.DescribeRegionsRequest())) == "AuthFailure.SecretIdNotFound"


def test_temporary_credentials_work_with_their_session_token(cloud: Cloud) -> None:
    role = cloud.client(sid=ROLE_SID, key=ROLE_SKEY, token=ROLE_TOKEN)
    registry_id = create_instance(role, "role-made")
    assert [r.RegistryId for r in cloud.client().DescribeInstances(models.DescribeInstancesRequest()).Registries] == [
        registry_id
    ]


@pytest.mark.parametrize("token", [None, "role-session-token-0002"])
def test_temporary_credentials_without_their_session_token_are_token_failure(cloud: Cloud, token: str | None) -> None:
    role = cloud.client(sid=ROLE_SID, key=ROLE_SKEY, token=token)
    assert sdk_error(lambda: role.DescribeRegions(models.DescribeRegionsRequest())) == "AuthFailure.TokenFailure"
    assert sdk_error(lambda: create_instance(role, "role-refused")) == "AuthFailure.TokenFailure"
    assert cloud.client().DescribeInstances(models.DescribeInstancesRequest()).TotalCount == 0


def test_permanent_keys_need_no_session_token(cloud: Cloud) -> None:
    for token in (None, "whatever-token"):
        assert cloud.client(token=token).DescribeRegions(models.DescribeRegionsRequest()).TotalCount > 0


def test_stale_timestamp_is_signature_expire(cloud: Cloud) -> None:
    now = int(time.time())
    fresh = self_signed_post(cloud.endpoint, "DescribeRegions", {}, now)
    assert "Error" not in fresh["Response"]  # the hand-made signature is right ...
    stale = self_signed_post(cloud.endpoint, "DescribeRegions", {}, now - 400)
    assert stale["Response"]["Error"]["Code"] == "AuthFailure.SignatureExpire"  # ... so only the clock is wrong
    future = self_signed_post(cloud.endpoint, "DescribeRegions", {}, now + 400)
    assert future["Response"]["Error"]["Code"] == "AuthFailure.SignatureExpire"
    wrong = self_signed_post(cloud.endpoint, "DescribeRegions", {}, now, key="x" * 32)
    assert wrong["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"


def test_skewed_server_clock_refuses_sdk_request(clock: Clock, clocked_cloud: Cloud) -> None:
    clock.offset = 3600.0
    client = clocked_cloud.client()
    assert sdk_error(lambda: client.DescribeRegions(models.DescribeRegionsRequest())) == "AuthFailure.SignatureExpire"


def test_unknown_action_missing_and_wrong_parameters(cloud: Cloud) -> None:
    client = cloud.client()
    assert sdk_error(lambda: client.call_json("CreateRocket", {})) == "InvalidAction"
    assert sdk_error(lambda: client.call_json("DescribeReplicationInstances", {})) == "MissingParameter"
    assert sdk_error(lambda: client.call_json("DescribeReplicationInstances", {"RegistryId": 5})) == "InvalidParameter"
    assert sdk_error(lambda: client.call_json("DescribeInstances", {"AllRegion": "yes"})) == "InvalidParameter"
    assert sdk_error(lambda: client.call_json("DescribeReplicationInstances", {"RegistryId": "tcr-nope0000"})) == (
        "ResourceNotFound"
    )


# ---------------------------------------------------------------- regions and instances


def test_describe_regions_lists_tcr_regions_with_numeric_ids(cloud: Cloud) -> None:
    resp = cloud.client().DescribeRegions(models.DescribeRegionsRequest())
    by_name = {r.RegionName: r for r in resp.Regions}
    assert resp.TotalCount == len(resp.Regions) == 19
    assert by_name["ap-guangzhou"].RegionId == 1
    assert by_name["ap-shanghai"].RegionId == 4
    assert by_name["ap-hongkong"].RegionId == 5
    assert by_name["ap-beijing"].RegionId == 8
    assert by_name["sa-saopaulo"].RegionId == 74
    assert "ap-taipei" not in by_name and "na-toronto" not in by_name
    for r in resp.Regions:
        assert None not in (r.Alias, r.Status, r.Remark, r.CreatedAt, r.UpdatedAt, r.Id)


def test_create_and_describe_instance(cloud: Cloud) -> None:
    gz = cloud.client("ap-guangzhou")
    sh = cloud.client("ap-shanghai")
    rid = create_instance(gz, "acme-gz")
    other = create_instance(sh, "acme-sh", "standard")
    assert re.fullmatch(r"tcr-[a-z0-9]{8}", rid)

    req = models.DescribeInstancesRequest()
    req.Registryids = [rid]
    resp = gz.DescribeInstances(req)
    assert resp.TotalCount == 1
    reg = resp.Registries[0]
    assert (reg.RegistryId, reg.RegistryName, reg.RegistryType) == (rid, "acme-gz", "premium")
    assert reg.Status == "Running"
    assert reg.PublicDomain == "acme-gz.tencentcloudcr.com"
    assert (reg.RegionName, reg.RegionId) == ("ap-guangzhou", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", reg.CreatedAt)
    for field in ("EnableAnonymous", "TokenValidTime", "InternalEndpoint", "PayMod", "DeletionProtection"):
        assert getattr(reg, field) is not None, field

    # Without AllRegion only the request's region; with it, every region.
    assert [r.RegistryId for r in gz.DescribeInstances(models.DescribeInstancesRequest()).Registries] == [rid]
    req = models.DescribeInstancesRequest()
    req.AllRegion = True
    assert {r.RegistryId for r in gz.DescribeInstances(req).Registries} == {rid, other}

    # Filters and paging.
    req = models.DescribeInstancesRequest()
    req.AllRegion = True
    flt = models.Filter()
    flt.Name = "RegistryName"
    flt.Values = ["acme-sh", "nothing"]
    req.Filters = [flt]
    resp = gz.DescribeInstances(req)
    assert [r.RegistryId for r in resp.Registries] == [other]
    req = models.DescribeInstancesRequest()
    req.AllRegion = True
    req.Offset, req.Limit = 1, 1
    resp = gz.DescribeInstances(req)
    assert resp.TotalCount == 2 and len(resp.Registries) == 1
    assert resp.Registries[0].RegistryId == other

    assert sdk_error(lambda: create_instance(gz, "acme-gz")) == "InvalidParameter.ErrorNameExists"
    assert sdk_error(lambda: create_instance(gz, "Bad_Name")) == "InvalidParameter.ErrorRegistryName"
    assert sdk_error(lambda: create_instance(gz, "acme-x", "gold")) == "InvalidParameter"
    assert sdk_error(lambda: create_instance(cloud.client("ap-taipei"), "acme-tw")) == (
        "InvalidParameter.UnsupportedRegion"
    )

    delete = models.DeleteInstanceRequest()
    delete.RegistryId = other
    assert sh.DeleteInstance(delete).RequestId
    req = models.DescribeInstancesRequest()
    req.AllRegion = True
    assert gz.DescribeInstances(req).TotalCount == 1


def test_instances_are_regional_a_request_from_another_region_does_not_find_them(cloud: Cloud) -> None:
    # TCR instances are regional: every action naming a registry needs X-TC-Region = the instance's region;
    # from another region the instance is ResourceNotFound, exactly as an unknown RegistryId.
    gz = cloud.client("ap-guangzhou")
    sh = cloud.client("ap-shanghai")
    rid = create_instance(gz, "regional-gz")
    rep = create_replica(gz, rid, ReplicationRegionName="ap-shanghai")
    ns = models.CreateNamespaceRequest()
    ns.RegistryId, ns.NamespaceName = rid, "team"
    gz.CreateNamespace(ns)
    cloud.svc.admin_push({"registryId": rid, "namespace": "team", "repository": "api", "tag": "v1"})
    trigger = {
        "Name": "hook",
        "Targets": [{"Address": "http://127.0.0.1:9/hook", "Headers": []}],
        "EventTypes": ["pushImage"],
        "Condition": ".*",
        "Enabled": True,
    }
    calls: list[tuple[str, dict[str, Any]]] = [
        ("DescribeReplicationInstances", {"RegistryId": rid}),
        ("DescribeReplicationInstanceSyncStatus", {"RegistryId": rid, "ReplicationRegistryId": rep}),
        ("DescribeReplicationInstanceCreateTasks", {"ReplicationRegistryId": rep, "ReplicationRegionId": 4}),
        ("CreateReplicationInstance", {"RegistryId": rid, "ReplicationRegionName": "ap-beijing"}),
        ("DeleteReplicationInstance", {"RegistryId": rid, "ReplicationRegistryId": rep, "ReplicationRegionId": 4}),
        ("CreateNamespace", {"RegistryId": rid, "NamespaceName": "other"}),
        ("DescribeRepositories", {"RegistryId": rid}),
        ("DescribeImages", {"RegistryId": rid, "NamespaceName": "team", "RepositoryName": "api"}),
        ("CreateWebhookTrigger", {"RegistryId": rid, "Namespace": "team", "Trigger": trigger}),
        ("DescribeWebhookTrigger", {"RegistryId": rid}),
        ("DescribeWebhookTriggerLog", {"RegistryId": rid, "Namespace": "team"}),
        ("DeleteInstance", {"RegistryId": rid}),
    ]
    for action, params in calls:
        assert sdk_error(lambda a=action, p=params: sh.call_json(a, p)) == "ResourceNotFound", action
        assert sdk_error(lambda a=action, p=params: cloud.client("").call_json(a, p)) == "ResourceNotFound", action
    # nothing was changed from the wrong region ...
    assert [r.ReplicationRegistryId for r in describe_replicas(gz, rid).ReplicationRegistries] == [rep]
    trig = models.DescribeWebhookTriggerRequest()
    trig.RegistryId = rid
    assert gz.DescribeWebhookTrigger(trig).TotalCount == 0
    # ... and from the instance's own region the same calls are answered (reads here, writes in their tests)
    for action, params in calls[:3] + calls[6:8] + calls[9:11]:
        assert "Error" not in gz.call_json(action, params)["Response"], action
    # DescribeInstances lists the request's region only, unless AllRegion
    listing = models.DescribeInstancesRequest()
    listing.Registryids = [rid]
    assert sh.DescribeInstances(listing).TotalCount == 0
    listing.AllRegion = True
    assert [r.RegistryId for r in sh.DescribeInstances(listing).Registries] == [rid]


# ---------------------------------------------------------------- replication instances


def test_replica_lifecycle_deploying_then_running(clock: Clock, clocked_cloud: Cloud) -> None:
    client = clocked_cloud.client()
    rid = create_instance(client, "life-gz")
    rep = create_replica(client, rid, ReplicationRegionName="ap-shanghai")
    assert re.fullmatch(rf"{rid}-4-[a-z0-9]{{6}}", rep)

    listed = describe_replicas(client, rid)
    assert listed.TotalCount == 1
    r = listed.ReplicationRegistries[0]
    assert (r.RegistryId, r.ReplicationRegistryId, r.ReplicationRegionId, r.ReplicationRegionName) == (
        rid,
        rep,
        4,
        "ap-shanghai",
    )
    assert r.Status == "Deploying"
    assert r.CreatedAt

    tasks_req = models.DescribeReplicationInstanceCreateTasksRequest()
    tasks_req.ReplicationRegistryId = rep
    tasks_req.ReplicationRegionId = 4
    tasks = client.DescribeReplicationInstanceCreateTasks(tasks_req)
    assert tasks.Status == "RUNNING"

    clock.offset += READY_S + 0.1
    assert describe_replicas(client, rid).ReplicationRegistries[0].Status == "Running"
    tasks = client.DescribeReplicationInstanceCreateTasks(tasks_req)
    assert tasks.Status == "SUCCESS"
    assert len(tasks.TaskDetail) >= 1
    for t in tasks.TaskDetail:
        assert t.TaskStatus == "SUCCESS"
        assert None not in (t.TaskName, t.TaskUUID, t.CreatedTime, t.FinishedTime)


def test_new_instance_deploys_first_and_refuses_replicas_until_running(clock: Clock, clocked_cloud: Cloud) -> None:
    # Registry.Status documents Deploying and Running; a replica needs a Running primary
    # (ResourceInsufficient.ErrorInstanceNotRunning, tcr-error-codes.txt).
    client = clocked_cloud.client()
    rid = create_instance(client, "deploy-gz", wait=False)
    assert instance_status(client, rid) == "Deploying"
    assert sdk_error(lambda: create_replica(client, rid, ReplicationRegionName="ap-shanghai")) == (
        "ResourceInsufficient.ErrorInstanceNotRunning"
    )
    # the SDK lists the same code for DescribeInstances (naming it) and DescribeReplicationInstances
    named = models.DescribeInstancesRequest()
    named.Registryids = [rid]
    assert sdk_error(lambda: client.DescribeInstances(named)) == "ResourceInsufficient.ErrorInstanceNotRunning"
    assert sdk_error(lambda: describe_replicas(client, rid)) == "ResourceInsufficient.ErrorInstanceNotRunning"

    clock.offset += READY_S + 0.1
    assert instance_status(client, rid) == "Running"
    assert [r.Status for r in client.DescribeInstances(named).Registries] == ["Running"]
    assert describe_replicas(client, rid).TotalCount == 0
    rep = create_replica(client, rid, ReplicationRegionName="ap-shanghai")
    assert [r.ReplicationRegistryId for r in describe_replicas(client, rid).ReplicationRegistries] == [rep]


@pytest.mark.parametrize("status", ["Unhealthy", "Isolate", "Pending", "Bucket-Error"])
def test_pinned_status_shows_and_refuses_replicas(clock: Clock, clocked_cloud: Cloud, status: str) -> None:
    client = clocked_cloud.client()
    rid = create_instance(client, "pinned-gz", wait=False)
    clock.offset += READY_S + 0.1
    assert instance_status(client, rid) == "Running"
    assert clocked_cloud.svc.admin_instance_status({"registryId": rid, "status": status}) == {
        "registryId": rid,
        "status": status,
    }
    clock.offset += 200  # a pinned status does not move on with time (within the signature window)
    assert instance_status(client, rid) == status
    assert sdk_error(lambda: create_replica(client, rid, ReplicationRegionId=8)) == (
        "ResourceInsufficient.ErrorInstanceNotRunning"
    )
    assert sdk_error(lambda: describe_replicas(client, rid)) == "ResourceInsufficient.ErrorInstanceNotRunning"

    clocked_cloud.svc.admin_instance_status({"registryId": rid, "status": None})  # unpinned: lifecycle again
    assert instance_status(client, rid) == "Running"
    assert describe_replicas(client, rid).TotalCount == 0
    assert create_replica(client, rid, ReplicationRegionId=8).startswith(f"{rid}-8-")


def test_pinning_running_makes_a_deploying_instance_usable(clocked_cloud: Cloud) -> None:
    client = clocked_cloud.client()
    rid = create_instance(client, "pin-run-gz", wait=False)
    assert instance_status(client, rid) == "Deploying"
    clocked_cloud.svc.admin_instance_status({"registryId": rid, "status": "Running"})
    assert instance_status(client, rid) == "Running"
    assert create_replica(client, rid, ReplicationRegionName="ap-beijing").startswith(f"{rid}-8-")


def test_not_premium_is_refused_before_not_running(clocked_cloud: Cloud) -> None:
    client = clocked_cloud.client()
    rid = create_instance(client, "basic-deploying", "basic", wait=False)
    assert instance_status(client, rid) == "Deploying"
    assert sdk_error(lambda: create_replica(client, rid, ReplicationRegionName="ap-shanghai")) == (
        "UnsupportedOperation"
    )


def test_admin_instance_status_validates_input(cloud: Cloud) -> None:
    rid = create_instance(cloud.client(), "status-admin-gz", wait=False)
    with pytest.raises(AdminError) as info:
        cloud.svc.admin_instance_status({"registryId": "tcr-unknown1", "status": "Unhealthy"})
    assert info.value.status == 404
    for bad in (
        {"registryId": rid},
        {"status": "Unhealthy"},
        {"registryId": rid, "status": "running"},
        {"registryId": rid, "status": "Broken"},
        {"registryId": rid, "status": 1},
        {"registryId": "", "status": "Unhealthy"},
        {"registryId": rid, "status": "Unhealthy", "extra": True},
        ["not", "an", "object"],
    ):
        with pytest.raises(AdminError) as info:
            cloud.svc.admin_instance_status(bad)  # type: ignore[arg-type]
        assert info.value.status == 400, bad
    assert instance_status(cloud.client(), rid) in ("Deploying", "Running")  # nothing was pinned


def test_delete_instance_refused_while_replicas_exist(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "del-gz")
    rep = create_replica(client, rid, ReplicationRegionId=8)
    delete = models.DeleteInstanceRequest()
    delete.RegistryId = rid
    assert sdk_error(lambda: client.DeleteInstance(delete)) == "FailedOperation.PreconditionFailed"

    drop = models.DeleteReplicationInstanceRequest()
    drop.RegistryId = rid
    drop.ReplicationRegistryId = rep
    assert sdk_error(lambda: client.DeleteReplicationInstance(drop)) == "MissingParameter"  # region id required
    drop.ReplicationRegionId = 8
    assert client.DeleteReplicationInstance(drop).RequestId
    assert describe_replicas(client, rid).TotalCount == 0
    assert client.DeleteInstance(delete).RequestId
    req = models.DescribeInstancesRequest()
    req.Registryids = [rid]
    assert client.DescribeInstances(req).TotalCount == 0


# The codes the Go SDK (tencentcloud-sdk-go tcr/v20190924 client.go) lists for CreateReplicationInstance:
# a refusal localcloud answers for it must be one of them (docs/localcloud-tcr.md).
CREATE_REPLICATION_INSTANCE_CODES = frozenset(
    {
        "FailedOperation",
        "InternalError",
        "InternalError.DbError",
        "InternalError.ErrConflict",
        "InternalError.ErrNotExist",
        "InternalError.ErrorConflict",
        "InternalError.ErrorOverLimit",
        "InvalidParameter",
        "InvalidParameter.ReplicationExists",
        "InvalidParameter.UnsupportedRegion",
        "MissingParameter",
        "OperationDenied",
        "UnauthorizedOperation",
        "UnknownParameter",
        "UnsupportedOperation",
    }
)


@pytest.mark.parametrize(
    ("primary_region", "rtype", "params", "code"),
    [
        ("ap-guangzhou", "standard", {"ReplicationRegionName": "ap-shanghai"}, "UnsupportedOperation"),
        ("ap-guangzhou", "premium", {"ReplicationRegionName": "ap-guangzhou"}, "InvalidParameter"),
        ("ap-guangzhou", "premium", {"ReplicationRegionId": 1}, "InvalidParameter"),
        (
            "ap-guangzhou",
            "premium",
            {"ReplicationRegionName": "ap-hongkong"},
            "InvalidParameter.UnsupportedRegion",
        ),
        ("ap-hongkong", "premium", {"ReplicationRegionId": 4}, "InvalidParameter.UnsupportedRegion"),
        (
            "ap-singapore",
            "premium",
            {"ReplicationRegionName": "ap-beijing"},
            "InvalidParameter.UnsupportedRegion",
        ),
        ("ap-hongkong", "premium", {"ReplicationRegionId": 39}, "InvalidParameter.UnsupportedRegion"),
        ("ap-guangzhou", "premium", {"ReplicationRegionName": "ap-tianjin"}, "InvalidParameter.UnsupportedRegion"),
        ("ap-hongkong", "premium", {"ReplicationRegionName": "na-toronto"}, "InvalidParameter.UnsupportedRegion"),
        (
            "ap-guangzhou",
            "premium",
            {"ReplicationRegionId": 4, "ReplicationRegionName": "ap-beijing"},
            "InvalidParameter",
        ),
        ("ap-guangzhou", "premium", {"ReplicationRegionId": 999}, "InvalidParameter"),
        ("ap-guangzhou", "premium", {"ReplicationRegionName": "mars-north-1"}, "InvalidParameter"),
        ("ap-guangzhou", "premium", {}, "MissingParameter"),
    ],
)
def test_replica_rule_refusals(
    cloud: Cloud, primary_region: str, rtype: str, params: dict[str, Any], code: str
) -> None:
    assert code in CREATE_REPLICATION_INSTANCE_CODES  # a code TCR may answer for this action
    client = cloud.client(primary_region)
    rid = create_instance(client, "rules-primary", rtype)
    assert sdk_error(lambda: create_replica(client, rid, **params)) == code
    assert describe_replicas(client, rid).TotalCount == 0


def test_replica_allowed_cases_and_one_per_region(cloud: Cloud) -> None:
    hk = cloud.client("ap-hongkong")
    rid = create_instance(hk, "outside-hk")
    sg = create_replica(hk, rid, ReplicationRegionId=9, ReplicationRegionName="ap-singapore")  # outside -> outside
    assert sg.startswith(f"{rid}-9-")
    assert sdk_error(lambda: create_replica(hk, rid, ReplicationRegionName="ap-singapore")) == (
        "InvalidParameter.ReplicationExists"
    )
    assert sdk_error(lambda: create_replica(hk, "tcr-missing0", ReplicationRegionId=9)) == "ResourceNotFound"
    gz = cloud.client("ap-guangzhou")
    rid2 = create_instance(gz, "inside-gz")
    assert create_replica(gz, rid2, ReplicationRegionName="ap-shanghai-fsi").startswith(f"{rid2}-7-")


def test_concurrent_creates_in_one_region_make_one_replica(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "race-gz")
    results: list[str] = []

    def attempt() -> None:
        try:
            results.append(create_replica(cloud.client(), rid, ReplicationRegionName="ap-beijing"))
        except TencentCloudSDKException as exc:
            results.append(str(exc.get_code()))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(1 for r in results if r.startswith(rid)) == 1
    assert results.count("InvalidParameter.ReplicationExists") == 9
    assert describe_replicas(client, rid).TotalCount == 1


def test_describe_replication_instances_paging_limits(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "page-gz")
    for region in ("ap-shanghai", "ap-beijing", "ap-chengdu"):
        create_replica(client, rid, ReplicationRegionName=region)
    req = models.DescribeReplicationInstancesRequest()
    req.RegistryId, req.Offset, req.Limit = rid, 1, 1
    resp = client.DescribeReplicationInstances(req)
    assert resp.TotalCount == 3 and len(resp.ReplicationRegistries) == 1
    req.Limit = 101
    assert sdk_error(lambda: client.DescribeReplicationInstances(req)) == "InvalidParameter"


# ---------------------------------------------------------------- namespaces, repositories, images


def test_namespace_repositories_and_images(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "images-gz")
    ns = models.CreateNamespaceRequest()
    ns.RegistryId, ns.NamespaceName, ns.IsPublic = rid, "team", True
    assert client.CreateNamespace(ns).RequestId
    assert sdk_error(lambda: client.CreateNamespace(ns)) == "InvalidParameter.ErrNamespaceExist"

    d1 = "sha256:" + "a" * 64
    assert (
        cloud.svc.admin_push(
            {"registryId": rid, "namespace": "team", "repository": "api", "tag": "v1", "digest": d1, "size": 123}
        )["digest"]
        == d1
    )
    d2 = cloud.svc.admin_push({"registryId": rid, "namespace": "team", "repository": "api", "tag": "v2"})["digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", d2) and d2 != d1
    cloud.svc.admin_push({"registryId": rid, "namespace": "other", "repository": "tool", "tag": "latest"})

    req = models.DescribeRepositoriesRequest()
    req.RegistryId = rid
    resp = client.DescribeRepositories(req)
    assert resp.TotalCount == 2
    assert {r.Name for r in resp.RepositoryList} == {"team/api", "other/tool"}
    req.NamespaceName = "team"
    resp = client.DescribeRepositories(req)
    repo = resp.RepositoryList[0]
    assert (resp.TotalCount, repo.Name, repo.Namespace, repo.Public) == (1, "team/api", "team", True)
    assert repo.CreationTime.endswith("+0000 UTC") and repo.UpdateTime

    img = models.DescribeImagesRequest()
    img.RegistryId, img.NamespaceName, img.RepositoryName = rid, "team", "api"
    resp = client.DescribeImages(img)
    assert resp.TotalCount == 2
    assert {(i.ImageVersion, i.Digest) for i in resp.ImageInfoList} == {("v1", d1), ("v2", d2)}
    assert {i.ImageVersion: i.Size for i in resp.ImageInfoList}["v1"] == 123
    for i in resp.ImageInfoList:
        assert None not in (i.UpdateTime, i.Kind)
    # Offset is a page number starting at 1.
    img.Limit = 1
    img.Offset = 1
    first = client.DescribeImages(img).ImageInfoList
    img.Offset = 2
    second = client.DescribeImages(img).ImageInfoList
    assert len(first) == len(second) == 1
    assert {first[0].ImageVersion, second[0].ImageVersion} == {"v1", "v2"}
    img.Offset, img.Limit, img.Digest = 1, 20, d1
    assert [i.ImageVersion for i in client.DescribeImages(img).ImageInfoList] == ["v1"]
    img.Digest, img.RepositoryName = None, "missing"
    assert sdk_error(lambda: client.DescribeImages(img)) == "ResourceNotFound.ErrNoRepo"


def test_admin_push_validates_input(cloud: Cloud) -> None:
    rid = create_instance(cloud.client(), "admin-gz")
    good = {"registryId": rid, "namespace": "ns1", "repository": "app", "tag": "v1"}
    with pytest.raises(AdminError) as info:
        cloud.svc.admin_push({**good, "registryId": "tcr-unknown1"})
    assert info.value.status == 404
    for bad in (
        {k: v for k, v in good.items() if k != "tag"},
        {**good, "digest": "md5:abc"},
        {**good, "size": -1},
        {**good, "repository": "Bad Repo"},
        {**good, "extra": 1},
    ):
        with pytest.raises(AdminError) as info:
            cloud.svc.admin_push(bad)
        assert info.value.status == 400


# ---------------------------------------------------------------- webhooks


def make_trigger(name: str, address: str, condition: str = ".*", enabled: bool = True) -> models.WebhookTrigger:
    trig = models.WebhookTrigger()
    trig.Name = name
    target = models.WebhookTarget()
    target.Address = address
    header = models.Header()
    header.Key = "X-Hook-Token"
    header.Values = ["s3cret"]
    target.Headers = [header]
    trig.Targets = [target]
    trig.EventTypes = ["pushImage"]
    trig.Condition = condition
    trig.Enabled = enabled
    return trig


def add_trigger(client: tcr_client.TcrClient, rid: str, ns: str, trig: models.WebhookTrigger) -> models.WebhookTrigger:
    req = models.CreateWebhookTriggerRequest()
    req.RegistryId, req.Namespace, req.Trigger = rid, ns, trig
    return client.CreateWebhookTrigger(req).Trigger


def trigger_logs(client: tcr_client.TcrClient, rid: str, ns: str) -> list[models.WebhookTriggerLog]:
    req = models.DescribeWebhookTriggerLogRequest()
    req.RegistryId, req.Namespace = rid, ns
    return client.DescribeWebhookTriggerLog(req).Logs


def setup_hooked_instance(cloud: Cloud, receiver: Receiver, name: str) -> tuple[tcr_client.TcrClient, str]:
    client = cloud.client()
    rid = create_instance(client, name)
    ns = models.CreateNamespaceRequest()
    ns.RegistryId, ns.NamespaceName = rid, "app"
    client.CreateNamespace(ns)
    return client, rid


def test_webhook_fires_with_trigger_headers_and_tcr_payload(cloud: Cloud, receiver: Receiver) -> None:
    client, rid = setup_hooked_instance(cloud, receiver, "hooks-gz")
    created = add_trigger(client, rid, "app", make_trigger("to-ci", receiver.url, condition="^app/web"))
    assert created.Id and created.Name == "to-ci" and created.Enabled is True
    assert created.Targets[0].Headers[0].Key == "X-Hook-Token"
    add_trigger(client, rid, "app", make_trigger("off", receiver.url, enabled=False))
    add_trigger(client, rid, "app", make_trigger("other-repo", receiver.url, condition="^app/db:"))
    dup = make_trigger("to-ci", receiver.url)
    assert sdk_error(lambda: add_trigger(client, rid, "app", dup)) == "InvalidParameter.ErrTriggerExist"
    assert sdk_error(lambda: add_trigger(client, rid, "nope", make_trigger("x", receiver.url))) == (
        "ResourceNotFound.ErrNoNamespace"
    )

    described = models.DescribeWebhookTriggerRequest()
    described.RegistryId, described.Namespace = rid, "app"
    resp = client.DescribeWebhookTrigger(described)
    assert resp.TotalCount == 3
    assert {t.Name for t in resp.Triggers} == {"to-ci", "off", "other-repo"}
    assert all(t.NamespaceId is not None and t.Condition for t in resp.Triggers)

    before = int(time.time())
    digest = "sha256:" + "b" * 64
    cloud.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "web", "tag": "v1", "digest": digest})
    after = int(time.time()) + 1

    logs = wait_for(
        lambda: [log for log in trigger_logs(client, rid, "app") if log.Status == "finished"], "delivery logged"
    )
    assert len(receiver.calls) == 1  # the disabled and the non-matching triggers did not fire
    path, headers, body = receiver.calls[0]
    assert path == "/hook"
    assert headers["x-hook-token"] == "s3cret"
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert list(payload) == ["type", "occur_at", "event_data", "operator"]
    assert payload["type"] == "pushImage"
    assert isinstance(payload["occur_at"], int) and before <= payload["occur_at"] <= after
    assert isinstance(payload["operator"], str) and payload["operator"].isdigit()
    assert payload["event_data"]["resources"] == [
        {"digest": digest, "tag": "v1", "resource_url": "hooks-gz.tencentcloudcr.com/app/web:v1"}
    ]
    repo = payload["event_data"]["repository"]
    assert set(repo) == {"date_created", "name", "namespace", "repo_full_name", "repo_type"}
    assert (repo["name"], repo["namespace"], repo["repo_full_name"], repo["repo_type"]) == (
        "web",
        "app",
        "app/web",
        "private",
    )
    assert isinstance(repo["date_created"], int)

    assert len(logs) == 1
    log = logs[0]
    assert (log.TriggerId, log.EventType, log.NotifyType) == (created.Id, "pushImage", "http")
    assert json.loads(log.Detail) == payload
    assert log.CreationTime and log.UpdateTime and log.Id is not None


def test_webhook_failure_is_retried_and_logged_as_error(cloud: Cloud, receiver: Receiver) -> None:
    client, rid = setup_hooked_instance(cloud, receiver, "fail-gz")
    add_trigger(client, rid, "app", make_trigger("ci", receiver.url))
    cloud.faults.set({"webhook": {"failRate": 1.0}})
    cloud.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "web", "tag": "v1"})
    wait_for(lambda: [x for x in trigger_logs(client, rid, "app") if x.Status == "error"], "error logged")
    assert receiver.calls == []


def test_webhook_target_answering_500_is_logged_as_error(cloud: Cloud) -> None:
    bad = Receiver(status=500)
    try:
        client = cloud.client()
        rid = create_instance(client, "five-gz")
        cloud.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "seed", "tag": "v0"})
        add_trigger(client, rid, "app", make_trigger("ci", bad.url))
        cloud.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "web", "tag": "v1"})
        wait_for(lambda: len(bad.calls) >= 3, "three attempts (one delivery, two retries)")
        wait_for(lambda: [x for x in trigger_logs(client, rid, "app") if x.Status == "error"], "error logged")
    finally:
        bad.close()


def test_webhook_redelivery_sends_the_same_payload_twice(cloud: Cloud, receiver: Receiver) -> None:
    client, rid = setup_hooked_instance(cloud, receiver, "twice-gz")
    add_trigger(client, rid, "app", make_trigger("ci", receiver.url))
    cloud.faults.set({"webhook": {"redeliverRate": 1.0}})
    cloud.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "web", "tag": "v1"})
    wait_for(lambda: len(receiver.calls) >= 2, "two deliveries")
    assert receiver.calls[0][2] == receiver.calls[1][2]


def test_held_back_delivery_is_overtaken_by_a_later_push(cloud: Cloud, receiver: Receiver) -> None:
    client, rid = setup_hooked_instance(cloud, receiver, "order-gz")
    add_trigger(client, rid, "app", make_trigger("ci", receiver.url))
    cloud.faults.set({"webhook": {"reorderRate": 1.0, "reorderDelayMs": [600, 600]}})
    first = cloud.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "web", "tag": "v1"})
    cloud.faults.clear()
    second = cloud.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "web", "tag": "v2"})
    wait_for(lambda: len(receiver.calls) >= 2, "both deliveries")
    arrived = [json.loads(body)["event_data"]["resources"][0]["digest"] for _, _, body in receiver.calls]
    assert arrived == [second["digest"], first["digest"]]
    records = cloud.svc.admin_webhook_deliveries(rid)["deliveries"]
    assert [(d["digest"], d["heldMs"], d["outcome"]) for d in records] == [
        (first["digest"], 600.0, "delivered"),
        (second["digest"], 0.0, "delivered"),
    ]
    assert records[1]["attempts"][0]["arrival"] < records[0]["attempts"][0]["arrival"]


def test_delivery_records_keep_every_attempts_answer() -> None:
    bad = Receiver(status=503)
    c = Cloud()
    try:
        client = c.client()
        rid = create_instance(client, "rec-gz")
        c.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "seed", "tag": "v0"})
        add_trigger(client, rid, "app", make_trigger("ci", bad.url))
        c.faults.set({"webhook": {"redeliverRate": 1.0}})
        c.svc.admin_push({"registryId": rid, "namespace": "app", "repository": "web", "tag": "v1"})
        wait_for(
            lambda: all(d["outcome"] != "pending" for d in c.svc.admin_webhook_deliveries(rid)["deliveries"]),
            "deliveries settled",
        )
        records = c.svc.admin_webhook_deliveries(rid)["deliveries"]
        assert [d["redelivery"] for d in records] == [False, True]
        for d in records:
            assert d["outcome"] == "failed"
            assert [(a["status"], a["error"], a["injected"]) for a in d["attempts"]] == [(503, None, False)] * 3
        assert len(bad.calls) == 6
        with pytest.raises(AdminError):
            c.svc.admin_webhook_deliveries("tcr-unknown")
    finally:
        c.close()
        bad.close()


# ---------------------------------------------------------------- replication


def test_push_replicates_to_running_replica_and_shows_in_sync_status(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "sync-gz")
    rep = create_replica(client, rid, ReplicationRegionName="ap-shanghai")
    fresh = sync_status(client, rid, rep)
    assert fresh.ReplicationStatus is not None and fresh.ReplicationTime is not None
    assert fresh.ReplicationStatus != "Succeed"
    wait_for(lambda: describe_replicas(client, rid).ReplicationRegistries[0].Status == "Running", "replica running")

    cloud.svc.admin_push({"registryId": rid, "namespace": "team", "repository": "web", "tag": "1.0"})
    status = wait_for(
        lambda: (s := sync_status(client, rid, rep, ShowReplicationLog=True)).ReplicationStatus == "Succeed" and s,
        "replication succeeded",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status.ReplicationTime)
    log = status.ReplicationLog
    assert (log.ResourceType, log.Source, log.Destination, log.Status) == (
        "image",
        "team/web:[1.0]",
        "team/web:[1.0]",
        "Succeed",
    )
    assert log.StartTime and log.EndTime
    assert sync_status(client, rid, rep).ReplicationLog is None  # only with ShowReplicationLog

    too_many = models.DescribeReplicationInstanceSyncStatusRequest()
    too_many.RegistryId, too_many.ReplicationRegistryId, too_many.Limit = rid, rep, 21
    assert sdk_error(lambda: client.DescribeReplicationInstanceSyncStatus(too_many)) == "InvalidParameter"


def test_replication_failure_shows_failed(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "rfail-gz")
    rep = create_replica(client, rid, ReplicationRegionName="ap-beijing")
    cloud.faults.set({"replication": {"lagMs": [5, 10], "failRate": 1.0}})
    cloud.svc.admin_push({"registryId": rid, "namespace": "team", "repository": "web", "tag": "1.0"})
    status = wait_for(
        lambda: (s := sync_status(client, rid, rep, ShowReplicationLog=True)).ReplicationStatus == "Failed" and s,
        "replication failed",
    )
    assert status.ReplicationLog.Status == "Failed"


def test_replication_log_shape_switch(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    client = cloud.client()
    rid = create_instance(client, "shape-gz")
    rep = create_replica(client, rid, ReplicationRegionName="ap-chengdu")
    for tag in ("a", "b", "c"):
        cloud.svc.admin_push({"registryId": rid, "namespace": "team", "repository": "web", "tag": tag})
    params = {"RegistryId": rid, "ReplicationRegistryId": rep, "ShowReplicationLog": True, "Limit": 2}
    wait_for(
        lambda: (
            client.call_json("DescribeReplicationInstanceSyncStatus", params)["Response"]["ReplicationStatus"]
            == "Succeed"
        ),
        "replication done",
    )
    single = client.call_json("DescribeReplicationInstanceSyncStatus", params)["Response"]["ReplicationLog"]
    assert isinstance(single, dict) and single["Source"].startswith("team/web:[")

    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", "array")
    page1 = client.call_json("DescribeReplicationInstanceSyncStatus", {**params, "Offset": 1})["Response"]
    page2 = client.call_json("DescribeReplicationInstanceSyncStatus", {**params, "Offset": 2})["Response"]
    assert isinstance(page1["ReplicationLog"], list) and len(page1["ReplicationLog"]) == 2
    assert len(page2["ReplicationLog"]) == 1
    sources = {e["Source"] for e in page1["ReplicationLog"] + page2["ReplicationLog"]}
    assert sources == {"team/web:[a]", "team/web:[b]", "team/web:[c]"}
    # The SDK model cannot take the array shape (documented SDK behaviour).
    req = models.DescribeReplicationInstanceSyncStatusRequest()
    req.RegistryId, req.ReplicationRegistryId, req.ShowReplicationLog = rid, rep, True
    assert sdk_error(lambda: client.DescribeReplicationInstanceSyncStatus(req)) == "AttributeError"


# ---------------------------------------------------------------- faults, stats, state


def test_fault_error_rate_gives_configured_code(cloud: Cloud) -> None:
    cloud.faults.set({"tcr": {"errorRate": 1.0, "codes": ["InternalError"], "actions": ["DescribeRegions"]}})
    client = cloud.client()
    assert sdk_error(lambda: client.DescribeRegions(models.DescribeRegionsRequest())) == "InternalError"
    create_instance(client, "not-faulted")  # other actions are out of scope


def test_fault_drop_gives_client_network_error(cloud: Cloud) -> None:
    cloud.faults.set({"tcr": {"dropRate": 1.0}})
    assert sdk_error(lambda: cloud.client().DescribeRegions(models.DescribeRegionsRequest())) == "ClientNetworkError"


def test_fault_rate_limit(cloud: Cloud) -> None:
    cloud.faults.set({"tcr": {"rateLimit": {"DescribeRegions": 1}}})
    client = cloud.client()
    outcomes = []
    for _ in range(5):
        try:
            client.DescribeRegions(models.DescribeRegionsRequest())
            outcomes.append("ok")
        except TencentCloudSDKException as exc:
            outcomes.append(str(exc.get_code()))
    assert outcomes[0] == "ok"
    assert "RequestLimitExceeded" in outcomes


def test_stats_count_calls_per_action(cloud: Cloud) -> None:
    client = cloud.client()
    for _ in range(3):
        client.DescribeRegions(models.DescribeRegionsRequest())
    create_instance(client, "stats-gz")
    stats = cloud.svc.stats()
    assert stats["DescribeRegions"] == 3
    assert stats["CreateInstance"] == 1


def test_snapshot_restore_round_trip(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "state-gz")
    rep = create_replica(client, rid, ReplicationRegionName="ap-shanghai")
    cloud.svc.admin_push({"registryId": rid, "namespace": "team", "repository": "web", "tag": "v1"})
    data = json.loads(json.dumps(cloud.svc.snapshot()))  # JSON-able

    other = Cloud()
    try:
        other.svc.restore(data)
        c2 = other.client()
        req = models.DescribeInstancesRequest()
        req.Registryids = [rid]
        assert c2.DescribeInstances(req).Registries[0].RegistryName == "state-gz"
        assert describe_replicas(c2, rid).ReplicationRegistries[0].ReplicationRegistryId == rep
        wait_for(lambda: sync_status(c2, rid, rep).ReplicationStatus == "Succeed", "restored replication finishes")
    finally:
        other.close()


def test_replication_outcomes_are_deterministic_for_a_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", "array")

    def outcomes() -> list[tuple[str, str]]:
        c = Cloud()
        try:
            client = c.client()
            rid = create_instance(client, "seeded-gz")
            reps = [create_replica(client, rid, ReplicationRegionName=r) for r in ("ap-shanghai", "ap-beijing")]
            c.faults.set({"seed": 7, "replication": {"lagMs": [1, 5], "failRate": 0.5}})
            for tag in ("t1", "t2", "t3", "t4", "t5", "t6"):
                c.svc.admin_push({"registryId": rid, "namespace": "team", "repository": "web", "tag": tag})
            out = []
            for rep in reps:
                params = {"RegistryId": rid, "ReplicationRegistryId": rep, "ShowReplicationLog": True, "Limit": 20}
                os.environ["LOCALCLOUD_REPLICATION_LOG_SHAPE"] = "array"
                try:
                    logs = wait_for(
                        lambda p=params: (
                            (
                                log := client.call_json("DescribeReplicationInstanceSyncStatus", p)["Response"][
                                    "ReplicationLog"
                                ]
                            )
                            and all(e["Status"] != "InProgress" for e in log)
                            and log
                        ),
                        "replication settled",
                    )
                finally:
                    os.environ.pop("LOCALCLOUD_REPLICATION_LOG_SHAPE", None)
                out += sorted((e["Source"], e["Status"]) for e in logs)
            return out
        finally:
            c.close()

    first, second = outcomes(), outcomes()
    assert first == second
    assert len(first) == 12
    assert {status for _, status in first} == {"Succeed", "Failed"}


def test_more_parameter_refusals(cloud: Cloud, receiver: Receiver) -> None:
    client, rid = setup_hooked_instance(cloud, receiver, "refuse-gz")
    assert sdk_error(lambda: add_trigger(client, rid, "app", make_trigger("re", receiver.url, condition="("))) == (
        "InvalidParameter"
    )
    assert sdk_error(lambda: add_trigger(client, rid, "app", make_trigger("url", "ftp://example"))) == (
        "InvalidParameter"
    )
    rep = create_replica(client, rid, ReplicationRegionName="ap-shanghai")
    drop = models.DeleteReplicationInstanceRequest()
    drop.RegistryId, drop.ReplicationRegistryId, drop.ReplicationRegionId = rid, rep, 8  # it is in region 4
    assert sdk_error(lambda: client.DeleteReplicationInstance(drop)) == "InvalidParameter"
    drop.ReplicationRegistryId, drop.ReplicationRegionId = f"{rid}-4-zzzzzz", 4
    assert sdk_error(lambda: client.DeleteReplicationInstance(drop)) == "ResourceNotFound"
    tasks = models.DescribeReplicationInstanceCreateTasksRequest()
    tasks.ReplicationRegistryId = rep
    assert sdk_error(lambda: client.DescribeReplicationInstanceCreateTasks(tasks)) == "MissingParameter"
    log_req = models.DescribeWebhookTriggerLogRequest()
    log_req.RegistryId, log_req.Namespace, log_req.Id = rid, "app", 999
    assert sdk_error(lambda: client.DescribeWebhookTriggerLog(log_req)) == "ResourceNotFound.ErrNoTrigger"
    assert describe_replicas(client, rid).TotalCount == 1


# ---------------------------------------------------------------- unknown parameters

SERVED_ACTIONS = [
    "CreateInstance",
    "DescribeInstances",
    "DeleteInstance",
    "DescribeRegions",
    "CreateReplicationInstance",
    "DeleteReplicationInstance",
    "DescribeReplicationInstances",
    "DescribeReplicationInstanceCreateTasks",
    "DescribeReplicationInstanceSyncStatus",
    "CreateNamespace",
    "DescribeRepositories",
    "DescribeImages",
    "CreateWebhookTrigger",
    "DescribeWebhookTrigger",
    "DescribeWebhookTriggerLog",
]


def sdk_failure(fn: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(TencentCloudSDKException) as info:
        fn()
    return str(info.value.get_code()), str(info.value.get_message())


def documented_fields(action: str) -> list[str]:
    """The request fields of the SDK's <Action>Request model (what tcr-api-fields.md documents)."""
    return [name.lstrip("_") for name in vars(getattr(models, f"{action}Request")())]


@pytest.mark.parametrize("action", SERVED_ACTIONS)
def test_unknown_parameter_is_refused_and_named(cloud: Cloud, action: str) -> None:
    client = cloud.client()
    code, message = sdk_failure(lambda: client.call_json(action, {"NotATcrField": 1}))
    assert code == "UnknownParameter"
    assert "NotATcrField" in message


@pytest.mark.parametrize("action", SERVED_ACTIONS)
def test_every_documented_field_is_a_known_parameter(cloud: Cloud, action: str) -> None:
    # null is "absent" for the API; the call may fail for other reasons, but never as UnknownParameter
    client = cloud.client()
    for name in documented_fields(action):
        try:
            client.call_json(action, {name: None})
        except TencentCloudSDKException as exc:
            assert exc.get_code() != "UnknownParameter", (action, name, exc.get_message())


def test_misspelled_parameters_are_not_silently_ignored(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "spelling-gz")
    # DescribeInstances spells it `Registryids`; `RegistryIds` (DescribeInstanceStatus's spelling) is unknown
    code, message = sdk_failure(lambda: client.call_json("DescribeInstances", {"RegistryIds": [rid]}))
    assert (code, "RegistryIds" in message) == ("UnknownParameter", True)
    code, message = sdk_failure(
        lambda: client.call_json("CreateReplicationInstance", {"RegistryId": rid, "RegionName": "ap-shanghai"})
    )
    assert (code, "RegionName" in message) == ("UnknownParameter", True)
    assert describe_replicas(client, rid).TotalCount == 0  # nothing was created


def test_unknown_fields_inside_request_structures_are_refused(cloud: Cloud) -> None:
    client = cloud.client()
    rid = create_instance(client, "nested-gz")
    ns = models.CreateNamespaceRequest()
    ns.RegistryId, ns.NamespaceName = rid, "app"
    client.CreateNamespace(ns)
    good = {
        "Name": "hook",
        "Targets": [{"Address": "http://127.0.0.1:9/hook", "Headers": [{"Key": "X-Token", "Values": ["t"]}]}],
        "EventTypes": ["pushImage"],
        "Condition": ".*",
        "Enabled": True,
    }
    bad_trigger = {**good, "Url": "http://127.0.0.1:9/hook"}
    bad_target = {**good, "Targets": [{"Address": "http://127.0.0.1:9/hook", "Header": []}]}
    bad_header = {**good, "Targets": [{"Address": "http://127.0.0.1:9/hook", "Headers": [{"Key": "A", "Value": "b"}]}]}
    for trigger, name in ((bad_trigger, "Url"), (bad_target, "Header"), (bad_header, "Value")):
        code, message = sdk_failure(
            lambda t=trigger: client.call_json(
                "CreateWebhookTrigger", {"RegistryId": rid, "Namespace": "app", "Trigger": t}
            )
        )
        assert code == "UnknownParameter"
        assert name in message
    listing = models.DescribeWebhookTriggerRequest()
    listing.RegistryId = rid
    assert client.DescribeWebhookTrigger(listing).TotalCount == 0
    assert (
        "Error"
        not in client.call_json("CreateWebhookTrigger", {"RegistryId": rid, "Namespace": "app", "Trigger": good})[
            "Response"
        ]
    )
    code, message = sdk_failure(
        lambda: client.call_json("DescribeInstances", {"Filters": [{"Name": "RegistryName", "Value": ["x"]}]})
    )
    assert (code, "Value" in message) == ("UnknownParameter", True)
