"""SCF entry point of the push webhook (Function URL, target of TCR webhook triggers)."""

from __future__ import annotations

import time
from typing import Any

from shared import http, schemas
from shared.config import Config

router = http.Router()


@router.route("GET", "/healthz")
def healthz(request: http.Request) -> http.Response:
    return http.Response(200, {"ok": True})


@router.route("POST", "/")
def receive(request: http.Request) -> http.Response:
    config = Config()
    from shared import webhook

    webhook.authenticate(request.headers, request.body, config)
    schemas.validate("query.webhook", request.query, where="query")
    body = request.json()
    from shared.tcr import default_adapter

    result = webhook.record(
        body,
        registry_id=request.query.get("registryId"),
        tcr=default_adapter(),
        store=_store(),
        config=config,
    )
    return http.Response(202, result)


_STORE: Any = None


def _store() -> Any:
    """One log store per warm container (its COS client is rebuilt when credentials rotate)."""
    global _STORE  # noqa: PLW0603 - warm-container cache, on purpose
    if _STORE is None:
        from shared.logstore import LogStore

        _STORE = LogStore.from_env()
    return _STORE


def main_handler(event: Any, context: Any) -> dict:
    started = time.monotonic()

    def before(request: http.Request) -> None:
        from shared.tcr import Deadline, default_adapter

        default_adapter().set_deadline(Deadline.from_context(context, started, default_limit_s=10.0))

    return http.handle(event, context, router, before=before)
