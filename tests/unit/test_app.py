"""The composition root: one invocation's services, its deadline bound to every adapter, routes that cannot forget."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared import api, app, audit, http, webhook

ENV = {
    "TENCENTCLOUD_SECRETID": "AKIDtest",
    "TENCENTCLOUD_SECRETKEY": "secret",
    "TENCENTCLOUD_REGION": "ap-guangzhou",
    "LOG_BUCKET": "tcr-replication-log-1250000000",
    "LOG_BUCKET_REGION": "ap-guangzhou",
    "COS_ENDPOINT": "127.0.0.1:9",
    "TCR_ENDPOINT": "127.0.0.1:9",
    "API_TOKEN": "t0ken",
}


@pytest.fixture(autouse=True)
def cold_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    app.reset()
    yield
    app.reset()


def test_the_deadline_comes_from_the_context_less_the_profile_margin() -> None:
    started = time.monotonic()
    services = app.Services(audit.PROFILE, {"time_limit_in_ms": 60_000}, started)
    assert services.deadline.expires_at == pytest.approx(started + 60.0 - 5.0)
    no_limit = app.Services(webhook.PROFILE, None, started)
    assert no_limit.deadline.expires_at == pytest.approx(started + 10.0 - 1.0)


def test_adapters_live_per_container_and_each_invocation_binds_its_own_deadline() -> None:
    first = app.Services(api.PROFILE, {"time_limit_in_ms": 3_000}, time.monotonic())
    second = app.Services(api.PROFILE, {"time_limit_in_ms": 20_000}, time.monotonic())
    store = first.store
    assert store.deadline is first.deadline  # bound on first use
    assert second.store is store  # the same warm store (its COS client is costly)
    assert store.deadline is second.deadline  # now bound to the later invocation
    assert first.tcr is second.tcr


def test_the_webhook_gives_tcr_only_its_budget_of_the_invocation() -> None:
    services = app.Services(webhook.PROFILE, {"time_limit_in_ms": 10_000}, time.monotonic())
    tcr = services.tcr
    assert tcr.timeout_s == webhook.PROFILE.tcr_attempt_s == 1.0
    assert 0 < tcr.deadline.remaining() <= 1.2
    assert services.store.deadline.remaining() > 8.0  # COS keeps the rest: the push is still written


def _event(path: str, token: str | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return {"httpMethod": "GET", "path": path, "headers": headers, "queryString": {}, "body": ""}


def test_every_route_gets_the_invocations_services_after_authentication() -> None:
    router = http.Router()
    seen: list[Any] = []

    @router.route("GET", "/probe")
    def probe(request: http.Request) -> http.Response:
        seen.append(request.services)
        return http.Response(200, {"remaining": request.services.deadline.remaining()})

    refused = app.serve_http(_event("/probe"), {"time_limit_in_ms": 5_000}, router, api.PROFILE)
    assert refused["statusCode"] == 401 and seen == []  # authentication comes before the route
    answered = app.serve_http(_event("/probe", "t0ken"), {"time_limit_in_ms": 5_000}, router, api.PROFILE)
    assert answered["statusCode"] == 200
    assert 0 < json.loads(answered["body"])["remaining"] <= 4.0
    assert isinstance(seen[0], app.Services) and seen[0].profile is api.PROFILE


def test_the_timer_entry_hands_its_services_to_the_run() -> None:
    got = app.serve_timer({"Type": "Timer"}, {"time_limit_in_ms": 900_000}, audit.PROFILE, lambda e, s: (e, s))
    event, services = got
    assert event == {"Type": "Timer"} and services.profile is audit.PROFILE
    assert 880 < services.deadline.remaining() <= 895
