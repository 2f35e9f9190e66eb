"""Knowing when each push is on each replica: the product (webhook + timer audit) against the poller a user
would otherwise run (DESIGN.md §11: <= 0.2x the TCR API calls of polling the sync status per replica).

The peer, Terraform-style (reference/peer-terraform-tcr.md: the `tencentcloud_tcr_replication_instance_sync_status`
data source read in a retry loop): after each push, for each replica, call `DescribeReplicationInstanceSyncStatus`
at once and then every poll interval until it answers what the poller waits for. BENCH_POLL_PEER=log (default): its
own image's entry in the log (`ShowReplicationLog`, 20 entries per answer, the next page when the entry is deeper)
has finished: evidence, and the fewest calls a per-image poller can make. BENCH_POLL_PEER=time: the replica's
`ReplicationTime` (last completed sync, to the second) is at or after the push: inference, which at several pushes a
second is satisfied by other images' syncs (the bench counts, from TCR's log read afterwards, the pairs it declared
before their entry had ended: 83 of 150 in one run at 10 pushes/s).

The product: the same pushes fire the TCR webhook trigger into the webhook's Function URL; the audit's timer
(`/_localcloud/timer/audit`, no message: every instance) runs at its cadence and sends one signed "replicated"
notification per digest to a sink on 127.0.0.1.

Both runs get their own localcloud with the same fault plan and seed, and the same push trigger (the polling run's
points at the sink), so localcloud draws the same replication lag for every (push, replica). Time is scaled down:
what matters is the ratios, mean lag / poll interval (the poller's calls are about 1 + lag / interval per (image,
replica)) and pushes per audit run (the audit's calls are per log entry and per run, not per poll). Defaults: lags
0.2-2 s with a 0.5 s poll interval stand for 2-20 s lags with Terraform-ish 5 s polling (x0.1); the audit every 3 s.

TCR calls are localcloud's `/_localcloud/stats` deltas from the first push to the last poll or audit run. The log
answer's shape matters to the audit (one entry per call when `ReplicationLog` is one object, as the SDK schema
says; 20 when it is a list, as the API doc's example shows): both are measured (`LOCALCLOUD_REPLICATION_LOG_SHAPE`).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import math
import os
import queue
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.results import ROOT, Results

SMOKE = os.environ.get("BENCH_SCALE") == "smoke"
PUSHES = int(os.environ.get("BENCH_POLL_PUSHES") or (6 if SMOKE else 50))
REPLICAS = int(os.environ.get("BENCH_POLL_REPLICAS") or 3)
INTERVAL_S = float(os.environ.get("BENCH_POLL_INTERVAL_S") or 0.5)
LAG_MS = [int(v) for v in (os.environ.get("BENCH_POLL_LAG_MS") or "200,2000").split(",")]
PUSH_EVERY_S = float(os.environ.get("BENCH_POLL_PUSH_EVERY_S") or 0.1)
AUDIT_EVERY_S = float(os.environ.get("BENCH_POLL_AUDIT_EVERY_S") or (1.5 if SMOKE else 3.0))
PEER = os.environ.get("BENCH_POLL_PEER") or "log"  # "log": its own entry (evidence); "time": inference
SHAPES = (os.environ.get("BENCH_POLL_LOG_SHAPES") or ("object" if SMOKE else "object,array")).split(",")
POLLERS = 8  # the poller's concurrent calls (one user's CI jobs waiting at once)
SEED = 11
REGIONS = ("ap-shanghai", "ap-beijing", "ap-chengdu", "ap-nanjing", "ap-chongqing")
API_TOKEN, WEBHOOK_TOKEN, SECRET = "bench-api", "bench-hook", "bench-notify-secret"
NAMESPACE, REPOSITORY = "bench", "app"
SHAPE_ENV = "LOCALCLOUD_REPLICATION_LOG_SHAPE"


class Sink:
    """A 127.0.0.1 receiver keeping (arrival time, body) of every POST whose signature verifies (or unsigned)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, dict[str, Any]]] = []
        self.bad = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                signature = self.headers.get("X-Signature")
                if signature is not None:  # a notification: checked independently of shared.notify
                    ts = (self.headers.get("X-Timestamp") or "").encode()
                    mac = hmac.new(SECRET.encode(), ts + b"." + body, hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(signature, "sha256=" + mac):
                        outer.bad += 1
                try:
                    outer.got.append((at, json.loads(body)))
                except ValueError:
                    outer.bad += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def replicated(self) -> dict[str, float]:
        """digest -> when its first "replicated" notification arrived."""
        out: dict[str, float] = {}
        for at, body in list(self.got):
            if isinstance(body, dict) and body.get("kind") == "replicated":
                out.setdefault(str(body.get("digest")), at)
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def _log_shape(shape: str) -> Iterator[None]:
    """The in-process localcloud's answer shape for ReplicationLog ("object": the SDK schema; "array")."""
    old = os.environ.get(SHAPE_ENV)
    os.environ[SHAPE_ENV] = "array" if shape == "array" else ""
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(SHAPE_ENV, None)
        else:
            os.environ[SHAPE_ENV] = old


class Setup:
    """One localcloud with a premium instance, REPLICAS Running replicas, a namespace and a push trigger."""

    def __init__(self, sink: Sink, *, product: bool) -> None:
        from localcloud.cloud import LocalCloud

        function_env = {"API_TOKEN": API_TOKEN, "WEBHOOK_TOKEN": WEBHOOK_TOKEN}
        if product:
            function_env.update({"NOTIFY_URL": sink.url, "NOTIFY_SECRET": SECRET})
        plan = {"seed": SEED, "replication": {"lagMs": LAG_MS, "failRate": 0.0}}
        self.cloud = LocalCloud(
            port=0, replica_ready_after_s=0.05, faults=plan, function_env=function_env, log_stream=None
        ).start()
        try:
            self.env = self.cloud.env()
            from tests.integration.support import (
                add_push_trigger,
                create_instance,
                create_namespace,
                tcr_client,
                tcr_replicas,
                wait_replicas_running,
            )

            self.tcr = tcr_client(self.env)
            self.registry_id = create_instance(self.tcr)
            for region in REGIONS[:REPLICAS]:  # created one by one, in the same order in both runs
                self._call("POST", f"/instances/{self.registry_id}/replicas", {"region": region})
                wait_replicas_running(self.tcr, self.registry_id)
            create_namespace(self.tcr, self.registry_id, NAMESPACE)
            # the same trigger in both runs (so localcloud draws the same lags); the poller's goes to the sink
            hook_env = dict(self.env) if product else {**self.env, "WEBHOOK_URL": sink.url}
            add_push_trigger(hook_env, self.tcr, self.registry_id, NAMESPACE, webhook_token=WEBHOOK_TOKEN)
            reps = tcr_replicas(self.tcr, self.registry_id)
            reps.sort(key=lambda r: REGIONS.index(r["ReplicationRegionName"]))
            self.replicas = [(r["ReplicationRegistryId"], int(r["ReplicationRegionId"])) for r in reps]
        except BaseException:
            self.cloud.stop()
            raise

    def _call(self, method: str, path: str, body: Any) -> Any:
        from tests.integration.support import call

        status, out = call(method, self.env["REPLICAS_URL"] + path, body, token=API_TOKEN)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {out}")
        return out

    def stats(self) -> dict[str, Any]:
        from tests.integration.support import call

        return dict(call("GET", self.cloud.host_url + "/_localcloud/stats")[1])

    def push(self, i: int) -> str:
        from tests.integration.support import call

        body = {"registryId": self.registry_id, "namespace": NAMESPACE, "repository": REPOSITORY, "tag": f"v{i}"}
        status, out = call("POST", self.cloud.host_url + "/_localcloud/push", body)
        if status != 200:
            raise RuntimeError(f"push {i}: {status} {out}")
        return str(out["digest"])

    def log_ends(self) -> dict[tuple[str, str], float]:
        """(replica id, Source) -> the entry's EndTime (seconds, truncated), read after the run (not counted)."""
        out: dict[tuple[str, str], float] = {}
        with _log_shape("array"):
            for replica_id, region_id in self.replicas:
                for page in range(1, math.ceil(PUSHES / 20) + 2):
                    resp = self.tcr.call_json(
                        "DescribeReplicationInstanceSyncStatus",
                        {
                            "RegistryId": self.registry_id,
                            "ReplicationRegistryId": replica_id,
                            "ReplicationRegionId": region_id,
                            "ShowReplicationLog": True,
                            "Offset": page,
                            "Limit": 20,
                        },
                    )["Response"]
                    entries = resp.get("ReplicationLog") or []
                    for e in entries:
                        if e.get("EndTime"):
                            out[(replica_id, e["Source"])] = _epoch(e["EndTime"])
                    if len(entries) < 20:
                        break
        return out

    def stop(self) -> None:
        self.cloud.stop()


def _epoch(text: str) -> float:
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def _tcr_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    b, a = before.get("tcr", {}), after.get("tcr", {})
    return {k: a[k] - b.get(k, 0) for k in sorted(a) if a[k] - b.get(k, 0)}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _latency(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3) if values else float("nan"),
        "p95_s": round(_pct(values, 0.95), 3),
        "max_s": round(max(values), 3) if values else float("nan"),
    }


