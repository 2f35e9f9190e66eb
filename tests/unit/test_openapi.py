"""docs/openapi.yaml against the router, the error table, the input schemas and real answers."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from shared import api, schemas
from shared.errors import STATUS_BY_CODE

ROOT = Path(__file__).resolve().parents[2]
DOC: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

# DESIGN.md §3 (and §4 for the rule codes): the codes each route can answer, by route. Written from the
# design, not from the document, so that a route documented without one of them fails.
DESIGN_CODES: dict[tuple[str, str], set[str]] = {
    ("GET", "/regions"): {"Unauthorized", "InvalidRequest", "UnknownRegion"},
    ("GET", "/instances/{registryId}/replicas"): {
        "Unauthorized", "InvalidRequest", "InstanceNotFound", "InstanceNotRunning", "TcrRefused", "Throttled",
        "UpstreamError",
        "Unavailable",
    },
    ("POST", "/instances/{registryId}/replicas"): {
        "Unauthorized", "InvalidJSON", "InvalidRequest", "InstanceNotFound", "ReplicaExists", "InstanceNotRunning",
        "Conflict", "NotPremium", "SameRegion", "CrossBorder", "RegionNotSupported", "UnknownRegion", "PolicyDenied",
        "TcrRefused", "Throttled", "UpstreamError", "Unavailable",
    },
    ("DELETE", "/instances/{registryId}/replicas/{replicaRegistryId}"): {
        "Unauthorized", "InvalidRequest", "InstanceNotFound", "ReplicaNotFound", "PrivateAccessExists", "TcrRefused",
        "Throttled", "UpstreamError", "Unavailable",
    },
    ("GET", "/instances/{registryId}/private-access"): {
        "Unauthorized", "InvalidRequest", "InstanceNotFound", "InstanceNotRunning", "TcrRefused", "Throttled",
        "UpstreamError", "Unavailable",
    },
    ("POST", "/instances/{registryId}/private-access"): {
        "Unauthorized", "InvalidJSON", "InvalidRequest", "InstanceNotFound", "InstanceNotRunning", "UnknownRegion",
        "NoReplicaInRegion", "ReplicaNotRunning", "AccessExists", "VpcNotFound", "TcrRefused", "Throttled",
        "UpstreamError", "Unavailable",
    },
    ("DELETE", "/instances/{registryId}/private-access/{vpcId}"): {
        "Unauthorized", "InvalidRequest", "InstanceNotFound", "UnknownRegion", "AccessNotFound", "TcrRefused",
        "Throttled", "UpstreamError", "Unavailable",
    },
    ("GET", "/instances/{registryId}/replicas/{replicaRegistryId}/sync-status"): {
        "Unauthorized", "InvalidRequest", "InstanceNotFound", "ReplicaNotFound", "InstanceNotRunning", "TcrRefused",
        "Throttled",
        "UpstreamError", "Unavailable",
    },
    ("GET", "/instances/{registryId}/replication-logs"): {"Unauthorized", "InvalidRequest", "Unavailable"},
    ("DELETE", "/instances/{registryId}"): {
        "Unauthorized", "InvalidRequest", "InstanceNotFound", "ReplicasExist", "TcrRefused", "Throttled",
        "UpstreamError", "Unavailable",
    },
    ("GET", "/instances/{registryId}/report"): {"Unauthorized", "InvalidRequest", "ReportNotFound", "Unavailable"},
    ("GET", "/instances/{registryId}/report.json"): {"Unauthorized", "InvalidRequest", "ReportNotFound", "Unavailable"},
    ("GET", "/instances/{registryId}/report-link"): {"Unauthorized", "InvalidRequest", "ReportNotFound", "Unavailable"},
}  # fmt: skip
SUCCESS: dict[tuple[str, str], set[str]] = {
    ("GET", "/healthz"): {"200"},
    ("GET", "/regions"): {"200"},
    ("GET", "/instances/{registryId}/replicas"): {"200"},
    ("POST", "/instances/{registryId}/replicas"): {"202", "200"},
    ("DELETE", "/instances/{registryId}/replicas/{replicaRegistryId}"): {"202"},
    ("GET", "/instances/{registryId}/replicas/{replicaRegistryId}/sync-status"): {"200"},
    ("GET", "/instances/{registryId}/replication-logs"): {"200"},
    ("DELETE", "/instances/{registryId}"): {"202"},
    ("GET", "/instances/{registryId}/report"): {"200"},
    ("GET", "/instances/{registryId}/report.json"): {"200"},
    ("GET", "/instances/{registryId}/report-link"): {"200"},
    ("GET", "/instances/{registryId}/private-access"): {"200"},
    ("POST", "/instances/{registryId}/private-access"): {"202", "200"},
    ("DELETE", "/instances/{registryId}/private-access/{vpcId}"): {"202"},
}


def replicas_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("replicas_index_for_openapi", ROOT / "functions/replicas/index.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in DOC["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def resolve(node: Any) -> Any:
    """The document with every local $ref replaced by its target (the components are acyclic)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = DOC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


