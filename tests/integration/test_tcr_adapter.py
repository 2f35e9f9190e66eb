"""shared.tcr through the real TcrClient, against localcloud (and a scripted server for odd answers).

Setup (instances) goes through the SDK directly (tests/integration/support.py), never through the adapter.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from localcloud.httpd import Request, Response, Server
from shared import replication_log as tlog
from shared.config import Config
from shared.errors import ApiError, ConfigError
from shared.ports import SyncStatus
from shared.runtime import Deadline, RetryPolicy
from shared.tcr import TcrAdapter
from tests.integration.support import create_instance, tcr_client

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_attempts=8, base_s=0.005, cap_s=0.05)


def admin(cloud: Any, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(cloud.host_url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture
def faults(localcloud: Any) -> Iterator[Any]:
    """Set a fault plan for one test; the session's plan is restored afterwards."""
    before = admin(localcloud, "GET", "/_localcloud/faults")

    def set_plan(plan: dict[str, Any]) -> None:
        admin(localcloud, "POST", "/_localcloud/faults", {**before, **plan})

    yield set_plan
    admin(localcloud, "POST", "/_localcloud/faults", before)


@pytest.fixture
def env(localcloud: Any) -> dict[str, str]:
    return dict(localcloud.env())


@pytest.fixture
def tcr(env: dict[str, str]) -> TcrAdapter:
    return TcrAdapter(Config(env), policy=FAST)


@pytest.fixture
def new_instance(env: dict[str, str]) -> Any:
    """Creates a Running premium instance through the SDK; returns its id."""
    client = tcr_client(env)
    return lambda: create_instance(client)


def test_instances_listing_pages_and_lookups(tcr: TcrAdapter, new_instance: Any) -> None:
    made = {new_instance() for _ in range(5)}
    before = tcr.calls_by_action.get("DescribeInstances", 0)
    listed = tcr.describe_instances(page_size=2)
    pages = tcr.calls_by_action["DescribeInstances"] - before
    assert made <= {i.registry_id for i in listed}
    assert pages >= 3  # five of ours alone need three pages of two
    assert len({i.registry_id for i in listed}) == len(listed)

    one = sorted(made)[0]
    inst = tcr.get_instance(one)
    assert inst.registry_id == one
    assert inst.registry_type == "premium"
    assert (inst.region, inst.region_id) == ("ap-guangzhou", 1)
    assert inst.status == "Running"
    assert inst.public_domain and inst.created_at
    found = tcr.find_instance_by_domain("https://" + inst.public_domain.upper() + "/v2/ns/app")
    assert found is not None and found.registry_id == one
    assert tcr.find_instance_by_domain("nobody.tencentcloudcr.com") is None

    only = tcr.describe_instances([one])
    assert [i.registry_id for i in only] == [one]


def test_unknown_registry_is_instance_not_found(tcr: TcrAdapter) -> None:
    with pytest.raises(ApiError) as info:
        tcr.get_instance("tcr-doesnotexist")
    assert info.value.code == "InstanceNotFound"
    with pytest.raises(ApiError) as info:
        tcr.list_replicas("tcr-doesnotexist")
    assert info.value.code == "InstanceNotFound"
    assert info.value.status == 404
    assert "RequestId" in info.value.message


