"""The replica API end to end: Function URL -> functions/replicas -> real TcrClient -> localcloud TCR.

Expectations come from DESIGN.md §3/§4; the state of TCR is checked through the SDK directly.
"""

from __future__ import annotations

import concurrent.futures

import pytest
from support import call, create_instance, tcr_client, tcr_replicas, wait_replicas_running


@pytest.fixture(scope="module")
def env(cloud_env):
    return cloud_env


@pytest.fixture(scope="module")
def tcr(env):
    return tcr_client(env)


@pytest.fixture
def api(env):
    base = env["REPLICAS_URL"]
    token = env["API_TOKEN"]

    def request(method: str, path: str, body=None, **kw):
        return call(method, base + path, body, token=kw.pop("token", token), **kw)

    return request


@pytest.fixture
def primary(tcr):
    return create_instance(tcr)


def test_healthz_needs_no_token(env):
    assert call("GET", env["REPLICAS_URL"] + "/healthz") == (200, {"ok": True})


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_bearer_token_required(api, primary, token):
    status, body = api("GET", f"/instances/{primary}/replicas", token=token or "")
    assert status == 401 and body["error"]["code"] == "Unauthorized"


def test_regions_eligibility(api):
    status, body = api("GET", "/regions?primary=1")
    assert status == 200 and body["primary"] == "ap-guangzhou"
    rows = {r["region"]: r for r in body["regions"]}
    assert rows["ap-shanghai"]["replicaAllowed"] is True and rows["ap-shanghai"]["regionId"] == 4
    assert rows["ap-hongkong"]["replicaAllowed"] is False and "cross-border" in rows["ap-hongkong"]["reason"]
    assert rows["ap-taipei"]["replicaAllowed"] is False
    assert rows["ap-guangzhou"]["replicaAllowed"] is False
    assert set(rows["ap-tokyo"]) >= {"region", "regionId", "mainland", "replicaAllowed", "reason"}
    assert api("GET", "/regions?primary=ap-atlantis")[1]["error"]["code"] == "UnknownRegion"
    assert api("GET", "/regions")[1]["error"]["code"] == "InvalidRequest"


def test_create_list_sync_delete(api, tcr, primary):
    status, body = api("POST", f"/instances/{primary}/replicas", {"region": "ap-shanghai"})
    assert status == 202, body
    replica = body["replica"]
    assert replica["region"] == "ap-shanghai" and replica["regionId"] == 4
    in_tcr = tcr_replicas(tcr, primary)
    assert [r["ReplicationRegistryId"] for r in in_tcr] == [replica["replicaRegistryId"]]

    status, body = api("POST", f"/instances/{primary}/replicas", {"region": 8, "syncTag": True})
    assert status == 202 and body["replica"]["region"] == "ap-beijing"
    wait_replicas_running(tcr, primary)

    status, listed = api("GET", f"/instances/{primary}/replicas")
    assert status == 200 and listed["registryId"] == primary and listed["region"] == "ap-guangzhou"
    assert sorted(r["region"] for r in listed["replicas"]) == ["ap-beijing", "ap-shanghai"]
    assert all(r["status"] == "Running" and r["createdAt"] for r in listed["replicas"])

    rid = replica["replicaRegistryId"]
    status, sync = api("GET", f"/instances/{primary}/replicas/{rid}/sync-status")
    assert status == 200 and set(sync) >= {"status", "lastSyncAt", "lagSeconds", "pending"}
    assert sync["pending"] == 0

    status, body = api("DELETE", f"/instances/{primary}")
    assert status == 409 and body["error"]["code"] == "ReplicasExist"
    assert len(body["error"]["replicas"]) == 2

    status, body = api("DELETE", f"/instances/{primary}/replicas/{rid}")
    assert status == 202 and body["deleted"]["replicaRegistryId"] == rid
    assert rid not in [r["ReplicationRegistryId"] for r in tcr_replicas(tcr, primary)]
    status, body = api("DELETE", f"/instances/{primary}/replicas/{rid}")
    assert status == 404 and body["error"]["code"] == "ReplicaNotFound"
    status, body = api("GET", f"/instances/{primary}/replicas/{rid}/sync-status")
    assert status == 404 and body["error"]["code"] == "ReplicaNotFound"

    for rep in tcr_replicas(tcr, primary):
        assert api("DELETE", f"/instances/{primary}/replicas/{rep['ReplicationRegistryId']}")[0] == 202
    status, _ = api("DELETE", f"/instances/{primary}")
    assert status == 202
    out = tcr.call_json("DescribeInstances", {"Registryids": [primary]})["Response"]
    assert out["TotalCount"] == 0 or all(r["Status"] in ("Deleting",) for r in out["Registries"])


@pytest.mark.parametrize(
    ("region", "status", "code"),
    [
        ("ap-hongkong", 422, "CrossBorder"),
        ("ap-singapore", 422, "CrossBorder"),
        ("ap-taipei", 422, "RegionNotSupported"),
        ("39", 422, "RegionNotSupported"),
        ("na-toronto", 422, "RegionNotSupported"),
        ("ap-guangzhou", 422, "SameRegion"),
        (1, 422, "SameRegion"),
        ("ap-atlantis", 422, "UnknownRegion"),
        (999, 422, "UnknownRegion"),
    ],
)
def test_refusals_before_any_write(api, tcr, primary, region, status, code):
    got, body = api("POST", f"/instances/{primary}/replicas", {"region": region})
    assert (got, body["error"]["code"]) == (status, code), body
    assert body["error"]["message"] and body["error"]["violations"][0]["code"] == code
    assert tcr_replicas(tcr, primary) == []


