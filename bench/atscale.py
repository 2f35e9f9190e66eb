"""The counts behind docs/performance-at-scale.md: COS and TCR calls per push and per audit run, object sizes.

`python -m bench.atscale` (not a `make bench` scenario: it asserts nothing and measures no time ratio). For each
replica count in BENCH_ATSCALE_REPLICAS (default 3,7: the most a mainland primary can have under the region rules),
on its own localcloud: BENCH_ATSCALE_PUSHES pushes (default 200) through the real TCR trigger into the webhook's
Function URL, then one audit run that resolves them all, then one idle audit run. Counts are `/_localcloud/stats`
deltas; sizes are the bucket's objects by prefix (COS `list_objects` Size). BENCH_ATSCALE_SHAPE: TCR's
ReplicationLog answer shape, "array" (default) or "object". Then the cost of parsing one replica-day of
BENCH_ATSCALE_PARSE records (default 10000,100000), as the audit's duplicate check does. Prints one JSON document.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

from bench.results import ROOT

PUSHES = int(os.environ.get("BENCH_ATSCALE_PUSHES") or 200)
STEADY_RUNS = int(os.environ.get("BENCH_ATSCALE_RUNS") or 12)  # then this many runs, each after STEADY_PUSHES pushes
STEADY_PUSHES = int(os.environ.get("BENCH_ATSCALE_RUN_PUSHES") or 20)
REPLICA_COUNTS = [int(v) for v in (os.environ.get("BENCH_ATSCALE_REPLICAS") or "3,7").split(",")]
# every mainland region TCR serves but the primary's (ap-guangzhou): no mainland<->overseas replicas
MAINLAND = ("ap-shanghai", "ap-beijing", "ap-chengdu", "ap-nanjing", "ap-chongqing", "ap-shanghai-fsi")
MAINLAND += ("ap-shenzhen-fsi",)
TOKEN, HOOK = "atscale-api", "atscale-hook"


def _delta(before: dict[str, Any], after: dict[str, Any], part: str) -> dict[str, int]:
    b, a = before.get(part, {}), after.get(part, {})
    mine = {"DescribeWebhookTriggerLog"}  # this script's own waiting
    return {k: a[k] - b.get(k, 0) for k in sorted(a) if a[k] - b.get(k, 0) and k not in mine}


def _sizes(env: dict[str, str]) -> dict[str, dict[str, int]]:
    from tests.integration.support import cos_client

    client = cos_client(env)
    out: dict[str, dict[str, int]] = {}
    marker = ""
    while True:
        resp = client.list_objects(Bucket=env["LOG_BUCKET"], Prefix="", Marker=marker, MaxKeys=1000)
        for obj in resp.get("Contents", []):
            key = obj["Key"]
            kind = key.split("/", 1)[0] if "/" in key else key
            if kind == "reports" and key.endswith((".html",)):
                kind = "reports(html)"
            got = out.setdefault(kind, {"objects": 0, "bytes": 0})
            got["objects"] += 1
            got["bytes"] += int(obj["Size"])
            got["largest"] = max(got.get("largest", 0), int(obj["Size"]))
        if resp.get("IsTruncated") != "true":
            return out
        marker = resp.get("NextMarker") or resp["Contents"][-1]["Key"]


def _note(text: str) -> None:
    print(f"atscale: {text}", file=sys.stderr, flush=True)


def measure(replicas: int) -> dict[str, Any]:
    from localcloud.cloud import LocalCloud
    from tests.integration.support import (
        add_push_trigger,
        call,
        create_instance,
        create_namespace,
        tcr_client,
        wait_for,
        wait_replicas_running,
    )

    cloud = LocalCloud(
        port=0,
        replica_ready_after_s=0.05,
        faults={"replication": {"lagMs": [20, 80]}},
        function_env={"API_TOKEN": TOKEN, "WEBHOOK_TOKEN": HOOK},
        log_stream=sys.stderr if os.environ.get("BENCH_ATSCALE_LOG") else None,
    ).start()
    try:
        env = cloud.env()
        tcr = tcr_client(env)
        registry_id = create_instance(tcr)
        for region in MAINLAND[:replicas]:
            status, body = call(
                "POST", f"{env['REPLICAS_URL']}/instances/{registry_id}/replicas", {"region": region}, token=TOKEN
            )
            assert status == 202, body
            wait_replicas_running(tcr, registry_id)
        create_namespace(tcr, registry_id, "scale")
        add_push_trigger(env, tcr, registry_id, "scale", webhook_token=HOOK)

        def stats() -> dict[str, Any]:
            return dict(call("GET", cloud.host_url + "/_localcloud/stats")[1])

        def audit() -> float:
            started = time.monotonic()
            status, body = call("POST", cloud.host_url + "/_localcloud/timer/audit", {})
            assert status == 200, body
            return time.monotonic() - started

        sent = 0

        def push(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                i = sent
                sent += 1
                status, body = call(
                    "POST",
                    cloud.host_url + "/_localcloud/push",
                    {"registryId": registry_id, "namespace": "scale", "repository": f"app{i % 7}", "tag": f"v{i}"},
                )
                assert status == 200, body

        def delivered() -> bool:  # TCR's trigger log: every delivery answered 2xx (not counted: removed below)
            done = 0
            for offset in range(0, sent, 100):
                got = tcr.call_json(
                    "DescribeWebhookTriggerLog",
                    {"RegistryId": registry_id, "Namespace": "scale", "Offset": offset, "Limit": 100},
                )["Response"]
                done += sum(1 for log in got.get("Logs") or [] if log.get("Status") == "finished")
            return done >= sent

        _note(f"{replicas} replicas ready; first audit")
        audit()  # the first run creates the state objects; a steady day has them
        s0 = stats()
        push(PUSHES)
        _note(f"{PUSHES} pushes sent")
        wait_for(delivered, 120, 0.5)
        time.sleep(0.3)  # every replication lag has passed
        s1 = stats()
        inbox = _sizes(env).get("inbox", {"objects": 0, "bytes": 0})
        _note("webhooks done; audit")
        busy_s = audit()
        s2 = stats()
        idle_s = [audit() for _ in range(3)]
        s3 = stats()
        _note(f"{STEADY_RUNS} runs of {STEADY_PUSHES} pushes")
        per_run: list[dict[str, int]] = []
        for _ in range(STEADY_RUNS):
            push(STEADY_PUSHES)
            wait_for(delivered, 120, 0.2)
            time.sleep(0.3)
            a = stats()
            audit()
            per_run.append(_delta(a, stats(), "cos"))
        s4 = stats()
        sizes = _sizes(env)
        return {
            "replicas": replicas,
            "pushes": PUSHES,
            "webhook": {"cos": _delta(s0, s1, "cos"), "tcr": _delta(s0, s1, "tcr")},
            "audit_resolving_all": {"cos": _delta(s1, s2, "cos"), "tcr": _delta(s1, s2, "tcr"), "wall_s": busy_s},
            "audit_idle_x3": {"cos": _delta(s2, s3, "cos"), "tcr": _delta(s2, s3, "tcr")},
            "idle_run_median_s": round(statistics.median(idle_s), 3),
            "steady": {
                "runs": STEADY_RUNS,
                "pushes_per_run": STEADY_PUSHES,
                "cos_incl_webhooks": _delta(s3, s4, "cos"),
                "tcr_incl_webhooks": _delta(s3, s4, "tcr"),
                "audit_cos_per_run": per_run,
            },
            "inbox_before_audit": inbox,
            "bucket_after": sizes,
        }
    finally:
        cloud.stop()


PARSE_SIZES = [int(v) for v in (os.environ.get("BENCH_ATSCALE_PARSE") or "10000,100000").split(",") if v]


def segment_parse(n: int) -> dict[str, Any]:
    """What the audit's duplicate check pays to read one replica-day of `n` resolved records (`read_segments`:
    parse the JSON lines, build Records, dedupe, keep the ids): seconds and traced Python heap at peak."""
    import tracemalloc

    from shared import records as rl

    base = {
        "eventType": "pushImage",
        "registryId": "tcr-abcdefgh",
        "primaryRegion": "ap-guangzhou",
        "replicaRegistryId": "tcr-abcdefgh-8-abcdef",
        "replicaRegion": "ap-beijing",
        "namespace": "scale",
        "repository": "app3",
        "digest": "sha256:" + "a" * 64,
        "pushedAt": "2026-12-01T13:50:18Z",
        "operator": "100000000001",
        "status": "replicated",
        "replicatedAt": "2026-12-01T13:50:19Z",
        "lagSeconds": 1.0,
        "source": "audit",
        "updatedAt": "2026-12-01T13:55:00Z",
    }
    data = rl.jsonl(
        rl.Record(eventId=f"{i:040x}", tag=f"v{i}", **base).to_dict()
        for i in range(n)  # type: ignore[arg-type]
    )
    tracemalloc.start()
    started = time.perf_counter()
    recs = rl.dedupe(rl.Record.from_dict(item) for item in rl.parse_jsonl(data))
    ids = {r.record_id for r in recs if r.status != "pending"}
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"records": n, "ids": len(ids), "bytes": len(data), "seconds": round(seconds, 2), "peak_mib": peak >> 20}


def main() -> int:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    # TCR's ReplicationLog answer: "array" (20 entries a call, as the API doc's example) or "object" (one, as the SDK
    # schema): the in-process localcloud reads this variable on every request
    os.environ["LOCALCLOUD_REPLICATION_LOG_SHAPE"] = os.environ.get("BENCH_ATSCALE_SHAPE") or "array"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    runs = [measure(r) for r in REPLICA_COUNTS]
    print(json.dumps({"runs": runs, "segment_parse": [segment_parse(n) for n in PARSE_SIZES]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
