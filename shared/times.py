"""Times as TCR, COS, senders and the log write them, parsed in one place.

Its own small module (stdlib only), so that the TCR adapter can parse times without loading the log's
record layout on a cold start.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

_FRACTION = re.compile(r"(.*[T ]\d{2}:\d{2}:\d{2})\.(\d+)(.*)")
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})\Z")
# The log's own form (`records.iso_utc`), by far the most parsed: read without the normalising regexes below.
_CANONICAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def parse_time(value: Any) -> datetime:
    """Parse an epoch number, a datetime or an ISO 8601 string into an aware UTC datetime (seconds precision)."""
    if type(value) is str and len(value) == 20 and _CANONICAL.fullmatch(value):
        # the log's own canonical text (records.iso_utc), parsed a dozen times per record by an audit: the short way
        try:
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=timezone.utc)
        except ValueError:
            pass  # not a calendar time: the general path says why
    if isinstance(value, bool):
        raise ValueError("time must not be a boolean")
    if isinstance(value, (int, float)):
        try:
            dt = datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"time out of range: {value!r}") from exc
    elif isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty time")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Python 3.10 fromisoformat accepts only 0, 3 or 6 fractional digits and +hh:mm offsets: normalise
        match = _FRACTION.fullmatch(text)
        if match:
            text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
        text = _COMPACT_OFFSET.sub(r"\1:\2", text)
        try:
            dt = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 time: {value!r}") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
    else:
        raise ValueError(f"not a time: {value!r}")
    try:
        return dt.astimezone(timezone.utc).replace(microsecond=0)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise ValueError(f"time out of range: {value!r}") from exc


def parse_or_none(value: Any) -> datetime | None:
    """`parse_time`, or None for a missing or unreadable time (TCR's optional times, cursors in state)."""
    if value is None or value == "":
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None
