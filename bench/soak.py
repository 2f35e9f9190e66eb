"""`make soak`: thousands of pushes through the webhook trigger under injected TCR and COS faults (DESIGN §11).

TCR's webhook trigger delivers every push to the webhook's Function URL (`POST /_localcloud/push`), while the
fault plan makes 10-20 % of TCR and COS calls fail (error answers, dropped connections, slow answers past the
product's attempt timeouts, plus a little latency on every call), redelivers 20 % of the pushes and holds back a
share of deliveries so that later pushes overtake them. A thread fires the audit's timer meanwhile. Then the faults
are cleared and the audit runs until nothing is pending (bounded in time).

The verdict does not use the product's reader: the log objects are listed and read with the COS SDK, the trigger
log with the TCR SDK, and what the webhook answered each delivery attempt comes from localcloud's delivery records
(`GET /_localcloud/webhook-deliveries`). Targets: 0 lost, 0 duplicated, 0 non-2xx answers a sender would not retry.

Sizes: BENCH_SOAK_PUSHES (2000), BENCH_SOAK_RATE (pushes per second, 20), BENCH_SOAK_AUDIT_EVERY_S (5),
BENCH_SOAK_FINAL_S (bound on the final audits, 300), BENCH_SOAK_SEED (the fault plan's seed, 2026).
`tests/integration/test_soak.py` runs the same code small.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.results import ROOT, Results

REPLICA_REGIONS = ("ap-shanghai", "ap-beijing")
NAMESPACE = "soak"
API_TOKEN = "soak-api"
WEBHOOK_TOKEN = "soak-hook"
FINAL_STATUSES = ("replicated", "failed")
# What a sender (TCR, Harbor, any webhook client) retries: server errors, throttling, a request timeout, and no
# answer at all. Any other non-2xx tells it the request itself is wrong: it may give up, and the push is lost.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))

# 10-20 % of the calls of each service fail in some way; every call is a little slow.
FAULTS: dict[str, Any] = {
    "seed": 2026,
    "tcr": {
        "errorRate": 0.1,
        "codes": ["RequestLimitExceeded", "InternalError", "ResourceUnavailable"],
        "dropRate": 0.03,
        "slowRate": 0.02,
        "slowMs": 1500,  # past the webhook's 1 s TCR attempt, so the push is stored unexpanded
        "latencyMs": 2,
        "actions": ["*"],
    },
    "cos": {
        "errorRate": 0.1,
        "statuses": [500, 503, 429],
        "dropRate": 0.03,
        "slowRate": 0.02,
        "slowMs": 3500,  # past the webhook's 3 s COS attempt: a retry races the write that is still on its way
        "latencyMs": 2,
        "operations": ["*"],
    },
    "webhook": {"redeliverRate": 0.2, "reorderRate": 0.15, "reorderDelayMs": [100, 3000]},
    "replication": {"lagMs": [20, 800]},
}


@dataclass
class Soak:
    pushes: int
    rate: float = 20.0
    audit_every_s: float = 5.0
    final_bound_s: float = 300.0
    delivery_bound_s: float = 180.0
    faults: dict[str, Any] = field(default_factory=lambda: json.loads(json.dumps(FAULTS)))
    max_workers: int = 4
    replica_cache_s: int = 2


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise RuntimeError(f"soak setup failed: {what}")


def _audit_once(url: str, registry_id: str, phase: str, env: dict[str, str]) -> dict[str, Any]:
    """One audit run through its timer: its answer, this instance's headline (what it found and resolved) and,
    from the run's report in COS, how much of TCR's replication log it read."""
    from tests.integration.support import call, cos_json

    t = time.monotonic()
    try:
        status, summary = call("POST", url, {"message": json.dumps({"notify": False})})
    except OSError:  # no answer within the client's 60 s: the run may still finish, the next one will tell
        status, summary = 0, None
    run: dict[str, Any] = {"phase": phase, "status": status, "s": round(time.monotonic() - t, 2)}
    mine = [i for i in summary.get("instances", []) if i.get("registryId") == registry_id] if status == 200 else []
    if mine:
        head = mine[0]
        run.update(
            pendingBefore=head.get("pendingBefore"),
            resolved=sum((head.get("resolved") or {}).values()),
            stillPending=head.get("stillPending"),
            expanded=(head.get("unexpandedEvents") or {}).get("expanded", 0),
        )
        try:
            report = cos_json(env, head["report"])
            run["logCalls"] = [r.get("logCalls") for r in report.get("replicas", [])]
            run["logReadComplete"] = report.get("logReadComplete")
        except Exception as exc:  # diagnostics only (COS may be failing on purpose)
            run["report"] = type(exc).__name__
    return run


class _Auditor(threading.Thread):
    """Fires the audit's timer every `every_s` seconds until stopped, keeping each run's headline."""

    def __init__(self, url: str, registry_id: str, every_s: float, env: dict[str, str]) -> None:
        super().__init__(name="soak-audit", daemon=True)
        self.url = url
        self.registry_id = registry_id
        self.every_s = every_s
        self.env = env
        self.stop = threading.Event()
        self.runs: list[dict[str, Any]] = []

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.runs.append(_audit_once(self.url, self.registry_id, "faults", self.env))


def _cos_objects(env: dict[str, str], prefix: str) -> dict[str, bytes]:
    """Every object under the prefix, listed and read with the COS SDK."""
    from tests.integration.support import cos_client, cos_keys

    client = cos_client(env)
    out = {}
    for key in cos_keys(env, prefix):
        out[key] = client.get_object(Bucket=env["LOG_BUCKET"], Key=key)["Body"].get_raw_stream().read()
    return out


def _trigger_log(tcr: Any, registry_id: str) -> list[dict[str, Any]]:
    """TCR's webhook trigger log of the namespace, every page, through the TCR SDK."""
    entries: list[dict[str, Any]] = []
    while True:
        page = tcr.call_json(
            "DescribeWebhookTriggerLog",
            {"RegistryId": registry_id, "Namespace": NAMESPACE, "Limit": 100, "Offset": len(entries)},
        )["Response"]
        entries.extend(page["Logs"])
        if not page["Logs"] or len(entries) >= page["TotalCount"]:
            return entries