def test_replica_lifecycle_and_paging(tcr: TcrAdapter, new_instance: Any) -> None:
    rid = new_instance()
    sh = tcr.create_replica(rid, region_name="ap-shanghai")
    bj = tcr.create_replica(rid, region_id=8)
    assert sh.replica_registry_id and bj.replica_registry_id
    assert sh.replica_registry_id != bj.replica_registry_id
    assert (sh.region, sh.region_id, bj.region, bj.region_id) == ("ap-shanghai", 4, "ap-beijing", 8)
    assert sh.status == "Deploying" and sh.created_at is None, "TCR's create answer names only the id"

    replicas = tcr.list_replicas(rid, page_size=1)
    assert {(r.region, r.region_id) for r in replicas} == {("ap-shanghai", 4), ("ap-beijing", 8)}
    assert {r.replica_registry_id for r in replicas} == {sh.replica_registry_id, bj.replica_registry_id}
    assert all(r.status and r.created_at and r.created for r in replicas)

    with pytest.raises(ApiError) as info:
        tcr.create_replica(rid, region_name="ap-shanghai")
    assert info.value.code == "ReplicaExists"

    with pytest.raises(ApiError) as info:
        tcr.delete_instance(rid)
    assert info.value.code == "Conflict"  # TCR refuses while replicas exist

    tcr.delete_replica(rid, sh.replica_registry_id, 4)
    assert [r.region for r in tcr.list_replicas(rid)] == ["ap-beijing"]
    with pytest.raises(ApiError) as info:
        tcr.delete_replica(rid, sh.replica_registry_id, 4)
    assert info.value.code == "ReplicaNotFound"

    tcr.delete_replica(rid, bj.replica_registry_id, 8)
    assert tcr.list_replicas(rid) == []
    tcr.delete_instance(rid)
    with pytest.raises(ApiError):
        tcr.get_instance(rid)


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ({"region_name": "ap-guangzhou"}, "SameRegion"),
        ({"region_name": "ap-singapore"}, "CrossBorder"),
        ({"region_id": 5}, "CrossBorder"),  # Hong Kong counts as outside mainland China
        ({"region_name": "ap-taipei"}, "RegionNotSupported"),
    ],
)
def test_region_refusals_map_to_our_codes(
    tcr: TcrAdapter, new_instance: Any, target: dict[str, Any], code: str
) -> None:
    rid = new_instance()
    tcr.get_instance(rid)  # learns the primary's region
    with pytest.raises(ApiError) as info:
        tcr.create_replica(rid, **target)
    assert info.value.code == code
    assert info.value.status == 422
    assert code in {v["code"] for v in info.value.details["violations"]}, "named as the region rules name it"
    assert "RequestId" in info.value.message, "and TCR's own reference kept"
    assert tcr.list_replicas(rid) == []


def test_cross_border_is_refused_even_without_knowing_the_primary(env: dict[str, str], new_instance: Any) -> None:
    rid = new_instance()
    fresh = TcrAdapter(Config(env), policy=FAST)  # has never seen the instance
    with pytest.raises(ApiError) as info:
        fresh.create_replica(rid, region_name="na-ashburn")
    assert info.value.code in ("CrossBorder", "RegionNotSupported")
    assert info.value.status == 422


def test_wrong_key_is_upstream_error_without_the_secret(env: dict[str, str]) -> None:
    bad_key = "WrongSecretKey" + "x" * 20
    env["TENCENTCLOUD_SECRETKEY"] = bad_key
    tcr = TcrAdapter(Config(env), policy=FAST)
    with pytest.raises(ApiError) as info:
        tcr.describe_instances()
    assert info.value.code == "UpstreamError"
    assert info.value.status == 502
    assert "AuthFailure" in info.value.message
    assert bad_key not in info.value.message
    assert tcr.calls == 1  # an auth failure is not retried


def test_missing_credentials_are_a_config_error_not_a_call(env: dict[str, str]) -> None:
    del env["TENCENTCLOUD_SECRETID"]
    tcr = TcrAdapter(Config(env), policy=FAST)
    with pytest.raises(ConfigError) as info:
        tcr.describe_instances()
    assert info.value.variable == "TENCENTCLOUD_SECRETID"
    assert tcr.calls == 0


def test_rotated_credentials_are_used_by_the_same_client(env: dict[str, str], localcloud: Any) -> None:
    tcr = TcrAdapter(Config(env), policy=FAST)
    assert tcr.describe_instances()
    env["TENCENTCLOUD_SECRETKEY"] = "RotatedButWrong" + "y" * 18
    with pytest.raises(ApiError) as info:
        tcr.describe_instances()
    assert info.value.code == "UpstreamError"
    env["TENCENTCLOUD_SECRETKEY"] = localcloud.env()["TENCENTCLOUD_SECRETKEY"]
    assert tcr.describe_instances()


