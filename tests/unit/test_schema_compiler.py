"""The schema compiler of shared/schemas.py against the jsonschema library, the reference implementation.

Values are drawn both near each schema (mostly valid, with mutations) and at random; for every value
both must agree on validity, and the first problem we report must be one jsonschema reports too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from shared import schemas

json_scalars = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def near(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped by the schema: right or nearly right, so that deep rules get exercised."""
    options: list[st.SearchStrategy[Any]] = [json_values]
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    if "const" in schema:
        options.append(st.just(schema["const"]))
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "oneOf" in schema:
        options.extend(near(sub) for sub in schema["oneOf"])
    for kind in kinds:
        if kind == "object":
            props = schema.get("properties", {})
            fields = {name: near(sub) for name, sub in props.items()}
            extra = st.dictionaries(st.sampled_from(["zz", "Region", "dry_run"]), json_scalars, max_size=1)
            options.append(
                st.tuples(st.fixed_dictionaries({}, optional=fields), extra, st.booleans()).map(
                    lambda t: {**t[0], **t[1]} if t[2] else t[0]
                )
            )
        elif kind == "array":
            options.append(st.lists(near(schema.get("items", {})), max_size=4))
        elif kind == "string":
            if "pattern" in schema:
                options.append(st.from_regex(schema["pattern"]))
            options.append(st.text(min_size=0, max_size=schema.get("maxLength", 20) + 2))
        elif kind == "integer":
            low, high = schema.get("minimum", -3), schema.get("maximum", 10**6)
            options.append(st.integers(low - 2, min(high + 2, low + 10**7)))
            options.append(st.floats(low - 2, high + 2).map(lambda f: float(round(f))))
        elif kind == "boolean":
            options.append(st.booleans() | st.integers(0, 1))
    return st.one_of(options)


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_compiler_agrees_with_jsonschema(name: str) -> None:
    schema = schemas.SCHEMAS[name]
    reference = Draft202012Validator(schema)

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(value=near(schema))
    def agree(value: Any) -> None:
        theirs = {(tuple(e.absolute_path), e.validator) for e in reference.iter_errors(value)}
        ours = sorted(schemas.validator(name)(value, ()), key=lambda e: (len(e.path), list(map(str, e.path))))
        assert bool(ours) == bool(theirs), (value, ours, theirs)
        if ours:
            assert (ours[0].path, ours[0].rule) in theirs, (value, ours[0], theirs)

    agree()


def test_json_equality_rules() -> None:
    assert not schemas._json_equal(True, 1)
    assert schemas._json_equal(1, 1.0)
    assert schemas._json_equal([1, {"a": 2}], [1.0, {"a": 2}])
    assert not schemas._json_equal({"a": 1}, {"a": 1, "b": 2})


def test_unsupported_keywords_are_refused() -> None:
    with pytest.raises(ValueError, match="not supported"):
        schemas.compile_schema({"type": "string", "format": "date-time"})
