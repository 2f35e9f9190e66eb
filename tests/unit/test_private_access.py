"""The private-access API's service (shared.private_access) and the delete-replica guard, on the fakes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from shared.errors import ApiError
from shared.inputs import AttachPrivateAccess, DeleteReplica, DetachPrivateAccess
from shared.private_access import STATE_NAME, PrivateAccessService, dns_view
from shared.replicas import ReplicaService
from tests.fakes import FakeLogStore, FakeTcr

RID = "tcr-aaaa1111"
PRIMARY = "ap-guangzhou"
REPLICA = "ap-shanghai"
VPC_SH = "vpc-sh000001"
SUB_SH = "subnet-sh000001"
VPC_GZ = "vpc-gz000001"
SUB_GZ = "subnet-gz000001"


@pytest.fixture
def tcr() -> FakeTcr:
    fake = FakeTcr()
    fake.add_instance(RID, PRIMARY)
    fake.add_replica(RID, REPLICA, replica_id=f"{RID}-sh")
    fake.add_vpc(VPC_SH, REPLICA, SUB_SH)
    fake.add_vpc(VPC_GZ, PRIMARY, SUB_GZ)
    return fake


@pytest.fixture
def store() -> FakeLogStore:
    return FakeLogStore()


def service(tcr: FakeTcr, store: FakeLogStore) -> PrivateAccessService:
    return PrivateAccessService(tcr, lambda: store, now=lambda: datetime(2026, 12, 1, 12, tzinfo=timezone.utc))


def attach(region: str = REPLICA, vpc: str = VPC_SH, subnet: str = SUB_SH, **kw: Any) -> AttachPrivateAccess:
    return AttachPrivateAccess.from_body({"region": region, "vpcId": vpc, "subnetId": subnet, **kw})


def code_of(call: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        call()
    return info.value


# -- dns_view --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "text", "view"),
    [
        ({"dns": False}, "ENABLED", "disabled"),
        ({"dns": True}, "ENABLE", "enabled"),
        ({"dns": True}, "ENABLED", "enabled"),
        ({"dns": True}, "enabled", "enabled"),
        ({"dns": True}, "DISABLE", "pending"),
        ({"dns": True}, "DISABLED", "pending"),
        ({"dns": True}, None, "pending"),
        ({"dns": True}, "ERROR", "failed"),
        ({"dns": True}, "FAILED", "failed"),
        (None, "ENABLE", "enabled"),
    ],
)
def test_dns_view_reads_both_spellings(entry: Any, text: str | None, view: str) -> None:
    assert dns_view(entry, text) == view


# -- attach ----------------------------------------------------------------------------------------------------


def test_attach_creates_the_endpoint_and_records_the_entry(tcr: FakeTcr, store: FakeLogStore) -> None:
    answer = service(tcr, store).attach(RID, attach())
    assert answer == {
        "access": {
            "registryId": RID,
            "region": REPLICA,
            "vpcId": VPC_SH,
            "subnetId": SUB_SH,
            "status": "Creating",
            "dns": "pending",
        }
    }
    assert tcr.endpoints[RID][VPC_SH][1] == REPLICA
    state = store.get_state(RID, STATE_NAME)
    assert state["version"] == 1
    assert state["vpcs"] == {
        f"{REPLICA}/{VPC_SH}": {
            "region": REPLICA,
            "vpcId": VPC_SH,
            "subnetId": SUB_SH,
            "dns": True,
            "requestedAt": "2026-12-01T12:00:00Z",
            "dnsCreatedAt": None,
        }
    }
    assert tcr.calls["create_endpoint_dns"] == 0  # the audit creates DNS once the endpoint is Running


def test_attach_in_the_primarys_region_sends_no_region(tcr: FakeTcr, store: FakeLogStore) -> None:
    answer = service(tcr, store).attach(RID, attach(PRIMARY, VPC_GZ, SUB_GZ, dns=False))
    assert answer["access"]["dns"] == "disabled"
    assert tcr.endpoints[RID][VPC_GZ][1] == PRIMARY


def test_dry_run_plans_without_writing(tcr: FakeTcr, store: FakeLogStore) -> None:
    answer = service(tcr, store).attach(RID, attach(dryRun=True))
    assert answer == {
        "plan": {
            "registryId": RID,
            "region": REPLICA,
            "role": "replica",
            "replicaRegistryId": f"{RID}-sh",
            "vpcId": VPC_SH,
            "subnetId": SUB_SH,
            "dns": True,
        },
        "allowed": True,
    }
    assert tcr.calls["create_internal_endpoint"] == 0
    assert store.puts == []


def test_no_replica_in_region_lists_where_the_instance_is(tcr: FakeTcr, store: FakeLogStore) -> None:
    exc = code_of(lambda: service(tcr, store).attach(RID, attach("ap-beijing")))
    assert exc.code == "NoReplicaInRegion" and exc.status == 422
    assert PRIMARY in exc.message and REPLICA in exc.message and "Create a replica there first" in exc.message
    assert exc.details["regions"] == [PRIMARY, REPLICA]
    assert tcr.calls["create_internal_endpoint"] == 0


def test_dry_run_gets_the_refusal_too(tcr: FakeTcr, store: FakeLogStore) -> None:
    assert (
        code_of(lambda: service(tcr, store).attach(RID, attach("ap-beijing", dryRun=True))).code == "NoReplicaInRegion"
    )


def test_replica_not_running(tcr: FakeTcr, store: FakeLogStore) -> None:
    tcr.add_replica(RID, "ap-beijing", replica_id=f"{RID}-bj", status="Deploying")
    exc = code_of(lambda: service(tcr, store).attach(RID, attach("ap-beijing")))
    assert (exc.code, exc.status) == ("ReplicaNotRunning", 409)
    assert "Deploying" in exc.message
    assert tcr.calls["create_internal_endpoint"] == 0


def test_access_exists(tcr: FakeTcr, store: FakeLogStore) -> None:
    svc = service(tcr, store)
    svc.attach(RID, attach())
    exc = code_of(lambda: svc.attach(RID, attach()))
    assert (exc.code, exc.status) == ("AccessExists", 409)
    assert tcr.calls["create_internal_endpoint"] == 1


def test_unknown_vpc_is_tcrs_refusal_and_records_nothing(tcr: FakeTcr, store: FakeLogStore) -> None:
    exc = code_of(lambda: service(tcr, store).attach(RID, attach(vpc="vpc-unknown1")))
    assert exc.code == "VpcNotFound"
    assert store.get_state(RID, STATE_NAME) == {}


def test_unknown_region(tcr: FakeTcr, store: FakeLogStore) -> None:
    assert code_of(lambda: service(tcr, store).attach(RID, attach("ap-nowhere"))).code == "UnknownRegion"


# -- view ------------------------------------------------------------------------------------------------------


def test_view_lists_every_region_and_follows_the_endpoint(tcr: FakeTcr, store: FakeLogStore) -> None:
    tcr.add_replica(RID, "ap-beijing", replica_id=f"{RID}-bj")
    svc = service(tcr, store)
    svc.attach(RID, attach())
    view = svc.view(RID)
    assert view["registryId"] == RID and view["domain"] == f"{RID}.tencentcloudcr.com"
    assert [(r["region"], r["role"], r["replicaRegistryId"]) for r in view["regions"]] == [
        (PRIMARY, "primary", None),
        (REPLICA, "replica", f"{RID}-sh"),
        ("ap-beijing", "replica", f"{RID}-bj"),
    ]
    assert view["regions"][0]["vpcs"] == [] and view["regions"][2]["vpcs"] == []
    assert view["regions"][1]["vpcs"] == [
        {"vpcId": VPC_SH, "subnetId": SUB_SH, "status": "Creating", "accessIp": None, "dns": "pending"}
    ]
    tcr.run_endpoints(RID)
    vpc = svc.view(RID)["regions"][1]["vpcs"][0]
    assert vpc["status"] == "Running" and vpc["accessIp"] and vpc["dns"] == "pending"
    tcr.create_endpoint_dns(RID, VPC_SH, vpc["accessIp"], REPLICA)
    assert svc.view(RID)["regions"][1]["vpcs"][0]["dns"] == "enabled"


def test_view_shows_a_vpc_attached_outside_the_product_under_the_primary(tcr: FakeTcr, store: FakeLogStore) -> None:
    tcr.create_internal_endpoint(RID, VPC_SH, SUB_SH, REPLICA)
    view = service(tcr, store).view(RID)
    assert [v["vpcId"] for v in view["regions"][0]["vpcs"]] == [VPC_SH]
    assert view["regions"][1]["vpcs"] == []


def test_view_reads_a_dns_error_as_failed(tcr: FakeTcr, store: FakeLogStore) -> None:
    from shared.ports import EndpointDns

    svc = service(tcr, store)
    svc.attach(RID, attach())
    tcr.run_endpoints(RID)
    tcr.endpoint_dns_status = lambda *a, **k: [EndpointDns(VPC_SH, "ERROR", REPLICA)]  # type: ignore[method-assign]
    assert svc.view(RID)["regions"][1]["vpcs"][0]["dns"] == "failed"


# -- detach ----------------------------------------------------------------------------------------------------


def test_detach_deletes_dns_then_the_endpoint_then_the_entry(tcr: FakeTcr, store: FakeLogStore) -> None:
    svc = service(tcr, store)
    svc.attach(RID, attach())
    tcr.run_endpoints(RID)
    ip = tcr.endpoints[RID][VPC_SH][0].access_ip
    assert ip is not None
    tcr.create_endpoint_dns(RID, VPC_SH, ip, REPLICA)
    tcr.requests.clear()
    answer = svc.detach(RID, VPC_SH, REPLICA)
    assert answer["detached"] == {
        "registryId": RID,
        "region": REPLICA,
        "vpcId": VPC_SH,
        "subnetId": SUB_SH,
        "dnsDeleted": True,
    }
    writes = [m for m, _ in tcr.requests if m.startswith("delete_")]
    assert writes == ["delete_endpoint_dns", "delete_internal_endpoint"]
    assert RID not in tcr.endpoints or VPC_SH not in tcr.endpoints[RID]
    assert store.get_state(RID, STATE_NAME)["vpcs"] == {}


def test_detach_without_dns_deletes_only_the_endpoint(tcr: FakeTcr, store: FakeLogStore) -> None:
    svc = service(tcr, store)
    svc.attach(RID, attach())
    answer = svc.detach(RID, VPC_SH, REPLICA)
    assert answer["detached"]["dnsDeleted"] is False
    assert tcr.calls["delete_endpoint_dns"] == 0 and tcr.calls["delete_internal_endpoint"] == 1


def test_detach_of_what_is_not_attached(tcr: FakeTcr, store: FakeLogStore) -> None:
    exc = code_of(lambda: service(tcr, store).detach(RID, VPC_SH, REPLICA))
    assert (exc.code, exc.status) == ("AccessNotFound", 404)
    assert "GET /instances/" in exc.message


def test_detach_in_the_wrong_region_names_the_right_one(tcr: FakeTcr, store: FakeLogStore) -> None:
    svc = service(tcr, store)
    svc.attach(RID, attach())
    exc = code_of(lambda: svc.detach(RID, VPC_SH, PRIMARY))
    assert exc.code == "AccessNotFound" and f"?region={REPLICA}" in exc.message
    assert tcr.calls["delete_internal_endpoint"] == 0


def test_detach_of_an_entry_whose_endpoint_is_gone_drops_the_entry(tcr: FakeTcr, store: FakeLogStore) -> None:
    svc = service(tcr, store)
    svc.attach(RID, attach())
    del tcr.endpoints[RID][VPC_SH]
    assert svc.detach(RID, VPC_SH, REPLICA)["detached"]["vpcId"] == VPC_SH
    assert store.get_state(RID, STATE_NAME)["vpcs"] == {}


def test_detach_stops_at_a_dns_failure_and_keeps_the_entry(tcr: FakeTcr, store: FakeLogStore) -> None:
    svc = service(tcr, store)
    svc.attach(RID, attach())
    tcr.run_endpoints(RID)
    ip = tcr.endpoints[RID][VPC_SH][0].access_ip
    assert ip is not None
    tcr.create_endpoint_dns(RID, VPC_SH, ip, REPLICA)
    tcr.fail("delete_endpoint_dns", "Throttled")
    assert code_of(lambda: svc.detach(RID, VPC_SH, REPLICA)).code == "Throttled"
    assert tcr.calls["delete_internal_endpoint"] == 0
    assert list(store.get_state(RID, STATE_NAME)["vpcs"]) == [f"{REPLICA}/{VPC_SH}"]


# -- the delete-replica guard ----------------------------------------------------------------------------------


def replicas(tcr: FakeTcr, store: FakeLogStore) -> ReplicaService:
    return ReplicaService(tcr, store_factory=lambda: store)


def test_deleting_a_replica_with_vpcs_attached_is_refused(tcr: FakeTcr, store: FakeLogStore) -> None:
    service(tcr, store).attach(RID, attach())
    exc = code_of(lambda: replicas(tcr, store).delete(RID, f"{RID}-sh"))
    assert (exc.code, exc.status) == ("PrivateAccessExists", 409)
    assert VPC_SH in exc.message and "detachPrivateAccess=true" in exc.message
    assert exc.details["vpcs"] == [{"vpcId": VPC_SH, "subnetId": SUB_SH, "region": REPLICA}]
    assert tcr.calls["delete_replica"] == 0


def test_a_vpc_of_another_region_does_not_block(tcr: FakeTcr, store: FakeLogStore) -> None:
    service(tcr, store).attach(RID, attach(PRIMARY, VPC_GZ, SUB_GZ))
    assert replicas(tcr, store).delete(RID, f"{RID}-sh")["deleted"]["region"] == REPLICA


def test_delete_with_detach_private_access_detaches_first(tcr: FakeTcr, store: FakeLogStore) -> None:
    service(tcr, store).attach(RID, attach())
    tcr.run_endpoints(RID)
    ip = tcr.endpoints[RID][VPC_SH][0].access_ip
    assert ip is not None
    tcr.create_endpoint_dns(RID, VPC_SH, ip, REPLICA)
    tcr.requests.clear()
    answer = replicas(tcr, store).delete(RID, f"{RID}-sh", detach_private_access=True)
    assert [d["vpcId"] for d in answer["detachedPrivateAccess"]] == [VPC_SH]
    writes = [m for m, _ in tcr.requests if m.startswith("delete_")]
    assert writes == ["delete_endpoint_dns", "delete_internal_endpoint", "delete_replica"]
    assert store.get_state(RID, STATE_NAME)["vpcs"] == {}


def test_no_attachment_reads_no_state(tcr: FakeTcr, store: FakeLogStore) -> None:
    replicas(tcr, store).delete(RID, f"{RID}-sh")
    assert store.calls["get_state"] == 0


# -- inputs ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"region": REPLICA, "vpcId": "vpc-1", "subnetId": SUB_SH},
        {"region": REPLICA, "vpcId": VPC_SH, "subnetId": "sub-12345678"},
        {"region": REPLICA, "vpcId": VPC_SH},
        {"region": REPLICA, "vpcId": VPC_SH, "subnetId": SUB_SH, "dns": "yes"},
        {"region": REPLICA, "vpcId": VPC_SH, "subnetId": SUB_SH, "extra": 1},
        {"region": 1, "vpcId": VPC_SH, "subnetId": SUB_SH},
    ],
)
def test_attach_body_refusals(body: dict[str, Any]) -> None:
    assert code_of(lambda: AttachPrivateAccess.from_body(body)).code == "InvalidRequest"


def test_detach_needs_a_region_and_a_vpc_id() -> None:
    assert code_of(lambda: DetachPrivateAccess.from_request(VPC_SH, {})).code == "InvalidRequest"
    assert code_of(lambda: DetachPrivateAccess.from_request("vpc-x", {"region": REPLICA})).code == "InvalidRequest"
    assert DetachPrivateAccess.from_request(VPC_SH, {"region": REPLICA}) == DetachPrivateAccess(VPC_SH, REPLICA)


def test_delete_replica_query_is_true_or_false() -> None:
    assert DeleteReplica.from_query({"detachPrivateAccess": "true"}).detach_private_access is True
    assert DeleteReplica.from_query({}).detach_private_access is False
    assert code_of(lambda: DeleteReplica.from_query({"detachPrivateAccess": "yes"})).code == "InvalidRequest"
