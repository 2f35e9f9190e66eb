"""Issue 7 defects 6, 7, 8 and 12 through localcloud's function host: Function URL requests (and legacy API
gateway events) -> the functions -> the real SDKs -> localcloud. TCR's state and call counts are read
from TCR itself (SDK) and from localcloud's own counters, never from the product."""

from __future__ import annotations

import json

import pytest
from support import call, cos_keys, create_instance, tcr_client, tcr_replicas

DIGEST = "sha256:" + "cd" * 32


@pytest.fixture(scope="module")
def env(cloud_env):
    return cloud_env


@pytest.fixture(scope="module")
def tcr(env):
    return tcr_client(env)


@pytest.fixture(scope="module")
def primary(tcr):
    return create_instance(tcr)


def tcr_calls(localcloud) -> int:
    return sum(localcloud.tcr.stats().values())


def push_payload(*, digest: str = DIGEST, tag: str = "1.0", name: str = "api") -> dict:
    return {
        "type": "pushImage",
        "occur_at": 1796000000,
        "event_data": {
            "resources": [{"digest": digest, "tag": tag, "resource_url": f"x.tencentcloudcr.com/team/{name}:{tag}"}],
            "repository": {"name": name, "namespace": "team", "repo_full_name": f"team/{name}"},
        },
    }


def webhook(env, registry_id: str, raw: bytes) -> tuple[int, dict]:
    url = f"{env['WEBHOOK_URL']}/?registryId={registry_id}"
    return call("POST", url, raw=raw, headers={"X-Webhook-Token": env["WEBHOOK_TOKEN"]})


# -- defect 6 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/instances/{rid}%0A/replicas"),
        ("GET", "/instances/{rid}%0A/replication-logs"),
        ("GET", "/instances/{rid}/replicas/{rid}-4-abc%0A/sync-status"),
        ("DELETE", "/instances/{rid}%0A"),
    ],
)
def test_a_newline_ended_path_id_never_reaches_tcr(localcloud, env, primary, method, path):
    before = tcr_calls(localcloud)
    status, body = call(method, env["REPLICAS_URL"] + path.format(rid=primary), token=env["API_TOKEN"])
    assert (status, body["error"]["code"]) == (400, "InvalidRequest")
    assert body["error"]["field"].startswith("path.")
    assert tcr_calls(localcloud) == before


def test_a_newline_ended_region_is_refused(localcloud, env, primary, tcr):
    status, body = call(
        "POST",
        f"{env['REPLICAS_URL']}/instances/{primary}/replicas",
        {"region": "ap-shanghai\n"},
        token=env["API_TOKEN"],
    )
    assert (status, body["error"]["field"]) == (400, "body.region")
    status, body = call("GET", env["REPLICAS_URL"] + "/regions?primary=ap-guangzhou%0A", token=env["API_TOKEN"])
    assert (status, body["error"]["field"]) == (400, "query.primary")
    assert tcr_replicas(tcr, primary) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (push_payload(digest=DIGEST + "\n"), "body.event_data.resources[0].digest"),
        (push_payload(tag="1.0\n"), "body.event_data.resources[0].tag"),
        (push_payload(name="api\n"), "body.event_data.repository.name"),
    ],
)
def test_the_webhook_stores_no_newline_ended_digest_tag_or_repository(env, primary, payload, field):
    status, body = webhook(env, primary, json.dumps(payload).encode())
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "InvalidRequest", field)
    assert cos_keys(env, f"inbox/{primary}/") == []


def test_a_newline_ended_registry_id_in_the_webhook_query_is_refused(env, primary):
    status, body = webhook(env, primary + "%0A", json.dumps(push_payload()).encode())
    assert (status, body["error"]["field"]) == (400, "query.registryId")


# -- defect 7 ------------------------------------------------------------------------------------------


def test_dry_run_given_twice_creates_nothing(env, primary, tcr):
    raw = b'{"region": "ap-shanghai", "dryRun": true, "dryRun": false}'
    status, body = call("POST", f"{env['REPLICAS_URL']}/instances/{primary}/replicas", raw=raw, token=env["API_TOKEN"])
    assert (status, body["error"]["code"]) == (400, "InvalidJSON")
    assert "'dryRun'" in body["error"]["message"]
    assert tcr_replicas(tcr, primary) == []


