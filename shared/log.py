"""One JSON line per log record on stdout: SCF ships it to CLS, which indexes the first level.

Values under keys that look secret are masked, so a careless call cannot leak a credential.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

_SECRET_WORDS = ("secret", "token", "password", "authorization", "signature", "credential")


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
        sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass


def exception(name: str, exc: BaseException, **fields: Any) -> None:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    event(name, level="error", error=type(exc).__name__, detail=str(exc)[:500], trace="".join(frames)[-4000:], **fields)
