"""Segment names tell their latest push and their size, so that compaction and the audit's redelivery check
decide without a GET which segments matter."""

from __future__ import annotations

from shared import records as rl
from shared.logstore import COLD_AFTER_S, SEGMENT_FULL, merge_candidates

PREFIX = "log/tcr-1/ap-shanghai/2024-05-01/"


def name(stamp: str, count: int, n: int = 0) -> str:
    return f"{PREFIX}s{stamp}-n{count}-{n:032x}.jsonl"


def test_a_segment_name_carries_its_latest_push_and_its_size():
    assert rl.segment_meta(name("20240501120000", 7)) == ("20240501120000", 7)
    assert rl.segment_meta(PREFIX + "0" * 32 + ".jsonl") == (None, None), "named before names told"
    assert rl.stamp("2024-05-01T12:00:09Z") == "20240501120009"


def test_only_segments_that_can_hold_a_later_push_are_read():
    assert rl.segment_may_hold(name("20240501120000", 1), "20240501120000")
    assert not rl.segment_may_hold(name("20240501115959", 1), "20240501120000")
    assert rl.segment_may_hold(PREFIX + "0" * 32 + ".jsonl", "20240501120000"), "an unnamed one always may"
    assert rl.segment_may_hold(name("20240501000000", 1), None)


def test_warm_segments_are_left_for_a_later_run():
    assert COLD_AFTER_S == 1200  # the times below are 20 minutes apart
    newest, at_edge, cold = name("20240501120000", 5, 1), name("20240501114000", 5, 2), name("20240501113959", 5, 3)
    older = name("20240501100000", 5, 4)
    assert merge_candidates([newest, at_edge, cold, older]) == [older, cold]


def test_merging_stops_at_a_full_segment_and_skips_what_would_overflow():
    full = name("20240501010000", SEGMENT_FULL, 1)
    big = name("20240501020000", SEGMENT_FULL - 100, 2)
    too_big = name("20240501030000", 200, 3)
    small = name("20240501040000", 50, 4)
    legacy = PREFIX + "f" * 32 + ".jsonl"
    newest = name("20240501235959", 1, 5)
    # oldest first; the unnamed one counts as cold and empty; the full one is never merged again
    assert merge_candidates([full, big, too_big, small, legacy, newest]) == [legacy, big, small]
