"""The dashboard's history and page, on hand-built audit results (no cloud)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

from shared import dashboard
from shared.dashboard import Observation

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
REPORT = {
    "registryId": "tcr-abc",
    "primaryRegion": "ap-guangzhou",
    "generatedAt": "2026-12-01T12:00:00Z",
    "replicas": [
        {"replicaRegistryId": "tcr-abc-bj", "region": "ap-beijing", "status": "Running", "lastSyncAt": None},
        {"replicaRegistryId": "tcr-abc-sh", "region": "ap-shanghai", "status": "Running", "lastSyncAt": None},
    ],
    "findings": [],
    "complete": True,
}


def ob(
    event: str, replica: str, status: str, *, hours_ago: float, lag: float | None = None, image: str = "team/api:1"
) -> Observation:
    region = {"tcr-abc-bj": "ap-beijing", "tcr-abc-sh": "ap-shanghai"}[replica]
    return Observation(
        event, replica, region, image, "sha256:" + "a" * 64, NOW - timedelta(hours=hours_ago), status, lag
    )


def test_percentile_is_nearest_rank_of_observed_values() -> None:
    assert dashboard.percentile([], 50) is None
    assert dashboard.percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert dashboard.percentile(values, 50) == 50.0
    assert dashboard.percentile(values, 95) == 95.0
    assert dashboard.percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_merge_keeps_seven_days_of_lags_and_the_latest_cell_per_push() -> None:
    history = dashboard.merge(
        None,
        [
            ob("e-old", "tcr-abc-bj", "replicated", hours_ago=24 * 8, lag=9),
            ob("e1", "tcr-abc-bj", "pending", hours_ago=2),
            ob("e1", "tcr-abc-sh", "late", hours_ago=2),
        ],
        NOW,
    )
    assert history["samples"] == {}  # the only lag is older than 7 days
    assert set(history["open"]) == {"e1:tcr-abc-sh"}
    later = dashboard.merge(
        history,
        [
            ob("e1", "tcr-abc-bj", "replicated", hours_ago=2, lag=12.0),
            ob("e1", "tcr-abc-sh", "replicated", hours_ago=2, lag=30.0),
        ],
        NOW,
    )
    assert later["open"] == {}  # resolved: no longer a problem
    cells = {p["eventId"]: p["cells"] for p in later["pushes"]}
    assert cells["e1"]["tcr-abc-sh"] == {"status": "replicated", "lagSeconds": 30.0}
    assert later["samples"]["tcr-abc-bj"] == [["2026-12-01T10:00:00Z", 12.0]]


def test_merge_keeps_what_an_early_stopping_run_did_not_see() -> None:
    first = dashboard.merge(None, [ob("e1", "tcr-abc-sh", "late", hours_ago=3)], NOW)
    second = dashboard.merge(first, [ob("e2", "tcr-abc-bj", "pending", hours_ago=1)], NOW)
    assert "e1:tcr-abc-sh" in second["open"]


def test_merge_caps_pushes_at_the_newest_fifty() -> None:
    obs = [ob(f"e{i:03d}", "tcr-abc-bj", "pending", hours_ago=i / 10) for i in range(80)]
    history = dashboard.merge(None, obs, NOW)
    assert len(history["pushes"]) == dashboard.MAX_PUSHES
    assert history["pushes"][0]["eventId"] == "e000"  # newest first
    assert history["pushes"][-1]["eventId"] == "e049"


def test_verdict_names_the_region_and_what_is_wrong() -> None:
    ok = dashboard.merge(None, [ob("e1", "tcr-abc-bj", "replicated", hours_ago=1, lag=3)], NOW)
    assert dashboard.verdict(REPORT, ok) == ("2 replicas, all in sync", "ok")
    late = dashboard.merge(
        None, [ob("e1", "tcr-abc-bj", "late", hours_ago=2), ob("e2", "tcr-abc-bj", "late", hours_ago=1)], NOW
    )
    assert dashboard.verdict(REPORT, late) == ("ap-beijing 2 pushes late", "warn")


class _Text(HTMLParser):
    """Collects tag names and text: what a browser would build, without running anything."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_outside_text_is_escaped_and_the_page_loads_nothing_from_elsewhere() -> None:
    hostile = '<script>alert("x")</script>&"\'<img src=x onerror=alert(1)>'
    history = dashboard.merge(None, [ob("e1", "tcr-abc-bj", "failed", hours_ago=1, image=f"team/{hostile}:v1")], NOW)
    report = {
        **REPORT,
        "findings": [{"kind": "policy_violation", "rule": "denied", "region": hostile, "message": hostile}],
    }
    page = dashboard.render(
        report,
        history,
        now=NOW,
        domain="tcr-abc.tencentcloudcr.com",
        links={"report.json": "https://example.invalid/r.json?a=1&b=2"},
    )
    parsed = _Text()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not any(name.startswith("on") for name, _ in parsed.attrs)
    assert sum(hostile in t for t in ["".join(parsed.text)]) == 1
    assert "".join(parsed.text).count('<script>alert("x")</script>') >= 3  # matrix, problem, finding
    # self-contained: no external script, stylesheet, font or image; only the JSON link leaves the page
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert re.findall(r'(?:href|src)="([^"]+)"', page) == ["https://example.invalid/r.json?a=1&amp;b=2"]


