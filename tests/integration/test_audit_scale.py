"""The audit on a backlog that spans several inbox list pages: bounded remote calls, and progress kept
when it runs out of time or out of its TCR call budget (later runs finish the rest, nothing lost or repeated).

Every push is real, so TCR's replication log names each image: the audit resolves a record only on that
evidence, reading the log in pages of 20 (localcloud answers the list shape here)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from support import call, create_instance, tcr_client, wait_for, wait_replicas_running

from shared import audit, notify, records
from shared.config import Config
from shared.logstore import LogStore
from shared.tcr import Deadline, TcrAdapter

EVENTS = 1100  # two inbox list pages (1000 objects each), 2 replicas each: 2,200 records
BUDGET = 70  # TCR log calls per run: 35 per replica, i.e. its newest (35 - 1) * 20 entries (page 1 = page 0)


class Countdown:
    """A deadline whose time runs out after the first `plenty` looks (the audit checks it between pages)."""

    def __init__(self, plenty: int) -> None:
        self.looks = 0
        self.plenty = plenty

    def remaining(self) -> float:
        self.looks += 1
        return 600.0 if self.looks <= self.plenty else 5.0


def _stats(cloud) -> int:
    stats = call("GET", cloud.host_url + "/_localcloud/stats")[1]
    return sum(stats["tcr"].values()) + sum(stats["cos"].values())


def test_backlog_is_resolved_in_pages_with_few_calls(localcloud, cloud_env, monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_REPLICATION_LOG_SHAPE", "array")
    env = {**cloud_env, "AUDIT_TCR_CALL_BUDGET": str(BUDGET)}
    tcr = tcr_client(env)
    registry_id = create_instance(tcr)
    for region in ("ap-shanghai", "ap-beijing"):
        assert (
            call(
                "POST",
                f"{env['REPLICAS_URL']}/instances/{registry_id}/replicas",
                {"region": region},
                token=env["API_TOKEN"],
            )[0]
            == 202
        )
    wait_replicas_running(tcr, registry_id)
    replicas = [
        (r["ReplicationRegistryId"], r["ReplicationRegionName"])
        for r in tcr.call_json("DescribeReplicationInstances", {"RegistryId": registry_id})["Response"][
            "ReplicationRegistries"
        ]
    ]

    config = Config(env)
    store = LogStore.from_env(env)
    pushed = datetime.now(timezone.utc) - timedelta(minutes=5)
    event_of: dict[str, int] = {}
    for i in range(EVENTS):
        digest = "sha256:" + f"{i:064x}"
        recs = records.event_records(
            registry_id=registry_id,
            primary_region="ap-guangzhou",
            namespace="bulk",
            repository=f"svc{i % 7}",
            tag=f"1.{i}",
            digest=digest,
            pushed_at=pushed + timedelta(seconds=i % 200),
            operator="1",
            replicas=replicas,
            now=pushed + timedelta(seconds=1),
        )
        store.put_event(recs)
        event_of[recs[0].eventId] = i
        # the push itself, after the record's push time: one entry in each replica's log, pushes in order i
        status, body = call(
            "POST",
            localcloud.host_url + "/_localcloud/push",
            {
                "registryId": registry_id,
                "namespace": "bulk",
                "repository": f"svc{i % 7}",
                "tag": f"1.{i}",
                "digest": digest,
            },
        )
        assert status == 200, body
    # one more push after the backlog, of an image no record names
    call(
        "POST",
        localcloud.host_url + "/_localcloud/push",
        {"registryId": registry_id, "namespace": "bulk", "repository": "marker", "tag": "1"},
    )

    def synced() -> bool:
        for replica_id, _ in replicas:
            out = tcr.call_json(
                "DescribeReplicationInstanceSyncStatus",
                {"RegistryId": registry_id, "ReplicationRegistryId": replica_id, "ShowReplicationLog": True},
            )["Response"]
            if out["ReplicationStatus"] != "Succeed" or any(not e["EndTime"] for e in out["ReplicationLog"]):
                return False
        return True

    wait_for(synced)
    event = {
        "Type": "Timer",
        "TriggerName": "t",
        "Time": "2026-11-28T00:00:00Z",
        "Message": f'{{"instances": ["{registry_id}"], "notify": false}}',
    }
    disabled = notify.Notifier(None, None)

    # first run: time runs out after the first inbox page, and the budget reads only the newest part of the log
    before = _stats(localcloud)
    first = audit.run(
        event, tcr=TcrAdapter(config), store=store, notifier=disabled, config=config, deadline=Countdown(plenty=1)
    )
    assert first["complete"] is False
    mine = first["instances"][0]
    first_page = sorted(event_of)[:1000]  # inbox keys of one day sort by event id
    newest_read = (BUDGET // 2 - 1) * 20 - 1  # the marker is the newest entry
    proven = [e for e in first_page if event_of[e] >= EVENTS - newest_read]
    assert mine["pendingBefore"] == 2000
    assert mine["resolved"]["replicated"] == 2 * len(proven) and mine["stillPending"] == 2000 - 2 * len(proven)
    calls_first = _stats(localcloud) - before
    print(f"remote calls of the first run: {calls_first} for 2000 records")
    assert calls_first <= 0.05 * 2000, calls_first

    # later runs: the rest (what the budget left unread first), and nothing twice
    runs = []
    while not runs or runs[-1]["instances"][0]["stillPending"]:
        runs.append(
            audit.run(
                event, tcr=TcrAdapter(config), store=store, notifier=disabled, config=config, deadline=Deadline.never()
            )
        )
        assert runs[-1]["complete"] is True and len(runs) <= 3
    resolved = sum(r["instances"][0]["resolved"]["replicated"] for r in runs)
    assert resolved == EVENTS * 2 - 2 * len(proven)
    assert store.list_pending(registry_id) == []
    day_records = []
    for _, region in replicas:
        for day in {records.day_of(pushed), records.day_of(pushed + timedelta(seconds=200))}:
            day_records.extend(store.read_day(registry_id, region, day))
    ids = [r.record_id for r in day_records if r.namespace == "bulk" and r.repository != "marker"]
    assert len(ids) == len(set(ids)) == EVENTS * 2
