"""The log-store fake (tests/fakes.py) against the real store on localcloud's COS: the same calls, the same answers.

The unit tests of the services trust `FakeLogStore` to behave as `LogStore` does; this replays one life of an
instance's log (pushes, unexpanded pushes, expansion, resolution, queries, the TCR log archive, state) on both
and compares every answer and the keys left behind. Times the stores take from their clocks (`updatedAt` from
LastModified, `receivedAt`) are left out of the comparison.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from shared import records as rl
from shared.logstore import LogStore, Page
from shared.ports import LogEntry, LogStorePort
from shared.runtime import RetryPolicy
from shared.times import parse_or_none
from tests.fakes import FakeLogStore
from tests.integration.support import cos_keys

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "cd" * 32
SH, BJ = ("tcr-main-4-sh", "ap-shanghai"), ("tcr-main-8-bj", "ap-beijing")


def pushed(registry: str, tag: str, second: int) -> list[rl.Record]:
    return rl.event_records(
        registry_id=registry,
        primary_region="ap-guangzhou",
        namespace="team",
        repository="api",
        tag=tag,
        digest=DIGEST,
        pushed_at=f"2024-05-0{1 + second % 2}T10:00:{second:02d}Z",
        operator="1",
        replicas=[SH, BJ],
        now="2024-05-02T12:00:00Z",
    )


def kept(registry: str, host: str, tag: str) -> rl.PushEvent:
    return rl.push_event(
        registry_id=registry,
        host=host,
        namespace="team",
        repository="api",
        tag=tag,
        digest=DIGEST,
        pushed_at="2024-05-01T11:00:00Z",
        operator="1",
        received_at="2024-05-01T11:00:01Z",
    )


def entry(source: str, start: str) -> LogEntry:
    return LogEntry("image", source, source, "Succeed", start, start, parse_or_none(start), parse_or_none(start))


def plain(value: Any) -> Any:
    """An answer without what each store takes from its own clock."""
    if isinstance(value, rl.Record):
        return value._replace(updatedAt="")
    if isinstance(value, rl.PushEvent):
        return value._replace(receivedAt="")
    if isinstance(value, Page) and value.next_cursor:  # the cursor without the real store's view id (its own)
        doc = json.loads(rl._unb64(value.next_cursor).decode("utf-8")[:-8])
        doc.pop("s", None)
        return Page(plain(value.records), json.dumps(doc, sort_keys=True))
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # InboxItem, Page
        return type(value)(*(plain(v) for v in value))
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def life(store: LogStorePort, registry: str, host: str) -> list[Any]:
    """One instance's log, call by call; every answer in order."""
    e1, e2, e3 = pushed(registry, "1", 1), pushed(registry, "2", 2), pushed(registry, "3", 3)
    out: list[Any] = [store.put_event(e1), store.put_event(e2), store.put_event(e3)]
    unexpanded = kept(registry, host, "4")
    out.append(store.put_unexpanded(unexpanded))
    by_host = kept("", host, "5")
    out.append(store.put_unexpanded(by_host))
    out.append(store.write_segments([r._replace(status="deleted") for r in e3[:1]]))

    pages = [plain(page) for page in store.inbox_pages(registry)]
    out.append(pages)
    expanded = unexpanded.records(primary_region="ap-guangzhou", replicas=[SH], now="2024-05-02T12:00:00Z")
    unexpanded_key = next(i.key for page in store.inbox_pages(registry) for i in page if i.event is not None)
    out.append(plain(store.expand_events([(unexpanded_key, expanded)])))
    host_items = [i for i in store.list_host_events() if i.event is not None and i.event.host == host]
    out.append(plain(host_items))
    out.append(store.relocate_host_events([(i.key, i.event.for_registry(registry)) for i in host_items if i.event]))

    inbox = [i for page in store.inbox_pages(registry) for i in page]
    done = [r.with_status("replicated", updated_at="2024-05-02T12:00:00Z", replicated_at=r.pushedAt) for r in e1]
    done.append(e2[0].with_status("failed", updated_at="2024-05-02T12:00:00Z"))
    result = store.resolve(registry, done, inbox, settled=[e3[0].record_id])
    out.append((result.segments_written, result.inbox_deleted, result.inbox_rewritten))
    out.append(plain(store.list_pending(registry)))
    for region in ("ap-shanghai", "ap-beijing"):
        for day in ("2024-05-01", "2024-05-02"):
            out.append(plain(store.read_segments(registry, region, day)))

    out.append(plain(store.query(registry)))
    first = store.query(registry, replica=SH[0], limit=2)
    out.append(plain(first))
    out.append(plain(store.query(registry, replica=SH[0], limit=2, cursor=first.next_cursor)))
    out.append(plain(store.query(registry, replica="ap-beijing", status="pending", since="2024-05-01T10:00:02Z")))
    out.append(plain(store.query(registry, repository="team/api", until="2024-05-01T23:59:59Z")))

    log = [entry("team/api:[1]", "2024-05-01T10:00:05Z"), entry("team/api:[2]", "2024-05-02T10:00:05Z")]
    out.append(store.archive_tcr_log(registry, SH[0], SH[1], log))
    out.append(store.archive_tcr_log(registry, SH[0], SH[1], [*log, entry("team/api:[3]", "2024-05-02T10:00:09Z")]))

    state_key = rl.state_key(registry)
    out.append((store.get_state(registry), store.get_json(state_key), store.exists(state_key)))
    store.put_state(registry, {"late": ["x"]})
    store.put_json(rl.instance_report_key(registry, "json"), {"runId": "r1"})
    store.put_text(rl.instance_report_key(registry, "html"), "<p>page</p>", "text/html; charset=utf-8")
    out.append((store.get_state(registry), store.get_json(rl.instance_report_key(registry, "json"))))
    out.append((store.get_text(rl.instance_report_key(registry, "html")), store.exists(state_key)))
    return out


def keys_of(registry: str, host: str, listing: Any) -> list[str]:
    roots = ("inbox", "log", "tcrlog", "state", "reports")
    return sorted(k for root in roots for k in listing(f"{root}/{registry}/")) + [
        k for k in listing("inbox-host/") if f"/{host}/" in k
    ]


def test_the_fake_store_answers_as_the_real_one(cloud_env: dict[str, str]) -> None:
    suffix = uuid.uuid4().hex[:10]
    registry, host = f"tcr-f{suffix}", f"f{suffix}.tencentcloudcr.com"
    real = LogStore.from_env(cloud_env, policy=RetryPolicy(max_attempts=6, base_s=0.001, cap_s=0.01))
    fake = FakeLogStore(now=lambda: datetime.now(timezone.utc))
    answers_real, answers_fake = life(real, registry, host), life(fake, registry, host)
    for step, (mine, theirs) in enumerate(zip(answers_fake, answers_real, strict=True)):
        assert mine == theirs, f"answer {step} differs"
    assert keys_of(registry, host, fake.keys) == keys_of(registry, host, lambda p: cos_keys(cloud_env, p))
