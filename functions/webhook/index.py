"""SCF entry point of the push webhook (Function URL, target of TCR webhook triggers)."""

from __future__ import annotations

from typing import Any

from shared import app, http, webhook
from shared.inputs import WebhookQuery

router = http.Router()


@router.route("GET", "/healthz")
def healthz(request: http.Request) -> http.Response:
    return http.Response(200, {"ok": True})


@router.route("POST", "/")
def receive(request: http.Request) -> http.Response:
    services = request.services
    webhook.authenticate(request.headers, request.body, services.config, query=request.query)
    query = WebhookQuery.from_query(request.query)
    result = webhook.record(
        request.json(),
        registry_id=query.registry_id,
        tcr=services.tcr_on_demand,
        store=services.store,
        config=services.config,
    )
    return http.Response(202, result)


def main_handler(event: Any, context: Any) -> dict:
    return app.serve_http(event, context, router, webhook.PROFILE)
