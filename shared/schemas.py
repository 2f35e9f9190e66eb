"""JSON schemas for every input the functions take, compiled once per process.

`validate(name, data)` raises `ApiError("InvalidRequest")` whose message names the field path
and the rule that failed, e.g. ``body.region: must be a string or an integer (rule: type)``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from shared.errors import ApiError

REGISTRY_ID = r"^tcr-[a-z0-9]{1,32}$"
REPLICA_ID = r"^tcr-[a-z0-9]{1,32}(-[a-z0-9]{1,16}){0,3}$"
ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$"
REGION_REF = r"^([a-z]{2}-[a-z0-9-]{2,40}|[0-9]{1,6})$"
RECORD_STATUSES = ["pending", "replicated", "late", "failed", "deleted"]

_SHORT = {"type": "string", "minLength": 1, "maxLength": 256}
_NAME = {"type": "string", "minLength": 1, "maxLength": 512}

SCHEMAS: dict[str, dict[str, Any]] = {
    "path.registryId": {"type": "string", "pattern": REGISTRY_ID},
    "path.replicaRegistryId": {"type": "string", "pattern": REPLICA_ID},
    "replica.create": {
        "type": "object",
        "required": ["region"],
        "additionalProperties": False,
        "properties": {
            "region": {
                "oneOf": [
                    {"type": "string", "pattern": REGION_REF},
                    {"type": "integer", "minimum": 1, "maximum": 999999},
                ]
            },
            "syncTag": {"type": "boolean"},
            "dryRun": {"type": "boolean"},
        },
    },
    "query.regions": {
        "type": "object",
        "required": ["primary"],
        "additionalProperties": False,
        "properties": {"primary": {"type": "string", "pattern": REGION_REF}},
    },
    "query.none": {"type": "object", "additionalProperties": False, "properties": {}},
    "query.replicationLogs": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "replica": {"type": "string", "pattern": f"({REPLICA_ID})|({REGION_REF})"},
            "since": {"type": "string", "pattern": ISO_8601},
            "until": {"type": "string", "pattern": ISO_8601},
            "status": {"enum": RECORD_STATUSES},
            "repository": {"type": "string", "minLength": 1, "maxLength": 512},
            "limit": {"type": "string", "pattern": r"^(1000|[1-9][0-9]{0,2})$"},
            "cursor": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,2048}={0,2}$"},
        },
    },
    "query.webhook": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"registryId": {"type": "string", "pattern": REGISTRY_ID}},
    },
    # TCR webhook trigger payload (pushImage, deleteImage, ...) and Harbor 2 payloads share one shape.
    "webhook.registryEvent": {
        "type": "object",
        "required": ["type", "event_data"],
        "properties": {
            "type": {"type": "string", "minLength": 1, "maxLength": 64},
            "occur_at": {"type": "integer", "minimum": 0, "maximum": 32503680000},
            "operator": {"type": ["string", "integer"]},
            "event_data": {
                "type": "object",
                "properties": {
                    "resources": {
                        "type": "array",
                        "maxItems": 1000,
                        "items": {
                            "type": "object",
                            "properties": {
                                "digest": {"type": "string", "pattern": r"^[a-z0-9]+:[a-fA-F0-9]{32,256}$"},
                                "tag": {"type": "string", "maxLength": 256},
                                "resource_url": {"type": "string", "maxLength": 2048},
                            },
                        },
                    },
                    "repository": {
                        "type": "object",
                        "properties": {
                            "name": _NAME,
                            "namespace": _SHORT,
                            "repo_full_name": _NAME,
                            "repo_type": {"type": "string"},
                            "date_created": {"type": "integer"},
                        },
                    },
                },
            },
        },
    },
    "webhook.distributionEnvelope": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "maxItems": 1000,
                "items": {
                    "type": "object",
                    "required": ["action"],
                    "properties": {
                        "id": {"type": "string", "maxLength": 256},
                        "timestamp": {"type": "string", "maxLength": 64},
                        "action": {"type": "string", "maxLength": 64},
                        "target": {
                            "type": "object",
                            "properties": {
                                "mediaType": {"type": "string", "maxLength": 256},
                                "digest": {"type": "string", "pattern": r"^[a-z0-9]+:[a-fA-F0-9]{32,256}$"},
                                "repository": _NAME,
                                "url": {"type": "string", "maxLength": 2048},
                                "tag": {"type": "string", "maxLength": 256},
                                "size": {"type": "integer", "minimum": 0},
                            },
                        },
                        "request": {"type": "object", "properties": {"host": {"type": "string", "maxLength": 512}}},
                    },
                },
            }
        },
    },
    "timer.event": {
        "type": "object",
        "required": ["Type"],
        "properties": {
            "Type": {"const": "Timer"},
            "TriggerName": {"type": "string", "maxLength": 256},
            "Time": {"type": "string", "maxLength": 64},
            "Message": {"type": "string", "maxLength": 4096},
        },
    },
    "timer.options": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "instances": {"type": "array", "maxItems": 100, "items": {"type": "string", "pattern": REGISTRY_ID}},
            "slaSeconds": {"type": "integer", "minimum": 1, "maximum": 604800},
            "notify": {"type": "boolean"},
        },
    },
    "policy": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1},
            "allowedRegions": {"type": "array", "items": {"type": ["string", "integer"]}, "uniqueItems": True},
            "deniedRegions": {"type": "array", "items": {"type": ["string", "integer"]}, "uniqueItems": True},
            "requiredRegions": {"type": "array", "items": {"type": ["string", "integer"]}, "uniqueItems": True},
            "maxReplicas": {"type": "integer", "minimum": 0, "maximum": 100},
        },
    },
}


@cache
def validator(name: str) -> Any:
    """The compiled validator for one schema; built on first use, then reused for the process."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SCHEMAS[name])


def _path(where: str, path: Any) -> str:
    text = where
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _reason(error: Any) -> str:
    rule = error.validator
    value = error.validator_value
    if rule == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"field '{missing}' is required"
    if rule == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        return f"unknown field(s) {', '.join(map(repr, extra))}; allowed: {', '.join(allowed) or 'none'}"
    if rule == "type":
        types = value if isinstance(value, list) else [value]
        return f"must be of type {' or '.join(types)}"
    if rule == "oneOf":
        kinds = [s.get("type", "value") for s in value]
        return f"must be a valid {' or a valid '.join(kinds)}"
    if rule == "enum":
        return f"must be one of {', '.join(map(str, value))}"
    if rule == "const":
        return f"must be {value!r}"
    if rule == "pattern":
        return f"has an invalid format (must match {value})"
    if rule in ("minLength", "maxLength"):
        return f"length must be {'at least' if rule == 'minLength' else 'at most'} {value}"
    if rule in ("minimum", "maximum"):
        return f"must be {'>=' if rule == 'minimum' else '<='} {value}"
    if rule in ("minItems", "maxItems"):
        return f"must have {'at least' if rule == 'minItems' else 'at most'} {value} item(s)"
    if rule == "uniqueItems":
        return "must not repeat items"
    return error.message


def validate(name: str, data: Any, *, where: str = "body") -> None:
    """Raise InvalidRequest naming the first failing field (by path) and its rule."""
    errors = sorted(validator(name).iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if not errors:
        return
    first = errors[0]
    field = _path(where, first.absolute_path)
    message = f"{field}: {_reason(first)} (rule: {first.validator})"
    if len(errors) > 1:
        message += f"; {len(errors) - 1} more problem(s)"
    raise ApiError(
        "InvalidRequest",
        message,
        details={"field": field, "rule": str(first.validator)},
    )
