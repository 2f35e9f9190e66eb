"""The audit on a backlog that spans several inbox list pages: bounded remote calls, and progress kept
when it runs out of time (the next run finishes the rest, nothing lost or repeated)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from support import call, create_instance, tcr_client, wait_for, wait_replicas_running

from shared import audit, notify, records
from shared.config import Config
from shared.logstore import LogStore
from shared.runtime import Deadline
from shared.tcr import TcrAdapter

EVENTS = 1100  # two inbox list pages (1000 objects each), 2 replicas each: 2,200 records


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


def test_backlog_is_resolved_in_pages_with_few_calls(localcloud, cloud_env):
    env = cloud_env
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
    for i in range(EVENTS):
        store.put_event(
            records.event_records(
                registry_id=registry_id,
                primary_region="ap-guangzhou",
                namespace="bulk",
                repository=f"svc{i % 7}",
                tag=f"1.{i}",
                digest="sha256:" + f"{i:064x}",
                pushed_at=pushed + timedelta(seconds=i % 200),
                operator="1",
                replicas=replicas,
                now=pushed + timedelta(seconds=1),
            )
        )
    # one real push after the backlog: each replica then reports a successful sync newer than every record
    call(
        "POST",
        localcloud.host_url + "/_localcloud/push",
        {"registryId": registry_id, "namespace": "bulk", "repository": "marker", "tag": "1"},
    )

    def synced() -> bool:
        out = tcr.call_json(
            "DescribeReplicationInstanceSyncStatus",
            {"RegistryId": registry_id, "ReplicationRegistryId": replicas[0][0]},
        )["Response"]
        return out["ReplicationStatus"] == "Succeed"

    wait_for(synced)
    event = {
        "Type": "Timer",
        "TriggerName": "t",
        "Time": "2026-11-28T00:00:00Z",
        "Message": f'{{"instances": ["{registry_id}"], "notify": false}}',
    }
    disabled = notify.Notifier(None, None)

    # first run: time runs out after the first page
    before = _stats(localcloud)
    first = audit.run(
        event, tcr=TcrAdapter(config), store=store, notifier=disabled, config=config, deadline=Countdown(plenty=1)
    )
    assert first["complete"] is False
    mine = first["instances"][0]
    assert mine["resolved"]["replicated"] == 2000 and mine["pendingBefore"] == 2000
    calls_first = _stats(localcloud) - before
    print(f"remote calls of the first run: {calls_first} for 2000 records")
    assert calls_first <= 0.05 * 2000, calls_first

    # second run: the rest, and nothing twice
    second = audit.run(
        event, tcr=TcrAdapter(config), store=store, notifier=disabled, config=config, deadline=Deadline.never()
    )
    assert second["complete"] is True
    assert second["instances"][0]["resolved"]["replicated"] == EVENTS * 2 - 2000
    assert store.list_pending(registry_id) == []
    day_records = []
    for _, region in replicas:
        for day in {records.day_of(pushed), records.day_of(pushed + timedelta(seconds=200))}:
            day_records.extend(store.read_day(registry_id, region, day))
    ids = [r.record_id for r in day_records if r.namespace == "bulk" and r.repository != "marker"]
    assert len(ids) == len(set(ids)) == EVENTS * 2
