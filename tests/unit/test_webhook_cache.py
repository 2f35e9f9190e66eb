"""The webhook's per-container cache: answers kept for the cache period, TCR failures for a short pause."""

from __future__ import annotations

import pytest

from shared.errors import ApiError
from shared.ports import Instance, Replica
from shared.webhook import FAILURE_PAUSE_SECONDS, ReplicaCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tcr:
    """Stands in for the TCR adapter's two reads (the SDK itself is exercised by the integration tests)."""

    def __init__(self) -> None:
        self.calls = 0
        self.failure: ApiError | None = None

    def get_instance(self, registry_id: str) -> Instance:
        self.calls += 1
        if self.failure:
            raise self.failure
        return Instance(registry_id, "demo", "ap-guangzhou", 1, "premium", "Running")

    def list_replicas(self, registry_id: str, region: str | None = None) -> list[Replica]:
        self.calls += 1
        return [Replica(f"{registry_id}-4-a", "ap-shanghai", 4, "Running")]


def test_a_tcr_failure_is_not_asked_again_during_the_pause():
    clock, tcr = Clock(), Tcr()
    cache = ReplicaCache(clock)
    tcr.failure = ApiError("Throttled", "TCR rate limit")
    with pytest.raises(ApiError):
        cache.target("tcr-1", tcr, ttl=60)
    with pytest.raises(ApiError) as again:
        cache.target("tcr-1", tcr, ttl=60)
    assert again.value.code == "Throttled" and tcr.calls == 1  # answered from the pause, no remote call
    tcr.failure = None
    clock.now += FAILURE_PAUSE_SECONDS + 0.01
    assert cache.target("tcr-1", tcr, ttl=60).replicas == [("tcr-1-4-a", "ap-shanghai")]
    assert tcr.calls == 3
    assert cache.target("tcr-1", tcr, ttl=60).replicas and tcr.calls == 3  # cached for the period


def test_a_definite_answer_and_an_uncached_container_are_not_paused():
    clock, tcr = Clock(), Tcr()
    cache = ReplicaCache(clock)
    tcr.failure = ApiError("InstanceNotFound", "no such instance")
    for _ in range(2):
        with pytest.raises(ApiError):
            cache.target("tcr-1", tcr, ttl=60)
    assert tcr.calls == 2
    tcr.failure = ApiError("Unavailable", "TCR did not answer")
    for _ in range(2):
        with pytest.raises(ApiError):
            cache.target("tcr-2", tcr, ttl=0)  # REPLICA_CACHE_SECONDS=0: nothing is kept, failures neither
    assert tcr.calls == 4
