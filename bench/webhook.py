"""The webhook, warm: handler time against one bare COS put_object of the same bytes, and remote calls per event."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.results import ROOT, Results

SMOKE = os.environ.get("BENCH_SCALE") == "smoke"
EVENTS = int(os.environ.get("BENCH_EVENTS") or (20 if SMOKE else 2000))


def _timed(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(results: Results) -> None:
    from localcloud.cloud import LocalCloud

    cloud = LocalCloud(
        port=0, replica_ready_after_s=0.05, function_env={"API_TOKEN": "b", "WEBHOOK_TOKEN": "w"}, log_stream=None
    ).start()
    try:
        env = cloud.env()
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        from tests.integration.support import call, create_instance, tcr_client, wait_replicas_running

        tcr = tcr_client(env)
        registry_id = create_instance(tcr)
        for region in ("ap-shanghai", "ap-beijing"):
            call("POST", f"{env['REPLICAS_URL']}/instances/{registry_id}/replicas", {"region": region}, token="b")
        wait_replicas_running(tcr, registry_id)

        import functions.webhook.index as hook

        events = []
        for i in range(EVENTS + 1):
            body = {
                "type": "pushImage",
                "occur_at": 1795800000 + i,
                "operator": "1",
                "event_data": {
                    "resources": [
                        {
                            "digest": "sha256:" + f"{i:064x}",
                            "tag": f"v{i}",
                            "resource_url": f"x.tencentcloudcr.com/ns/app:v{i}",
                        }
                    ],
                    "repository": {"name": "app", "namespace": "ns"},
                },
            }
            events.append(
                {
                    "httpMethod": "POST",
                    "path": "/",
                    "headers": {"x-webhook-token": "w"},
                    "queryString": {"registryId": registry_id},
                    "body": json.dumps(body),
                }
            )
        ctx = {"request_id": "bench", "time_limit_in_ms": 10000}
        hook.main_handler(events[0], ctx)  # warm the container
        before = call("GET", cloud.host_url + "/_localcloud/stats")[1]
        it = iter(events[1:])
        handler = _timed(lambda: hook.main_handler(next(it), ctx), EVENTS)
        after = call("GET", cloud.host_url + "/_localcloud/stats")[1]
        remote = sum(after["cos"].values()) - sum(before["cos"].values())
        remote += sum(after["tcr"].values()) - sum(before["tcr"].values())
        from shared import app, webhook

        store = app.Services(webhook.PROFILE, ctx).store  # the warm container's own log store and client
        # the floor: one bare put_object of the same bytes under the same key as a push's inbox object
        listed = store.client.list_objects(Bucket=store.bucket, Prefix=f"inbox/{registry_id}/", MaxKeys=1)
        key = listed["Contents"][0]["Key"]
        payload = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].get_raw_stream().read()
        put = _timed(lambda: store.client.put_object(Bucket=store.bucket, Key=key, Body=payload), EVENTS)
        results.begin("webhook", f"webhook (warm container, {EVENTS} push events)")
        results.figure("events", EVENTS)
        results.figure("median_handler_ms", round(handler * 1000, 3))
        results.figure("median_put_ms", round(put * 1000, 3))
        results.figure("remote_calls", remote)
        results.target("webhook: median handler time / one bare COS put_object", handler / put, 1.25)
        results.target("webhook: remote calls per push event", remote / EVENTS, 1.05, "calls")
    finally:
        cloud.stop()
