"""The dashboard end to end: localcloud plays a known story, the audit writes the page, a real browser opens
it through the pre-signed link the replica API hands out, and what it renders is checked against the
replication log read independently (the log API and TCR itself)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from tests.browser import Browser
from tests.integration.support import (
    add_push_trigger,
    call,
    chromium,
    create_instance,
    instance_with_replicas,
    local_cloud,
    log_records,
    public_domain,
    push,
    tcr_client,
    tcr_push_payload,
    tcr_replicas,
    timer_audit,
    wait_for,
)

API_TOKEN = "dash-api-token"
WEBHOOK_TOKEN = "dash-webhook-token"
NAMESPACE = "team"
REQUIRED = "ap-chengdu"  # the policy requires a replica there: one policy finding


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    function_env = {
        "API_TOKEN": API_TOKEN,
        "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "REPLICA_CACHE_SECONDS": "0",
        "POLICY": json.dumps({"requiredRegions": [REQUIRED]}),
    }
    with local_cloud(function_env, lag_ms=(20, 60)) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _push(cloud: LocalCloud, registry_id: str, repository: str, tag: str) -> str:
    return push(cloud, registry_id, NAMESPACE, repository, tag)


def _records(env: dict[str, str], registry_id: str) -> list[dict[str, Any]]:
    return log_records(env, registry_id, token=API_TOKEN)


def _audit(cloud: LocalCloud, registry_id: str, **options: Any) -> dict[str, Any]:
    return timer_audit(cloud, [registry_id], **options)


def _replication_done(tcr: Any, registry_id: str, count: int) -> bool:
    """Every replica's TCR log shows `count` finished entries (read from TCR, not from the product)."""
    for rep in tcr_replicas(tcr, registry_id):
        out = tcr.call_json(
            "DescribeReplicationInstanceSyncStatus",
            {
                "RegistryId": registry_id,
                "ReplicationRegistryId": rep["ReplicationRegistryId"],
                "ShowReplicationLog": True,
                "Limit": 20,
            },
        )["Response"]
        log = out.get("ReplicationLog")
        entries = log if isinstance(log, list) else [log] if log else []
        if len([e for e in entries if e.get("EndTime")]) < min(count, len(entries) or count):
            return False
        if any(not e.get("EndTime") for e in entries):
            return False
    return True


def _story(cloud: LocalCloud, env: dict[str, str], tcr: Any) -> tuple[str, dict[str, str], str, str]:
    """Two replicas; one push TCR never received (late), one that fails, then three that replicate."""
    registry_id = instance_with_replicas(env, tcr, ("ap-shanghai", "ap-beijing"), token=API_TOKEN, namespace=NAMESPACE)
    add_push_trigger(env, tcr, registry_id, NAMESPACE, webhook_token=WEBHOOK_TOKEN, name="dash-hook")
    replicas = {r["ReplicationRegistryId"]: r["ReplicationRegionName"] for r in tcr_replicas(tcr, registry_id)}
    domain = public_domain(tcr, registry_id)
    ghost = "sha256:" + "9e" * 32  # announced by a webhook, never received by TCR: the later syncs give it a hint
    payload = tcr_push_payload(
        domain, ghost, namespace=NAMESPACE, repository="api", tag="9.9", occur_at=int(time.time()) - 1
    )
    status, body = call("POST", env["WEBHOOK_URL"], payload, headers={"X-Webhook-Token": WEBHOOK_TOKEN})
    assert status == 202 and body["records"] == 2, body
    status, _ = call(
        "POST", cloud.host_url + "/_localcloud/faults", {"replication": {"lagMs": [20, 60], "failRate": 1.0}}
    )
    assert status == 200
    failed = _push(cloud, registry_id, "worker", "2.0")
    wait_for(lambda: len(_records(env, registry_id)) == 4)
    call("POST", cloud.host_url + "/_localcloud/faults", {"replication": {"lagMs": [20, 60], "failRate": 0.0}})
    for tag in ("1.0", "1.1", "1.2"):
        _push(cloud, registry_id, "api", tag)
    wait_for(lambda: len(_records(env, registry_id)) == 10)
    wait_for(lambda: _replication_done(tcr, registry_id, 4), timeout=20)
    time.sleep(1.1)
    _audit(cloud, registry_id, slaSeconds=1)
    return registry_id, replicas, failed, ghost


def _json(browser: Browser, expression: str) -> Any:
    return json.loads(str(browser.evaluate(f"JSON.stringify({expression})")))


