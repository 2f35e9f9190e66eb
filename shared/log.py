"""One JSON line per log record on stdout: SCF ships it to CLS, which indexes the first level.

Values under keys that look secret are masked, and every URL in a line loses its userinfo, query
string and fragment (where receivers and signed links carry credentials), so a careless call cannot
leak a credential.
"""

from __future__ import annotations

import json
import re
import sys
import time
import traceback
from typing import Any

_SECRET_WORDS = ("secret", "token", "password", "authorization", "signature", "credential")
# scheme://[userinfo@]host[path][?query][#fragment], ending at a blank, a quote or a backslash (JSON escapes)
_URL = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*://)(?:[^/?#\s\"'\\]*@)?([^/?#\s\"'\\]*)([^?#\s\"'\\]*)(?:[?#][^\s\"'\\]*)?"
)


def redact_urls(text: str) -> str:
    """`text` with every URL's userinfo, query string and fragment removed."""
    return _URL.sub(r"\1\2\3", text) if "://" in text else text


def origin(url: str | None) -> str:
    """`scheme://host[:port]` of `url` only: what a log may say about a receiver whose path or query is a secret."""
    text = redact_urls(str(url or ""))
    scheme, sep, rest = text.partition("://")
    return f"{scheme}{sep}{rest.split('/', 1)[0]}" if sep else ""


def _mask(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        lowered = key.lower()
        if any(word in lowered for word in _SECRET_WORDS) and lowered not in ("registryid", "eventid"):
            out[key] = "***"
        else:
            out[key] = value
    return out


def event(name: str, *, level: str = "info", **fields: Any) -> None:
    record = {"ts": round(time.time(), 3), "level": level, "event": name, **_mask(fields)}
    try:
        sys.stdout.write(redact_urls(json.dumps(record, default=str, ensure_ascii=False)) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def exception(name: str, exc: BaseException, **fields: Any) -> None:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    event(name, level="error", error=type(exc).__name__, detail=str(exc)[:500], trace="".join(frames)[-4000:], **fields)
