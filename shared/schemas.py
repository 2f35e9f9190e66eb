"""JSON schemas (Draft 2020-12) for every input the functions take, validated by the `jsonschema` library.

`validate(name, data)` raises `ApiError("InvalidRequest")` whose message names the field path
and the rule that failed, e.g. ``body.dryRun: must be of type boolean (rule: type)``.

Each schema's validator is built on its first use and kept for the warm container: `jsonschema` is
imported by the first validation, not when a handler module loads, and a function builds only the
validators it uses.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from shared.errors import ApiError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

# Every pattern must match the whole text. JSON Schema patterns are ECMA-262 regexes, where `$` is the end
# of the text; in Python's `re` (which jsonschema uses) `$` also matches before a final newline, so each
# pattern ends in `$(?!\n)`, which means the end in both ("tcr-abc\n" is not an id).
_END = r"$(?!\n)"
REGISTRY_ID = r"^tcr-[a-z0-9]{1,32}$(?!\n)"
REPLICA_ID = r"^tcr-[a-z0-9]{1,32}(-[a-z0-9]{1,16}){0,3}$(?!\n)"
ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$(?!\n)"
REGION_REF = r"^([a-z]{2}-[a-z0-9-]{2,40}|[0-9]{1,6})$(?!\n)"
# TCR's VPC and subnet ids (VPC API: vpc-/subnet- and 8 lower-case letters or digits)
VPC_ID = r"^vpc-[a-z0-9]{8}$(?!\n)"
SUBNET_ID = r"^subnet-[a-z0-9]{8}$(?!\n)"
DIGEST = r"^[a-z0-9]+:[a-fA-F0-9]{32,256}$(?!\n)"
# A tag as registries accept it; Harbor sends the digest as the tag of an untagged push.
TAG = r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|[a-z0-9]+:[a-fA-F0-9]{32,256})?$(?!\n)"
# Repository names as the distribution spec defines them (lower case, separators inside, components
# joined by '/'); a namespace is one component, read leniently (TCR's own rule is not documented).
NAMESPACE = r"^[a-z0-9][a-z0-9._-]*$(?!\n)"
REPOSITORY = r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$(?!\n)"
# A record's status: the replication log's records (shared.records) take their statuses from here.
RECORD_STATUSES = ("pending", "replicated", "late", "failed", "deleted")

_NAMESPACE = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": NAMESPACE}
_REPOSITORY = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": REPOSITORY}
_TAG = {"type": "string", "maxLength": 256, "pattern": TAG}
_DIGEST = {"type": "string", "pattern": DIGEST}

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
    "query.reportLink": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"ttl": {"type": "string", "pattern": r"^[1-9][0-9]{1,4}$(?!\n)"}},
    },
    "query.deleteInstance": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"deleteBucket": {"enum": ["true", "false"]}},
    },
    "privateAccess.attach": {
        "type": "object",
        "required": ["region", "vpcId", "subnetId"],
        "additionalProperties": False,
        "properties": {
            "region": {"type": "string", "pattern": REGION_REF},
            "vpcId": {"type": "string", "pattern": VPC_ID},
            "subnetId": {"type": "string", "pattern": SUBNET_ID},
            "dns": {"type": "boolean"},
            "dryRun": {"type": "boolean"},
        },
    },
    "path.vpcId": {"type": "string", "pattern": VPC_ID},
    "query.detachPrivateAccess": {
        "type": "object",
        "required": ["region"],
        "additionalProperties": False,
        "properties": {"region": {"type": "string", "pattern": REGION_REF}},
    },
    "query.deleteReplica": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"detachPrivateAccess": {"enum": ["true", "false"]}},
    },
    "query.replicationLogs": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "replica": {"type": "string", "pattern": f"({REPLICA_ID})|({REGION_REF})"},
            "since": {"type": "string", "pattern": ISO_8601},
            "until": {"type": "string", "pattern": ISO_8601},
            "status": {"enum": list(RECORD_STATUSES)},
            "repository": _REPOSITORY,
            "limit": {"type": "string", "pattern": r"^(1000|[1-9][0-9]{0,2})$(?!\n)"},
            "cursor": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,2048}={0,2}$(?!\n)"},
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
                                "digest": _DIGEST,
                                "tag": _TAG,
                                "resource_url": {"type": "string", "maxLength": 2048},
                            },
                        },
                    },
                    "repository": {
                        "type": "object",
                        "properties": {
                            "name": _REPOSITORY,
                            "namespace": _NAMESPACE,
                            "repo_full_name": _REPOSITORY,
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
                                "digest": _DIGEST,
                                "repository": _REPOSITORY,
                                "url": {"type": "string", "maxLength": 2048},
                                "tag": _TAG,
                                "size": {"type": "integer", "minimum": 0},
                            },
                        },
                        "request": {"type": "object", "properties": {"host": {"type": "string", "maxLength": 512}}},
                        "actor": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 256}}},
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
def validator(name: str) -> Validator:
    """The Draft 2020-12 validator of one schema; built on first use, then reused for the warm container.

    The schemas are checked against the 2020-12 metaschema by the tests, not here (that costs every cold start).
    """
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SCHEMAS[name])


def _path(where: str, path: Any) -> str:
    text = where
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _reason(error: ValidationError) -> str:
    """What is wrong, in words that name the rule's argument and never echo the (possibly huge) value."""
    rule = error.validator
    value: Any = error.validator_value
    instance: Any = error.instance
    if rule == "required":
        # one error per missing name, in the schema's order: the first error is for the first missing name
        missing = [name for name in value if name not in instance]
        return f"field '{missing[0]}' is required"
    if rule == "additionalProperties":
        schema: Any = error.schema
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(k[:64] for k in set(instance) - set(allowed))
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
        return f"has an invalid format (must match {value.replace(_END, '$')})"
    if rule in ("minLength", "maxLength"):
        return f"length must be {'at least' if rule == 'minLength' else 'at most'} {value}"
    if rule in ("minimum", "maximum"):
        return f"must be {'>=' if rule == 'minimum' else '<='} {value}"
    if rule in ("minItems", "maxItems"):
        return f"must have {'at least' if rule == 'minItems' else 'at most'} {value} item(s)"
    if rule == "uniqueItems":
        return "must not repeat items"
    return f"does not satisfy {rule} {str(value)[:64]}"


