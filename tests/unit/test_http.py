"""The HTTP adapter: every sample event through parse/route, and hostile inputs answered with 4xx JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import http
from shared.errors import (
    STATUS_BY_CODE,
    ApiError,
    BadCursor,
    LogStoreError,
    StoreCorrupt,
    StoreUnavailable,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
CTX = {"request_id": "req-123", "time_limit_in_ms": 3000}


def make_router() -> http.Router:
    router = http.Router()

    @router.route("GET", "/healthz")
    def healthz(req: http.Request) -> http.Response:
        return http.Response(200, {"ok": True})

    @router.route("GET", "/instances/{registryId}/replicas")
    @router.route("POST", "/instances/{registryId}/replicas")
    def replicas(req: http.Request) -> http.Response:
        body = req.json() if req.method == "POST" else None
        return http.Response(200, {"params": req.params, "query": req.query, "body": body, "source": req.source})

    @router.route("GET", "/regions")
    def regions(req: http.Request) -> http.Response:
        return http.Response(200, {"query": req.query})

    @router.route("GET", "/boom")
    def boom(req: http.Request) -> http.Response:
        raise RuntimeError("secret-value-should-not-leak")

    return router


ROUTER = make_router()


def call(event, context=CTX):
    out = http.handle(event, context, ROUTER)
    assert set(out) == {"isBase64Encoded", "statusCode", "headers", "body"}
    assert out["isBase64Encoded"] is False
    assert out["headers"]["Content-Type"] == "application/json"
    return out["statusCode"], json.loads(out["body"])


def fu(method="GET", path="/healthz", body="", query=None, headers=None):
    return {"httpMethod": method, "path": path, "body": body, "queryString": query or {}, "headers": headers or {}}


def test_healthz_sample():
    status, body = call(json.loads((EVENTS / "function_url_get_healthz.json").read_text()))
    assert (status, body) == (200, {"ok": True})


def test_function_url_post_sample():
    event = json.loads((EVENTS / "function_url_post_replica.json").read_text())
    status, body = call(event)
    assert status == 200
    assert body["params"] == {"registryId": "tcr-dg284imq"}
    assert body["body"] == {"region": "ap-shanghai", "syncTag": False, "dryRun": False}
    assert body["source"] == "function-url"


def test_legacy_apigw_samples_strip_the_api_path():
    status, body = call(json.loads((EVENTS / "apigw_legacy_post_replica.json").read_text()))
    assert status == 200 and body["params"] == {"registryId": "tcr-dg284imq"} and body["source"] == "apigw"
    assert body["body"] == {"region": "ap-beijing"}
    status, body = call(json.loads((EVENTS / "apigw_legacy_get_regions.json").read_text()))
    assert status == 200 and body["query"] == {"primary": "1"}


def test_request_id_comes_from_context():
    out = http.handle(fu(path="/nope"), CTX, ROUTER)
    assert json.loads(out["body"])["error"]["requestId"] == "req-123"
    assert out["headers"]["X-Request-Id"] == "req-123"


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (fu(path="/nope"), 404, "RouteNotFound"),
        (fu(method="DELETE", path="/healthz"), 405, "MethodNotAllowed"),
        (fu(method="POST", path="/instances/tcr-a/replicas", body="{not json"), 400, "InvalidJSON"),
        (fu(method="POST", path="/instances/tcr-a/replicas", body=""), 400, "InvalidJSON"),
        (fu(method="POST", path="/instances/tcr-a/replicas", body="NaN"), 400, "InvalidJSON"),
        (fu(method="POST", path="/instances/tcr-a/replicas", body='{"a": "\\ud800"}'), 400, "InvalidJSON"),
        (fu(method="POST", path="/instances/tcr-a/replicas", body="[" * 100000 + "]" * 100000), 400, "InvalidJSON"),
        (fu(method="POST", path="/instances/tcr-a/replicas", body="x" * (2 * 1024 * 1024)), 413, "PayloadTooLarge"),
        ({"not": "http"}, 400, "InvalidRequest"),
        ([], 400, "InvalidRequest"),
        (None, 400, "InvalidRequest"),
        (
            {**fu(method="POST", path="/instances/tcr-a/replicas", body="@@"), "isBase64Encoded": True},
            400,
            "InvalidRequest",
        ),
        (fu(path="/boom"), 503, "Unavailable"),
    ],
)
def test_errors_are_coded_json(event, status, code):
    got_status, body = call(event)
    assert (got_status, body["error"]["code"]) == (status, code)
    assert STATUS_BY_CODE[code] == status
    assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
    assert "secret-value" not in json.dumps(body)


def test_method_not_allowed_lists_allow_header():
    out = http.handle(fu(method="PUT", path="/instances/tcr-a/replicas"), CTX, ROUTER)
    assert out["statusCode"] == 405 and out["headers"]["Allow"] == "GET, POST"


def test_base64_body_and_repeated_query_and_list_headers():
    import base64

    event = fu(
        method="POST",
        path="/instances/tcr-a/replicas",
        body=base64.b64encode(b'{"region": 4}').decode(),
        query={"a": ["1", "2"]},
        headers={"X-Thing": ["a", "b"]},
    )
    event["isBase64Encoded"] = True
    status, body = call(event)
    assert status == 200 and body["body"] == {"region": 4} and body["query"] == {"a": "2"}


def test_every_error_code_maps_to_one_status():
    for code, status in STATUS_BY_CODE.items():
        err = ApiError(code, "m")
        assert err.status == status and 400 <= status <= 503
    with pytest.raises(ValueError):
        ApiError("NoSuchCode", "m")


# -- the log store's own errors: answered here, the one place errors become responses ---------------------


def test_store_errors_are_not_api_errors():
    for error in (StoreUnavailable("x"), StoreCorrupt("x"), BadCursor("x")):
        assert isinstance(error, LogStoreError) and not isinstance(error, ApiError)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (StoreUnavailable("the replication log bucket did not answer GetObject after 6 attempts"), 503, "Unavailable"),
        (StoreCorrupt("segment s.jsonl in the log bucket is not valid"), 503, "Unavailable"),
        (BadCursor("cursor belongs to a query with different filters"), 400, "InvalidRequest"),
    ],
)
def test_store_errors_map_to_their_answer(error, status, code):
    mapped = http.api_error(error)
    assert (mapped.status, mapped.code) == (status, code)
    assert error.message in mapped.message


def test_a_bad_cursor_names_the_query_field_and_says_what_to_do():
    mapped = http.api_error(BadCursor("cursor is malformed"))
    assert mapped.message == "query.cursor: cursor is malformed; start again without a cursor (rule: cursor)"
    assert mapped.details == {"field": "query.cursor", "rule": "cursor"}


def test_api_errors_pass_unchanged():
    error = ApiError("ReplicaNotFound", "m", details={"x": 1})
    assert http.api_error(error) is error


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (StoreUnavailable("the replication log bucket refused PutObject: HTTP 403 AccessDenied"), 503, "Unavailable"),
        (StoreCorrupt("inbox object k is not a valid record set"), 503, "Unavailable"),
        (BadCursor("cursor is malformed or was altered"), 400, "InvalidRequest"),
    ],
)
def test_handle_answers_store_errors_as_coded_json(error, status, code):
    router = http.Router()

    @router.route("GET", "/logs")
    def logs(req: http.Request) -> http.Response:
        raise error

    out = http.handle(fu(path="/logs"), CTX, router)
    body = json.loads(out["body"])
    assert (out["statusCode"], body["error"]["code"]) == (status, code)
    assert error.message in body["error"]["message"] and body["error"]["requestId"] == "req-123"
    if isinstance(error, BadCursor):
        assert body["error"]["field"] == "query.cursor"


def test_bearer_constant_time_compare():
    assert http.bearer_matches("Bearer abc", "abc")
    assert http.bearer_matches("bearer abc ", "abc")
    assert not http.bearer_matches("Bearer abd", "abc")
    assert not http.bearer_matches("Basic abc", "abc")
    assert not http.bearer_matches(None, "abc")
    assert not http.bearer_matches("Bearer ", "")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "get", "", "\x00"]),
    path=st.one_of(st.text(max_size=40), st.sampled_from(["/healthz", "/instances/tcr-a/replicas", "/regions"])),
    body=st.one_of(st.text(max_size=200), json_values.map(json.dumps)),
    query=st.dictionaries(
        st.text(max_size=8), st.one_of(st.text(max_size=8), st.lists(st.text(max_size=4))), max_size=3
    ),
    headers=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
)
def test_fuzz_never_5xx_except_the_boom_route(method, path, body, query, headers):
    event = {"httpMethod": method, "path": path, "body": body, "queryString": query, "headers": headers}
    out = http.handle(event, CTX, ROUTER)
    assert out["statusCode"] < 500
    json.loads(out["body"])


def test_request_ids_are_uuid4():
    import uuid

    ids = {http.new_request_id() for _ in range(500)}
    assert len(ids) == 500
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == value


def test_json_bodies_refuse_repeated_keys_naming_the_first_and_lone_surrogates():
    from shared.http import parse_json

    with pytest.raises(ApiError) as caught:
        parse_json('{"a": 1, "b": {"c": 1, "d": 2, "c": 3}, "a": 2}')
    assert "'c'" in caught.value.message
    assert parse_json('{"a": {"b": [1, {"c": "\\u00e9"}]}}') == {"a": {"b": [1, {"c": "é"}]}}
    for body in ('{"a": "\\ud800"}', '{"a": ["x", {"\\udc00": 1}]}', '{"a": "\u00e9\\ud800"}'):
        with pytest.raises(ApiError) as caught:
            parse_json(body)
        assert caught.value.code == "InvalidJSON"


@pytest.mark.parametrize(
    ("text", "too_large"),
    [
        ("x" * http.MAX_BODY_BYTES, False),
        ("x" * (http.MAX_BODY_BYTES + 1), True),
        ("é" * (http.MAX_BODY_BYTES // 2), False),  # 2 bytes each: exactly the limit
        ("é" * (http.MAX_BODY_BYTES // 2) + "x", True),
        ("😀" * (http.MAX_BODY_BYTES // 4), False),
        ("😀" * (http.MAX_BODY_BYTES // 4 - 1) + "é" * 3, True),  # 4 bytes short, 6 bytes more
        ("\ud800" * (http.MAX_BODY_BYTES // 3), False),  # a lone surrogate counts 3 bytes
        ("\ud800" * (http.MAX_BODY_BYTES // 3) + "éx", True),
    ],
)
def test_the_body_limit_counts_utf8_bytes(text, too_large):
    assert (len(text.encode("utf-8", "surrogatepass")) > http.MAX_BODY_BYTES) is too_large  # the cases mean it
    request = http.parse_event(fu(method="POST", path="/instances/tcr-a/replicas", body=text), CTX)
    if too_large:
        with pytest.raises(ApiError) as caught:
            _ = request.body
        assert caught.value.code == "PayloadTooLarge"
    else:
        assert request.body == text
