"""The webhook, warm (DESIGN §11): handler time against one bare COS put_object of the same bytes, remote calls per
event, and a profile of what the handler spends its time on.

One warm container (the handler imported in this process, as SCF keeps it between invocations) receives
BENCH_EVENTS distinct push events (TCR trigger payloads). Each handler call is followed by the floor: one bare
`put_object` of the bytes the handler stored (the inbox object of the first event), through the same COS client
to the same localcloud COS server, under a fresh key of the same length. Alternating the two means a change in
the machine's load touches both alike. Remote calls are the TCR and COS calls localcloud served during the
handler calls (its `/_localcloud/stats` before and after, less the floor's own puts).

Then a second pass over as many fresh events runs under cProfile and writes the top of the profile to
`bench/results/webhook-profile.txt` (cumulative; the product's own frames and the SDK/HTTP frames apart).
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.results import ROOT, Results, results_path

SMOKE = os.environ.get("BENCH_SCALE") == "smoke"
EVENTS = int(os.environ.get("BENCH_EVENTS") or (20 if SMOKE else 2000))
# beside the results file (bench/results/ unless $BENCH_RESULTS says otherwise, as in the smoke test)
PROFILE_PATH = Path(os.environ.get("BENCH_PROFILE") or results_path().with_name("webhook-profile.txt"))
SITE = f"{os.sep}site-packages{os.sep}"
PUT_STEP = "COS put (SDK put_object and the store's retry wrapper)"


def push_body(i: int) -> dict[str, Any]:
    """A TCR trigger payload of one push (distinct digest and tag per `i`)."""
    return {
        "type": "pushImage",
        "occur_at": 1795800000 + i,
        "operator": "1",
        "event_data": {
            "resources": [
                {"digest": "sha256:" + f"{i:064x}", "tag": f"v{i}", "resource_url": f"x.tencentcloudcr.com/ns/app:v{i}"}
            ],
            "repository": {"name": "app", "namespace": "ns"},
        },
    }


def _event(i: int, registry_id: str) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "path": "/",
        "headers": {"x-webhook-token": "w", "content-type": "application/json"},
        "queryString": {"registryId": registry_id},
        "body": json.dumps(push_body(i)),
    }


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def _kind(filename: str) -> str:
    """Whose frame: the product's own code, jsonschema, the COS SDK and its HTTP stack, or the stdlib."""
    if filename.startswith(str(ROOT / "shared")) or filename.startswith(str(ROOT / "functions")):
        return "product"
    if SITE in filename:
        return "jsonschema" if f"{SITE}jsonschema" in filename else "cos sdk + http"
    return "stdlib"