# -- faults and retries ---------------------------------------------------------------------------


def test_rate_limit_faults_are_retried_until_success(tcr: TcrAdapter, new_instance: Any, faults: Any) -> None:
    rid = new_instance()
    faults({"seed": 11, "tcr": {"errorRate": 0.5, "codes": ["RequestLimitExceeded"], "actions": ["*"]}})
    for _ in range(10):
        assert tcr.get_instance(rid).registry_id == rid
    assert tcr.calls_by_action["DescribeInstances"] > 10  # some attempts were refused and retried


def test_create_under_rate_limits_makes_exactly_one_replica(tcr: TcrAdapter, new_instance: Any, faults: Any) -> None:
    rid = new_instance()
    faults({"seed": 3, "tcr": {"errorRate": 0.5, "codes": ["RequestLimitExceeded"], "actions": ["*"]}})
    rep = tcr.create_replica(rid, region_name="ap-nanjing")
    faults({"tcr": {"errorRate": 0.0}})
    replicas = tcr.list_replicas(rid)
    assert [r.replica_registry_id for r in replicas] == [rep.replica_registry_id]


def test_create_after_dropped_connections_makes_exactly_one_replica(
    tcr: TcrAdapter, new_instance: Any, faults: Any
) -> None:
    rid = new_instance()
    faults({"seed": 5, "tcr": {"dropRate": 0.6, "actions": ["CreateReplicationInstance"]}})
    rep = tcr.create_replica(rid, region_name="ap-chengdu")
    faults({"tcr": {"dropRate": 0.0, "actions": ["*"]}})
    replicas = tcr.list_replicas(rid)
    assert [r.region for r in replicas] == ["ap-chengdu"]
    assert replicas[0].replica_registry_id == rep.replica_registry_id
    assert tcr.calls_by_action["CreateReplicationInstance"] >= 1


def test_internal_errors_on_reads_are_retried(tcr: TcrAdapter, new_instance: Any, faults: Any) -> None:
    rid = new_instance()
    faults(
        {"seed": 2, "tcr": {"errorRate": 0.5, "codes": ["InternalError"], "actions": ["DescribeReplicationInstances"]}}
    )
    for _ in range(5):
        assert tcr.list_replicas(rid) == []
    assert tcr.calls_by_action["DescribeReplicationInstances"] > 5


def test_internal_error_on_create_is_not_blindly_repeated(tcr: TcrAdapter, new_instance: Any, faults: Any) -> None:
    rid = new_instance()
    faults({"seed": 1, "tcr": {"errorRate": 1.0, "codes": ["InternalError"], "actions": ["CreateReplicationInstance"]}})
    with pytest.raises(ApiError) as info:
        tcr.create_replica(rid, region_name="ap-chongqing")
    assert info.value.code == "UpstreamError"
    # Before every repeat the replica list was checked.
    assert tcr.calls_by_action["DescribeReplicationInstances"] >= tcr.calls_by_action["CreateReplicationInstance"] - 1


def test_persistent_rate_limit_is_throttled(tcr: TcrAdapter, faults: Any) -> None:
    faults({"seed": 1, "tcr": {"errorRate": 1.0, "codes": ["RequestLimitExceeded"], "actions": ["DescribeInstances"]}})
    with pytest.raises(ApiError) as info:
        tcr.describe_instances()
    assert info.value.code == "Throttled"
    assert info.value.status == 429
    assert tcr.calls == FAST.max_attempts


def test_deadline_stops_retrying(env: dict[str, str], faults: Any) -> None:
    policy = RetryPolicy(max_attempts=100, base_s=0.05, cap_s=0.05, min_attempt_s=0.0)
    tcr = TcrAdapter(Config(env), policy=policy, rand=lambda: 1.0, deadline=Deadline.after(0.3))
    faults({"seed": 1, "tcr": {"errorRate": 1.0, "codes": ["RequestLimitExceeded"], "actions": ["DescribeInstances"]}})
    with pytest.raises(ApiError) as info:
        tcr.describe_instances()
    assert info.value.code == "Throttled"
    # Each wait is exactly 0.05 s, so 0.3 s leave room for at most 7 attempts.
    assert 1 <= tcr.calls <= 7


