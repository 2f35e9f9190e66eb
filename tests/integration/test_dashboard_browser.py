"""The dashboard page in a real browser (headless Chromium): what a person sees, on a laptop and a phone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared import dashboard
from shared.dashboard import Observation
from tests.browser import Browser
from tests.integration.support import chromium

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
HOSTILE = '<script>document.title="owned"</script>&"\'<img src=x onerror="document.title=1">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _page(tmp_path: Path) -> Path:
    obs = [
        Observation(
            "e1",
            "r-bj",
            "ap-beijing",
            "team/api:1.0",
            "sha256:" + "1" * 64,
            NOW - timedelta(hours=30),
            "replicated",
            12.0,
        ),
        Observation(
            "e1",
            "r-sh",
            "ap-shanghai",
            "team/api:1.0",
            "sha256:" + "1" * 64,
            NOW - timedelta(hours=30),
            "replicated",
            40.0,
        ),
        Observation(
            "e2", "r-bj", "ap-beijing", f"team/{HOSTILE}:v2", "sha256:" + "2" * 64, NOW - timedelta(hours=3), "failed"
        ),
        Observation(
            "e2", "r-sh", "ap-shanghai", f"team/{HOSTILE}:v2", "sha256:" + "2" * 64, NOW - timedelta(hours=3), "late"
        ),
    ]
    report = {
        "registryId": "tcr-abc",
        "primaryRegion": "ap-guangzhou",
        "generatedAt": "2026-12-01T12:00:00Z",
        "replicas": [
            {
                "replicaRegistryId": "r-bj",
                "region": "ap-beijing",
                "status": "Running",
                "lastSyncAt": "2026-12-01T11:59:00Z",
            },
            {"replicaRegistryId": "r-sh", "region": "ap-shanghai", "status": "Running", "lastSyncAt": None},
        ],
        "findings": [
            {"kind": "policy_violation", "rule": "deniedRegions", "region": "ap-shanghai", "message": HOSTILE}
        ],
    }
    path = tmp_path / "latest.html"
    path.write_text(
        dashboard.render(report, dashboard.merge(None, obs, NOW), now=NOW, domain="tcr-abc.tencentcloudcr.com")
    )
    return path


def _dom(b: Browser, expression: str) -> object:
    return b.evaluate(f"JSON.stringify({expression})")


def test_page_shows_rows_chart_matrix_and_problems_and_stays_inert(browser: Browser, tmp_path: Path) -> None:
    path = _page(tmp_path)
    browser.viewport(1280, 900)
    browser.open(path.as_uri())
    assert browser.evaluate("document.title") == "TCR replication · tcr-abc"  # no script ran
    assert browser.evaluate("document.querySelectorAll('script, img').length") == 0
    rows = json.loads(
        str(
            _dom(
                browser,
                "[...document.querySelectorAll('table.replicas tbody tr')].map(r => "
                "[r.dataset.replica, r.querySelector('[data-field=p50]').textContent, "
                "r.querySelector('[data-field=failed]').textContent, "
                "r.querySelector('[data-field=late]').textContent])",
            )
        )
    )
    assert rows == [["r-bj", "12 s", "1", "0"], ["r-sh", "40 s", "0", "1"]]
    lags = json.loads(
        str(
            _dom(
                browser,
                "[...document.querySelectorAll('svg.chart[data-chart=\"r-bj\"] circle')]"
                ".map(c => Number(c.dataset.lag))",
            )
        )
    )
    assert lags == [12]
    cells = json.loads(
        str(
            _dom(
                browser,
                "[...document.querySelectorAll('table.matrix tbody tr')].map(r => "
                "[...r.querySelectorAll('td')].map(td => td.dataset.status + '|' + td.textContent))",
            )
        )
    )
    assert cells == [["failed|failed", "late|late"], ["replicated|replicated, 12 s", "replicated|replicated, 40 s"]]
    text = browser.evaluate("document.body.innerText")
    assert text.count('<script>document.title="owned"</script>') >= 3  # matrix, problem list, finding: shown as text
    browser.screenshot(tmp_path / "dashboard-laptop.png")


def test_page_does_not_overflow_a_phone_screen(browser: Browser, tmp_path: Path) -> None:
    path = _page(tmp_path)
    browser.viewport(390, 844, mobile=True)
    browser.open(path.as_uri())
    widths = json.loads(str(_dom(browser, "[document.documentElement.scrollWidth, window.innerWidth]")))
    assert widths[0] <= widths[1], widths
    browser.screenshot(tmp_path / "dashboard-phone.png")
