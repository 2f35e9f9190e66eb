"""The log query (DESIGN §11): one replica-day of records read through the replica API, paged to the end.

The day is written as the product leaves it: most records resolved by audit runs (segments written through the
product's LogStore 1,000 records a time, as an audit page does, compacted as it compacts), the newest tenth still
pending in the inbox. Then `GET /replicas/instances/{id}/replication-logs?replica=<region>&since=<day>&until=<day
end>&limit=1000` is called over HTTP on localcloud's Function URL with the API token, following `nextCursor` until
it is null. Measured: the remote calls the pages cost (localcloud's stats, COS and TCR), the time, and that every
record written comes back exactly once.

Size: BENCH_QUERY_RECORDS (default 10000; smoke 200).
"""

from __future__ import annotations

import os
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.results import Results

SMOKE = os.environ.get("BENCH_SCALE") == "smoke"
RECORDS = int(os.environ.get("BENCH_QUERY_RECORDS") or (200 if SMOKE else 10000))
PAGE = 1000  # the API's largest page
REGION = "ap-shanghai"


def _seed(env: dict[str, str], registry_id: str, replica_id: str, day: datetime) -> dict[str, Any]:
    """RECORDS records of one replica-day: 90 % resolved into segments as audit pages would, 10 % pending."""
    from shared import records
    from shared.logstore import LogStore

    store = LogStore.from_env(env)
    written: dict[str, Any] = {}
    pending_from = RECORDS - max(1, RECORDS // 10)
    resolved: list[records.Record] = []
    step = timedelta(seconds=86000 / RECORDS)
    for i in range(RECORDS):
        (rec,) = records.event_records(
            registry_id=registry_id,
            primary_region="ap-guangzhou",
            namespace="bulk",
            repository=f"svc{i % 13}",
            tag=f"2.{i}",
            digest="sha256:" + f"{i:064x}",
            pushed_at=day + i * step,
            operator="1",
            replicas=[(replica_id, REGION)],
            now=day + i * step,
        )
        if i >= pending_from:
            store.put_event([rec])
            written[f"{rec.eventId}:{rec.replicaRegistryId}"] = "pending"
        else:
            at = day + i * step + timedelta(seconds=30)
            resolved.append(rec.with_status("replicated", updated_at=at, replicated_at=at, lag_seconds=30.0))
            written[f"{rec.eventId}:{rec.replicaRegistryId}"] = "replicated"
        if len(resolved) == 1000 or (resolved and i == pending_from - 1):
            store.resolve(registry_id, resolved, [])  # one audit page's segment, compacted past 8 segments
            resolved = []
    return written


def run(results: Results) -> None:
    from tests.integration.support import (
        call,
        cos_keys,
        create_instance,
        local_cloud,
        tcr_client,
        wait_replicas_running,
    )

    with local_cloud({"API_TOKEN": "b", "WEBHOOK_TOKEN": "w"}, replica_ready_after_s=0.05) as cloud:
        env = cloud.env()
        tcr = tcr_client(env)
        registry_id = create_instance(tcr)
        replica_id = tcr.call_json(
            "CreateReplicationInstance", {"RegistryId": registry_id, "ReplicationRegionName": REGION}
        )["Response"]["ReplicationRegistryId"]
        wait_replicas_running(tcr, registry_id)
        day = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        written = _seed(env, registry_id, replica_id, day)
        segments = len([k for k in cos_keys(env, f"log/{registry_id}/{REGION}/") if k.endswith(".jsonl")])
        query = {
            "replica": REGION,
            "since": day.strftime("%Y-%m-%d"),
            "until": day.strftime("%Y-%m-%dT23:59:59Z"),
            "limit": str(PAGE),
        }
        base = f"{env['REPLICAS_URL']}/instances/{registry_id}/replication-logs"
        call("GET", f"{base}?{urllib.parse.urlencode({**query, 'limit': '1'})}", token="b")  # a warm instance
        before = call("GET", cloud.host_url + "/_localcloud/stats")[1]
        began = time.perf_counter()
        got: list[dict[str, Any]] = []
        pages = 0
        cursor = None
        while True:
            params = {**query, **({"cursor": cursor} if cursor else {})}
            status, body = call("GET", f"{base}?{urllib.parse.urlencode(params)}", token="b")
            if status != 200:
                raise RuntimeError(f"replication-logs answered {status}: {body}")
            pages += 1
            got.extend(body["records"])
            cursor = body.get("nextCursor")
            if not cursor or pages > RECORDS:
                break
        took = time.perf_counter() - began
        after = call("GET", cloud.host_url + "/_localcloud/stats")[1]
        cos = sum(after["cos"].values()) - sum(before["cos"].values())
        tcr_calls = sum(after["tcr"].values()) - sum(before["tcr"].values())
        ids = [f"{r['eventId']}:{r['replicaRegistryId']}" for r in got]
        once = len(set(ids)) == len(ids) and set(ids) == set(written)
        wrong_status = sum(1 for r in got if written.get(f"{r['eventId']}:{r['replicaRegistryId']}") != r["status"])
        results.begin(
            "log_query",
            f"log query (one replica-day of {RECORDS} records: {segments} segment(s) + {RECORDS // 10 or 1} pending; "
            f"pages of {PAGE} over the Function URL)",
        )
        print(
            f"  ({pages} pages in {took:.2f} s; COS {cos} calls {dict(_delta(before['cos'], after['cos']))}, "
            f"TCR {tcr_calls}; {len(got)} records returned, {len(set(ids))} distinct, {len(written)} written)"
        )
        results.figure("records", RECORDS)
        results.figure("pages", pages)
        results.figure("segments", segments)
        results.figure("seconds", round(took, 3))
        results.figure("cosCalls", cos)
        results.figure("cosByOp", _delta(before["cos"], after["cos"]))
        results.figure("tcrCalls", tcr_calls)
        results.target(f"log query: remote calls for a replica-day of {RECORDS} records", cos + tcr_calls, 20, "calls")
        bad = (len(ids) - len(set(ids))) + len(set(written) ^ set(ids)) + wrong_status
        results.figure("exactlyOnce", once)
        results.target("log query: records not returned exactly once with their status", bad, 0, "records")


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