def test_chart_plots_every_sample_and_says_when_there_is_none() -> None:
    history = dashboard.merge(
        None,
        [ob(f"e{i}", "tcr-abc-bj", "replicated", hours_ago=10 + i, lag=float(5 * (i + 1))) for i in range(4)],
        NOW,
    )
    page = dashboard.render(REPORT, history, now=NOW)
    bj = re.search(r'<svg class="chart" data-chart="tcr-abc-bj".*?</svg>', page)
    assert bj is not None
    assert sorted(float(v) for v in re.findall(r'data-lag="([0-9.]+)"', bj.group(0))) == [5.0, 10.0, 15.0, 20.0]
    assert 'data-chart="tcr-abc-sh">No replication measured in the last 7 days.' in page


def test_reduce_page_by_page_gives_the_history_of_merging_every_observation() -> None:
    import random

    rng = random.Random(11)
    # few new open items, so that which earlier ones this run closes shows in the history
    statuses = ["replicated"] * 60 + ["pending"] * 36 + ["late", "failed", "unconfirmed"]
    replicas = ["tcr-abc-bj", "tcr-abc-sh"]
    # an earlier run left some items open: this run closes a few of them (same push and replica)
    earlier = [ob(f"e{i:05d}", replicas[i % 2], "late", hours_ago=100 + i) for i in range(300)]
    history = dashboard.merge(None, earlier, NOW)
    reopened = {f"{o.event_id}:{o.replica_id}" for o in earlier}
    observations = []
    for i in range(6000):
        status = statuses[rng.randrange(len(statuses))]
        event = f"e{i:05d}" if i < 300 else f"n{i:05d}"
        lag = round(rng.uniform(0.1, 90), 3) if status == "replicated" else None
        hours = rng.choice([rng.uniform(0, 200), 50.0]) if i >= 300 else 100 + i  # many ties; e*: the same pushes
        observations.append(ob(event, replicas[i % 2], status, hours_ago=hours, lag=lag))
    assert len(history["open"]) == dashboard.MAX_OPEN
    everything = dashboard.merge(history, observations, NOW)

    kept: list[Observation] = []
    for start in range(0, len(observations), 700):  # as an audit keeps them, one inbox page at a time
        kept = dashboard.reduce([*kept, *observations[start : start + 700]], reopened)
    bound = 2 * dashboard.MAX_SAMPLES + dashboard.MAX_PUSHES * 2 + dashboard.MAX_OPEN + len(reopened)
    assert len(kept) < bound < len(observations)
    assert dashboard.merge(history, kept, NOW) == everything