def test_dry_run_plans_without_creating(api, tcr, primary):
    status, body = api("POST", f"/instances/{primary}/replicas", {"region": "ap-nanjing", "dryRun": True})
    assert status == 200 and body["allowed"] is True
    assert body["plan"]["region"] == "ap-nanjing" and body["plan"]["regionId"] == 33
    assert tcr_replicas(tcr, primary) == []
    status, body = api("POST", f"/instances/{primary}/replicas", {"region": "ap-tokyo", "dryRun": True})
    assert (status, body["error"]["code"]) == (422, "CrossBorder")


def test_not_premium_and_not_found(api, tcr):
    basic = create_instance(tcr, "basic")
    status, body = api("POST", f"/instances/{basic}/replicas", {"region": "ap-shanghai"})
    assert (status, body["error"]["code"]) == (422, "NotPremium")
    status, body = api("POST", "/instances/tcr-doesnotexist/replicas", {"region": "ap-shanghai"})
    assert (status, body["error"]["code"]) == (404, "InstanceNotFound")
    status, body = api("GET", "/instances/tcr-doesnotexist/replicas")
    assert (status, body["error"]["code"]) == (404, "InstanceNotFound")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/instances/{p}/replicas", {"region": ["x"]}, 400, "InvalidRequest"),
        ("POST", "/instances/{p}/replicas", {"region": "ap-shanghai", "dryRun": "yes"}, 400, "InvalidRequest"),
        ("POST", "/instances/{p}/replicas", {}, 400, "InvalidRequest"),
        ("POST", "/instances/TCR-BAD/replicas", {"region": "ap-shanghai"}, 400, "InvalidRequest"),
        ("GET", "/instances/{p}/replicas?x=1", None, 400, "InvalidRequest"),
        ("GET", "/instances/{p}/replication-logs?limit=0", None, 400, "InvalidRequest"),
        ("GET", "/instances/{p}/replication-logs?since=yesterday", None, 400, "InvalidRequest"),
        ("GET", "/instances/{p}/replication-logs?cursor=bm90LWEtY3Vyc29y", None, 400, "InvalidRequest"),
        ("PUT", "/instances/{p}/replicas", None, 405, "MethodNotAllowed"),
        ("GET", "/nowhere", None, 404, "RouteNotFound"),
    ],
)
def test_bad_input_is_a_coded_4xx(api, primary, method, path, body, status, code):
    got, answer = api(method, path.replace("{p}", primary), body)
    assert (got, answer["error"]["code"]) == (status, code), answer


def test_non_json_body(env, primary):
    got, body = call(
        "POST", f"{env['REPLICAS_URL']}/instances/{primary}/replicas", raw=b"region=ap-shanghai", token=env["API_TOKEN"]
    )
    assert (got, body["error"]["code"]) == (400, "InvalidJSON")


def test_twenty_concurrent_creates_make_exactly_one_replica(api, tcr, primary):
    def create(_: int):
        return api("POST", f"/instances/{primary}/replicas", {"region": "ap-chengdu"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(20)))
    statuses = sorted(s for s, _ in results)
    assert statuses.count(202) == 1, results
    assert all(s == 409 and b["error"]["code"] == "ReplicaExists" for s, b in results if s != 202)
    assert [r["ReplicationRegionName"] for r in tcr_replicas(tcr, primary)] == ["ap-chengdu"]


def _bucket_request(localcloud, registry_id: str):
    """What localcloud's DeleteInstance received as DeleteBucket for the instance (docs/localcloud.md)."""
    return localcloud.tcr.snapshot()["deletedInstances"][registry_id]["DeleteBucket"]


def test_delete_instance_keeps_the_bucket_by_default(api, tcr, localcloud):
    registry_id = create_instance(tcr)
    status, body = api("DELETE", f"/instances/{registry_id}")
    assert status == 202 and body["deleted"]["bucketDeleted"] is False, body
    assert _bucket_request(localcloud, registry_id) is False


def test_delete_instance_deletes_the_bucket_only_when_asked(api, tcr, localcloud):
    registry_id = create_instance(tcr)
    status, body = api("DELETE", f"/instances/{registry_id}?deleteBucket=false")
    assert status == 202 and _bucket_request(localcloud, registry_id) is False
    registry_id = create_instance(tcr)
    status, body = api("DELETE", f"/instances/{registry_id}?deleteBucket=true")
    assert status == 202 and body["deleted"]["bucketDeleted"] is True, body
    assert _bucket_request(localcloud, registry_id) is True


@pytest.mark.parametrize("query", ["deleteBucket=yes", "deleteBucket=True", "deleteBucket=1", "deleteBucket=", "x=1"])
def test_delete_instance_refuses_an_unclear_bucket_choice(api, tcr, localcloud, query):
    registry_id = create_instance(tcr)
    status, body = api("DELETE", f"/instances/{registry_id}?{query}")
    assert (status, body["error"]["code"]) == (400, "InvalidRequest"), body
    assert body["error"]["field"] == ("query" if query == "x=1" else "query.deleteBucket")
    out = tcr.call_json("DescribeInstances", {"Registryids": [registry_id]})["Response"]
    assert [r["RegistryId"] for r in out["Registries"]] == [registry_id]  # nothing was deleted
    assert registry_id not in localcloud.tcr.snapshot()["deletedInstances"]
