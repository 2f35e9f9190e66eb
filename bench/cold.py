"""Cold start per function (DESIGN §11): first call against a fresh interpreter importing only what the
function needs, against the same function importing everything eagerly, and peak RSS."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.results import ROOT, Results

RUNS = int(os.environ.get("BENCH_RUNS", "7"))

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
# peak RSS: the process's own high-water mark (VmHWM, kB); getrusage's ru_maxrss is carried across fork and exec
# on Linux, so a child would report its parent's size if the parent were bigger
PROBE = (
    "import time, sys; t = time.perf_counter(); exec(sys.argv[1]); elapsed = time.perf_counter() - t; "
    "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]; "
    "print(elapsed, hwm[0] if hwm else __import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss)"
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


def run(results: Results) -> None:
    python, where, layer = runtime()
    results.begin("cold_start", f"cold start (median of {RUNS} fresh interpreters; {where})")
    results.figure("runtime", where)
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
        results.figure(fn, {"ms": ms, "peak_rss_mb": round(rss, 1)})
        results.target(f"{fn}: handler load + first call / SDKs+jsonschema floor", first / floor, 1.15)
        results.target(f"{fn}: handler load (lazy) / everything eager", load / eager, 0.5)
        results.target(f"{fn}: peak RSS after first-call imports", rss, 64, "MB")
