"""SCF entry point of the audit function: parse, call `shared`, shape the reply (no rules here)."""

from __future__ import annotations

from typing import Any

from shared import http

router = http.Router()


@router.route("GET", "/healthz")
def healthz(request: http.Request) -> http.Response:
    return http.Response(200, {"ok": True})


def main_handler(event: Any, context: Any) -> dict:
    return http.not_implemented(event, context, "audit")
