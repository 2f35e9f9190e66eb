"""Inputs are read one way only: whole-string patterns, no repeated JSON keys, authentication first,
and legacy API-gateway events routed by what the API's path says (issue 7, defects 6, 7, 8 and 12)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import functions.replicas.index as replicas
import functions.webhook.index as webhook_fn
from shared import audit, http, policy, schemas, webhook
from shared import records as rl
from shared.errors import ApiError, ConfigError

EVENTS = Path(__file__).resolve().parents[2] / "events"
CTX = {"request_id": "strict-test", "time_limit_in_ms": 3000}
DIGEST = "sha256:" + "ab" * 32
NOW = rl.parse_time("2026-11-28T02:00:00Z")


def answer(out: dict) -> tuple[int, dict]:
    return out["statusCode"], json.loads(out["body"])


def fu(method: str, path: str, *, body: str = "", query: dict | None = None, headers: dict | None = None) -> dict:
    return {"httpMethod": method, "path": path, "body": body, "queryString": query or {}, "headers": headers or {}}


def tcr_event(*, name: str = "api", namespace: str = "team", tag: str = "1.0", digest: str = DIGEST) -> dict:
    return {
        "type": "pushImage",
        "occur_at": 1796000000,
        "event_data": {
            "resources": [
                {"digest": digest, "tag": tag, "resource_url": f"x.tencentcloudcr.com/{namespace}/{name}:{tag}"}
            ],
            "repository": {"name": name, "namespace": namespace, "repo_full_name": f"{namespace}/{name}"},
        },
    }


@pytest.fixture
def api_env(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "s3cret-token")
    monkeypatch.delenv("API_AUTH", raising=False)
    monkeypatch.delenv("POLICY", raising=False)


AUTH = {"authorization": "Bearer s3cret-token"}


# -- defect 6: every pattern matches the whole string ------------------------------------------------------


def _patterns(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                yield where, value
            else:
                yield from _patterns(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _patterns(value, f"{where}[{i}]")


PATTERNS = sorted({(where, p) for name, schema in schemas.SCHEMAS.items() for where, p in _patterns(schema, name)})


def test_the_patterns_cover_ids_names_digests_and_tags():
    wheres = " ".join(where for where, _ in PATTERNS)
    for field in ("registryId", "region", "digest", "tag", "namespace", "repo_full_name", "repository", "since"):
        assert field in wheres, field


@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[w for w, _ in PATTERNS])
def test_no_pattern_accepts_a_trailing_newline(where, pattern):
    """What matches a pattern stops matching with a newline appended, in our compiler and in jsonschema."""
    ours = schemas.compile_schema({"type": "string", "pattern": pattern})
    reference = Draft202012Validator({"type": "string", "pattern": pattern})

    @settings(max_examples=60, deadline=None)
    @given(value=st.from_regex(pattern))
    def check(value: str) -> None:
        assume(re.search(pattern, value) and not value.endswith("\n"))
        for text, valid in ((value, True), (value + "\n", False), (value + "\r\n", False)):
            assert (next(ours(text, ()), None) is None) is valid, (where, text)
            assert reference.is_valid(text) is valid, (where, text)

    check()


@pytest.mark.parametrize(
    ("schema", "value", "where", "field"),
    [
        ("path.registryId", "tcr-abc123\n", "path.registryId", "path.registryId"),
        ("path.replicaRegistryId", "tcr-abc123-4-xyz\n", "path.replicaRegistryId", "path.replicaRegistryId"),
        ("query.regions", {"primary": "ap-shanghai\n"}, "query", "query.primary"),
        ("query.regions", {"primary": "4\n"}, "query", "query.primary"),
        ("query.replicationLogs", {"replica": "tcr-abc123-4-xyz\n"}, "query", "query.replica"),
        ("query.replicationLogs", {"since": "2026-11-28\n"}, "query", "query.since"),
        ("query.replicationLogs", {"limit": "10\n"}, "query", "query.limit"),
        ("query.replicationLogs", {"cursor": "abc\n"}, "query", "query.cursor"),
        ("query.replicationLogs", {"repository": "team/api\n"}, "query", "query.repository"),
        ("query.webhook", {"registryId": "tcr-abc123\n"}, "query", "query.registryId"),
        ("timer.options", {"instances": ["tcr-abc123\n"]}, "Message", "Message.instances[0]"),
    ],
)
def test_newline_ended_values_are_invalid_requests(schema, value, where, field):
    with pytest.raises(ApiError) as info:
        schemas.validate(schema, value, where=where)
    assert (info.value.code, info.value.details["field"]) == ("InvalidRequest", field)
    assert "(?!" not in info.value.message  # the pattern is shown as a reader knows it


@pytest.mark.parametrize("region", ["ap-shanghai\n", "4\n"])
def test_region_in_the_create_body_must_be_whole(region):
    with pytest.raises(ApiError) as info:
        schemas.validate("replica.create", {"region": region})
    assert info.value.details["field"] == "body.region"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (tcr_event(digest=DIGEST + "\n"), "body.event_data.resources[0].digest"),
        (tcr_event(tag="1.0\n"), "body.event_data.resources[0].tag"),
        (tcr_event(name="api\n"), "body.event_data.repository.name"),
        (tcr_event(namespace="team\n"), "body.event_data.repository.namespace"),
        (tcr_event(tag="has space"), "body.event_data.resources[0].tag"),
        (
            {"events": [{"action": "push", "target": {"digest": DIGEST + "\n", "repository": "team/api", "tag": "1"}}]},
            "body.events[0].target.digest",
        ),
        (
            {"events": [{"action": "push", "target": {"digest": DIGEST, "repository": "team/api\n", "tag": "1"}}]},
            "body.events[0].target.repository",
        ),
    ],
)
def test_webhook_names_digests_and_tags_must_be_whole(payload, field):
    with pytest.raises(ApiError) as info:
        webhook.parse(payload, NOW)
    assert (info.value.code, info.value.details["field"]) == ("InvalidRequest", field)


def test_webhook_names_read_from_the_resource_url_must_be_whole():
    payload = tcr_event()
    payload["event_data"]["repository"] = {}
    payload["event_data"]["resources"][0]["resource_url"] = "x.tencentcloudcr.com/team/api\n:1.0"
    with pytest.raises(ApiError) as info:
        webhook.parse(payload, NOW)
    assert info.value.code == "InvalidRequest" and "resource_url" in info.value.details["field"]


def test_webhook_accepts_real_names():
    harbor_untagged = tcr_event(name="sub/api", namespace="team-a.b_c", tag=DIGEST)
    pushes, ignored = webhook.parse(harbor_untagged, NOW)
    assert ignored is None and (pushes[0].namespace, pushes[0].repository, pushes[0].tag) == (
        "team-a.b_c",
        "sub/api",
        DIGEST,
    )
    assert webhook.parse(tcr_event(tag=""), NOW)[0][0].tag == ""


@pytest.mark.parametrize(
    "build",
    [
        lambda: rl.inbox_prefix("tcr-abc123\n"),
        lambda: rl.inbox_prefix("tcr-abc123", "2026-11-28\n"),
        lambda: rl.log_prefix("tcr-abc123\n"),
    ],
)
def test_log_keys_refuse_newline_ended_names(build):
    with pytest.raises(rl.LayoutError):
        build()


def test_path_id_with_a_newline_is_refused_by_the_replica_api(api_env):
    status, body = answer(replicas.main_handler(fu("GET", "/instances/tcr-abc123\n/replicas", headers=AUTH), CTX))
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "InvalidRequest", "path.registryId")


# -- defect 7: a repeated key is refused, at every level ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"region": "ap-shanghai", "dryRun": true, "dryRun": false}', "dryRun"),
        ('{"region": "ap-shanghai", "opts": {"a": 1, "a": 2}}', "a"),
        ('[{"x": 1}, {"y": [{"z": 1, "z": 1}]}]', "z"),
    ],
)
def test_request_body_with_a_repeated_key_is_invalid_json(text, key):
    with pytest.raises(ApiError) as info:
        http.parse_json(text)
    assert info.value.code == "InvalidJSON" and repr(key) in info.value.message


def test_equal_keys_in_different_objects_are_fine():
    assert http.parse_json('{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}') == {"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}


def test_dry_run_twice_never_reaches_a_create(api_env):
    body = '{"region": "ap-shanghai", "dryRun": true, "dryRun": false}'
    status, out = answer(
        replicas.main_handler(fu("POST", "/instances/tcr-abc123/replicas", body=body, headers=AUTH), CTX)
    )
    assert (status, out["error"]["code"]) == (400, "InvalidJSON") and "'dryRun'" in out["error"]["message"]


def test_webhook_body_with_a_repeated_key_is_invalid_json(monkeypatch):
    monkeypatch.setenv("WEBHOOK_TOKEN", "hook-token")
    text = json.dumps(tcr_event()).replace('"type": "pushImage"', '"type": "pushImage", "type": "deleteImage"')
    event = fu("POST", "/", body=text, headers={"x-webhook-token": "hook-token"})
    status, out = answer(webhook_fn.main_handler(event, CTX))
    assert (status, out["error"]["code"]) == (400, "InvalidJSON") and "'type'" in out["error"]["message"]


def test_timer_message_with_a_repeated_key_is_invalid_json():
    with pytest.raises(ApiError) as info:
        audit.parse_options('{"notify": false, "notify": true}', 900)
    assert info.value.code == "InvalidJSON" and "'notify'" in info.value.message


def test_policy_with_a_repeated_key_is_a_configuration_error():
    with pytest.raises(ConfigError) as info:
        policy.parse('{"maxReplicas": 1, "deniedRegions": [], "maxReplicas": 9}')
    assert info.value.variable == "POLICY" and "'maxReplicas'" in info.value.message


# -- defect 8: authentication first, configuration details only in the log ------------------------------


def test_an_unauthenticated_caller_is_refused_before_the_body_is_read(api_env):
    huge = "x" * (2 * 1024 * 1024)
    for headers, want in (({}, 401), (AUTH, 413)):
        event = fu("POST", "/instances/tcr-abc123/replicas", body=huge, headers=headers)
        assert answer(replicas.main_handler(event, CTX))[0] == want
    bad_b64 = {**fu("POST", "/instances/tcr-abc123/replicas", body="@@"), "isBase64Encoded": True}
    assert answer(replicas.main_handler(bad_b64, CTX))[0] == 401


def test_an_unauthenticated_caller_learns_nothing_about_routes_or_rules(api_env):
    for event in (
        fu("GET", "/no/such/route"),
        fu("PUT", "/regions"),
        fu("GET", "/regions", query={"primary": "nowhere", "x": "1"}),
        fu("GET", "/instances/not-an-id/replicas"),
    ):
        status, body = answer(replicas.main_handler(event, CTX))
        assert (status, body["error"]["code"]) == (401, "Unauthorized"), event


def test_webhook_without_its_token_configured_fails_closed_without_naming_it(monkeypatch, capsys):
    monkeypatch.delenv("WEBHOOK_TOKEN", raising=False)
    event = fu("POST", "/", body=json.dumps(tcr_event()), headers={"x-webhook-token": "guess"})
    status, body = answer(webhook_fn.main_handler(event, CTX))
    assert (status, body["error"]["code"]) == (503, "Unavailable")
    assert "WEBHOOK" not in json.dumps(body) and "variable" not in body["error"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(r["event"] == "config.error" and r["variable"] == "WEBHOOK_TOKEN" for r in logged)


def test_an_authenticated_caller_still_sees_which_setting_is_wrong(api_env, monkeypatch):
    monkeypatch.setenv("POLICY", "{broken")
    status, body = answer(replicas.main_handler(fu("GET", "/regions", query={"primary": "4"}, headers=AUTH), CTX))
    assert status == 503 and body["error"]["variable"] == "POLICY"


# -- defect 12: legacy API gateway, API at an exact path ---------------------------------------------------


def apigw(api_path: str, path: str, method: str = "GET") -> dict:
    return {
        "requestContext": {"path": api_path, "httpMethod": method, "stage": "release"},
        "httpMethod": method,
        "path": path,
        "headers": {},
        "queryString": {},
    }


@pytest.mark.parametrize(
    ("api_path", "path", "routed"),
    [
        ("/healthz", "/healthz", "/healthz"),
        ("/regions", "/regions", "/regions"),
        ("/instances/{registryId}/replicas", "/instances/tcr-a/replicas", "/instances/tcr-a/replicas"),
        ("/replicas/{proxy+}", "/replicas/regions", "/regions"),
        ("/replicas/{proxy+}", "/replicas", "/"),
        ("/{proxy+}", "/healthz", "/healthz"),
        ("/", "/healthz", "/healthz"),
        ("", "/healthz", "/healthz"),
    ],
)
def test_legacy_route_path(api_path, path, routed):
    assert http.parse_event(apigw(api_path, path), CTX).path == routed


def test_legacy_exact_path_sample_reaches_healthz():
    event = json.loads((EVENTS / "apigw_legacy_get_healthz_exact_path.json").read_text())
    assert answer(replicas.main_handler(event, CTX)) == (200, {"ok": True})