def documented_codes(op: dict[str, Any]) -> dict[str, str]:
    """{error code: HTTP status} as the operation's responses document them (the `code` enum of each)."""
    out: dict[str, str] = {}
    for status, response in op["responses"].items():
        schema = resolve(response).get("content", {}).get("application/json", {}).get("schema", {})
        for part in schema.get("allOf", []):
            for code in (
                part.get("properties", {}).get("error", {}).get("properties", {}).get("code", {}).get("enum", [])
            ):
                assert code not in out, f"{code} documented twice"
                out[code] = status
    return out


# -- structure --------------------------------------------------------------------------------------


def test_is_openapi_31_with_bearer_security() -> None:
    assert DOC["openapi"].startswith("3.1")
    scheme = DOC["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert DOC["security"] == [{"bearerAuth": []}]


def test_routes_equal_the_router() -> None:
    router_routes = set(replicas_module().router.routes())
    assert set(operations()) == router_routes


def test_success_statuses_follow_the_design() -> None:
    for key, op in operations().items():
        documented = {s for s in op["responses"] if s.startswith("2")}
        assert documented == SUCCESS[key], key


def test_only_healthz_is_public() -> None:
    for key, op in operations().items():
        public = op.get("security") == []
        assert public == (key in api.PUBLIC), key


def test_every_ref_resolves() -> None:
    text = json.dumps(DOC)
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
        resolve({"$ref": ref})  # raises KeyError when dangling


def test_path_parameters_are_declared() -> None:
    for (_, path), op in operations().items():
        wanted = set(re.findall(r"\{(\w+)\}", path))
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == wanted, path
        assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")


def test_parameter_patterns_match_the_validators() -> None:
    for op in operations().values():
        for param in op.get("parameters", []):
            if param["name"] == "registryId":
                assert param["schema"]["pattern"] == schemas.REGISTRY_ID
            if param["name"] == "replicaRegistryId":
                assert param["schema"]["pattern"] == schemas.REPLICA_ID
            if param["name"] == "vpcId":
                assert param["schema"]["pattern"] == schemas.VPC_ID


@pytest.mark.parametrize(
    ("key", "schema_name"),
    [
        (("GET", "/regions"), "query.regions"),
        (("GET", "/instances/{registryId}/replication-logs"), "query.replicationLogs"),
        (("GET", "/instances/{registryId}/replicas"), "query.none"),
        (("DELETE", "/instances/{registryId}"), "query.deleteInstance"),
        (("GET", "/instances/{registryId}/report-link"), "query.reportLink"),
        (("DELETE", "/instances/{registryId}/replicas/{replicaRegistryId}"), "query.deleteReplica"),
        (("DELETE", "/instances/{registryId}/private-access/{vpcId}"), "query.detachPrivateAccess"),
        (("GET", "/instances/{registryId}/private-access"), "query.none"),
    ],
)
def test_query_parameters_match_the_validators(key: tuple[str, str], schema_name: str) -> None:
    op = operations()[key]
    documented = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
    schema = schemas.SCHEMAS[schema_name]
    assert set(documented) == set(schema["properties"])
    for name, param in documented.items():
        assert param["required"] == (name in schema.get("required", [])), name


def test_create_body_matches_the_validator() -> None:
    body = resolve(operations()[("POST", "/instances/{registryId}/replicas")]["requestBody"])
    schema = body["content"]["application/json"]["schema"]
    wanted = schemas.SCHEMAS["replica.create"]
    assert set(schema["properties"]) == set(wanted["properties"])
    assert schema["required"] == wanted["required"]
    assert schema.get("additionalProperties") is False


def test_attach_body_matches_the_validator() -> None:
    body = resolve(operations()[("POST", "/instances/{registryId}/private-access")]["requestBody"])
    schema = body["content"]["application/json"]["schema"]
    wanted = schemas.SCHEMAS["privateAccess.attach"]
    assert set(schema["properties"]) == set(wanted["properties"])
    assert schema["required"] == wanted["required"]
    assert schema.get("additionalProperties") is False
    for name in ("vpcId", "subnetId"):
        assert schema["properties"][name]["pattern"] == wanted["properties"][name]["pattern"]


# -- error codes ------------------------------------------------------------------------------------


def test_documented_codes_have_their_table_status() -> None:
    for key, op in operations().items():
        for code, status in documented_codes(op).items():
            assert code in STATUS_BY_CODE, f"{key}: {code} is not a code of shared/errors.py"
            assert status == str(STATUS_BY_CODE[code]), (
                f"{key}: {code} under {status}, table says {STATUS_BY_CODE[code]}"
            )


@pytest.mark.parametrize("key", sorted(DESIGN_CODES))
def test_every_code_a_route_can_return_is_documented(key: tuple[str, str]) -> None:
    documented = documented_codes(operations()[key])
    missing = sorted(DESIGN_CODES[key] - set(documented))
    assert not missing, f"{key} does not document {missing}"


def test_every_code_of_the_table_is_documented_somewhere() -> None:
    seen: dict[str, str] = {}
    for op in operations().values():
        seen.update(documented_codes(op))
    for status, codes in DOC["x-unrouted-errors"].items():
        for code in codes:
            assert str(STATUS_BY_CODE[code]) == status
            seen[code] = status
    assert set(seen) == set(STATUS_BY_CODE), sorted(set(STATUS_BY_CODE) ^ set(seen))
    assert DOC["x-error-codes"] == STATUS_BY_CODE


# -- real answers validate against the document ---------------------------------------------------


def _event(method: str, path: str, *, query: dict[str, str] | None = None, body: str = "", token: str | None = None):
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return {"httpMethod": method, "path": path, "headers": headers, "queryString": query or {}, "body": body}


def _schema_of(op: dict[str, Any], status: str) -> dict[str, Any]:
    return resolve(op["responses"][status])["content"]["application/json"]["schema"]


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("API_TOKEN", "openapi-test-token")
    for name in ("API_AUTH", "POLICY", "TCR_ENDPOINT", "COS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return replicas_module().main_handler


@pytest.mark.parametrize(
    ("key", "event", "status", "code"),
    [
        (("GET", "/healthz"), _event("GET", "/healthz"), "200", None),
        (("GET", "/regions"), _event("GET", "/regions", query={"primary": "ap-guangzhou"}, token="openapi-test-token"),
         "200", None),
        (("GET", "/regions"), _event("GET", "/regions", query={"primary": "ap-nowhere"}, token="openapi-test-token"),
         "422", "UnknownRegion"),
        (("GET", "/regions"), _event("GET", "/regions", query={"primary": "ap-guangzhou"}, token="wrong"),
         "401", "Unauthorized"),
        (("GET", "/regions"), _event("GET", "/regions", query={}, token="openapi-test-token"), "400", "InvalidRequest"),
        (("POST", "/instances/{registryId}/replicas"),
         _event("POST", "/instances/tcr-abc/replicas", body="{not json", token="openapi-test-token"),
         "400", "InvalidJSON"),
        (("POST", "/instances/{registryId}/replicas"),
         _event("POST", "/instances/tcr-abc/replicas", body='{"region": true}', token="openapi-test-token"),
         "400", "InvalidRequest"),
    ],
)  # fmt: skip
def test_answers_validate_against_the_document(
    handler: Any, key: tuple[str, str], event: dict[str, Any], status: str, code: str | None
) -> None:
    answer = handler(event, {"request_id": "req-openapi-1"})
    assert str(answer["statusCode"]) == status
    body = json.loads(answer["body"])
    Draft202012Validator(_schema_of(operations()[key], status)).validate(body)
    if code is not None:
        assert body["error"]["code"] == code
        assert body["error"]["requestId"] == "req-openapi-1"


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (_event("GET", "/nowhere", token="openapi-test-token"), "RouteNotFound"),
        (_event("PUT", "/instances/tcr-abc/replicas", token="openapi-test-token"), "MethodNotAllowed"),
    ],
)
def test_unrouted_answers_are_documented(handler: Any, event: dict[str, Any], code: str) -> None:
    answer = handler(event, {"request_id": "req-openapi-2"})
    body = json.loads(answer["body"])
    assert body["error"]["code"] == code
    assert code in DOC["x-unrouted-errors"][str(answer["statusCode"])]
    Draft202012Validator(resolve({"$ref": "#/components/schemas/Error"})).validate(body)