def run_polling(sink: Sink) -> dict[str, Any]:
    """The pushes, each followed by one poller per replica calling the sync status every INTERVAL_S."""
    with _log_shape("array"):  # the poller's best case: 20 log entries per answer
        setup = Setup(sink, product=False)
        try:
            return _poll(setup)
        finally:
            setup.stop()


def _poll(setup: Setup) -> dict[str, Any]:
    local = threading.local()
    from tests.integration.support import tcr_client

    def status(replica: tuple[str, int], page: int) -> dict[str, Any]:
        if not hasattr(local, "tcr"):
            local.tcr = tcr_client(setup.env)
        params: dict[str, Any] = {"RegistryId": setup.registry_id, "ReplicationRegistryId": replica[0]}
        params["ReplicationRegionId"] = replica[1]
        if PEER == "log":
            params.update({"ShowReplicationLog": True, "Offset": page, "Limit": 20})
        return dict(local.tcr.call_json("DescribeReplicationInstanceSyncStatus", params)["Response"])

    pushed: dict[int, float] = {}
    seen: dict[tuple[int, int], float] = {}
    calls: dict[tuple[int, int], int] = {}
    results: queue.Queue[tuple[int, int, float, bool, int]] = queue.Queue()
    due: list[tuple[float, int, int]] = []  # (monotonic due, push, replica index); replica -1: the push
    t0 = time.monotonic() + 0.05
    for i in range(PUSHES):
        heapq.heappush(due, (t0 + i * PUSH_EVERY_S, i, -1))
    in_flight = 0
    before = setup.stats()
    deadline = t0 + PUSHES * PUSH_EVERY_S + LAG_MS[1] / 1000 + 20 * INTERVAL_S + 10

    def done(i: int, answer: dict[str, Any]) -> tuple[bool, bool]:
        """(told, read the next page now)."""
        if PEER == "log":  # evidence: this image's own entry, finished
            entries = answer.get("ReplicationLog") or []
            mine = [e for e in entries if e.get("Source") == f"{NAMESPACE}/{REPOSITORY}:[v{i}]"]
            if mine:
                return mine[0].get("Status") in ("Succeed", "Failed"), False
            return False, len(entries) == 20  # not on this page: it is deeper (the log is newest first)
        # inference, "until it changes": the last completed sync is at or after the push (to the second)
        stamp = str(answer.get("ReplicationTime") or "")
        ok = stamp[:4] not in ("", "0001") and answer.get("ReplicationStatus") != "Failed"
        return ok and _epoch(stamp) >= int(pushed[i]), False

    def poll(i: int, j: int) -> None:
        told, page, n = False, 1, 0
        while True:
            n += 1
            try:
                told, deeper = done(i, status(setup.replicas[j], page))
            except Exception:  # a poll that saw nothing
                told, deeper = False, False
            if told or not deeper or page >= 50:
                break
            page += 1
        results.put((i, j, time.time(), told, n))

    with ThreadPoolExecutor(POLLERS) as pool:
        while (len(seen) < PUSHES * len(setup.replicas) or in_flight) and time.monotonic() < deadline:
            while True:
                try:
                    i, j, at, told, n = results.get_nowait()
                except queue.Empty:
                    break
                in_flight -= 1
                calls[(i, j)] = calls.get((i, j), 0) + n
                if told:
                    seen.setdefault((i, j), at)
                else:  # poll again one interval later
                    heapq.heappush(due, (time.monotonic() + INTERVAL_S, i, j))
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, i, j = heapq.heappop(due)
                if j < 0:
                    pushed[i] = time.time()
                    setup.push(i)
                    for k in range(len(setup.replicas)):
                        heapq.heappush(due, (time.monotonic(), i, k))  # the first poll right after the push
                else:
                    in_flight += 1
                    pool.submit(poll, i, j)
                now = time.monotonic()
            wait = (due[0][0] - time.monotonic()) if due else 0.05
            try:
                item = results.get(timeout=max(0.001, min(wait, 0.05)))
                results.put(item)
            except queue.Empty:
                pass
    after = setup.stats()
    ends = setup.log_ends()
    premature = 0
    for (i, j), at in seen.items():
        end = ends.get((setup.replicas[j][0], f"{NAMESPACE}/{REPOSITORY}:[v{i}]"))
        if end is not None and end > at:  # EndTime is truncated: a lower bound of the premature ones
            premature += 1
    per_image = [
        max(seen[(i, j)] for j in range(len(setup.replicas))) - pushed[i]
        for i in range(PUSHES)
        if all((i, j) in seen for j in range(len(setup.replicas)))
    ]
    delta = _tcr_delta(before, after)
    return {
        "tcr_calls": sum(delta.values()),
        "tcr_calls_by_action": delta,
        "client_calls": sum(calls.values()),
        "pairs": PUSHES * len(setup.replicas),
        "pairs_seen": len(seen),
        "premature_pairs": premature,
        "told": per_image,
        "per_pair_s": [seen[k] - pushed[k[0]] for k in seen],
    }


