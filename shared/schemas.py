"""JSON schemas for every input the functions take, compiled once per process.

`validate(name, data)` raises `ApiError("InvalidRequest")` whose message names the field path
and the rule that failed, e.g. ``body.region: must be a string or an integer (rule: type)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, NamedTuple

from shared.errors import ApiError

# Every pattern must match the whole text. JSON Schema patterns are ECMA-262 regexes, where `$` is the end
# of the text; in Python (this compiler, and jsonschema) `$` also matches before a final newline, so each
# pattern ends in `$(?!\n)`, which means the end in both ("tcr-abc\n" is not an id).
_END = r"$(?!\n)"
REGISTRY_ID = r"^tcr-[a-z0-9]{1,32}$(?!\n)"
REPLICA_ID = r"^tcr-[a-z0-9]{1,32}(-[a-z0-9]{1,16}){0,3}$(?!\n)"
ISO_8601 = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$(?!\n)"
REGION_REF = r"^([a-z]{2}-[a-z0-9-]{2,40}|[0-9]{1,6})$(?!\n)"
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
    "query.deleteInstance": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"deleteBucket": {"enum": ["true", "false"]}},
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


class Problem(NamedTuple):
    """One schema violation: where (path inside the value), which rule, and the rule's argument."""

    path: tuple[str | int, ...]
    rule: str
    value: Any
    schema: dict[str, Any]
    instance: Any


Check = Callable[[Any, tuple[str | int, ...]], Iterator[Problem]]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0, containers compare member by member."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def compile_schema(schema: dict[str, Any]) -> Check:
    """Turn one schema (the JSON Schema subset used here) into a function yielding its problems.

    Keywords are checked in the schema's order, as the jsonschema library does; a value of the wrong
    type is not checked further (the other keywords only apply to their own types).
    """
    checks: list[Check] = []

    def problem(rule: str, value: Any, instance: Any, path: tuple[str | int, ...]) -> Problem:
        return Problem(path, rule, value, schema, instance)

    for keyword, arg in schema.items():
        if keyword == "type":
            kinds = arg if isinstance(arg, list) else [arg]
            tests = [_TYPES[k] for k in kinds]

            def check_type(
                v: Any, p: tuple[str | int, ...], tests: list[Any] = tests, arg: Any = arg
            ) -> Iterator[Problem]:
                if not any(t(v) for t in tests):
                    yield problem("type", arg, v, p)

            checks.insert(0, check_type)
        elif keyword == "properties":
            subs = {name: compile_schema(sub) for name, sub in arg.items()}

            def check_props(v: Any, p: tuple[str | int, ...], subs: dict[str, Check] = subs) -> Iterator[Problem]:
                if isinstance(v, dict):
                    for name, sub in subs.items():
                        if name in v:
                            yield from sub(v[name], (*p, name))

            checks.append(check_props)
        elif keyword == "required":

            def check_required(v: Any, p: tuple[str | int, ...], names: list[str] = arg) -> Iterator[Problem]:
                if isinstance(v, dict):
                    for name in names:
                        if name not in v:
                            yield problem("required", name, v, p)

            checks.append(check_required)
        elif keyword == "additionalProperties":
            if arg is not False:
                raise ValueError("only additionalProperties: false is supported")
            known = frozenset(schema.get("properties", {}))

            def check_extra(v: Any, p: tuple[str | int, ...], known: frozenset[str] = known) -> Iterator[Problem]:
                if isinstance(v, dict) and any(k not in known for k in v):
                    yield problem("additionalProperties", False, v, p)

            checks.append(check_extra)
        elif keyword == "items":
            sub = compile_schema(arg)

            def check_items(v: Any, p: tuple[str | int, ...], sub: Check = sub) -> Iterator[Problem]:
                if isinstance(v, list):
                    for i, item in enumerate(v):
                        yield from sub(item, (*p, i))

            checks.append(check_items)
        elif keyword in ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum"):
            kind = (
                _TYPES["array"] if "Items" in keyword else _TYPES["string"] if "Length" in keyword else _TYPES["number"]
            )
            low = keyword.startswith("min")

            def check_bound(
                v: Any, p: tuple[str | int, ...], kw: str = keyword, arg: Any = arg, kind: Any = kind, low: bool = low
            ) -> Iterator[Problem]:
                if kind(v):
                    size = v if kw in ("minimum", "maximum") else len(v)
                    if (size < arg) if low else (size > arg):
                        yield problem(kw, arg, v, p)

            checks.append(check_bound)
        elif keyword == "uniqueItems":

            def check_unique(v: Any, p: tuple[str | int, ...], on: bool = arg) -> Iterator[Problem]:
                if on and isinstance(v, list) and any(_json_equal(a, b) for i, a in enumerate(v) for b in v[i + 1 :]):
                    yield problem("uniqueItems", on, v, p)

            checks.append(check_unique)
        elif keyword == "pattern":
            regex = re.compile(arg)

            def check_pattern(v: Any, p: tuple[str | int, ...], regex: re.Pattern[str] = regex) -> Iterator[Problem]:
                if isinstance(v, str) and not regex.search(v):
                    yield problem("pattern", regex.pattern, v, p)

            checks.append(check_pattern)
        elif keyword in ("enum", "const"):
            options = arg if keyword == "enum" else [arg]

            def check_enum(
                v: Any, p: tuple[str | int, ...], kw: str = keyword, options: list[Any] = options
            ) -> Iterator[Problem]:
                if not any(_json_equal(v, o) for o in options):
                    yield problem(kw, schema[kw], v, p)

            checks.append(check_enum)
        elif keyword == "oneOf":
            subs_list = [compile_schema(sub) for sub in arg]

            def check_one_of(
                v: Any, p: tuple[str | int, ...], subs: list[Check] = subs_list, arg: Any = arg
            ) -> Iterator[Problem]:
                if sum(1 for sub in subs if next(sub(v, p), None) is None) != 1:
                    yield problem("oneOf", arg, v, p)

            checks.append(check_one_of)
        else:
            raise ValueError(f"schema keyword {keyword!r} is not supported by the compiler")

    type_first = bool(checks) and "type" in schema

    def run(v: Any, p: tuple[str | int, ...] = ()) -> Iterator[Problem]:
        if type_first:
            wrong = list(checks[0](v, p))
            if wrong:
                yield from wrong
                return
            for check in checks[1:]:
                yield from check(v, p)
        else:
            for check in checks:
                yield from check(v, p)

    return run


@cache
def validator(name: str) -> Check:
    """The compiled validator for one schema; built on first use, then reused for the process.

    The schemas are JSON Schema 2020-12 documents (tests check them, and check this compiler against
    the jsonschema library); compiling them here keeps ~100 ms of imports out of every cold start.
    """
    return compile_schema(SCHEMAS[name])


def _path(where: str, path: Any) -> str:
    text = where
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _reason(error: Problem) -> str:
    rule = error.rule
    value = error.value
    if rule == "required":
        return f"field '{value}' is required"
    if rule == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k[:64] for k in set(error.instance) - set(allowed))
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
    return "must not repeat items"


def validate(name: str, data: Any, *, where: str = "body") -> None:
    """Raise InvalidRequest naming the first failing field (by path) and its rule."""
    errors = sorted(validator(name)(data, ()), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return
    first = errors[0]
    field = _path(where, first.path)
    message = f"{field}: {_reason(first)} (rule: {first.rule})"
    if len(errors) > 1:
        message += f"; {len(errors) - 1} more problem(s)"
    raise ApiError("InvalidRequest", message, details={"field": field, "rule": first.rule})