# Inputs that jsonschema found valid and that recur in a warm container (a trigger's `?registryId=`): flat
# string maps only, so the key is exact; the verdict of a pure validation of the same value cannot change.
_VALID_FLAT: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}
_VALID_FLAT_MAX = 256


def _flat_key(name: str, data: Any) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    if type(data) is not dict or len(data) > 8:
        return None
    items = tuple(data.items())
    if not all(type(k) is str and type(v) is str and len(v) <= 256 for k, v in items):
        return None
    return name, tuple(sorted(items))


def validate(name: str, data: Any, *, where: str = "body") -> None:
    """Raise InvalidRequest naming the first failing field and its rule.

    First means the shortest path, then the path's text, then the schema's keyword order (the order
    jsonschema reports in): the same input always names the same problem.
    """
    key = _flat_key(name, data)
    if key is not None and key in _VALID_FLAT:
        return
    errors = sorted(
        validator(name).iter_errors(data),
        key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]),
    )
    if not errors:
        if key is not None and len(_VALID_FLAT) < _VALID_FLAT_MAX:
            _VALID_FLAT[key] = True
        return
    first = errors[0]
    field = _path(where, first.absolute_path)
    rule = str(first.validator)
    message = f"{field}: {_reason(first)} (rule: {rule})"
    if len(errors) > 1:
        message += f"; {len(errors) - 1} more problem(s)"
    raise ApiError("InvalidRequest", message, details={"field": field, "rule": rule})