def run_product(sink: Sink, shape: str) -> dict[str, Any]:
    """The same pushes through the webhook trigger; the audit's timer every AUDIT_EVERY_S until all are told."""
    from tests.integration.support import call

    with _log_shape(shape):
        setup = Setup(sink, product=True)
        try:
            known = set(sink.replicated())  # notifications of an earlier run's digests are not this run's
            pushed: dict[str, float] = {}
            runs: list[float] = []
            failures: list[Any] = []
            before = setup.stats()
            t0 = time.monotonic() + 0.05
            stop = threading.Event()

            def pusher() -> None:
                for i in range(PUSHES):
                    time.sleep(max(0.0, t0 + i * PUSH_EVERY_S - time.monotonic()))
                    at = time.time()
                    pushed[setup.push(i)] = at

            thread = threading.Thread(target=pusher, daemon=True)
            thread.start()
            deadline = t0 + PUSHES * PUSH_EVERY_S + LAG_MS[1] / 1000 + 6 * AUDIT_EVERY_S + 20
            k = 1
            while not stop.is_set() and time.monotonic() < deadline:
                time.sleep(max(0.0, t0 + k * AUDIT_EVERY_S - time.monotonic()))
                k = max(k + 1, math.ceil((time.monotonic() - t0) / AUDIT_EVERY_S))  # a long run skips ticks
                started = time.monotonic()
                status, _ = call("POST", setup.cloud.host_url + "/_localcloud/timer/audit", {})
                runs.append(time.monotonic() - started)
                if status != 200:
                    failures.append(status)
                told = sink.replicated()
                if not thread.is_alive() and len(pushed) == PUSHES and all(d in told for d in pushed):
                    stop.set()
            thread.join(timeout=5)
            after = setup.stats()
            told = {d: at for d, at in sink.replicated().items() if d not in known}
            latencies = [told[d] - at for d, at in pushed.items() if d in told]
            delta = _tcr_delta(before, after)
            functions = {
                k: after.get("functions", {}).get(k, 0) - before.get("functions", {}).get(k, 0)
                for k in after.get("functions", {})
            }
            return {
                "tcr_calls": sum(delta.values()),
                "tcr_calls_by_action": delta,
                "pairs": PUSHES * len(setup.replicas),
                "told": latencies,
                "notified": len(latencies),
                "audit_runs": len(runs),
                "audit_failures": failures,
                "median_audit_run_s": round(statistics.median(runs), 3) if runs else None,
                "function_invocations": functions,
                "cos_ops": {
                    k: after["cos"][k] - before.get("cos", {}).get(k, 0)
                    for k in after.get("cos", {})
                    if after["cos"][k] - before.get("cos", {}).get(k, 0)
                },
            }
        finally:
            setup.stop()


