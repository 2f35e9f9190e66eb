"""The replication dashboard: a self-contained HTML page per instance, written by the audit beside its report.

The page must open as a local file and from a COS pre-signed link, so it carries no script, font, stylesheet
or image from elsewhere: inline CSS and inline SVG only. Everything that comes from outside (names, tags,
operators, messages) goes through `_e`, so a repository called `<script>` is shown, never run.

The last seven days that the page charts are kept in a small history object per instance
(`state/<registryId>/dashboard.json`), merged from what each audit run decided: reading seven days of
segments every run would cost far more calls than the audit itself (DESIGN §11).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

HISTORY_VERSION = 1
HISTORY_DAYS = 7
MAX_SAMPLES = 2000  # per replica: p50/p95 and the chart use the newest this many resolutions of 7 days
MAX_PUSHES = 50
MAX_OPEN = 200
OPEN_STATUSES = ("late", "unconfirmed", "failed")
CELL_LABELS = {
    "replicated": "replicated",
    "failed": "failed",
    "late": "late",
    "pending": "pending",
    "unconfirmed": "unconfirmed",
    "deleted": "deleted",
    "missing": "not tracked",
}


class Observation(NamedTuple):
    """What one audit run decided for one (push, replica)."""

    event_id: str
    replica_id: str
    region: str
    image: str  # namespace/repository:tag
    digest: str
    pushed_at: datetime
    status: str  # replicated, failed, late, pending, unconfirmed
    lag_seconds: float | None = None
    hint: str = ""


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def empty_history() -> dict[str, Any]:
    return {"version": HISTORY_VERSION, "samples": {}, "pushes": [], "open": {}}


def merge(history: Mapping[str, Any] | None, observations: Iterable[Observation], now: datetime) -> dict[str, Any]:
    """The history after one run: lag samples, the latest pushes by replica, and what is still open.

    A run may stop early (time budget): what it did not see keeps its earlier state rather than vanishing.
    """
    base = dict(history) if isinstance(history, Mapping) and history.get("version") == HISTORY_VERSION else {}
    horizon = now - timedelta(days=HISTORY_DAYS)
    samples: dict[str, list[list[Any]]] = {k: list(v) for k, v in dict(base.get("samples") or {}).items()}
    pushes: dict[str, dict[str, Any]] = {p["eventId"]: dict(p) for p in base.get("pushes") or [] if "eventId" in p}
    open_items: dict[str, dict[str, Any]] = dict(base.get("open") or {})
    for ob in observations:
        key = f"{ob.event_id}:{ob.replica_id}"
        if ob.status == "replicated" and ob.lag_seconds is not None:
            samples.setdefault(ob.replica_id, []).append([_iso(ob.pushed_at), float(ob.lag_seconds)])
        push = pushes.setdefault(
            ob.event_id,
            {
                "eventId": ob.event_id,
                "image": ob.image,
                "digest": ob.digest,
                "pushedAt": _iso(ob.pushed_at),
                "cells": {},
            },
        )
        push["cells"] = {**push.get("cells", {}), ob.replica_id: {"status": ob.status, "lagSeconds": ob.lag_seconds}}
        if ob.status in OPEN_STATUSES or ob.hint:
            open_items[key] = {
                "image": ob.image,
                "digest": ob.digest,
                "replicaRegistryId": ob.replica_id,
                "region": ob.region,
                "status": ob.status,
                "pushedAt": _iso(ob.pushed_at),
                "hint": ob.hint,
            }
        else:
            open_items.pop(key, None)
    for replica_id, points in list(samples.items()):
        kept = sorted(p for p in points if (_parse(p[0]) or now) >= horizon)[-MAX_SAMPLES:]
        if kept:
            samples[replica_id] = kept
        else:
            del samples[replica_id]
    latest = sorted(pushes.values(), key=lambda p: (p["pushedAt"], p["eventId"]), reverse=True)[:MAX_PUSHES]
    still_open = {
        k: v for k, v in open_items.items() if v["status"] != "failed" or (_parse(v["pushedAt"]) or now) >= horizon
    }
    newest_open = dict(sorted(still_open.items(), key=lambda kv: kv[1]["pushedAt"], reverse=True)[:MAX_OPEN])
    return {"version": HISTORY_VERSION, "samples": samples, "pushes": latest, "open": newest_open}


def _top(observations: list[Observation], key: Callable[[Observation], Any], n: int) -> set[int]:
    """Positions of the `n` greatest observations by `key`, and of every one tied with the n-th."""
    if len(observations) <= n:
        return set(range(len(observations)))
    keys = [key(ob) for ob in observations]
    cut = sorted(keys, reverse=True)[n - 1]
    return {i for i, k in enumerate(keys) if k >= cut}


def reduce(observations: Sequence[Observation], reopened: Container[str] = ()) -> list[Observation]:
    """The observations `merge` can still use: merging them gives the same history as merging them all.

    Lets an audit keep its observations page by page in bounded memory (a run of 100,000 records decides
    100,000): per replica the newest MAX_SAMPLES lag samples, every observation of the newest MAX_PUSHES pushes,
    the newest MAX_OPEN open ones (ties kept), and any that closes an item the history may hold open
    (`reopened`: the ``<eventId>:<replicaRegistryId>`` keys that earlier runs left late or unconfirmed).
    Each (push, replica) must be observed at most once across the reduced lists, as in one audit run.
    """
    obs = list(observations)
    keep: set[int] = set()
    by_replica: dict[str, list[int]] = {}
    for i, ob in enumerate(obs):
        if ob.status == "replicated" and ob.lag_seconds is not None:
            by_replica.setdefault(ob.replica_id, []).append(i)
    for positions in by_replica.values():
        chosen = [obs[i] for i in positions]
        keep.update(
            positions[j] for j in _top(chosen, lambda o: (_iso(o.pushed_at), float(o.lag_seconds or 0)), MAX_SAMPLES)
        )
    newest_events = {obs[i].event_id for i in _top(obs, lambda o: (_iso(o.pushed_at), o.event_id), MAX_PUSHES)}
    open_positions = [i for i, ob in enumerate(obs) if ob.status in OPEN_STATUSES or ob.hint]
    chosen = [obs[i] for i in open_positions]
    keep.update(open_positions[j] for j in _top(chosen, lambda o: _iso(o.pushed_at), MAX_OPEN))
    for i, ob in enumerate(obs):
        if ob.event_id in newest_events or f"{ob.event_id}:{ob.replica_id}" in reopened:
            keep.add(i)
    return [obs[i] for i in sorted(keep)]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): a value that was really observed, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# -- rendering -------------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:g} s" if seconds == int(seconds) else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _age(since: str, now: datetime) -> str:
    started = _parse(since)
    return _duration(max(0.0, (now - started).total_seconds())) if started else "–"


def verdict(report: Mapping[str, Any], history: Mapping[str, Any]) -> tuple[str, str]:
    """One line for the header and its tone (ok, warn, bad)."""
    replicas = list(report.get("replicas") or [])
    open_items = list((history.get("open") or {}).values())
    findings = list(report.get("findings") or [])
    if not replicas:
        return "no replicas", "warn"
    problems: list[str] = []
    by_region: dict[str, dict[str, int]] = {}
    for item in open_items:
        counts = by_region.setdefault(str(item.get("region") or item.get("replicaRegistryId")), {})
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    for region in sorted(by_region):
        parts = [f"{n} {'push' if n == 1 else 'pushes'} {status}" for status, n in sorted(by_region[region].items())]
        problems.append(f"{region} {', '.join(parts)}")
    if findings:
        problems.append(f"{len(findings)} {'finding' if len(findings) == 1 else 'findings'}")
    if problems:
        tone = "bad" if any(i["status"] == "failed" for i in open_items) or findings else "warn"
        return "; ".join(problems), tone
    noun = "replica" if len(replicas) == 1 else "replicas"
    return f"{len(replicas)} {noun}, all in sync", "ok"


def _chart(replica_id: str, points: Sequence[Sequence[Any]], now: datetime) -> str:
    """Lag over the last seven days as an inline SVG scatter with a line through the points."""
    if not points:
        return f'<p class="empty" data-chart="{_e(replica_id)}">No replication measured in the last 7 days.</p>'
    width, height, pad = 640, 160, 34
    start = now - timedelta(days=HISTORY_DAYS)
    span = (now - start).total_seconds()
    top = max(float(p[1]) for p in points) or 1.0
    coords = []
    for when_text, lag in points:
        when = _parse(when_text) or now
        x = pad + (width - 2 * pad) * min(1.0, max(0.0, (when - start).total_seconds() / span))
        y = height - pad - (height - 2 * pad) * (float(lag) / top)
        coords.append((x, y, when_text, float(lag)))
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" data-lag="{lag:g}" data-at="{_e(at)}">'
        f"<title>{_e(at)}: {_e(_duration(lag))}</title></circle>"
        for x, y, at, lag in coords
    )
    label = f"Replication lag of {replica_id} over the last 7 days, {len(points)} points, highest {_duration(top)}"
    return (
        f'<svg class="chart" data-chart="{_e(replica_id)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(label)}">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" class="axis"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" class="axis"/>'
        f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end">{_e(_duration(top))}</text>'
        f'<text x="{pad - 4}" y="{height - pad}" text-anchor="end">0</text>'
        f'<text x="{pad}" y="{height - 8}">{_e(start.strftime("%m-%d"))}</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">now</text>'
        f'<polyline points="{line}" class="lag"/>{dots}</svg>'
    )


def _chart_section(replica: Mapping[str, Any], samples: Mapping[str, Any], now: datetime) -> str:
    rid = str(replica.get("replicaRegistryId"))
    return (
        f'<section class="lag-chart"><h3>{_e(replica.get("region"))} <small>{_e(rid)}</small></h3>'
        f"{_chart(rid, samples.get(rid, []), now)}</section>"
    )


def _replica_rows(report: Mapping[str, Any], history: Mapping[str, Any], private: Mapping[str, Any]) -> str:
    samples = history.get("samples") or {}
    open_items = list((history.get("open") or {}).values())
    pending_cells: dict[str, int] = {}
    for push in history.get("pushes") or []:
        for rid, cell in (push.get("cells") or {}).items():
            if cell.get("status") == "pending":
                pending_cells[rid] = pending_cells.get(rid, 0) + 1
    rows = []
    for rep in report.get("replicas") or []:
        rid = str(rep.get("replicaRegistryId"))
        lags = [float(p[1]) for p in samples.get(rid, [])]
        mine = [i for i in open_items if i["replicaRegistryId"] == rid]
        counts = {
            "late": sum(i["status"] == "late" for i in mine),
            "failed": sum(i["status"] == "failed" for i in mine),
            "unconfirmed": sum(i["status"] == "unconfirmed" or bool(i.get("hint")) for i in mine),
        }
        status = str(rep.get("status") or "")
        tone = "ok" if status == "Running" else "bad"
        access = private.get(str(rep.get("region"))) or private.get(rid)
        access_text = (
            ", ".join(f"{v.get('vpcId')} ({v.get('status')}, DNS {v.get('dns')})" for v in access)
            if access
            else ("none attached" if private else "–")
        )
        rows.append(
            f'<tr data-replica="{_e(rid)}">'
            f'<td data-label="Replica"><b>{_e(rep.get("region"))}</b><br><small>{_e(rid)}</small></td>'
            f'<td data-label="Status"><span class="badge {tone}">{_e(status or "unknown")}</span></td>'
            f'<td data-label="Last sync">{_e(rep.get("lastSyncAt") or "never reported")}'
            f"<br><small>{_e(rep.get('replicationStatus') or '')}</small></td>"
            f'<td data-label="Lag p50" data-field="p50">{_e(_duration(percentile(lags, 50)))}</td>'
            f'<td data-label="Lag p95" data-field="p95">{_e(_duration(percentile(lags, 95)))}</td>'
            f'<td data-label="Pending" data-field="pending">{pending_cells.get(rid, 0)}</td>'
            f'<td data-label="Late" data-field="late">{counts["late"]}</td>'
            f'<td data-label="Unconfirmed" data-field="unconfirmed">{counts["unconfirmed"]}</td>'
            f'<td data-label="Failed" data-field="failed">{counts["failed"]}</td>'
            f'<td data-label="Private access">{_e(access_text)}</td></tr>'
        )
    if not rows:
        return '<p class="empty">This instance has no replicas.</p>'
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Replica",
            "Status",
            "Last sync",
            "Lag p50 (7 d)",
            "Lag p95 (7 d)",
            "Pending",
            "Late",
            "Unconfirmed",
            "Failed",
            "Private access",
        )
    )
    return f'<table class="replicas"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _matrix(report: Mapping[str, Any], history: Mapping[str, Any]) -> str:
    replicas = [str(r.get("replicaRegistryId")) for r in report.get("replicas") or []]
    regions = {str(r.get("replicaRegistryId")): str(r.get("region") or "") for r in report.get("replicas") or []}
    pushes = list(history.get("pushes") or [])
    if not pushes:
        return '<p class="empty">No pushes recorded yet.</p>'
    head = "".join(f'<th scope="col">{_e(regions.get(r) or r)}</th>' for r in replicas)
    body = []
    for push in pushes:
        cells = []
        for rid in replicas:
            cell = (push.get("cells") or {}).get(rid) or {"status": "missing"}
            status = str(cell.get("status"))
            label = CELL_LABELS.get(status, status)
            lag = cell.get("lagSeconds")
            text = f"{label}, {_duration(lag)}" if lag is not None else label
            cells.append(
                f'<td class="cell {_e(status)}" data-replica="{_e(rid)}" data-status="{_e(status)}">{_e(text)}</td>'
            )
        digest = str(push.get("digest") or "")
        body.append(
            f'<tr data-event="{_e(push.get("eventId"))}"><th scope="row">{_e(push.get("image"))}'
            f"<br><small>{_e(digest[:19])} · {_e(push.get('pushedAt'))}</small></th>{''.join(cells)}</tr>"
        )
    return (
        '<div class="scroll"><table class="matrix"><thead><tr><th scope="col">Image</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _problems(report: Mapping[str, Any], history: Mapping[str, Any], now: datetime) -> str:
    items = []
    for item in sorted((history.get("open") or {}).values(), key=lambda i: i["pushedAt"]):
        hint = f"<br><small>{_e(item['hint'])}</small>" if item.get("hint") else ""
        items.append(
            f'<li class="problem {_e(item["status"])}" data-kind="{_e(item["status"])}">'
            f'<span class="badge {_e(item["status"])}">{_e(item["status"])}</span> '
            f"<code>{_e(item['image'])}</code> on {_e(item['region'])} ({_e(item['replicaRegistryId'])}), "
            f"pushed {_e(_age(item['pushedAt'], now))} ago{hint}</li>"
        )
    for finding in report.get("findings") or []:
        kind = str(finding.get("kind") or "finding")
        what = finding.get("message") or finding.get("detail") or finding.get("status") or ""
        fix = finding.get("alternative") or finding.get("fix") or ""
        rule = finding.get("rule") or finding.get("code") or kind
        where = finding.get("region") or finding.get("replicaRegistryId") or ""
        fix_html = f"<br><small>Fix: {_e(fix)}</small>" if fix else ""
        items.append(
            f'<li class="problem finding" data-kind="{_e(kind)}"><span class="badge bad">{_e(kind)}</span> '
            f"<b>{_e(rule)}</b>{' ' + _e(where) if where else ''}: {_e(what)}{fix_html}</li>"
        )
    if not items:
        return '<p class="empty">Nothing needs attention.</p>'
    return f'<ul class="problems">{"".join(items)}</ul>'


CSS = """
:root{--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--muted:#57606a;--line:#d0d7de;font-family:system-ui,sans-serif}
body{margin:0 auto;padding:16px;max-width:1200px;color:#1f2328;line-height:1.4}
h1{font-size:1.4rem;margin:0 0 4px;overflow-wrap:anywhere}h2{font-size:1.1rem;margin:24px 0 8px}
.meta{color:var(--muted);overflow-wrap:anywhere}.verdict{font-size:1.15rem;font-weight:600;margin:8px 0}
.verdict.ok{color:var(--ok)}.verdict.warn{color:var(--warn)}.verdict.bad{color:var(--bad)}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:6px 8px;
text-align:left;vertical-align:top}small{color:var(--muted);overflow-wrap:anywhere}
.badge{display:inline-block;padding:0 6px;border-radius:8px;border:1px solid currentColor;font-size:.85rem}
.badge.ok,.badge.replicated{color:var(--ok)}.badge.bad,.badge.failed{color:var(--bad)}
.badge.late,.badge.unconfirmed,.badge.warn{color:var(--warn)}
.scroll{overflow-x:auto;max-width:100%}.matrix td{white-space:nowrap;font-size:.9rem}
.cell.replicated{background:#dafbe1}.cell.failed{background:#ffebe9}.cell.late{background:#fff8c5}
.cell.unconfirmed{background:#fff1e5}.cell.pending{background:#f6f8fa}.cell.missing{color:var(--muted)}
.chart{width:100%;height:auto;max-height:220px;border:1px solid var(--line)}.chart .axis{stroke:#8c959f}
.chart .lag{fill:none;stroke:#0969da;stroke-width:1.5}.chart circle{fill:#0969da}
.chart text{font-size:11px;fill:var(--muted)}.empty{color:var(--muted);font-style:italic}
.problems{padding-left:18px}.problems li{margin:4px 0;overflow-wrap:anywhere}
code{overflow-wrap:anywhere}footer{margin-top:24px;color:var(--muted)}
@media (max-width:700px){
table.replicas thead{display:none}table.replicas tr{display:block;border:1px solid var(--line);
margin-bottom:8px;padding:4px}table.replicas td{display:flex;justify-content:space-between;gap:8px;
border:0;padding:2px 4px}table.replicas td::before{content:attr(data-label);color:var(--muted)}}
"""


def render(
    report: Mapping[str, Any],
    history: Mapping[str, Any],
    *,
    now: datetime,
    domain: str = "",
    duration_s: float | None = None,
    links: Mapping[str, str] | None = None,
    private_access: Mapping[str, Any] | None = None,
) -> str:
    """The whole page for one instance's latest audit."""
    registry_id = str(report.get("registryId") or "")
    line, tone = verdict(report, history)
    samples = history.get("samples") or {}
    charts = "".join(_chart_section(r, samples, now) for r in report.get("replicas") or []) or (
        '<p class="empty">No replicas to chart.</p>'
    )
    link_items = "".join(f'<li><a href="{_e(href)}">{_e(name)}</a></li>' for name, href in (links or {}).items())
    meta = [
        f"primary {_e(report.get('primaryRegion'))}",
        f"domain {_e(domain)}" if domain else "",
        f"audited {_e(report.get('generatedAt'))}",
        f"in {_e(_duration(duration_s))}" if duration_s is not None else "",
        f"run {_e(report.get('runId'))}" if report.get("runId") else "",
    ]
    incomplete = (
        '<p class="verdict warn">This run stopped early; what it did not reach is shown as of the previous run.</p>'
        if report.get("complete") is False
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>TCR replication · {_e(registry_id)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{_e(registry_id)}</h1><div class="meta">{" · ".join(m for m in meta if m)}</div>'
        f'<p class="verdict {tone}" id="verdict">{_e(line)}</p>{incomplete}</header>'
        f"<h2>Replicas</h2>{_replica_rows(report, history, private_access or {})}"
        f"<h2>Replication lag, last 7 days</h2>{charts}"
        f"<h2>Latest pushes by replica</h2>{_matrix(report, history)}"
        f"<h2>Open problems</h2>{_problems(report, history, now)}"
        f'<footer><ul class="links">{link_items}</ul>'
        f"<small>Written by the audit at {_e(_iso(now))}. Lags come from TCR's replication log; "
        "a push without that evidence stays pending, late or unconfirmed.</small></footer>"
        "</body></html>"
    )