def _open_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_audit_page_through_its_link_shows_the_story(cloud: LocalCloud, browser: Browser, tmp_path: Path) -> None:
    env = cloud.env()
    tcr = tcr_client(env)
    registry_id, replicas, failed, ghost = _story(cloud, env, tcr)
    records = _records(env, registry_id)

    # before the page: what the log says, by (digest, replica)
    lags: dict[str, list[float]] = {rid: [] for rid in replicas}
    for r in records:
        if r["status"] == "replicated":
            lags[r["replicaRegistryId"]].append(r["lagSeconds"])
    assert all(len(v) == 3 for v in lags.values()), records
    assert sorted(r["status"] for r in records if r["digest"] == failed) == ["failed", "failed"]
    assert sorted(r["status"] for r in records if r["digest"] == ghost) == ["late", "late"]

    status, link = call("GET", f"{env['REPLICAS_URL']}/instances/{registry_id}/report-link", token=API_TOKEN)
    assert status == 200, link
    assert set(link) == {"url", "expiresAt"}
    assert _open_status(link["url"]) == 200  # no credentials: the signature in the query is the permission
    assert _open_status(link["url"].replace("q-signature=", "q-signature=0")) == 403

    browser.viewport(1280, 900)
    browser.open(link["url"])
    assert browser.evaluate("document.querySelectorAll('script, img, link, iframe').length") == 0
    assert browser.evaluate("document.getElementById('verdict').textContent").count("late") == 2

    rows = _json(
        browser,
        "[...document.querySelectorAll('table.replicas tbody tr')].map(r => ({id: r.dataset.replica, "
        "late: r.querySelector('[data-field=late]').textContent, "
        "failed: r.querySelector('[data-field=failed]').textContent, "
        "unconfirmed: r.querySelector('[data-field=unconfirmed]').textContent, "
        "p50: r.querySelector('[data-field=p50]').textContent}))",
    )
    assert sorted(r["id"] for r in rows) == sorted(replicas)
    for row in rows:
        assert (row["late"], row["failed"], row["unconfirmed"]) == ("1", "1", "1"), row
        assert row["p50"] != "–"

    for rid, expected in lags.items():
        points = _json(
            browser, f"[...document.querySelectorAll('svg.chart[data-chart=\"{rid}\"] circle')].map(c => c.dataset.lag)"
        )
        assert sorted(float(p) for p in points) == sorted(expected), (rid, points, expected)

    cells = _json(
        browser,
        "[...document.querySelectorAll('table.matrix tbody tr')].map(r => [r.dataset.event, "
        "[...r.querySelectorAll('td')].map(td => td.dataset.status)])",
    )
    by_event: dict[str, set[str]] = {}
    for r in records:
        want = "late" if r["digest"] == ghost else r["status"]
        by_event.setdefault(r["eventId"], set()).add(want)
    assert len(cells) == len(by_event) == 5
    for event_id, statuses in cells:
        assert set(statuses) == by_event[event_id], (event_id, statuses)

    problems = _json(browser, "[...document.querySelectorAll('.problems li')].map(li => li.dataset.kind)")
    assert sorted(problems) == ["failed", "failed", "late", "late", "policy_violation"]
    assert REQUIRED in browser.evaluate("document.querySelector('.problems').innerText")
    browser.screenshot(tmp_path / "dashboard-laptop.png")

    browser.viewport(390, 844, mobile=True)
    browser.open(link["url"])
    width, inner = _json(browser, "[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, (width, inner)
    browser.screenshot(tmp_path / "dashboard-phone.png")


def test_report_routes_before_and_after_the_first_audit(cloud: LocalCloud) -> None:
    env = cloud.env()
    tcr = tcr_client(env)
    registry_id = create_instance(tcr)
    base = f"{env['REPLICAS_URL']}/instances/{registry_id}"
    for path in ("/report", "/report.json", "/report-link"):
        status, body = call("GET", base + path, token=API_TOKEN)
        assert status == 404 and body["error"]["code"] == "ReportNotFound", (path, body)
    for ttl in ("59", "86401", "1e3", "15m"):
        status, body = call("GET", f"{base}/report-link?ttl={ttl}", token=API_TOKEN)
        assert status == 400 and body["error"]["code"] == "InvalidRequest", (ttl, body)
    assert call("GET", base + "/report")[0] == 401  # the API's routes all need the token

    wait_for(lambda: tcr.call_json("DescribeInstances", {})["Response"]["Registries"] and True)
    summary = _audit(cloud, registry_id)
    assert summary["instances"][0]["registryId"] == registry_id
    req = urllib.request.Request(base + "/report", headers={"Authorization": f"Bearer {API_TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        page = resp.read().decode()
    assert page.startswith("<!DOCTYPE html>") and registry_id in page
    status, doc = call("GET", base + "/report.json", token=API_TOKEN)
    assert status == 200 and doc["registryId"] == registry_id and doc["runId"] == summary["runId"]
    before = time.time()
    status, link = call("GET", f"{base}/report-link?ttl=60", token=API_TOKEN)
    assert status == 200
    expires = time.mktime(time.strptime(link["expiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert before + 59 <= expires <= time.time() + 61
