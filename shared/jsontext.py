"""Strict parsing of JSON text that comes from outside (request bodies, the timer's Message, POLICY).

Python's `json` lets the last of two equal keys win, so `{"dryRun": true, "dryRun": false}` would
silently mean `false`; a sender and this code could read one text two ways. Here a key repeated in
any object, at any depth, is refused, and so are the non-standard NaN and Infinity.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKey(ValueError):
    """A key appears twice in one JSON object; `key` names it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key[:64]!r} appears more than once in one object")
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # a key came twice: name the first one repeated
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str) -> Any:
    """`json.loads`, refusing repeated keys (DuplicateKey) and NaN/Infinity (ValueError)."""
    return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_reject_constant)