def _overtaken(deliveries: list[dict[str, Any]]) -> int:
    """Deliveries that reached the webhook after a delivery of a later push (push order = delivery order)."""
    firsts: list[tuple[int, int]] = []  # (push index, arrival of the first attempt sent)
    index: dict[str, int] = {}
    for d in deliveries:
        sent = [a["arrival"] for a in d["attempts"] if a["arrival"] is not None]
        if sent:
            firsts.append((index.setdefault(d["digest"], len(index)), sent[0]))
    count = 0
    later_min: dict[int, int] = {}  # push index -> min arrival of every push after it
    best = None
    for push, arrival in sorted(firsts, reverse=True):
        if push not in later_min:
            later_min[push] = best if best is not None else 1 << 62
        if arrival > later_min[push]:
            count += 1
        best = arrival if best is None else min(best, arrival)
    return count


def soak(cfg: Soak, log: Any = print) -> dict[str, Any]:
    """Run the whole soak on a fresh localcloud; the counts (see `verdict`) and what they were computed from."""
    from localcloud.cloud import LocalCloud

    started = time.monotonic()
    cloud = LocalCloud(
        port=0,
        replica_ready_after_s=0.05,
        function_env={
            "API_TOKEN": API_TOKEN,
            "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            # a warm webhook asks TCR for the replicas this often, so TCR's faults reach pushes too (stored
            # unexpanded when TCR fails, expanded by the audit) rather than once a minute
            "REPLICA_CACHE_SECONDS": str(cfg.replica_cache_s),
        },
        log_stream=None,
        max_workers=cfg.max_workers,
    ).start()
    try:
        return _soak(cloud, cfg, started, log)
    finally:
        cloud.stop()