def test_expired_deadline_makes_no_call(env: dict[str, str]) -> None:
    tcr = TcrAdapter(Config(env), policy=FAST, deadline=Deadline.after(0.0))
    with pytest.raises(ApiError) as info:
        tcr.describe_instances()
    assert info.value.code == "Unavailable"
    assert tcr.calls == 0


# -- sync status and replication logs -------------------------------------------------------------


def push(cloud: Any, registry_id: str, tag: str) -> str:
    body = {"registryId": registry_id, "namespace": "itns", "repository": "app", "tag": tag}
    return admin(cloud, "POST", "/_localcloud/push", body)["digest"]


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.05)


@pytest.mark.parametrize("shape", ["object", "array"])
def test_the_audits_log_reader_reads_every_page_in_both_shapes(
    tcr: TcrAdapter, new_instance: Any, localcloud: Any, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", shape)
    rid = new_instance()
    rep = tcr.create_replica(rid, region_name="ap-shanghai")
    replica_id = rep.replica_registry_id
    tags = [f"v{i}" for i in range(25)]  # more than one page of TCR's largest (20)
    for tag in tags:
        push(localcloud, rid, tag)

    def fetch(page: int, limit: int) -> SyncStatus:
        return tcr.sync_status(rid, replica_id, 4, show_log=True, page=page, limit=limit)

    def whole_log() -> tlog.LogRead:
        long_ago = datetime(2000, 1, 1, tzinfo=timezone.utc)
        return tlog.read(fetch, oldest=long_ago, allowance=100, cursor=None, now=datetime.now(timezone.utc))

    def all_done() -> bool:
        got = whole_log()
        return len(got.entries) == len(tags) and all(e.status == "Succeed" for e in got.entries)

    wait_for(all_done)
    got = whole_log()
    assert got.complete
    assert sorted(e.source for e in got.entries) == sorted(f"itns/app:[{t}]" for t in tags)
    assert all(e.finished and e.started and e.ended for e in got.entries)
    assert got.cursor is not None and got.cursor["limit"] == (1 if shape == "object" else 20)

    status = tcr.sync_status(rid, replica_id, 4)
    assert status.status == "Succeed"
    assert status.last_sync_at is not None and status.last_sync is not None
    assert status.entries == ()  # not asked for


# -- odd answers from a scripted server (the real SDK on the wire) ------------------------------------


class Scripted:
    """Answers each request with the next scripted Response (the last one repeats)."""

    def __init__(self, *responses: Response) -> None:
        self.responses = list(responses)
        self.seen: list[str] = []
        self.server = Server(self.handle, 0).start()

    def handle(self, req: Request) -> Response:
        self.seen.append(req.header("x-tc-action"))
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]

    def env(self) -> dict[str, str]:
        return {
            "TENCENTCLOUD_SECRETID": "AKIDSCRIPTED000000000000000000000000",
            "TENCENTCLOUD_SECRETKEY": "scriptedSecretKey0000000000000000",
            "TENCENTCLOUD_REGION": "ap-guangzhou",
            "TCR_ENDPOINT": f"127.0.0.1:{self.server.port}",
        }


@pytest.fixture
def scripted() -> Iterator[Any]:
    made: list[Scripted] = []

    def make(*responses: Response) -> Scripted:
        s = Scripted(*responses)
        made.append(s)
        return s

    yield make
    for s in made:
        s.server.close()


def tcr_json(body: dict[str, Any], content_type: str = "application/json", status: int = 200) -> Response:
    return Response(status, {"Content-Type": content_type}, json.dumps({"Response": body}).encode())


