"""SCF entry point of the push webhook (Function URL, target of TCR webhook triggers)."""

from __future__ import annotations

import time
from typing import Any

from shared import http, schemas
from shared.config import Config
from shared.errors import ApiError

router = http.Router()
# Several attempts must fit in the function's 10 s: no single TCR or COS call may take them all.
WEBHOOK_ATTEMPT_TIMEOUT_S = 3
# The TCR part (instance, replica list) gets this long, each attempt at most TCR_ATTEMPT_TIMEOUT_S, so that a
# push is stored (unexpanded when TCR cannot answer) and answered within 3 s of arrival.
TCR_BUDGET_S = 1.2
TCR_ATTEMPT_TIMEOUT_S = 1.0
_STORE: Any = None
_INVOCATION: dict[str, Any] = {}


def _store() -> Any:
    """One log store per warm container (its COS client is rebuilt when credentials rotate)."""
    global _STORE  # noqa: PLW0603 - warm-container cache, on purpose
    if _STORE is None:
        from shared.logstore import LogStore

        _STORE = LogStore.from_env(timeout=WEBHOOK_ATTEMPT_TIMEOUT_S)
    return _STORE


@router.route("GET", "/healthz")
def healthz(request: http.Request) -> http.Response:
    return http.Response(200, {"ok": True})


@router.route("POST", "/")
def receive(request: http.Request) -> http.Response:
    config = Config()
    from shared import webhook
    from shared.tcr import Deadline, default_adapter

    webhook.authenticate(request.headers, request.body, config, query=request.query)
    schemas.validate("query.webhook", request.query, where="query")
    body = request.json()
    deadline = Deadline.from_context(_INVOCATION.get("context"), _INVOCATION.get("started"), default_limit_s=10.0)
    store = _store()
    store.deadline = deadline.expires_at
    tcr = default_adapter()
    tcr.timeout_s = TCR_ATTEMPT_TIMEOUT_S
    try:
        tcr.warm()  # a cold container's SDK import is not TCR being slow
    except ApiError:
        pass  # e.g. a bad TCR_ENDPOINT: the TCR part fails the same way, and the push is kept unexpanded
    tcr.set_deadline(deadline.within(TCR_BUDGET_S))
    result = webhook.record(body, registry_id=request.query.get("registryId"), tcr=tcr, store=store, config=config)
    return http.Response(202, result)


def main_handler(event: Any, context: Any) -> dict:
    _INVOCATION.update(context=context if isinstance(context, dict) else None, started=time.monotonic())
    return http.handle(event, context, router)