def profile(calls: Callable[[], None], n: int, path: Path) -> dict[str, Any]:
    """Run `calls` (n handler invocations) under cProfile; write the report to `path`; return the summary."""
    prof = cProfile.Profile()
    prof.enable()
    calls()
    prof.disable()
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    shares: dict[Any, dict[str, float]] = {}

    def share(func: Any) -> dict[str, float]:
        """Whose work a frame is: its own file's kind, or for the stdlib and C functions (json, re, socket, ...)
        the kinds of its callers, weighted by the time each caller spent in it."""
        if func in shares:
            return shares[func]
        kind = _kind(func[0])
        if kind != "stdlib":
            shares[func] = {kind: 1.0}
            return shares[func]
        shares[func] = {"stdlib": 1.0}  # a cycle ends here
        mix: dict[str, float] = {}
        for caller, timing in raw[func][4].items():
            for k, part in share(caller).items():
                mix[k] = mix.get(k, 0.0) + part * timing[3]
        weight = sum(mix.values())
        shares[func] = {k: v / weight for k, v in mix.items()} if weight else {"stdlib": 1.0}
        return shares[func]

    by_kind: dict[str, float] = {}
    put = handler = 0.0
    for func, (_cc, _nc, tottime, cumtime, _callers) in raw.items():
        for kind, part in share(func).items():
            by_kind[kind] = by_kind.get(kind, 0.0) + part * tottime
        filename, _line, name = func
        if name == "put_object" and "qcloud_cos" in filename:
            put = max(put, cumtime)
        if name == "main_handler" and filename.startswith(str(ROOT / "functions")):
            handler = max(handler, cumtime)
    per = {k: round(v / n * 1000, 4) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])}
    summary = {
        "events": n,
        "handler_ms_per_event": round(handler / n * 1000, 4),
        "sdk_put_object_ms_per_event": round(put / n * 1000, 4),
        "outside_put_object_ms_per_event": round((handler - put) / n * 1000, 4),
        "own_time_ms_per_event_by_kind": per,
    }
    out = io.StringIO()
    out.write(f"cProfile of {n} warm webhook invocations (profiler overhead inflates Python-heavy frames)\n")
    out.write(json.dumps(summary, indent=2) + "\n\n")
    product = {k: v for k, v in raw.items() if _kind(k[0]) == "product"}
    for title, keep in (("product frames", product), ("all frames", raw)):
        out.write(f"=== {title}, by cumulative time ===\n")
        sub = pstats.Stats(prof, stream=out)
        sub.stats = dict(keep)  # type: ignore[attr-defined]
        sub.sort_stats("cumulative").print_stats(40 if title == "all frames" else 30)
    out.write("=== all frames, by own time ===\n")
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue().replace(str(ROOT) + os.sep, ""))
    return summary


