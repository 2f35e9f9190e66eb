"""The input schemas: valid Draft 2020-12 documents, validated at run time by jsonschema, with errors that name
the field and the rule."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from shared import schemas
from shared.errors import ApiError

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_every_schema_is_valid_draft_2020_12(name):
    Draft202012Validator.check_schema(schemas.SCHEMAS[name])


def test_built_once_per_schema():
    assert schemas.validator("replica.create") is schemas.validator("replica.create")
    assert isinstance(schemas.validator("replica.create"), Draft202012Validator)
    assert schemas.validator("replica.create").schema is schemas.SCHEMAS["replica.create"]


def test_jsonschema_is_imported_by_the_first_validation_not_by_loading_a_handler():
    code = (
        "import sys\n"
        "import functions.replicas.index, functions.webhook.index, functions.audit.index\n"
        "from shared import schemas\n"
        "assert 'jsonschema' not in sys.modules, 'imported when the handlers load'\n"
        "schemas.validate('replica.create', {'region': 'ap-shanghai'})\n"
        "assert 'jsonschema' in sys.modules\n"
        "assert schemas.validator.cache_info().currsize == 1, 'only the schema used is built'\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]


def _keywords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key == "properties":
                for sub in value.values():
                    yield from _keywords(sub)
            elif key in ("items", "additionalProperties"):
                yield from _keywords(value)
            elif key == "oneOf":
                for sub in value:
                    yield from _keywords(sub)


PHRASED = {"type", "properties", "required", "additionalProperties", "items", "oneOf", "enum", "const", "pattern",
           "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "uniqueItems"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_every_keyword_used_has_a_plain_reason(name):
    """A keyword outside this set would be reported in jsonschema's generic words; `format` would not even be
    checked (2020-12 makes it an annotation), so a schema relying on it would let anything through."""
    assert set(_keywords(schemas.SCHEMAS[name])) <= PHRASED


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("replica.create", {}, "body: field 'region' is required (rule: required)"),
        (
            "replica.create",
            {"region": "ap-shanghai", "zz": 1, "Region": 2},
            "body: unknown field(s) 'Region', 'zz'; allowed: dryRun, region, syncTag (rule: additionalProperties)",
        ),
        ("query.none", {"x": "1"}, "body: unknown field(s) 'x'; allowed: none (rule: additionalProperties)"),
        (
            "replica.create",
            {"region": "ap-shanghai", "dryRun": "yes"},
            "body.dryRun: must be of type boolean (rule: type)",
        ),
        ("replica.create", {"region": True}, "body.region: must be a valid string or a valid integer (rule: oneOf)"),
        ("replica.create", {"region": 1000000}, "body.region: must be a valid string or a valid integer (rule: oneOf)"),
        (
            "query.replicationLogs",
            {"status": "done"},
            "body.status: must be one of pending, replicated, late, failed, deleted (rule: enum)",
        ),
        ("timer.event", {"Type": "timer"}, "body.Type: must be 'Timer' (rule: const)"),
        ("policy", {"version": 2}, "body.version: must be 1 (rule: const)"),
        ("path.registryId", "tcr-ABC", "body: has an invalid format (must match ^tcr-[a-z0-9]{1,32}$) (rule: pattern)"),
        (
            "webhook.registryEvent",
            {"type": "", "event_data": {}},
            "body.type: length must be at least 1 (rule: minLength)",
        ),
        (
            "webhook.registryEvent",
            {"type": "x" * 65, "event_data": {}},
            "body.type: length must be at most 64 (rule: maxLength)",
        ),
        ("timer.options", {"slaSeconds": 0}, "body.slaSeconds: must be >= 1 (rule: minimum)"),
        ("timer.options", {"slaSeconds": 604801}, "body.slaSeconds: must be <= 604800 (rule: maximum)"),
        (
            "timer.options",
            {"instances": ["tcr-a"] * 101},
            "body.instances: must have at most 100 item(s) (rule: maxItems)",
        ),
        (
            "policy",
            {"deniedRegions": ["ap-tokyo", "ap-tokyo"]},
            "body.deniedRegions: must not repeat items (rule: uniqueItems)",
        ),
        ("timer.options", {"instances": [1]}, "body.instances[0]: must be of type string (rule: type)"),
    ],
)
def test_each_rule_is_phrased_for_a_reader(name, value, message):
    with pytest.raises(ApiError) as info:
        schemas.validate(name, value)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("name", "value", "field", "rule"),
    [
        # JSON's numbers: true is not 1, 1.0 is the integer 1, and 1 and 1.0 are the same item
        ("policy", {"version": True}, "body.version", "const"),
        ("policy", {"maxReplicas": True}, "body.maxReplicas", "type"),
        ("policy", {"maxReplicas": 2.5}, "body.maxReplicas", "type"),
        ("policy", {"allowedRegions": [1, 1.0]}, "body.allowedRegions", "uniqueItems"),
        ("policy", {"allowedRegions": [True]}, "body.allowedRegions[0]", "type"),
        ("query.deleteInstance", {"deleteBucket": True}, "body.deleteBucket", "enum"),
        ("timer.options", {"notify": 1}, "body.notify", "type"),
        ("timer.event", {"Type": "Timer", "Message": "x" * 4097}, "body.Message", "maxLength"),
        (
            "webhook.registryEvent",
            {"type": "pushImage", "event_data": {"resources": [{}] * 1001}},
            "body.event_data.resources",
            "maxItems",
        ),
        (
            "webhook.distributionEnvelope",
            {"events": [{"action": "push", "target": {"size": -1}}]},
            "body.events[0].target.size",
            "minimum",
        ),
        ("webhook.distributionEnvelope", {"events": [{}]}, "body.events[0]", "required"),
    ],
)
def test_refusals(name, value, field, rule):
    with pytest.raises(ApiError) as info:
        schemas.validate(name, value)
    assert info.value.details == {"field": field, "rule": rule}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("policy", {"version": 1.0, "maxReplicas": 2.0, "allowedRegions": ["ap-tokyo", 4]}),
        ("policy", {}),
        ("query.deleteInstance", {"deleteBucket": "true"}),
        ("timer.event", {"Type": "Timer"}),
        ("webhook.distributionEnvelope", {"events": []}),
    ],
)
def test_acceptances(name, value):
    schemas.validate(name, value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # the shortest path first: the object's own problem before its fields'
        (
            {"dryRun": "yes", "syncTag": 1},
            "body: field 'region' is required (rule: required); 2 more problem(s)",
        ),
        # the same depth: the path's text, then the schema's keyword order
        (
            {"syncTag": 1, "dryRun": "yes", "region": None},
            "body.dryRun: must be of type boolean (rule: type); 2 more problem(s)",
        ),
        ({"extra": 1}, "body: field 'region' is required (rule: required); 1 more problem(s)"),
    ],
)
def test_the_first_problem_is_chosen_the_same_way_every_time(value, message):
    for _ in range(3):
        with pytest.raises(ApiError) as info:
            schemas.validate("replica.create", value)
        assert info.value.message == message


def test_a_message_never_echoes_the_value():
    with pytest.raises(ApiError) as info:
        schemas.validate("replica.create", {"region": "ap-" + "x" * 100_000})
    assert len(info.value.message) < 200
    with pytest.raises(ApiError) as info:
        schemas.validate("replica.create", {"region": "ap-shanghai", "k" * 100_000: 1})
    assert len(info.value.message) < 200


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


def test_a_remembered_valid_query_lets_no_other_value_or_schema_through():
    """validate() remembers jsonschema's verdict on a valid flat query; only that exact value under that schema."""
    schemas.validate("query.webhook", {"registryId": "tcr-abc123"}, where="query")
    schemas.validate("query.webhook", {"registryId": "tcr-abc123"}, where="query")  # remembered
    for bad in ({"registryId": "tcr-abc123\n"}, {"registryId": "tcr-abc123", "x": "1"}, {"registryid": "tcr-abc123"}):
        with pytest.raises(ApiError) as caught:
            schemas.validate("query.webhook", bad, where="query")
        assert caught.value.details["field"].startswith("query")
    with pytest.raises(ApiError):  # the same value, another schema: its own verdict
        schemas.validate("query.none", {"registryId": "tcr-abc123"}, where="query")
    for _ in range(2):  # an invalid value is never remembered
        with pytest.raises(ApiError):
            schemas.validate("query.webhook", {"registryId": "TCR-ABC"}, where="query")