def test_error_with_charset_content_type_is_still_an_error(scripted: Any) -> None:
    err = {"Error": {"Code": "ResourceNotFound", "Message": "The instance does not exist."}, "RequestId": "r-1"}
    server = scripted(tcr_json(err, "application/json; charset=utf-8"))
    # The bare SDK lets this through as a success (the pitfall this adapter guards against)...
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.tcr.v20190924 import models, tcr_client

    env = server.env()
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=env["TCR_ENDPOINT"], protocol="http"))
    client = tcr_client.TcrClient(
        credential.Credential(env["TENCENTCLOUD_SECRETID"], env["TENCENTCLOUD_SECRETKEY"]), "ap-guangzhou", profile
    )
    bare = client.DescribeReplicationInstances(models.DescribeReplicationInstancesRequest())
    assert bare.ReplicationRegistries is None
    # ... the adapter does not.
    tcr = TcrAdapter(Config(env), policy=FAST)
    with pytest.raises(ApiError) as info:
        tcr.list_replicas("tcr-x")
    assert info.value.code == "InstanceNotFound"
    assert "r-1" in info.value.message


def test_array_replication_log_from_the_wire(scripted: Any) -> None:
    entry = {
        "ResourceType": "image",
        "Source": "a/b:[1]",
        "Destination": "a/b:[1]",
        "Status": "Succeed",
        "StartTime": "2021-09-28T07:47:44Z",
        "EndTime": "2021-09-28T07:47:53Z",
    }
    body = {
        "ReplicationStatus": "Succeed",
        "ReplicationTime": "2021-09-28T08:00:15Z",
        "ReplicationLog": [entry, {**entry, "Source": "a/b:[2]"}],
        "RequestId": "r-2",
    }
    server = scripted(tcr_json(body))
    tcr = TcrAdapter(Config(server.env()), policy=FAST)
    status = tcr.sync_status("tcr-x", "tcr-x-4", 4, show_log=True, limit=20)
    assert [e.source for e in status.entries] == ["a/b:[1]", "a/b:[2]"]
    assert status.last_sync_at == "2021-09-28T08:00:15Z"
    assert not status.one_entry_per_page


def test_http_5xx_is_retried_for_reads_then_unavailable(scripted: Any) -> None:
    ok = tcr_json({"TotalCount": 0, "Registries": [], "RequestId": "r-3"})
    server = scripted(Response(502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>"), ok)
    tcr = TcrAdapter(Config(server.env()), policy=FAST)
    assert tcr.describe_instances() == []
    assert server.seen == ["DescribeInstances", "DescribeInstances"]

    broken = scripted(Response(503, {"Content-Type": "text/plain"}, b"down"))
    tcr = TcrAdapter(Config(broken.env()), policy=FAST)
    with pytest.raises(ApiError) as info:
        tcr.describe_instances()
    assert info.value.code == "Unavailable"
    assert len(broken.seen) == FAST.max_attempts


def test_non_json_answer_is_unavailable(scripted: Any) -> None:
    server = scripted(Response(200, {"Content-Type": "application/json"}, b"not json"))
    tcr = TcrAdapter(Config(server.env()), policy=RetryPolicy(max_attempts=2, base_s=0.001))
    with pytest.raises(ApiError) as info:
        tcr.describe_instances()
    assert info.value.code == "Unavailable"


def test_write_is_not_repeated_after_a_5xx_when_the_replica_exists(scripted: Any) -> None:
    listed = tcr_json(
        {
            "TotalCount": 1,
            "ReplicationRegistries": [
                {
                    "RegistryId": "tcr-x",
                    "ReplicationRegistryId": "tcr-x-4-abc",
                    "ReplicationRegionId": 4,
                    "ReplicationRegionName": "ap-shanghai",
                    "Status": "Deploying",
                    "CreatedAt": "2025-01-02T15:10:02+08:00",
                }
            ],
            "RequestId": "r-4",
        }
    )
    server = scripted(Response(502, {"Content-Type": "text/plain"}, b"gateway"), listed)
    tcr = TcrAdapter(Config(server.env()), policy=FAST)
    rep = tcr.create_replica("tcr-x", region_name="ap-shanghai")
    assert (rep.replica_registry_id, rep.created_at) == ("tcr-x-4-abc", "2025-01-02T15:10:02+08:00")
    assert server.seen == ["CreateReplicationInstance", "DescribeReplicationInstances"]