def _soak(cloud: Any, cfg: Soak, started: float, log: Any) -> dict[str, Any]:
    env = cloud.env()
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.integration.support import add_replicas, call, create_instance, create_namespace, tcr_client

    admin = cloud.host_url + "/_localcloud"
    audit_url = admin + "/timer/audit"
    tcr = tcr_client(env)
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, REPLICA_REGIONS, token=API_TOKEN)
    replicas = {
        r["ReplicationRegistryId"]: r["ReplicationRegionName"]
        for r in tcr.call_json("DescribeReplicationInstances", {"RegistryId": registry_id, "Limit": 100})["Response"][
            "ReplicationRegistries"
        ]
    }
    _check(len(replicas) == len(REPLICA_REGIONS), f"replicas {replicas}")
    create_namespace(tcr, registry_id, NAMESPACE)
    target = {"Address": env["WEBHOOK_URL"], "Headers": [{"Key": "X-Webhook-Token", "Values": [WEBHOOK_TOKEN]}]}
    trigger = {"Name": "soak", "Targets": [target], "EventTypes": ["pushImage"], "Condition": ".*", "Enabled": True}
    tcr.call_json("CreateWebhookTrigger", {"RegistryId": registry_id, "Namespace": NAMESPACE, "Trigger": trigger})
    injected_before = call("GET", admin + "/faults/injected")[1]
    calls_before = call("GET", admin + "/stats")[1]

    status, body = call("POST", admin + "/faults", cfg.faults)
    _check(status == 200, f"fault plan refused: {body}")
    auditor = _Auditor(audit_url, registry_id, cfg.audit_every_s, env)
    digests: list[str] = []
    t_push = time.monotonic()
    try:
        auditor.start()
        for i in range(cfg.pushes):
            due = t_push + i / cfg.rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            status, body = call(
                "POST",
                admin + "/push",
                {"registryId": registry_id, "namespace": NAMESPACE, "repository": f"svc{i % 8}", "tag": f"1.{i}"},
            )
            _check(status == 200, f"push {i}: {status} {body}")
            digests.append(body["digest"])
            if log and (i + 1) % 500 == 0:
                log(f"  {i + 1} pushes in {time.monotonic() - t_push:.0f} s")
        push_s = time.monotonic() - t_push

        def deliveries() -> list[dict[str, Any]]:
            return list(call("GET", f"{admin}/webhook-deliveries?registryId={registry_id}")[1]["deliveries"])

        bound = time.monotonic() + cfg.delivery_bound_s
        found = deliveries()
        while any(d["outcome"] == "pending" for d in found) and time.monotonic() < bound:
            time.sleep(0.5)
            found = deliveries()
    finally:
        auditor.stop.set()
        auditor.join(timeout=900)
        injected_after = call("GET", admin + "/faults/injected")[1]
        calls_during = call("GET", admin + "/stats")[1]
        call("DELETE", admin + "/faults")
    deliveries_settled = all(d["outcome"] != "pending" for d in found)

    # faults cleared: audit until nothing of this instance is pending (bounded)
    finals: list[dict[str, Any]] = []
    t_final = time.monotonic()
    while time.monotonic() - t_final < cfg.final_bound_s:
        finals.append(_audit_once(audit_url, registry_id, "final", env))
        if finals[-1]["status"] == 200 and finals[-1].get("stillPending") == 0:
            break
        time.sleep(0.5)
    final_s = time.monotonic() - t_final
    still = finals[-1].get("stillPending") if finals and finals[-1]["status"] == 200 else None

    # the independent verdict
    trigger_log = _trigger_log(tcr, registry_id)
    found = deliveries()
    counts = verdict(
        digests=digests,
        replicas=replicas,
        log_objects=_cos_objects(env, f"log/{registry_id}/"),
        inbox_left=len(_cos_objects(env, f"inbox/{registry_id}/")) + len(_cos_objects(env, "inbox-host/")),
        deliveries=found,
        trigger_log=trigger_log,
    )
    injected: dict[str, int] = {}
    fault_share: dict[str, float] = {}
    for service in ("tcr", "cos"):
        for kind, n in injected_after.get(service, {}).items():
            delta = n - injected_before.get(service, {}).get(kind, 0)
            if delta:
                injected[f"{service} {kind}"] = delta
        served = sum(calls_during[service].values()) - sum(calls_before[service].values())
        hit = sum(v for k, v in injected.items() if k.startswith(service + " "))
        fault_share[service] = round(hit / served, 3) if served else 0.0
    runs = auditor.runs + finals
    counts.update(
        {
            "faults_injected": dict(sorted(injected.items())),
            "faults_injected_total": sum(injected.values()),
            "remote_calls": {k: sum(v.values()) for k, v in call("GET", admin + "/stats")[1].items()},
            "faulted_share_of_calls": fault_share,
            "audits_during": len(auditor.runs),
            "audits_final": len(finals),
            "audit_answers": dict(Counter(str(r["status"]) for r in runs)),
            "audit_resolved_during": sum(r.get("resolved") or 0 for r in auditor.runs),
            "audit_expanded_unexpanded_pushes": sum(r.get("expanded") or 0 for r in runs),
            "audit_runs": runs,
            "still_pending_after_final": still,
            "deliveries_settled_in_bound": deliveries_settled,
            "push_s": round(push_s, 1),
            "final_audits_s": round(final_s, 1),
            "wall_s": round(time.monotonic() - started, 1),
        }
    )
    return counts


