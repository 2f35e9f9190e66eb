"""The audit's reconciliation of private access (shared.reconcile, and through shared.audit.run) on the fakes.

The desired state is what the replica API writes (`state/<id>/private-access.json`); the reconciliation creates
the DNS record once the endpoint runs with an AccessIp, exactly once, writes nothing on a re-run, and turns TCR
failures into skipped steps the next run finishes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shared import audit, notify, reconcile
from shared import records as rl
from shared.config import Config
from shared.ports import EndpointDns
from shared.runtime import Deadline
from tests.fakes import FakeLogStore, FakeNotifier, FakeTcr

REG = "tcr-aaaa1111"
NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
SH, BJ = "tcr-aaaa1111-4-sh", "tcr-aaaa1111-8-bj"
VPC_SH, SUB_SH = "vpc-sh000001", "subnet-sh000001"
TCR_WRITES = ("create_internal_endpoint", "delete_internal_endpoint", "create_endpoint_dns", "delete_endpoint_dns")


def cloud() -> FakeTcr:
    tcr = FakeTcr(now=lambda: NOW)
    tcr.add_instance(REG, "ap-guangzhou", domain="acme.tencentcloudcr.com")
    tcr.add_replica(REG, "ap-shanghai", replica_id=SH, created=NOW - timedelta(days=1))
    tcr.add_vpc(VPC_SH, "ap-shanghai", SUB_SH)
    return tcr


def attach(tcr: FakeTcr, store: FakeLogStore, *, dns: bool = True, vpc: str = VPC_SH, subnet: str = SUB_SH) -> None:
    """What the replica API does on POST: the endpoint, then the desired-state entry."""
    tcr.create_internal_endpoint(REG, vpc, subnet, "ap-shanghai")
    state = store.get_state(REG, "private-access") or {"version": 1, "vpcs": {}}
    state["vpcs"][f"ap-shanghai/{vpc}"] = {
        "region": "ap-shanghai",
        "vpcId": vpc,
        "subnetId": subnet,
        "dns": dns,
        "requestedAt": "2026-12-01T11:00:00Z",
        "dnsCreatedAt": None,
    }
    store.put_state(REG, state, "private-access")


def converge(tcr: FakeTcr, store: FakeLogStore) -> reconcile.Converged:
    inst = tcr.instances[REG]
    return reconcile.converge(tcr, store, inst, tcr.replicas[REG], NOW)


def writes(tcr: FakeTcr, store: FakeLogStore) -> int:
    return len(tcr.calls_of(*TCR_WRITES)) + store.calls["put_state"]


def kinds(out: reconcile.Converged) -> list[str]:
    return [f["kind"] for f in out.findings]


def entry(store: FakeLogStore) -> dict[str, Any]:
    return dict(store.get_state(REG, "private-access")["vpcs"][f"ap-shanghai/{VPC_SH}"])


def test_dns_waits_for_the_endpoint_then_is_created_exactly_once() -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    before = writes(tcr, store)
    out = converge(tcr, store)  # Creating, no AccessIp: nothing to do yet
    assert writes(tcr, store) == before and tcr.calls["create_endpoint_dns"] == 0
    (row,) = out.regions["ap-shanghai"]
    assert (row["status"], row["dns"], row["accessIp"]) == ("Creating", "pending", None)
    assert (
        out.findings == [] and out.regions["ap-guangzhou"] == [] and set(out.regions) == {"ap-guangzhou", "ap-shanghai"}
    )

    tcr.run_endpoints(REG)
    out = converge(tcr, store)
    assert tcr.calls["create_endpoint_dns"] == 1 and out.dns_created == [VPC_SH]
    (row,) = out.regions["ap-shanghai"]
    assert (row["status"], row["dns"]) == ("Running", "enabled") and row["accessIp"]
    assert tcr.dns[(REG, VPC_SH)][1] == "ap-shanghai"  # the entry's region
    assert entry(store)["dnsCreatedAt"] == rl.iso_utc(NOW)
    assert out.findings == []

    settled = writes(tcr, store)
    for _ in range(3):  # idempotent: reads only
        again = converge(tcr, store)
        assert again.regions == out.regions and again.dns_created == [] and again.findings == []
    assert writes(tcr, store) == settled and tcr.calls["create_endpoint_dns"] == 1


def test_dns_false_is_never_created() -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store, dns=False)
    tcr.run_endpoints(REG)
    before = writes(tcr, store)
    for _ in range(2):
        out = converge(tcr, store)
        (row,) = out.regions["ap-shanghai"]
        assert (row["status"], row["dns"]) == ("Running", "disabled")
        assert out.findings == []
    assert tcr.calls["create_endpoint_dns"] == 0 and writes(tcr, store) == before


@pytest.mark.parametrize("code", ["Throttled", "Unavailable", "UpstreamError"])
@pytest.mark.parametrize("method", ["list_internal_endpoints", "endpoint_dns_status", "create_endpoint_dns"])
def test_a_tcr_fault_skips_the_step_and_the_next_run_converges(method: str, code: str) -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    tcr.run_endpoints(REG)
    tcr.fail(method, code, times=1)
    out = converge(tcr, store)
    assert [s["code"] for s in out.skipped] == [code] and out.report()["complete"] is False
    assert out.dns_created == [] and entry(store)["dnsCreatedAt"] is None
    assert "dns_missing" not in kinds(out)  # a skipped step is no finding: the next run retries
    out = converge(tcr, store)
    assert out.skipped == [] and out.dns_created == [VPC_SH] and out.findings == []
    assert (REG, VPC_SH) in tcr.dns and entry(store)["dnsCreatedAt"] == rl.iso_utc(NOW)


def test_a_refused_dns_creation_is_private_access_failed() -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    tcr.run_endpoints(REG)
    tcr.fail("create_endpoint_dns", "TcrRefused")
    out = converge(tcr, store)
    (finding,) = out.findings
    assert finding["kind"] == "private_access_failed" and finding["vpcId"] == VPC_SH
    assert "TcrRefused" in finding["detail"] and out.skipped == []


def test_an_endpoint_neither_creating_nor_running_is_private_access_failed() -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    tcr.run_endpoints(REG, status="Failed")
    out = converge(tcr, store)
    assert kinds(out) == ["private_access_failed"] and out.findings[0]["status"] == "Failed"
    assert tcr.calls["create_endpoint_dns"] == 0


def test_an_endpoint_gone_from_tcr_is_private_access_failed() -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    del tcr.endpoints[REG][VPC_SH]
    out = converge(tcr, store)
    assert kinds(out) == ["private_access_failed"] and out.findings[0]["status"] == "NotFound"


@pytest.mark.parametrize("text", ["ERROR", "FAILED"])
def test_a_dns_status_error_is_private_access_failed_and_not_recreated(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    tcr.run_endpoints(REG)
    monkeypatch.setattr(tcr, "endpoint_dns_status", lambda rid, vpcs, region=None: [EndpointDns(VPC_SH, text, "")])
    out = converge(tcr, store)
    assert kinds(out) == ["private_access_failed"] and out.findings[0]["dns"] == "failed"
    assert tcr.calls["create_endpoint_dns"] == 0


def test_dns_created_but_not_enabled_is_dns_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    tcr.run_endpoints(REG)
    monkeypatch.setattr(
        tcr, "endpoint_dns_status", lambda rid, vpcs, region=None: [EndpointDns(v, "DISABLE", "") for v, _, _ in vpcs]
    )
    out = converge(tcr, store)
    assert tcr.calls["create_endpoint_dns"] == 1
    assert kinds(out) == ["dns_missing"] and out.findings[0]["dns"] == "pending"


@pytest.mark.parametrize("text", ["ENABLE", "ENABLED", "enabled"])
def test_both_spellings_of_enabled_are_enabled(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    attach(tcr, store)
    tcr.run_endpoints(REG)
    monkeypatch.setattr(tcr, "endpoint_dns_status", lambda rid, vpcs, region=None: [EndpointDns(VPC_SH, text, "")])
    out = converge(tcr, store)
    assert tcr.calls["create_endpoint_dns"] == 0 and out.regions["ap-shanghai"][0]["dns"] == "enabled"


def test_a_running_replica_of_a_region_without_vpc_is_a_finding_once_private_access_is_used() -> None:
    tcr, store = cloud(), FakeLogStore(now=lambda: NOW)
    tcr.add_replica(REG, "ap-beijing", replica_id=BJ, created=NOW - timedelta(days=1))
    assert converge(tcr, store).findings == []  # no private access anywhere: opt-in, no finding per replica
    attach(tcr, store)
    tcr.run_endpoints(REG)
    out = converge(tcr, store)
    (finding,) = out.findings
    assert finding["kind"] == "replica_without_private_access"
    assert (finding["replicaRegistryId"], finding["region"]) == (BJ, "ap-beijing")


def test_dns_view() -> None:
    assert reconcile.dns_view({"dns": False}, "ENABLE") == "disabled"
    assert reconcile.dns_view({"dns": True}, "ENABLED") == "enabled"
    assert reconcile.dns_view({"dns": True}, "ERROR") == "failed"
    assert reconcile.dns_view({"dns": True}, "DISABLED") == "pending"
    assert reconcile.dns_view({"dns": True}, None) == "pending"


# -- through the audit ----------------------------------------------------------------------------------------


def audit_run(tcr: FakeTcr, store: FakeLogStore, notifier: FakeNotifier, now: datetime = NOW) -> dict[str, Any]:
    event = {"Type": "Timer", "TriggerName": "audit", "Time": rl.iso_utc(now)}
    summary = audit.run(
        event, tcr=tcr, store=store, notifier=notifier, config=Config({}), deadline=Deadline.never(), now=now
    )
    (mine,) = summary["instances"]
    return dict(store.json(mine["report"]))


def test_the_audit_reports_private_access_notifies_findings_and_feeds_the_dashboard() -> None:
    tcr, store, notifier = cloud(), FakeLogStore(now=lambda: NOW), FakeNotifier()
    tcr.add_replica(REG, "ap-beijing", replica_id=BJ, created=NOW - timedelta(days=1))
    attach(tcr, store)
    got = audit_run(tcr, store, notifier)
    assert got["privateAccess"]["complete"] is True
    assert [v["vpcId"] for v in got["privateAccess"]["regions"]["ap-shanghai"]] == [VPC_SH]
    assert got["privateAccess"]["regions"]["ap-shanghai"][0]["status"] == "Creating"
    assert [f["kind"] for f in got["findings"]] == ["replica_without_private_access"]
    assert [n.kind for n in notifier.sent] == ["replica_without_private_access"]
    page = store.objects[rl.instance_report_key(REG, "html")].body.decode("utf-8")
    assert f"{VPC_SH} (Creating, DNS pending)" in page and "none attached" in page

    tcr.run_endpoints(REG)
    got = audit_run(tcr, store, notifier)  # same day: the same finding has the same id (receivers dedupe)
    assert got["privateAccess"]["regions"]["ap-shanghai"][0]["dns"] == "enabled"
    assert got["privateAccess"]["dnsCreated"] == [VPC_SH]
    assert len({n.id for n in notifier.sent}) == 1
    settled = writes(tcr, store)
    got = audit_run(tcr, store, notifier)
    assert got["privateAccess"]["dnsCreated"] == [] and writes(tcr, store) == settled


def test_a_tcr_fault_in_reconciliation_never_fails_the_audit() -> None:
    tcr, store, notifier = cloud(), FakeLogStore(now=lambda: NOW), FakeNotifier()
    attach(tcr, store)
    tcr.run_endpoints(REG)
    tcr.fail("list_internal_endpoints", "Throttled", times=1)
    got = audit_run(tcr, store, notifier)
    assert got["privateAccess"]["complete"] is False and got["privateAccess"]["skipped"][0]["code"] == "Throttled"
    got = audit_run(tcr, store, notifier)
    assert got["privateAccess"]["complete"] is True and (REG, VPC_SH) in tcr.dns


def test_private_access_notices_have_one_id_per_finding_and_day() -> None:
    finding = {"kind": "dns_missing", "region": "ap-shanghai", "vpcId": VPC_SH, "status": "Running", "dns": "pending"}
    a = notify.dns_missing(REG, finding, period="2026-12-01")
    b = notify.dns_missing(REG, finding, period="2026-12-01")
    c = notify.dns_missing(REG, finding, period="2026-12-02")
    d = notify.dns_missing(REG, {**finding, "vpcId": "vpc-other"}, period="2026-12-01")
    assert a.id == b.id and len({a.id, c.id, d.id}) == 3 and a.body["vpcId"] == VPC_SH
    for kind, build in notify.PRIVATE_ACCESS_BUILDERS.items():
        assert build(REG, finding, period="p").kind == kind
    assert json.loads(a.payload())["kind"] == "dns_missing"
