"""The replica API's authentication modes, through its real handler (GET /regions needs no cloud)."""

from __future__ import annotations

import json

import pytest

import functions.replicas.index as replicas

CTX = {"request_id": "auth-test", "time_limit_in_ms": 3000}


def regions(headers: dict[str, str] | None = None) -> tuple[int, dict]:
    event = {
        "httpMethod": "GET",
        "path": "/regions",
        "queryString": {"primary": "ap-guangzhou"},
        "headers": headers or {},
        "body": "",
    }
    out = replicas.main_handler(event, CTX)
    return out["statusCode"], json.loads(out["body"])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("API_TOKEN", "API_AUTH", "POLICY"):
        monkeypatch.delenv(name, raising=False)


def test_bearer_mode(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "s3cret-token")
    assert regions()[0] == 401
    assert regions({"authorization": "Bearer wrong"})[0] == 401
    status, body = regions({"authorization": "Bearer s3cret-token"})
    assert status == 200 and body["primary"] == "ap-guangzhou"


def test_cam_mode_turns_the_bearer_check_off_explicitly(monkeypatch):
    monkeypatch.setenv("API_AUTH", "cam")
    assert regions()[0] == 200


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer anything"}])
def test_neither_configured_fails_closed_and_names_the_variable_only_in_the_log(capsys, headers):
    status, body = regions(headers)
    assert status == 503 and body["error"]["code"] == "Unavailable"
    assert "not configured" in body["error"]["message"]
    assert "API_" not in json.dumps(body) and "variable" not in body["error"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [detail] = [r for r in logged if r["event"] == "config.error"]
    assert detail["variable"] == "API_TOKEN" and detail["requestId"] == body["error"]["requestId"]


def test_invalid_api_auth_is_not_told_to_the_caller(monkeypatch):
    monkeypatch.setenv("API_AUTH", "basic")
    monkeypatch.setenv("API_TOKEN", "s3cret-token")
    status, body = regions({"authorization": "Bearer s3cret-token"})
    assert status == 503 and "API_AUTH" not in json.dumps(body)


def test_healthz_is_open_even_unconfigured():
    out = replicas.main_handler({"httpMethod": "GET", "path": "/healthz", "headers": {}, "body": ""}, CTX)
    assert out["statusCode"] == 200


def test_policy_shapes_eligibility_and_bad_policy_is_named(monkeypatch):
    monkeypatch.setenv("API_AUTH", "cam")
    monkeypatch.setenv("POLICY", json.dumps({"deniedRegions": ["ap-beijing"]}))
    rows = {r["region"]: r for r in regions()[1]["regions"]}
    assert rows["ap-beijing"]["replicaAllowed"] is False and rows["ap-beijing"]["code"] == "PolicyDenied"
    assert rows["ap-shanghai"]["replicaAllowed"] is True
    monkeypatch.setenv("POLICY", "{broken")
    status, body = regions()
    assert status == 503 and "POLICY" in body["error"]["message"]


def test_secrets_never_echoed(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "very-secret-value")
    status, body = regions({"authorization": "Bearer very-secret-valuX"})
    assert status == 401 and "very-secret" not in json.dumps(body)