def verdict(
    *,
    digests: list[str],
    replicas: dict[str, str],
    log_objects: dict[str, bytes],
    inbox_left: int,
    deliveries: list[dict[str, Any]],
    trigger_log: list[dict[str, Any]],
) -> dict[str, Any]:
    """Counts from what COS holds and what localcloud recorded, compared with what was pushed."""
    expected = {(d, r) for d in digests for r in replicas}
    finals: dict[tuple[str, str], list[dict[str, Any]]] = {}
    statuses: Counter[str] = Counter()
    unreadable = 0
    for text in log_objects.values():
        for line in text.decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                unreadable += 1
                continue
            statuses[str(rec.get("status"))] += 1
            if rec.get("status") in FINAL_STATUSES:
                finals.setdefault((rec.get("digest", ""), rec.get("replicaRegistryId", "")), []).append(rec)
    lost = len(expected - set(finals))
    # more than one final record for a (digest, replica): either copies of one record (same record id) or the
    # push recorded as two events (two record ids)
    extra = {k: v for k, v in finals.items() if len(v) > 1}
    duplicated = sum(len(v) - 1 for v in extra.values())
    distinct_ids = sum(len({(r.get("eventId"), r.get("replicaRegistryId")) for r in v}) - 1 for v in extra.values())
    foreign = len(set(finals) - expected)

    answers: Counter[str] = Counter()
    non2xx: Counter[str] = Counter()
    failed_then_ok = 0
    for d in deliveries:
        for a in d["attempts"]:
            if a["injected"]:
                answers["not sent (webhook.failRate)"] += 1
            elif a["status"] is None:
                answers[f"no answer ({a['error']})"] += 1
                non2xx[f"no answer ({a['error']})"] += 1
            else:
                answers[str(a["status"])] += 1
                if not 200 <= a["status"] < 300:
                    non2xx[str(a["status"])] += 1
        if d["outcome"] == "delivered" and len(d["attempts"]) > 1:
            failed_then_ok += 1
    non_retryable = sum(
        1
        for d in deliveries
        for a in d["attempts"]
        if a["status"] is not None and not 200 <= a["status"] < 300 and a["status"] not in RETRYABLE_STATUSES
    )
    undelivered = [d for d in deliveries if d["outcome"] != "delivered"]
    delivered_digests = {d["digest"] for d in deliveries if d["outcome"] == "delivered"}
    return {
        "pushes": len(digests),
        "replicas": len(replicas),
        "expected_records": len(expected),
        "deliveries": len(deliveries),
        "redeliveries": sum(1 for d in deliveries if d["redelivery"]),
        "held_back": sum(1 for d in deliveries if d["heldMs"]),
        "reordered": _overtaken(deliveries),
        "attempts": sum(len(d["attempts"]) for d in deliveries),
        "answers": dict(sorted(answers.items())),
        "non2xx_by_status": dict(sorted(non2xx.items())),
        "non_retryable_non2xx": non_retryable,
        "retried_then_delivered": failed_then_ok,
        "deliveries_not_delivered": len(undelivered),
        "pushes_never_delivered": len(set(digests) - delivered_digests),
        "trigger_log_entries": len(trigger_log),
        "trigger_log_status": dict(Counter(e["Status"] for e in trigger_log)),
        "log_objects": len(log_objects),
        "log_lines_by_status": dict(sorted(statuses.items())),
        "unreadable_lines": unreadable,
        "final_records": sum(len(v) for v in finals.values()),
        "lost": lost,
        "duplicated": duplicated,
        "duplicated_distinct_record_ids": distinct_ids,
        "foreign_records": foreign,
        "inbox_objects_left": inbox_left,
    }


