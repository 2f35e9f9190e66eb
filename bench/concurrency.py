"""The webhook under concurrency (DESIGN §11): 8 parallel warm containers against the 8-way bare-put throughput,
and every push recorded exactly once.

localcloud's function host runs up to 8 warm workers of the webhook (`max_workers=8`); 8 client threads post
BENCH_CONCURRENT_EVENTS distinct pushes (TCR trigger payloads) to its Function URL over HTTP, one keep-alive
connection each. The floor: 8 threads, each with its own COS client (the real cos SDK), doing bare `put_object`s
of the bytes a push stores to the same localcloud COS server, as many. Both run in interleaved blocks so that a
change in the machine's load touches both alike.

The function path has hops that a bare put has not: the Function URL's HTTP server, the event handed to a
worker process and its answer read back (SCF has its own front end and worker IPC). To tell the host's share from
the product's, two more floors go through the same host in the same blocks: a handler that does nothing
(`noop`), and one that does only the bare put (`put`). Then every pushed digest is looked up in COS through
the cos SDK (list + GET of every inbox object, without the product's code): lost and duplicated records.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.results import ROOT, Results
from bench.webhook import ms, push_body

SMOKE = os.environ.get("BENCH_SCALE") == "smoke"
EVENTS = int(os.environ.get("BENCH_CONCURRENT_EVENTS") or (40 if SMOKE else 2000))
THREADS = int(os.environ.get("BENCH_CONCURRENT_THREADS") or 8)  # parallel containers and client threads
ROUNDS = 2 if SMOKE else 4  # blocks per path, interleaved

# The floors that go through localcloud's function host: the same worker, IPC and Function URL as the webhook.
NOOP_INDEX = """
def main_handler(event, context):
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": "{}"}
"""
PUT_INDEX = '''
import os

_client = None


def main_handler(event, context):
    """One bare put_object of the request body (a push's stored bytes) under the key in the query."""
    global _client
    if _client is None:
        from qcloud_cos import CosConfig, CosS3Client

        host, port = os.environ["COS_ENDPOINT"].split(":")
        _client = CosS3Client(CosConfig(
            Region=os.environ["LOG_BUCKET_REGION"], SecretId=os.environ["TENCENTCLOUD_SECRETID"],
            SecretKey=os.environ["TENCENTCLOUD_SECRETKEY"], Token=os.environ["TENCENTCLOUD_SESSIONTOKEN"],
            Scheme="http", IP=host, Port=int(port)), retry=0)
    _client.put_object(Bucket=os.environ["LOG_BUCKET"], Key=event["queryString"]["key"], Body=event["body"].encode())
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": "{}"}
'''


class Block:
    """What one path did: per-request latencies, answers by status, wall time of its blocks."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.wall = 0.0
        self.count = 0
        self.cpu_here = 0.0  # CPU seconds of this process (the clients, localcloud's servers, the function host)
        self.cpu_workers = 0.0  # CPU seconds of the function's worker processes
        self.workers: list[int] = []  # their pids

    def cpu_ms_per_event(self) -> dict[str, float]:
        n = max(1, self.count)
        return {"localcloud_process": ms(self.cpu_here / n), "workers": ms(self.cpu_workers / n)}

    def throughput(self) -> float:
        return self.count / self.wall if self.wall else 0.0


def _parallel(jobs: list[Any], work: Callable[[int, list[Any]], list[tuple[float, int]]], into: Block) -> None:
    """Run `work(thread_index, share)` in THREADS threads (share = every THREADS-th job), started together."""
    shares = [jobs[t::THREADS] for t in range(THREADS)]
    gate = threading.Barrier(THREADS + 1)
    out: list[list[tuple[float, int]]] = [[] for _ in range(THREADS)]

    def body(t: int) -> None:
        gate.wait()
        out[t] = work(t, shares[t])

    threads = [threading.Thread(target=body, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    cpu, workers = _cpu_here(), _cpu_of(into.workers)
    gate.wait()
    start = time.perf_counter()
    for th in threads:
        th.join(timeout=600)
    into.wall += time.perf_counter() - start
    into.cpu_here += _cpu_here() - cpu
    into.cpu_workers += _cpu_of(into.workers) - workers
    for got in out:
        for latency, status in got:
            into.latencies.append(latency)
            into.statuses[status] = into.statuses.get(status, 0) + 1
            into.count += 1


def _cpu_here() -> float:
    t = os.times()
    return t.user + t.system


def _cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of processes (Linux /proc; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _poster(port: int, path: str, headers: dict[str, str]) -> Callable[[int, list[Any]], list[tuple[float, int]]]:
    """Posts (query, body) jobs over one keep-alive connection per thread."""
    conns: dict[int, http.client.HTTPConnection] = {}

    def connect() -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.connect()
        # http.client sends the headers and the body in two writes: without TCP_NODELAY (which urllib3, under
        # the SDKs, sets) the body would wait for the server's delayed ACK
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def work(t: int, share: list[Any]) -> list[tuple[float, int]]:
        conn = conns.get(t) or connect()
        conns[t] = conn
        done = []
        for query, body in share:
            start = time.perf_counter()
            try:
                conn.request("POST", f"{path}?{query}", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = conns[t] = connect()
                status = 0
            done.append((time.perf_counter() - start, status))
        return done

    return work


def _warm(post: Callable[[int, list[Any]], list[tuple[float, int]]], jobs: Callable[[int], list[Any]], host: Any,
          name: str) -> int:  # fmt: skip
    """Start the function's 8 workers: concurrent rounds until 8 are warm (each cold start serves a request)."""
    for round_ in range(6):
        _parallel(jobs(round_), post, Block())
        if len(host.worker_pids(name)) >= THREADS:
            break
    return len(host.worker_pids(name))


def _count_records(env: dict[str, str], registry_id: str, digests: set[str], warm: set[str]) -> dict[str, Any]:
    """Every pushed digest looked up in COS through the cos SDK: how many inbox objects and records hold it.

    `digests`: the measured pushes; `warm`: the warm-up pushes (counted for duplicates, not for losses)."""
    from tests.integration.support import cos_client, cos_keys

    client = cos_client(env)
    objects: dict[str, int] = {}
    records: dict[tuple[str, str], int] = {}
    keys = cos_keys(env, f"inbox/{registry_id}/") + cos_keys(env, "inbox-host/") + cos_keys(env, f"log/{registry_id}/")
    unexpanded = 0
    for key in keys:
        raw = client.get_object(Bucket=env["LOG_BUCKET"], Key=key)["Body"].get_raw_stream().read()
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()] if key.endswith(".jsonl") else None
        doc = json.loads(raw) if lines is None else {"records": lines}
        recs = doc.get("records") if isinstance(doc.get("records"), list) else None
        if recs is None:  # a push stored before its replicas were known: the event itself
            unexpanded += 1
            recs = [doc]
        for digest in {r.get("digest") for r in recs}:
            objects[digest] = objects.get(digest, 0) + 1
        for r in recs:
            pair = (r.get("digest"), r.get("replicaRegistryId") or "")
            records[pair] = records.get(pair, 0) + 1
    lost = len(digests - set(objects))
    duplicated = sum(n - 1 for n in objects.values() if n > 1) + sum(n - 1 for n in records.values() if n > 1)
    return {
        "objects": len(keys),
        "unexpanded": unexpanded,
        "records": sum(records.values()),
        "lost": lost,
        "duplicated": duplicated,
        "unknown": len(set(objects) - digests - warm),  # a digest nobody pushed
    }


def run(results: Results) -> None:
    from localcloud.cloud import LocalCloud
    from localcloud.scfhost import FunctionSpec, discover_functions

    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-floors-") as tmp:
        functions = discover_functions(ROOT)
        for name, code in (("noop", NOOP_INDEX), ("put", PUT_INDEX)):
            folder = Path(tmp) / name
            folder.mkdir()
            (folder / "index.py").write_text(code)
            functions[name] = FunctionSpec(name=name, directory=folder, timeout_s=10.0)
        cloud = LocalCloud(
            port=0,
            replica_ready_after_s=0.05,
            function_env={"API_TOKEN": "b", "WEBHOOK_TOKEN": "w"},
            log_stream=None,
            max_workers=THREADS,
            functions=functions,
        ).start()
        try:
            _measure(cloud, results)
        finally:
            cloud.stop()


def _measure(cloud: Any, results: Results) -> None:
    from tests.integration.support import call, cos_client, create_instance, tcr_client, wait_replicas_running

    env = cloud.env()
    tcr = tcr_client(env)
    registry_id = create_instance(tcr)
    for region in ("ap-shanghai", "ap-beijing"):
        call("POST", f"{env['REPLICAS_URL']}/instances/{registry_id}/replicas", {"region": region}, token="b")
    wait_replicas_running(tcr, registry_id)
    port, bucket = cloud.port, env["LOG_BUCKET"]
    query = f"registryId={registry_id}"
    hook_headers = {"x-webhook-token": "w", "Content-Type": "application/json"}
    post_hook = _poster(port, "/webhook/", hook_headers)
    post_noop = _poster(port, "/noop/", {"Content-Type": "application/json"})
    post_put = _poster(port, "/put/", {"Content-Type": "application/json"})

    warm_digests: set[str] = set()

    def warm_pushes(round_: int) -> list[Any]:
        bodies = [push_body(10_000_000 + round_ * THREADS + i) for i in range(THREADS)]  # not measured digests
        warm_digests.update(b["event_data"]["resources"][0]["digest"] for b in bodies)
        return [(query, json.dumps(b)) for b in bodies]

    _warm(post_hook, warm_pushes, cloud.host, "webhook")
    listed = cos_client(env).list_objects(Bucket=bucket, Prefix=f"inbox/{registry_id}/", MaxKeys=1)
    obj = cos_client(env).get_object(Bucket=bucket, Key=listed["Contents"][0]["Key"])
    payload: bytes = obj["Body"].get_raw_stream().read()  # the bytes one push stores
    warm_noop = _warm(post_noop, lambda r: [("", "{}")] * THREADS, cloud.host, "noop")
    warm_put = _warm(
        post_put, lambda r: [(f"key=floor/warm/{r}-{i}", payload.decode()) for i in range(THREADS)], cloud.host, "put"
    )
    warm_hooks = len(cloud.host.worker_pids("webhook"))

    clients = [cos_client(env) for _ in range(THREADS)]

    def bare_put(t: int, share: list[Any]) -> list[tuple[float, int]]:
        done = []
        for key in share:
            start = time.perf_counter()
            clients[t].put_object(Bucket=bucket, Key=key, Body=payload)
            done.append((time.perf_counter() - start, 200))
        return done

    for t in range(THREADS):  # open each floor client's connection
        clients[t].put_object(Bucket=bucket, Key=f"floor/warm/bare-{t}", Body=payload)

    paths = {name: Block() for name in ("webhook", "bare_put", "host_noop", "host_put")}
    for name, function in (("webhook", "webhook"), ("host_noop", "noop"), ("host_put", "put")):
        paths[name].workers = cloud.host.worker_pids(function)
    digests: set[str] = set()
    before = call("GET", cloud.host_url + "/_localcloud/stats")[1]
    hook_calls_before = before["functions"].get("webhook", 0)
    per_round = [EVENTS // ROUNDS + (1 if r < EVENTS % ROUNDS else 0) for r in range(ROUNDS)]
    first = 0
    cos_floor_calls = 0
    for size in per_round:
        numbers = range(first, first + size)
        first += size
        bodies = [push_body(i) for i in numbers]
        digests.update(b["event_data"]["resources"][0]["digest"] for b in bodies)
        _parallel([f"floor/bare/{i}" for i in numbers], bare_put, paths["bare_put"])
        _parallel([(query, json.dumps(b)) for b in bodies], post_hook, paths["webhook"])
        _parallel([(f"key=floor/host/{i}", payload.decode()) for i in numbers], post_put, paths["host_put"])
        _parallel([("", "{}") for _ in numbers], post_noop, paths["host_noop"])
        cos_floor_calls += 2 * size
    after = call("GET", cloud.host_url + "/_localcloud/stats")[1]
    remote = sum(after["cos"].values()) - sum(before["cos"].values()) - cos_floor_calls
    remote += sum(after["tcr"].values()) - sum(before["tcr"].values())
    hook_calls = after["functions"].get("webhook", 0) - hook_calls_before
    counted = _count_records(env, registry_id, digests, warm_digests)

    results.begin(
        "webhook_concurrency",
        f"webhook concurrency ({EVENTS} pushes from {THREADS} threads to {warm_hooks} warm containers, "
        f"{ROUNDS} interleaved blocks per path)",
    )
    rates = {name: round(block.throughput(), 1) for name, block in paths.items()}
    medians = {name: ms(statistics.median(block.latencies)) for name, block in paths.items()}
    results.figure("events", EVENTS)
    results.figure("threads", THREADS)
    results.figure("warm_workers", {"webhook": warm_hooks, "noop": warm_noop, "put": warm_put})
    results.figure("throughput_per_s", rates)
    results.figure("median_latency_ms", medians)
    results.figure("cpu_ms_per_event", {n: b.cpu_ms_per_event() for n, b in paths.items()})
    results.figure("p99_latency_ms", {n: ms(_p99(b.latencies)) for n, b in paths.items()})
    results.figure("statuses", {n: {str(k): v for k, v in sorted(b.statuses.items())} for n, b in paths.items()})
    results.figure("webhook_invocations", hook_calls)
    results.figure("remote_calls", remote)
    results.figure("cos_check", counted)
    results.figure("lost", counted["lost"])
    results.figure("duplicated", counted["duplicated"])
    host_put = rates["host_put"] / rates["bare_put"] if rates["bare_put"] else 0.0
    results.figure("host_put_over_bare_put", round(host_put, 3))
    results.figure("webhook_over_host_put", round(rates["webhook"] / rates["host_put"], 3) if rates["host_put"] else 0)
    print(
        f"  (events/s: webhook {rates['webhook']}, bare put {rates['bare_put']}, put through the host "
        f"{rates['host_put']}, no-op through the host {rates['host_noop']}; median ms: {medians}; CPU ms per event: "
        f"{results.scenarios['webhook_concurrency']['cpu_ms_per_event']}; "
        f"statuses {results.scenarios['webhook_concurrency']['statuses']['webhook']}; COS check {counted})"
    )
    ratio = rates["webhook"] / rates["bare_put"] if rates["bare_put"] else 0.0
    results.target("webhook_concurrency: 8-way throughput / 8-way bare put_object", ratio, 0.8, "x", ">=")
    results.target("webhook_concurrency: records lost", counted["lost"], 0, "records")
    results.target("webhook_concurrency: records duplicated", counted["duplicated"], 0, "records")
    results.target("webhook_concurrency: remote calls per push event", remote / EVENTS, 1.05, "calls")


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98] if len(samples) > 1 else samples[0]