def _breakdown(hook: Any, events: list[dict[str, Any]], ctx: dict[str, Any]) -> dict[str, float]:
    """Where a warm call's time goes, measured inside the handler without a profiler: the product's own steps
    wrapped with a clock for one more pass of fresh events (mean ms per event; the wrappers cost ~1 us each)."""
    from shared import logstore, records, schemas

    spent: dict[str, float] = {}
    wrapped = [
        (schemas, "validate", "jsonschema validation"),
        (logstore.LogStore, "_put", PUT_STEP),
        (records, "event_records", "records"),
        (records, "inbox_key", "inbox key (incl. deflate)"),
        (records, "inbox_body", "inbox body"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in wrapped]

    def clocked(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t

        return call

    total = 0.0
    try:
        for (owner, name, label), (_, _, fn) in zip(wrapped, originals, strict=True):
            setattr(owner, name, clocked(fn, label))
        for ev in events:
            t = time.perf_counter()
            hook.main_handler(ev, ctx)
            total += time.perf_counter() - t
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
    n = max(1, len(events))
    out = {label: round(seconds / n * 1000, 4) for label, seconds in spent.items()}
    out["everything else (event, auth, JSON, parse, answer)"] = round((total - sum(spent.values())) / n * 1000, 4)
    out["handler"] = round(total / n * 1000, 4)
    return out


def run(results: Results) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.integration.support import call, create_instance, local_cloud, tcr_client, wait_replicas_running

    with local_cloud({"API_TOKEN": "b", "WEBHOOK_TOKEN": "w"}, replica_ready_after_s=0.05) as cloud:
        env = cloud.env()
        os.environ.update(env)

        tcr = tcr_client(env)
        registry_id = create_instance(tcr)
        for region in ("ap-shanghai", "ap-beijing"):
            call("POST", f"{env['REPLICAS_URL']}/instances/{registry_id}/replicas", {"region": region}, token="b")
        wait_replicas_running(tcr, registry_id)

        import functions.webhook.index as hook

        events = [_event(i, registry_id) for i in range(3 * EVENTS + 1)]
        ctx = {"request_id": "bench", "time_limit_in_ms": 10000}
        first = hook.main_handler(events[0], ctx)  # warm the container (and its replica cache)
        if first["statusCode"] != 202:
            raise RuntimeError(f"the webhook refused the warm-up event: {first}")
        from shared import app, webhook

        store = app.Services(webhook.PROFILE, ctx).store  # the warm container's own log store and COS client
        client, bucket = store.client, store.bucket
        listed = client.list_objects(Bucket=bucket, Prefix=f"inbox/{registry_id}/", MaxKeys=1)
        key = listed["Contents"][0]["Key"]
        payload = client.get_object(Bucket=bucket, Key=key)["Body"].get_raw_stream().read()
        eid = key.split("/")[3]
        floor_keys = [key.replace("inbox/", "floor/", 1).replace(eid, f"{i:0{len(eid)}x}") for i in range(EVENTS)]

        handler_s: list[float] = []
        put_s: list[float] = []
        statuses: dict[int, int] = {}
        before = call("GET", cloud.host_url + "/_localcloud/stats")[1]
        for i in range(EVENTS):
            ev = events[1 + i]
            t = time.perf_counter()
            answer = hook.main_handler(ev, ctx)
            handler_s.append(time.perf_counter() - t)
            statuses[answer["statusCode"]] = statuses.get(answer["statusCode"], 0) + 1
            t = time.perf_counter()
            client.put_object(Bucket=bucket, Key=floor_keys[i], Body=payload)
            put_s.append(time.perf_counter() - t)
        after = call("GET", cloud.host_url + "/_localcloud/stats")[1]
        remote = sum(after["cos"].values()) - sum(before["cos"].values()) - EVENTS  # less the floor's puts
        remote += sum(after["tcr"].values()) - sum(before["tcr"].values())

        breakdown = _breakdown(hook, events[1 + EVENTS : 1 + 2 * EVENTS], ctx)
        rest = events[1 + 2 * EVENTS :]
        summary = profile(lambda: [hook.main_handler(e, ctx) for e in rest], len(rest), PROFILE_PATH)

        results.begin("webhook", f"webhook (warm container, {EVENTS} push events, each followed by one bare put)")
        h_med, p_med = statistics.median(handler_s), statistics.median(put_s)
        h_99, p_99 = p99(handler_s), p99(put_s)
        results.figure("events", EVENTS)
        results.figure("statuses", {str(k): v for k, v in sorted(statuses.items())})
        results.figure("median_handler_ms", ms(h_med))
        results.figure("median_put_ms", ms(p_med))
        results.figure("p99_handler_ms", ms(h_99))
        results.figure("p99_put_ms", ms(p_99))
        results.figure("breakdown_ms_per_event", breakdown)
        results.figure("remote_calls", remote)
        results.figure("put_bytes", len(payload))
        results.figure("profile", summary)
        own = breakdown["handler"] - breakdown[PUT_STEP]
        kinds = summary["own_time_ms_per_event_by_kind"]
        results.figure(
            "what_dominates",
            f"in the handler (mean ms per event, clocked): COS put {breakdown[PUT_STEP]} of {breakdown['handler']}; "
            f"the product's own {round(own, 4)}: "
            + ", ".join(f"{k} {v}" for k, v in breakdown.items() if k not in ("handler", PUT_STEP))
            + ". Under cProfile (inflates Python calls): own time by kind (ms/event) "
            + ", ".join(f"{k} {v}" for k, v in kinds.items())
            + f"; see {PROFILE_PATH.relative_to(ROOT) if PROFILE_PATH.is_relative_to(ROOT) else PROFILE_PATH}",
        )
        print(
            f"  (ms: handler median {ms(h_med)} p99 {ms(h_99)}; bare put median {ms(p_med)} p99 {ms(p_99)}; "
            f"statuses {statuses}; in-handler ms per event: {breakdown}; "
            f"profile: {summary['outside_put_object_ms_per_event']} ms/event outside put_object)"
        )
        results.target("webhook: median handler time / one bare COS put_object", h_med / p_med, 1.25)
        results.target("webhook: p99 handler time / p99 bare COS put_object", h_99 / p_99, 2.0)
        results.target("webhook: remote calls per push event", remote / EVENTS, 1.05, "calls")