def test_the_webhook_refuses_a_repeated_key_at_any_depth(env, primary):
    text = json.dumps(push_payload()).replace('"tag": "1.0"', '"tag": "1.0", "tag": "2.0"')
    status, body = webhook(env, primary, text.encode())
    assert (status, body["error"]["code"]) == (400, "InvalidJSON") and "'tag'" in body["error"]["message"]
    assert cos_keys(env, f"inbox/{primary}/") == []


# -- defect 8 ------------------------------------------------------------------------------------------


def invoke(localcloud, function: str, event: dict, env: dict[str, str]) -> tuple[int, dict, list[dict]]:
    result = localcloud.host.invoke(function, event, env=env)
    assert result.ok, result.error
    logged = []
    for line in localcloud.host.logs(function):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("requestId") == result.request_id:
            logged.append(record)
    return result.result["statusCode"], json.loads(result.result["body"]), logged


@pytest.mark.parametrize("token", [None, "test-api-token", "a-guess"])
def test_replica_api_without_api_token_fails_closed_and_says_why_only_in_the_log(localcloud, token):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    event = {"httpMethod": "GET", "path": "/regions", "queryString": {"primary": "4"}, "headers": headers, "body": ""}
    status, body, logged = invoke(localcloud, "replicas", event, {"API_TOKEN": ""})
    assert (status, body["error"]["code"]) == (503, "Unavailable")
    assert "not configured" in body["error"]["message"]
    assert "API_TOKEN" not in json.dumps(body) and "variable" not in body["error"]
    assert any(r.get("event") == "config.error" and r.get("variable") == "API_TOKEN" for r in logged), logged


def test_webhook_without_webhook_token_fails_closed_and_says_why_only_in_the_log(localcloud, primary):
    event = {
        "httpMethod": "POST",
        "path": "/",
        "queryString": {"registryId": primary},
        "headers": {"x-webhook-token": "a-guess"},
        "body": json.dumps(push_payload()),
    }
    status, body, logged = invoke(localcloud, "webhook", event, {"WEBHOOK_TOKEN": ""})
    assert (status, body["error"]["code"]) == (503, "Unavailable")
    assert "WEBHOOK_TOKEN" not in json.dumps(body) and "variable" not in body["error"]
    assert any(r.get("event") == "config.error" and r.get("variable") == "WEBHOOK_TOKEN" for r in logged), logged


def test_authentication_comes_before_the_body(env, primary):
    url = f"{env['REPLICAS_URL']}/instances/{primary}/replicas"
    huge = b"x" * (2 * 1024 * 1024)
    assert call("POST", url, raw=huge)[0] == 401
    assert call("POST", url, raw=huge, token=env["API_TOKEN"])[0] == 413
    assert call("GET", f"{env['REPLICAS_URL']}/no/such/route")[0] == 401


# -- defect 12 -----------------------------------------------------------------------------------------


def test_legacy_api_at_an_exact_path_is_routed_by_its_path(localcloud, events_dir):
    event = json.loads((events_dir / "apigw_legacy_get_healthz_exact_path.json").read_text())
    status, body, _ = invoke(localcloud, "replicas", event, {})
    assert (status, body) == (200, {"ok": True})
    status, body, _ = invoke(localcloud, "webhook", event, {})
    assert (status, body) == (200, {"ok": True})


def test_legacy_api_at_a_route_template_is_routed_by_its_path(localcloud, env, primary):
    event = {
        "requestContext": {"path": "/instances/{registryId}/replicas", "httpMethod": "GET", "stage": "release"},
        "httpMethod": "GET",
        "path": f"/instances/{primary}/replicas",
        "pathParameters": {"registryId": primary},
        "headers": {"authorization": f"Bearer {env['API_TOKEN']}"},
        "queryString": {},
    }
    status, body, _ = invoke(localcloud, "replicas", event, {})
    assert status == 200 and body["registryId"] == primary and body["replicas"] == []
