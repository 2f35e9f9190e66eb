"""The replica cap after concurrent creates (shared/replicas.py): who is beyond it, and how long to wait."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from shared.ports import Replica
from shared.replicas import CLOCK_SKEW_S, CREATED_AT_RESOLUTION_S, settle_delay, split_at_cap
from shared.times import parse_or_none

T0 = "2026-11-28T10:00:00+08:00"
T1 = "2026-11-28T10:00:01+08:00"


def rep(rid: str, created: str | None) -> Replica:
    return Replica(rid, "ap-shanghai", 4, "Running", created, parse_or_none(created))


def ids(reps: list[Replica]) -> list[str]:
    return [r.replica_registry_id for r in reps]


def test_the_replicas_created_first_are_kept():
    kept, beyond = split_at_cap([rep("c", T1), rep("a", "2026-11-28T01:59:59Z"), rep("b", T0)], 2)
    assert (ids(kept), ids(beyond)) == (["a", "b"], ["c"])


def test_ties_in_creation_time_go_by_replica_id_whatever_the_list_order():
    reps = [rep("tcr-x-4-zzz", T0), rep("tcr-x-8-aaa", T0), rep("tcr-x-9-mmm", T0)]
    for order in (reps, reps[::-1], reps[1:] + reps[:1]):
        kept, beyond = split_at_cap(order, 1)
        assert (ids(kept), ids(beyond)) == (["tcr-x-4-zzz"], ["tcr-x-8-aaa", "tcr-x-9-mmm"])


def test_a_replica_without_creation_time_counts_as_the_newest():
    kept, beyond = split_at_cap([rep("a", None), rep("b", T1), rep("c", "not a time")], 1)
    assert (ids(kept), ids(beyond)) == (["b"], ["a", "c"])


def test_within_the_cap_nothing_is_beyond():
    assert split_at_cap([rep("a", T0)], 3) == ([rep("a", T0)], [])
    assert split_at_cap([rep("a", T0)], 0) == ([], [rep("a", T0)])


def test_settle_waits_until_no_later_replica_can_share_the_second():
    created = datetime(2026, 11, 28, 2, 0, 0, tzinfo=timezone.utc)
    full = CREATED_AT_RESOLUTION_S + CLOCK_SKEW_S
    assert settle_delay(created, created) == full
    assert settle_delay(created, created + timedelta(seconds=0.4)) == full - 0.4
    assert settle_delay(created, created + timedelta(seconds=10)) == 0.0
    assert settle_delay(None, created) == full
