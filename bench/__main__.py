"""`make bench`: the targets of DESIGN.md §11 measured as ratios against a floor taken in the same run.

Each line prints the measured ratio, the target, and whether it is met. Nothing here is asserted in
tests: timing belongs to benchmarks. Everything runs on 127.0.0.1 against an embedded localcloud.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "50"))

SDKS = {
    "replicas": "import tencentcloud.tcr.v20190924.tcr_client",
    "webhook": "import tencentcloud.tcr.v20190924.tcr_client, qcloud_cos",
    "audit": "import tencentcloud.tcr.v20190924.tcr_client, qcloud_cos",
}
# The floor (DESIGN §11): the libraries each function truly needs, the SDK modules it calls and jsonschema,
# which validates every function's inputs.
FLOORS = {fn: f"{sdks}, jsonschema" for fn, sdks in SDKS.items()}
# What the first real invocation of each function loads and does before its remote calls: its lazy imports
# become real, and it validates its inputs (building the validators of the schemas it uses).
FIRST_CALL = {
    "replicas": "import index; import shared.tcr, shared.replicas; import tencentcloud.tcr.v20190924.tcr_client; "
    "from shared import schemas; schemas.validate('path.registryId', 'tcr-abc123', where='path'); "
    "schemas.validate('replica.create', {'region': 'ap-shanghai'})",
    "webhook": "import index; import shared.webhook, shared.logstore, shared.tcr; "
    "import tencentcloud.tcr.v20190924.tcr_client, qcloud_cos; from shared import schemas; "
    "schemas.validate('query.webhook', {'registryId': 'tcr-abc123'}, where='query'); "
    "schemas.validate('webhook.registryEvent', {'type': 'pushImage', 'event_data': {'resources': [{'tag': 'v1', "
    "'digest': 'sha256:' + '0' * 64}], 'repository': {'name': 'app', 'namespace': 'ns'}}})",
    "audit": "import index; import shared.audit, shared.logstore, shared.tcr, shared.notify; "
    "import tencentcloud.tcr.v20190924.tcr_client, qcloud_cos; from shared import schemas; "
    "schemas.validate('timer.event', {'Type': 'Timer', 'Message': ''}, where='event')",
}
EAGER = (
    "import index; import shared.audit, shared.webhook, shared.replicas, shared.logstore, shared.tcr, shared.notify; "
    "import tencentcloud.tcr.v20190924.tcr_client, tencentcloud.tcr.v20190924.models, qcloud_cos; "
    "from shared import schemas; [schemas.validator(n) for n in schemas.SCHEMAS]"
)
PROBE = (
    "import resource, time, sys; t = time.perf_counter(); exec(sys.argv[1]); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


def runtime() -> tuple[str, str, Path | None]:
    """The interpreter and import path that stand for SCF's: the built layer under Python 3.10 when
    `make package` has run (bytecode shipped, PYTHONDONTWRITEBYTECODE set as SCF does), else this venv."""
    layer = ROOT / "build" / "layer"
    from bench.package import find_python310

    python = find_python310()
    if python and (layer / "shared").is_dir() and any(layer.rglob("*.cpython-310.pyc")):
        return python, "built layer, Python 3.10", layer
    subprocess.run([sys.executable, "-m", "compileall", "-q", "shared", "functions"], cwd=ROOT, check=True)
    return sys.executable, "work tree, this interpreter (run `make package` first for the layer)", None


def _child(python: str, layer: Path | None, function: str, code: str) -> tuple[float, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    paths = [str(ROOT / "functions" / function)] + ([str(layer)] if layer else [str(ROOT)])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if layer is None:
        env.pop("PYTHONDONTWRITEBYTECODE")
    out = subprocess.run(
        [python, "-c", PROBE, code], cwd=ROOT / "bench", env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    return float(out[0]), float(out[1]) / 1024.0


def _medians(python: str, layer: Path | None, function: str, codes: dict[str, str]) -> dict[str, tuple[float, float]]:
    """(median seconds, peak MB) of each probe over RUNS fresh interpreters, the probes interleaved so that a
    change in the machine's load touches them all alike."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
    for _ in range(RUNS):
        for name, code in codes.items():
            runs[name].append(_child(python, layer, function, code))
    return {name: (statistics.median(r[0] for r in got), max(r[1] for r in got)) for name, got in runs.items()}


def row(name: str, value: float, target: float, unit: str = "x", lower_is_better: bool = True) -> bool:
    ok = value <= target if lower_is_better else value >= target
    print(
        f"  {name:<58} {value:>9.3f}{unit:<3} target {'<=' if lower_is_better else '>='} {target:<8} "
        f"{'ok' if ok else 'MISSED'}"
    )
    return ok


def cold_start() -> list[bool]:
    python, where, layer = runtime()
    print(f"cold start (median of {RUNS} fresh interpreters; {where})")
    results = []
    for fn in ("replicas", "webhook", "audit"):
        codes = {"sdks": SDKS[fn], "floor": FLOORS[fn], "load": "import index", "first": FIRST_CALL[fn], "eager": EAGER}
        got = _medians(python, layer, fn, codes)
        floor, load, eager = got["floor"][0], got["load"][0], got["eager"][0]
        first, rss = got["first"]
        ms = {name: round(seconds * 1000) for name, (seconds, _) in got.items()}
        print(
            f"  ({fn}, ms: SDKs {ms['sdks']}, floor SDKs + jsonschema {ms['floor']}, handler load {ms['load']}, "
            f"first call {ms['first']}, everything eager {ms['eager']})"
        )
        results.append(row(f"{fn}: handler load + first call / SDKs+jsonschema floor", first / floor, 1.15))
        results.append(row(f"{fn}: handler load (lazy) / everything eager", load / eager, 0.5))
        results.append(row(f"{fn}: peak RSS after first-call imports (MB)", rss, 64, " MB"))
    return results


def _timed(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def webhook_and_logs() -> list[bool]:
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
        print(f"webhook (warm container, {EVENTS} push events)")
        results = [
            row("median handler time / one bare COS put_object", handler / put, 1.25),
            row("remote calls per push event", remote / EVENTS, 1.05, ""),
        ]
        return results
    finally:
        cloud.stop()


def main() -> int:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    results = cold_start() + webhook_and_logs()
    missed = results.count(False)
    print(
        f"{len(results) - missed} of {len(results)} targets met"
        + ("" if not missed else f"; {missed} missed (see above)")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