def run(results: Results) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sink = Sink()
    try:
        polled = run_polling(sink)
        products = {shape: run_product(sink, shape) for shape in SHAPES}
    finally:
        sink.close()
    title = (
        f"polling ({PUSHES} pushes x {REPLICAS} replicas, lag {LAG_MS[0]}-{LAG_MS[1]} ms, poll every {INTERVAL_S} s, "
        f"audit every {AUDIT_EVERY_S} s)"
    )
    results.begin("polling", title)
    mean_lag_s = (LAG_MS[0] + LAG_MS[1]) / 2000
    results.figure(
        "config",
        {
            "pushes": PUSHES,
            "replicas": REPLICAS,
            "lag_ms": LAG_MS,
            "seed": SEED,
            "poll_interval_s": INTERVAL_S,
            "push_every_s": PUSH_EVERY_S,
            "audit_every_s": AUDIT_EVERY_S,
            "mean_lag_over_interval": round(mean_lag_s / INTERVAL_S, 3),
            "log_shapes": SHAPES,
            "peer": PEER,
        },
    )
    poll_per_pair = polled["tcr_calls"] / polled["pairs"]
    results.figure(
        "poller",
        {
            "tcr_calls": polled["tcr_calls"],
            "tcr_calls_by_action": polled["tcr_calls_by_action"],
            "client_calls": polled["client_calls"],
            "calls_per_image_replica": round(poll_per_pair, 3),
            "pairs_seen": f"{polled['pairs_seen']} of {polled['pairs']}",
            "premature_pairs": polled["premature_pairs"],
            "time_to_told_all_replicas": _latency(polled["told"]),
            "time_to_seen_per_replica": _latency(polled["per_pair_s"]),
            "model_calls_per_pair": round(1 + mean_lag_s / INTERVAL_S, 3),
        },
    )
    for shape, got in products.items():
        per_pair = got["tcr_calls"] / got["pairs"]
        results.figure(
            f"product_log_{shape}",
            {
                "tcr_calls": got["tcr_calls"],
                "tcr_calls_by_action": got["tcr_calls_by_action"],
                "calls_per_image_replica": round(per_pair, 3),
                "notified": f"{got['notified']} of {PUSHES}",
                "time_to_told": _latency(got["told"]),
                "audit_runs": got["audit_runs"],
                "audit_failures": got["audit_failures"],
                "median_audit_run_s": got["median_audit_run_s"],
                "function_invocations": got["function_invocations"],
                "cos_ops": got["cos_ops"],
                # the poller's calls are ~1 + lag/interval per pair: the mean lag (in poll intervals) from which
                # these product calls would be 0.2x the poller's
                "break_even_mean_lag_in_intervals": round(per_pair / 0.2 - 1, 2),
            },
        )
        shown = "one object per answer, SDK schema" if shape == "object" else "a list of 20, doc example"
        results.target(
            f"polling: product TCR calls per (image, replica) / polling's (log: {shown})",
            per_pair / poll_per_pair if poll_per_pair else float("inf"),
            0.2,
        )
        results.target(
            f"polling: pushes the product told replicated (log: {shape})", got["notified"] / PUSHES, 1.0, "frac", ">="
        )
    p, q = products[SHAPES[0]]["told"], polled["told"]
    if p and q:
        results.figure("told_median_product_over_polling", round(statistics.median(p) / statistics.median(q), 3))