PRINTED = (
    "pushes",
    "deliveries",
    "redeliveries",
    "held_back",
    "reordered",
    "faults_injected_total",
    "faults_injected",
    "answers",
    "non2xx_by_status",
    "non_retryable_non2xx",
    "retried_then_delivered",
    "pushes_never_delivered",
    "faulted_share_of_calls",
    "audits_during",
    "audit_resolved_during",
    "audits_final",
    "audit_answers",
    "audit_expanded_unexpanded_pushes",
    "still_pending_after_final",
    "final_records",
    "log_lines_by_status",
    "lost",
    "duplicated",
    "inbox_objects_left",
    "push_s",
    "final_audits_s",
    "wall_s",
)


def config_from_env() -> Soak:
    smoke = os.environ.get("BENCH_SCALE") == "smoke"
    faults = json.loads(json.dumps(FAULTS))
    faults["seed"] = int(os.environ.get("BENCH_SOAK_SEED") or faults["seed"])
    return Soak(
        faults=faults,
        pushes=int(os.environ.get("BENCH_SOAK_PUSHES") or (60 if smoke else 2000)),
        rate=float(os.environ.get("BENCH_SOAK_RATE") or 20),
        audit_every_s=float(os.environ.get("BENCH_SOAK_AUDIT_EVERY_S") or (2 if smoke else 5)),
        final_bound_s=float(os.environ.get("BENCH_SOAK_FINAL_S") or (60 if smoke else 300)),
    )


def run(results: Results) -> None:
    cfg = config_from_env()
    results.begin("soak", f"soak ({cfg.pushes} pushes through the webhook trigger under injected faults)")
    counts = soak(cfg, log=lambda line: print(line, flush=True))
    for name in PRINTED:
        print(f"  {name:<28} {counts[name]}", flush=True)
    for name, value in counts.items():
        results.figure(name, value)
    results.target("soak: records lost", counts["lost"], 0, "records")
    results.target("soak: records duplicated", counts["duplicated"], 0, "records")
    results.target("soak: non-2xx answers a sender would not retry", counts["non_retryable_non2xx"], 0, "answers")
    still = counts["still_pending_after_final"]
    still = counts["expected_records"] if still is None else still  # no audit answered: nothing counts as resolved
    results.target("soak: records still pending after the final audits", still, 0, "records")
