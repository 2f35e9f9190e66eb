from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from shared import schemas
from shared.errors import ApiError

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_every_schema_is_valid_draft_2020_12(name):
    Draft202012Validator.check_schema(schemas.SCHEMAS[name])


def test_compiled_once():
    assert schemas.validator("replica.create") is schemas.validator("replica.create")


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({}, "body", "required"),
        ({"region": None}, "body.region", "oneOf"),
        ({"region": ["ap-shanghai"]}, "body.region", "oneOf"),
        ({"region": "ap-shanghai", "dryRun": "yes"}, "body.dryRun", "type"),
        ({"region": "ap-shanghai", "syncTag": 1}, "body.syncTag", "type"),
        ({"region": "ap-shanghai", "extra": 1}, "body", "additionalProperties"),
        ({"region": "x" * 300}, "body.region", "oneOf"),
        ({"region": 0}, "body.region", "oneOf"),
        ({"region": "ap-shanghai\u202e"}, "body.region", "oneOf"),
        ([], "body", "type"),
        ("ap-shanghai", "body", "type"),
    ],
)
def test_replica_body_errors_name_field_and_rule(body, field, rule):
    with pytest.raises(ApiError) as info:
        schemas.validate("replica.create", body)
    err = info.value
    assert (err.code, err.status) == ("InvalidRequest", 400)
    assert err.details == {"field": field, "rule": rule}
    assert err.message.startswith(field + ":") and f"(rule: {rule})" in err.message


@pytest.mark.parametrize("body", [{"region": "ap-shanghai"}, {"region": 4, "dryRun": True, "syncTag": False}])
def test_replica_body_ok(body):
    schemas.validate("replica.create", body)


@pytest.mark.parametrize(
    ("query", "ok"),
    [
        ({"limit": "1000"}, True),
        ({"limit": "1001"}, False),
        ({"limit": "0"}, False),
        ({"limit": "-1"}, False),
        ({"since": "2026-11-28T00:00:00Z", "until": "2026-11-28"}, True),
        ({"since": "yesterday"}, False),
        ({"status": "replicated"}, True),
        ({"status": "done"}, False),
        ({"replica": "ap-shanghai"}, True),
        ({"replica": "tcr-abc123-4-aaaaaa"}, True),
        ({"replica": "../../etc"}, False),
        ({"cursor": "abc_-DEF"}, True),
        ({"cursor": "a b"}, False),
        ({"bogus": "1"}, False),
    ],
)
def test_log_query(query, ok):
    if ok:
        schemas.validate("query.replicationLogs", query, where="query")
    else:
        with pytest.raises(ApiError) as info:
            schemas.validate("query.replicationLogs", query, where="query")
        assert info.value.details["field"].startswith("query")


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("path.registryId", "tcr-dg284imq", True),
        ("path.registryId", "tcr-DG284", False),
        ("path.registryId", "tcr-", False),
        ("path.registryId", "x" * 40, False),
        ("path.replicaRegistryId", "tcr-dg284imq-5-os5gcu", True),
        ("path.replicaRegistryId", "tcr-06d62e1r-5", True),
        ("path.replicaRegistryId", "tcr-06d62e1r-5/../x", False),
    ],
)
def test_path_params(name, value, ok):
    if ok:
        schemas.validate(name, value, where="path")
    else:
        with pytest.raises(ApiError):
            schemas.validate(name, value, where="path")


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize(
    ("event", "schema"),
    [
        ("webhook_tcr_push_image.json", "webhook.registryEvent"),
        ("webhook_tcr_push_image_empty.json", "webhook.registryEvent"),
        ("webhook_tcr_delete_image.json", "webhook.registryEvent"),
        ("webhook_harbor_push_artifact.json", "webhook.registryEvent"),
        ("webhook_distribution_envelope.json", "webhook.distributionEnvelope"),
    ],
)
def test_sample_webhook_payloads_validate(event, schema):
    schemas.validate(schema, json.loads(load(event)["body"]))


def test_timer_events_and_options():
    for name in ("timer_audit.json", "timer_audit_with_options.json"):
        event = load(name)
        schemas.validate("timer.event", event, where="event")
        if event["Message"]:
            schemas.validate("timer.options", json.loads(event["Message"]), where="Message")
    with pytest.raises(ApiError) as info:
        schemas.validate("timer.options", {"slaSeconds": 0}, where="Message")
    assert info.value.details["field"] == "Message.slaSeconds"


def test_webhook_payload_rejections():
    bad = json.loads(load("webhook_tcr_push_image.json")["body"])
    bad["event_data"]["resources"][0]["digest"] = "sha256:nothex"
    with pytest.raises(ApiError) as info:
        schemas.validate("webhook.registryEvent", bad)
    assert info.value.details["field"] == "body.event_data.resources[0].digest"
