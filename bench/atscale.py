"""The counts behind docs/performance-at-scale.md: COS and TCR calls per push and per audit run, object sizes.

`python -m bench.atscale` (not a `make bench` scenario: it asserts nothing and measures no time ratio). For each
replica count in BENCH_ATSCALE_REPLICAS (default 3,7: the most a mainland primary can have under the region rules),
on its own localcloud: BENCH_ATSCALE_PUSHES pushes (default 200) through the real TCR trigger into the webhook's
Function URL, then one audit run that resolves them all, then one idle audit run. Counts are `/_localcloud/stats`
deltas; sizes are the bucket's objects by prefix (COS `list_objects` Size). Prints one JSON document.
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
REPLICA_COUNTS = [int(v) for v in (os.environ.get("BENCH_ATSCALE_REPLICAS") or "3,7").split(",")]
# every mainland region TCR serves but the primary's (ap-guangzhou): no mainland<->overseas replicas
MAINLAND = ("ap-shanghai", "ap-beijing", "ap-chengdu", "ap-nanjing", "ap-chongqing", "ap-shanghai-fsi")
MAINLAND += ("ap-shenzhen-fsi",)
TOKEN, HOOK = "atscale-api", "atscale-hook"


def _delta(before: dict[str, Any], after: dict[str, Any], part: str) -> dict[str, int]:
    b, a = before.get(part, {}), after.get(part, {})
    return {k: a[k] - b.get(k, 0) for k in sorted(a) if a[k] - b.get(k, 0)}


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
        if resp.get("IsTruncated") != "true":
            return out
        marker = resp.get("NextMarker") or resp["Contents"][-1]["Key"]


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
        log_stream=None,
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

        audit()  # the first run creates the state objects; a steady day has them
        s0 = stats()
        for i in range(PUSHES):
            status, body = call(
                "POST",
                cloud.host_url + "/_localcloud/push",
                {"registryId": registry_id, "namespace": "scale", "repository": f"app{i % 7}", "tag": f"v{i}"},
            )
            assert status == 200, body
        wait_for(lambda: stats()["functions"].get("webhook", 0) - s0["functions"].get("webhook", 0) >= PUSHES, 60)
        time.sleep(0.3)  # every replication lag has passed
        s1 = stats()
        inbox = _sizes(env).get("inbox", {"objects": 0, "bytes": 0})
        busy_s = audit()
        s2 = stats()
        idle_s = [audit() for _ in range(3)]
        s3 = stats()
        sizes = _sizes(env)
        return {
            "replicas": replicas,
            "pushes": PUSHES,
            "webhook": {"cos": _delta(s0, s1, "cos"), "tcr": _delta(s0, s1, "tcr")},
            "audit_resolving_all": {"cos": _delta(s1, s2, "cos"), "tcr": _delta(s1, s2, "tcr"), "wall_s": busy_s},
            "audit_idle_x3": {"cos": _delta(s2, s3, "cos"), "tcr": _delta(s2, s3, "tcr")},
            "idle_run_median_s": round(statistics.median(idle_s), 3),
            "inbox_before_audit": inbox,
            "bucket_after": sizes,
        }
    finally:
        cloud.stop()


def main() -> int:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    print(json.dumps([measure(r) for r in REPLICA_COUNTS], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
