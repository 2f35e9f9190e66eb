"""The TCR fake (tests/fakes.py) against the real adapter on localcloud: the same calls, the same answers and codes.

The unit tests of the services trust `FakeTcr` to answer and refuse as `TcrAdapter` does after mapping TCR's
errors; this makes the same calls on both, for one instance, and compares. What TCR decides on its own (ids,
creation times, how long a replica deploys) is compared by shape only.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from shared.config import Config
from shared.errors import ApiError
from shared.ports import Replica, TcrPort
from shared.runtime import RetryPolicy
from shared.tcr import TcrAdapter
from tests.fakes import FakeTcr
from tests.integration.support import create_instance, tcr_client

pytestmark = pytest.mark.integration


def outcome(call: Callable[[], Any]) -> Any:
    """The answer, or the product's error code."""
    try:
        return call()
    except ApiError as exc:
        return ("error", exc.code)


def shape(rep: Replica) -> tuple[Any, ...]:
    return (rep.region, rep.region_id, rep.created_at is None, rep.created is None)


def pin(cloud: Any, registry_id: str, status: str | None) -> None:
    body = json.dumps({"registryId": registry_id, "status": status}).encode()
    req = urllib.request.Request(cloud.host_url + "/_localcloud/instance-status", data=body, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as resp:
        resp.read()


def life(tcr: TcrPort, registry_id: str, domain: str, set_status: Callable[[str | None], None]) -> list[Any]:
    """One instance's replica life, call by call; every answer (or error code) in order."""
    out: list[Any] = [
        outcome(lambda: tcr.get_instance("tcr-nobody00")),
        outcome(lambda: tcr.list_replicas(registry_id)),
        outcome(lambda: tcr.find_instance_by_domain(f"https://{domain.upper()}:443/v2/")),
        outcome(lambda: tcr.find_instance_by_domain("nobody.tencentcloudcr.com")),
    ]
    created = tcr.create_replica(registry_id, 4, "ap-shanghai", True)
    out.append((shape(created), created.status))
    out.append(outcome(lambda: tcr.create_replica(registry_id, None, "ap-shanghai")))
    (listed,) = tcr.list_replicas(registry_id)
    out.append((shape(listed), listed.replica_registry_id == created.replica_registry_id))
    rid = listed.replica_registry_id
    out.append(outcome(lambda: tcr.sync_status(registry_id, rid, 4)))
    out.append(outcome(lambda: tcr.sync_status(registry_id, rid, 4, show_log=True, page=0, limit=20)))
    out.append(outcome(lambda: tcr.sync_status(registry_id, "tcr-nobody00-4-x", 4)))
    out.append(outcome(lambda: tcr.delete_instance(registry_id)))
    out.append(outcome(lambda: tcr.delete_replica(registry_id, "tcr-nobody00-4-x", 4)))
    out.append(outcome(lambda: tcr.delete_replica(registry_id, rid, 8)))
    set_status("Deploying")
    out.append(outcome(lambda: tcr.get_instance(registry_id)))
    out.append(outcome(lambda: tcr.describe_instances([registry_id])))
    out.append(outcome(lambda: tcr.list_replicas(registry_id)))
    out.append(registry_id in {i.registry_id for i in tcr.describe_instances()})
    set_status(None)
    out.append(outcome(lambda: tcr.delete_replica(registry_id, rid, 4)))
    out.append(outcome(lambda: tcr.list_replicas(registry_id)))
    out.append(outcome(lambda: tcr.delete_instance(registry_id)))
    out.append(outcome(lambda: tcr.get_instance(registry_id)))
    return out


def test_the_fake_tcr_answers_and_refuses_as_the_adapter(localcloud: Any) -> None:
    env = dict(localcloud.env())
    real = TcrAdapter(Config(env), policy=RetryPolicy(max_attempts=8, base_s=0.005, cap_s=0.05))
    registry_id = create_instance(tcr_client(env))
    instance = real.get_instance(registry_id)
    fake = FakeTcr()
    fake.instances[registry_id] = instance
    fake.replicas[registry_id] = []

    def fake_status(status: str | None) -> None:
        fake.set_status(registry_id, status or "Running")

    answers_real = life(real, registry_id, instance.public_domain, lambda s: pin(localcloud, registry_id, s))
    answers_fake = life(fake, registry_id, instance.public_domain, fake_status)
    for step, (mine, theirs) in enumerate(zip(answers_fake, answers_real, strict=True)):
        assert mine == theirs, f"answer {step} differs"
