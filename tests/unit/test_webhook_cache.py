"""The webhook's per-container cache: answers kept for the cache period, TCR failures for a short pause."""

from __future__ import annotations

import pytest

from shared.errors import ApiError
from shared.webhook import FAILURE_PAUSE_SECONDS, ReplicaCache
from tests.fakes import FakeTcr


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tcr_with_one_replica() -> FakeTcr:
    tcr = FakeTcr()
    tcr.add_instance("tcr-1")
    tcr.add_replica("tcr-1", "ap-shanghai", replica_id="tcr-1-4-a")
    return tcr


def test_a_tcr_failure_is_not_asked_again_during_the_pause():
    clock, tcr = Clock(), tcr_with_one_replica()
    cache = ReplicaCache(clock)
    tcr.fail("get_instance", "Throttled")
    with pytest.raises(ApiError):
        cache.target("tcr-1", tcr, ttl=60)
    with pytest.raises(ApiError) as again:
        cache.target("tcr-1", tcr, ttl=60)
    assert again.value.code == "Throttled" and tcr.calls.total() == 1  # answered from the pause, no remote call
    tcr.heal()
    clock.now += FAILURE_PAUSE_SECONDS + 0.01
    assert cache.target("tcr-1", tcr, ttl=60).replicas == [("tcr-1-4-a", "ap-shanghai")]
    assert tcr.calls.total() == 3
    assert cache.target("tcr-1", tcr, ttl=60).replicas and tcr.calls.total() == 3  # cached for the period


def test_a_definite_answer_and_an_uncached_container_are_not_paused():
    clock, tcr = Clock(), tcr_with_one_replica()
    cache = ReplicaCache(clock)
    for _ in range(2):
        with pytest.raises(ApiError) as unknown:
            cache.target("tcr-2", tcr, ttl=60)  # no such instance: a definite answer
        assert unknown.value.code == "InstanceNotFound"
    assert tcr.calls.total() == 2
    tcr.fail("get_instance", "Unavailable")
    for _ in range(2):
        with pytest.raises(ApiError):
            cache.target("tcr-1", tcr, ttl=0)  # REPLICA_CACHE_SECONDS=0: nothing is kept, failures neither
    assert tcr.calls.total() == 4
