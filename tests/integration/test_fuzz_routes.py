"""Property-based fuzzing of every route of both HTTP functions (DESIGN §11): whatever arrives, the answer is
a JSON body with a status below 500, and every 4xx carries an error code of the contract."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import STATUS_BY_CODE

IDS = st.sampled_from(
    ["tcr-abc123", "tcr-doesnotexist", "TCR-X", "tcr-", "tcr-abc123-4-xyz", "..", "%2e%2e", "tcr-a" * 9]
)
SEGMENT = st.one_of(IDS, st.text(max_size=12).filter(lambda s: "/" not in s))
PATHS = st.one_of(
    st.builds(lambda a: f"/instances/{a}/replicas", SEGMENT),
    st.builds(lambda a, b: f"/instances/{a}/replicas/{b}", SEGMENT, SEGMENT),
    st.builds(lambda a, b: f"/instances/{a}/replicas/{b}/sync-status", SEGMENT, SEGMENT),
    st.builds(lambda a: f"/instances/{a}/replication-logs", SEGMENT),
    st.builds(lambda a: f"/instances/{a}", SEGMENT),
    st.sampled_from(["/regions", "/healthz", "/", "", "//", "/instances"]),
    st.text(max_size=30),
)
QUERY_KEYS = st.sampled_from(["primary", "replica", "since", "until", "status", "repository", "limit", "cursor", "x"])
QUERY_VALUES = st.one_of(
    st.sampled_from(["ap-shanghai", "1", "0", "1001", "2026-11-28T00:00:00Z", "replicated", "abc_-", "", "tcr-abc123"]),
    st.text(max_size=20),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
BODIES = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={"region": JSON | st.sampled_from(["ap-shanghai", 4, "ap-taipei"]), "dryRun": JSON, "syncTag": JSON},
    ).map(json.dumps),
    JSON.map(json.dumps),
    st.text(max_size=60),
)


@pytest.fixture(scope="module")
def handlers(cloud_env):
    mp = pytest.MonkeyPatch()
    for key, value in cloud_env.items():
        mp.setenv(key, value)
    import functions.replicas.index as replicas
    import functions.webhook.index as webhook

    yield replicas.main_handler, webhook.main_handler, cloud_env
    mp.undo()


def check(answer: dict) -> None:
    assert answer["statusCode"] < 500, answer
    body = json.loads(answer["body"])
    if answer["statusCode"] >= 400:
        assert STATUS_BY_CODE[body["error"]["code"]] == answer["statusCode"]
        assert body["error"]["message"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
    path=PATHS,
    query=st.dictionaries(QUERY_KEYS, QUERY_VALUES, max_size=3),
    body=BODIES,
    authorized=st.booleans(),
)
def test_replica_api_never_fails_with_5xx(handlers, method, path, query, body, authorized):
    replicas, _, env = handlers
    headers = {"authorization": f"Bearer {env['API_TOKEN']}"} if authorized else {}
    event = {"httpMethod": method, "path": path, "queryString": query, "headers": headers, "body": body}
    check(replicas(event, {"request_id": "fuzz", "time_limit_in_ms": 30000}))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        BODIES,
        st.fixed_dictionaries(
            {"type": st.sampled_from(["pushImage", "PUSH_ARTIFACT", "deleteImage", "x"]), "event_data": JSON},
            optional={"occur_at": JSON, "operator": JSON},
        ).map(json.dumps),
        st.fixed_dictionaries({"events": st.lists(JSON, max_size=3)}).map(json.dumps),
    ),
    query=st.dictionaries(st.sampled_from(["registryId", "x"]), QUERY_VALUES, max_size=2),
)
def test_webhook_never_fails_with_5xx(handlers, body, query):
    _, webhook, env = handlers
    event = {
        "httpMethod": "POST",
        "path": "/",
        "queryString": query,
        "body": body,
        "headers": {"x-webhook-token": env["WEBHOOK_TOKEN"]},
    }
    check(webhook(event, {"request_id": "fuzz", "time_limit_in_ms": 10000}))
