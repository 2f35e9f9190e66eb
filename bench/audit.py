"""The audit at scale (DESIGN §11): a backlog of pending records over 10 replicas, resolved on TCR's log evidence.

A *record* is one (push, replica) record of the log store: N records are N / 10 pushes to an instance with 10
replicas. For each size the bench starts a fresh localcloud, creates the instance (ap-hongkong) and its 10 replicas
straight through the TCR SDK, writes the pending records into the log store through the product's LogStore (one
inbox object per push, as the webhook would), then pushes each image through localcloud's bulk admin push, so that
every replica's TCR replication log names it, and waits until TCR has replicated them all.

The audit then runs in a child interpreter (as SCF runs it: its own process, the product's `audit.handle` with an
SCF context of 900 s), run after run until nothing is pending; the child reports each run's wall time, the remote
calls it cost (localcloud's stats, TCR and COS apart) and its peak RSS (VmHWM of its own interpreter: the SDKs and
all, as SCF's memory limit counts it). Afterwards every record is checked through the real COS SDK: the inbox is
empty and every record is in a segment exactly once, replicated.

Sizes: BENCH_AUDIT_RECORDS (default "1000,10000,100000"). Shapes of TCR's log answer
(LOCALCLOUD_REPLICATION_LOG_SHAPE): "array" (20 entries per call) at every size, "object" (one entry per call, so
one TCR call per record) at the sizes up to BENCH_AUDIT_OBJECT_MAX (default 10000). The audit's TCR call budget per
run is BENCH_AUDIT_TCR_BUDGET (default 20000, the configuration's maximum): runs needed are counted.
BENCH_AUDIT_PROFILE_AT (default 10000): the size whose first run (array shape) is profiled with cProfile into
audit-profile.txt beside the results file (bench/results/ by default). BENCH_AUDIT_TRACE=rss|1 (development aid):
the child prints its peak RSS around each phase, or tracemalloc's growth per inbox page.
`python -m bench.audit measure N array|object [profile]` measures one size and prints it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.results import ROOT, Results, results_path

SMOKE = os.environ.get("BENCH_SCALE") == "smoke"
SIZES = [
    int(s)
    for s in (os.environ.get("BENCH_AUDIT_RECORDS") or ("100,300" if SMOKE else "1000,10000,100000")).split(",")
    if s.strip()
]
OBJECT_MAX = int(os.environ.get("BENCH_AUDIT_OBJECT_MAX") or ("100" if SMOKE else "10000"))
TCR_BUDGET = int(os.environ.get("BENCH_AUDIT_TCR_BUDGET") or "20000")
PROFILE_AT = int(os.environ.get("BENCH_AUDIT_PROFILE_AT") or ("0" if SMOKE else "10000"))
MAX_RUNS = 20
PRIMARY = "ap-hongkong"
REPLICA_REGIONS = (
    "ap-singapore",
    "na-siliconvalley",
    "eu-frankfurt",
    "ap-seoul",
    "ap-mumbai",
    "na-ashburn",
    "ap-bangkok",
    "ap-tokyo",
    "ap-jakarta",
    "sa-saopaulo",
)
SCF_LIMIT_S = 900.0
PROFILE_PATH = results_path().with_name("audit-profile.txt")  # beside the results file


def _stats(host_url: str) -> dict[str, dict[str, int]]:
    import urllib.request

    with urllib.request.urlopen(host_url + "/_localcloud/stats", timeout=30) as resp:
        return json.loads(resp.read())


def _delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], part: str) -> int:
    return sum(after[part].values()) - sum(before[part].values())


def _by_op(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], part: str) -> dict[str, int]:
    return {k: v - before[part].get(k, 0) for k, v in after[part].items() if v != before[part].get(k, 0)}


# -- the child: the audit function's runs, in their own interpreter ------------------------------------------------


def _peak_rss_mb() -> float:
    """This interpreter's peak resident set (VmHWM). Not `ru_maxrss`: Linux carries that across exec from the
    process that started it (here the bench, holding localcloud's 100,000 objects)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(args: dict[str, Any]) -> dict[str, Any]:
    """Audit runs until nothing is pending (or MAX_RUNS): per run wall time, remote calls, summary headline."""
    from shared import app, audit

    registry_id = args["registryId"]
    host = os.environ["LOCALCLOUD_URL"]
    runs = []
    profiler = None
    if args.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    if os.environ.get("BENCH_AUDIT_TRACE") == "rss":  # development aid: peak RSS after each phase

        def rss(label: str) -> None:
            print(f"{label}: peak RSS {_peak_rss_mb():.0f} MB", file=sys.stderr)

        from shared import logstore

        traced = {
            audit.Auditor: (
                "_read_logs",
                "_resolve_page",
                "_sync",
                "_expand",
                "_private_access",
                "_findings",
                "_deliver",
            ),
            logstore.LogStore: ("_list", "_get", "_put", "_delete_many"),
        }
        for owner, names in traced.items():
            for name in names:
                method = getattr(owner, name)

                def wrapped(self: Any, *a: Any, _m: Any = method, _n: str = name, **k: Any) -> Any:
                    rss(f"before {_n}")
                    out = _m(self, *a, **k)
                    rss(f"after {_n}")
                    return out

                setattr(owner, name, wrapped)
        rss("start")
    elif os.environ.get("BENCH_AUDIT_TRACE"):  # development aid: what the audit holds at its first page's end
        import tracemalloc

        tracemalloc.start(3)
        original = audit.Auditor._resolve_page

        snaps: list[Any] = []

        def traced(self: Any, run: Any, items: Any) -> None:
            original(self, run, items)
            snap = tracemalloc.take_snapshot()
            current, peak = tracemalloc.get_traced_memory()
            print(f"traced current {current / 2**20:.1f} MB, peak {peak / 2**20:.1f} MB", file=sys.stderr)
            stats = snap.compare_to(snaps[-1], "lineno") if snaps else snap.statistics("lineno")
            for stat in stats[:12]:
                print(stat, file=sys.stderr)
            snaps[:] = [snap]

        audit.Auditor._resolve_page = traced  # type: ignore[method-assign]
    for n in range(MAX_RUNS):
        event = {
            "Type": "Timer",
            "TriggerName": "bench-audit",
            "Time": (datetime(2026, 11, 28, tzinfo=timezone.utc) + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Message": json.dumps({"instances": [registry_id], "notify": False}),
        }
        context = {"request_id": f"bench-audit-{n}", "time_limit_in_ms": int(SCF_LIMIT_S * 1000)}
        before = _stats(host)
        started = time.perf_counter()
        if profiler is not None and n == 0:
            profiler.enable()
        summary = app.serve_timer(event, context, audit.PROFILE, audit.handle)
        if profiler is not None and n == 0:
            profiler.disable()
        took = time.perf_counter() - started
        after = _stats(host)
        mine = summary["instances"][0] if summary.get("instances") else {}
        runs.append(
            {
                "seconds": round(took, 3),
                "tcr": _delta(before, after, "tcr"),
                "cos": _delta(before, after, "cos"),
                "cosByOp": _by_op(before, after, "cos"),
                "tcrByOp": _by_op(before, after, "tcr"),
                "complete": summary.get("complete"),
                "errors": summary.get("errors"),
                "pendingBefore": mine.get("pendingBefore"),
                "resolved": mine.get("resolved"),
                "stillPending": mine.get("stillPending"),
            }
        )
        if not mine or not mine.get("stillPending"):
            break
    if profiler is not None and args.get("profile"):
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)
        with open(args["profile"], "w", encoding="utf-8") as fh:
            fh.write(args.get("profileTitle", "") + "\n" + out.getvalue())
    return {"runs": runs, "peakRssMb": round(_peak_rss_mb(), 1)}


# -- the parent: localcloud, the backlog, the check ---------------------------------------------------------------


def _seed(cloud: Any, env: dict[str, str], records_wanted: int) -> tuple[str, list[tuple[str, str]], dict[str, int]]:
    """A premium instance with 10 Running replicas, `records_wanted / 10` pushes both recorded pending in the
    log store and in every replica's TCR log (all finished). Returns (registry id, replicas, expected ids)."""
    from shared import records
    from shared.logstore import LogStore
    from tests.integration.support import call, create_instance, tcr_client, wait_for, wait_replicas_running

    tcr = tcr_client(env, PRIMARY)
    registry_id = create_instance(tcr)
    for region in REPLICA_REGIONS:
        tcr.call_json("CreateReplicationInstance", {"RegistryId": registry_id, "ReplicationRegionName": region})
    wait_replicas_running(tcr, registry_id)
    out = tcr.call_json("DescribeReplicationInstances", {"RegistryId": registry_id, "Limit": 100})["Response"]
    replicas = [(r["ReplicationRegistryId"], r["ReplicationRegionName"]) for r in out["ReplicationRegistries"]]
    assert len(replicas) == len(REPLICA_REGIONS), replicas

    pushes = max(1, records_wanted // len(replicas))
    store = LogStore.from_env(env)
    pushed = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)
    expected: dict[str, int] = {}

    def event(i: int) -> list[records.Record]:
        return records.event_records(
            registry_id=registry_id,
            primary_region=PRIMARY,
            namespace="bulk",
            repository=f"svc{i % 17}",
            tag=f"1.{i}",
            digest="sha256:" + f"{i:064x}",
            pushed_at=pushed + timedelta(milliseconds=i),
            operator="1",
            replicas=replicas,
            now=pushed + timedelta(seconds=1),
        )

    batches = [list(range(s, min(pushes, s + 500))) for s in range(0, pushes, 500)]
    with ThreadPoolExecutor(4) as pool:
        for recs in pool.map(lambda i: (store.put_event(event(i)), event(i))[1], range(pushes)):
            for r in recs:
                expected[f"{r.eventId}:{r.replicaRegistryId}"] = 0
    for batch in batches:
        body = {
            "pushes": [
                {
                    "registryId": registry_id,
                    "namespace": "bulk",
                    "repository": f"svc{i % 17}",
                    "tag": f"1.{i}",
                    "digest": "sha256:" + f"{i:064x}",
                }
                for i in batch
            ]
        }
        status, answer = call("POST", cloud.host_url + "/_localcloud/push", body)
        assert status == 200, answer

    def synced() -> bool:
        for replica_id, _ in replicas:
            got = tcr.call_json(
                "DescribeReplicationInstanceSyncStatus",
                {"RegistryId": registry_id, "ReplicationRegistryId": replica_id, "ShowReplicationLog": True},
            )["Response"]
            log = got["ReplicationLog"]
            newest = log[0] if isinstance(log, list) and log else log
            if got["ReplicationStatus"] != "Succeed" or not newest or not newest["EndTime"]:
                return False
        return True

    wait_for(synced, timeout=120, interval=0.2)
    return registry_id, replicas, expected


def _check(env: dict[str, str], registry_id: str, expected: dict[str, int]) -> dict[str, int]:
    """Through the real COS SDK: the inbox is empty, and every record is in a segment exactly once, replicated."""
    from tests.integration.support import cos_client, cos_keys

    client = cos_client(env)
    inbox = cos_keys(env, f"inbox/{registry_id}/")
    counts = dict.fromkeys(expected, 0)
    unexpected = 0
    not_replicated = 0
    for key in cos_keys(env, f"log/{registry_id}/"):
        body = client.get_object(Bucket=env["LOG_BUCKET"], Key=key)["Body"].get_raw_stream().read()
        for line in body.decode("utf-8").splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            rid = f"{doc['eventId']}:{doc['replicaRegistryId']}"
            if rid not in counts:
                unexpected += 1
                continue
            counts[rid] += 1
            not_replicated += doc["status"] != "replicated"
    return {
        "inboxLeft": len(inbox),
        "exactlyOnce": sum(1 for c in counts.values() if c == 1),
        "missing": sum(1 for c in counts.values() if c == 0),
        "duplicated": sum(1 for c in counts.values() if c > 1),
        "unexpected": unexpected,
        "notReplicated": not_replicated,
    }


def measure(size: int, shape: str, *, profile: bool = False) -> dict[str, Any]:
    from localcloud.cloud import LocalCloud

    os.environ["LOCALCLOUD_REPLICATION_LOG_SHAPE"] = shape
    cloud = LocalCloud(
        port=0,
        replica_ready_after_s=0.05,
        function_env={"API_TOKEN": "b", "WEBHOOK_TOKEN": "w"},
        log_stream=None,
        faults={"replication": {"lagMs": [1, 20]}},
    ).start()
    try:
        env = cloud.env()
        began = time.perf_counter()
        registry_id, replicas, expected = _seed(cloud, env, size)
        seeded = time.perf_counter() - began
        if not SMOKE:
            # a backlog is older than the timer's tick: records written within YOUNG_MARGIN of a run's start count
            # as written during it (shared/replication_log.py), and a run short of budget then re-reads the newest
            # entries for them rather than going deeper (one run more, back to back)
            time.sleep(2.5)
        child_env = {**os.environ, **env, "AUDIT_TCR_CALL_BUDGET": str(TCR_BUDGET), "PYTHONPATH": str(ROOT)}
        args: dict[str, Any] = {"registryId": registry_id}
        if profile:
            args["profile"] = str(PROFILE_PATH)
            args["profileTitle"] = (
                f"cProfile of the first audit run at {len(expected)} records ({len(expected) // len(replicas)} pushes "
                f"x {len(replicas)} replicas), TCR log shape {shape!r}: `python -m bench audit` "
                f"(BENCH_AUDIT_PROFILE_AT={size})"
            )
        out = subprocess.run(
            [sys.executable, "-m", "bench.audit", "child", json.dumps(args)],
            cwd=ROOT,
            env=child_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=SCF_LIMIT_S * MAX_RUNS,
        )
        if os.environ.get("BENCH_AUDIT_TRACE"):
            print(out.stderr[-200000:], file=sys.stderr)
        if out.returncode != 0:
            raise RuntimeError(f"the audit child failed: {out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["check"] = _check(env, registry_id, expected)
        result.update(records=len(expected), pushes=len(expected) // len(replicas), shape=shape, seedSeconds=seeded)
        return result
    finally:
        cloud.stop()


def _per_record(got: dict[str, Any]) -> float:
    return sum(r["seconds"] for r in got["runs"]) / got["records"]


def _calls(got: dict[str, Any], part: str) -> int:
    return sum(r[part] for r in got["runs"])


def _log_calls(got: dict[str, Any]) -> int:
    return sum(r["tcrByOp"].get("DescribeReplicationInstanceSyncStatus", 0) for r in got["runs"])


def _log_floor(got: dict[str, Any]) -> int:
    """The fewest log reads that show every entry once: per replica, its entries (one per push) 20 per call in the
    array shape, one per call in the object shape."""
    per_call = 20 if got["shape"] == "array" else 1
    return len(REPLICA_REGIONS) * -(-got["pushes"] // per_call)


def _line(got: dict[str, Any]) -> str:
    runs = got["runs"]
    return (
        f"  ({got['shape']:>6} shape, {got['records']:>7} records = {got['pushes']} pushes x {len(REPLICA_REGIONS)}: "
        f"{len(runs)} run(s), {sum(r['seconds'] for r in runs):.1f} s, TCR {_calls(got, 'tcr')} "
        f"(log {_log_calls(got)}, floor {_log_floor(got)}), COS {_calls(got, 'cos')}, peak RSS {got['peakRssMb']} MB, "
        f"exactly once {got['check']['exactlyOnce']}/{got['records']})"
    )


def run(results: Results) -> None:
    sizes = sorted(set(SIZES))
    plan = [(size, "array") for size in sizes] + [(size, "object") for size in sizes if size <= OBJECT_MAX]
    results.begin(
        "audit",
        f"audit (a record = one push x one of {len(REPLICA_REGIONS)} replicas; sizes {sizes}; TCR log shapes: array "
        f"at every size, object up to {OBJECT_MAX}; TCR call budget {TCR_BUDGET} per run; peak RSS of the audit's "
        "own interpreter)",
    )
    got: dict[tuple[int, str], dict[str, Any]] = {}
    for size, shape in plan:
        got[(size, shape)] = measure(size, shape)
        print(_line(got[(size, shape)]), flush=True)
    if PROFILE_AT:  # profiled apart: cProfile slows the run it watches
        print(_line(measure(PROFILE_AT, "array", profile=True)) + f" (profiled: {PROFILE_PATH.name})", flush=True)
    smallest, largest = sizes[0], sizes[-1]
    again = None
    if largest != smallest:  # the floor of time per record measured again after the largest, noise both sides
        again = measure(smallest, "array")
        print(_line(again) + " (again)", flush=True)
    results.figure("sizes", sizes)
    results.figure("tcrCallBudget", TCR_BUDGET)
    results.figure(
        "measured",
        [
            {
                "shape": g["shape"],
                "records": g["records"],
                "pushes": g["pushes"],
                "replicas": len(REPLICA_REGIONS),
                "runs": len(g["runs"]),
                "seconds": round(sum(r["seconds"] for r in g["runs"]), 3),
                "tcrCalls": _calls(g, "tcr"),
                "tcrLogCalls": _log_calls(g),
                "tcrLogFloor": _log_floor(g),
                "cosCalls": _calls(g, "cos"),
                "cosByOp": [r["cosByOp"] for r in g["runs"]],
                "peakRssMb": g["peakRssMb"],
                "seedSeconds": round(g["seedSeconds"], 1),
                "check": g["check"],
            }
            for g in [*got.values(), *([again] if again else [])]
        ],
    )
    # calls per record at 10,000 (or the size nearest it)
    at = min(sizes, key=lambda n: abs(n - 10000))
    for shape in ("array", "object"):
        g = got.get((at, shape))
        if g is None:
            continue
        total = _calls(g, "tcr") + _calls(g, "cos")
        results.target(f"audit: remote calls per record at {at} ({shape} shape, COS+TCR)", total / at, 0.05, "calls")
        results.target(f"audit: COS calls per record at {at} ({shape} shape)", _calls(g, "cos") / at, 0.05, "calls")
        results.target(
            f"audit: TCR log reads / floor at {at} ({shape} shape: {20 if shape == 'array' else 1} entries a call)",
            _log_calls(g) / _log_floor(g),
            1.1,
        )
    small = got[(smallest, "array")]
    floor = min(_per_record(small), _per_record(again)) if again else _per_record(small)
    big = got[(largest, "array")]
    results.target(f"audit: time per record at {largest} / at {smallest} (array shape)", _per_record(big) / floor, 1.3)
    middle = [n for n in sizes if smallest < n < largest]
    if middle:  # the same ratio where fixed costs no longer hide the per-record ones
        results.target(
            f"audit: time per record at {largest} / at {middle[-1]} (array shape)",
            _per_record(big) / _per_record(got[(middle[-1], "array")]),
            1.3,
        )
    results.target(f"audit: peak RSS at {largest} records (SCF memory 128 MB)", big["peakRssMb"], 128, "MB")
    results.target(
        f"audit: longest run at {largest} records (SCF timeout 900 s)", max(r["seconds"] for r in big["runs"]), 900, "s"
    )
    results.target(f"audit: runs needed at {largest} records (array shape)", len(big["runs"]), 1, "runs")
    wrong = sum(g["records"] - g["check"]["exactlyOnce"] + g["check"]["inboxLeft"] for g in got.values())
    wrong += sum(g["check"]["unexpected"] + g["check"]["notReplicated"] for g in got.values())
    results.target("audit: records not resolved exactly once, replicated (every size and shape)", wrong, 0, "records")


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        print(json.dumps(child(json.loads(sys.argv[2]))))
    elif sys.argv[1:2] == ["measure"]:
        got = measure(int(sys.argv[2]), sys.argv[3], profile=len(sys.argv) > 4)
        print(json.dumps(got, indent=1))
