"""Region catalogue and rules, checked against an oracle written from reference/regions.md, not from the code."""

from __future__ import annotations

import itertools

import pytest

from shared import regions, rules
from shared.errors import ApiError
from shared.policy import Policy

# From reference/regions.md §1 (the 19 regions TCR's DescribeRegions doc lists) and §3 (mainland vs outside).
SERVED = set(
    "ap-bangkok ap-beijing ap-chengdu ap-chongqing ap-guangzhou ap-hongkong ap-jakarta ap-mumbai ap-nanjing "
    "ap-seoul ap-shanghai ap-shanghai-fsi ap-shenzhen-fsi ap-singapore ap-tokyo eu-frankfurt na-ashburn "
    "na-siliconvalley sa-saopaulo".split()
)
OUTSIDE = set(
    "ap-hongkong ap-taipei ap-singapore ap-jakarta ap-bangkok ap-seoul ap-tokyo ap-mumbai na-siliconvalley "
    "na-ashburn na-toronto eu-frankfurt eu-moscow sa-saopaulo".split()
)
IDS = {
    "ap-guangzhou": 1,
    "ap-shanghai": 4,
    "ap-hongkong": 5,
    "ap-beijing": 8,
    "ap-singapore": 9,
    "ap-taipei": 39,
    "ap-nanjing": 33,
    "ap-beijing-fsi": 46,
    "ap-shenzhen-fsi": 11,
    "ap-shanghai-fsi": 7,
    "ap-chengdu": 16,
    "ap-chongqing": 19,
    "sa-saopaulo": 74,
    "ap-jakarta": 72,
    "ap-tokyo": 25,
    "na-ashburn": 22,
}

ALL = [r.name for r in regions.catalogue()]


def expected_code(primary: str, replica: str) -> str | None:
    if primary == "ap-taipei" or replica == "ap-taipei" or primary not in SERVED or replica not in SERVED:
        return "RegionNotSupported"
    if primary == replica:
        return "SameRegion"
    if (primary in OUTSIDE) != (replica in OUTSIDE):
        return "CrossBorder"
    return None


def premium(region: str) -> rules.Instance:
    return rules.Instance("tcr-abc123", region, "premium", "Running")


def test_catalogue_matches_reference():
    assert len(ALL) == len(set(ALL)) == 43
    assert {r.name for r in regions.served()} == SERVED
    for name, rid in IDS.items():
        assert regions.lookup(name).region_id == rid
        assert regions.lookup(rid).name == name
        assert regions.lookup(str(rid)).name == name
    for region in regions.catalogue():
        assert region.mainland == (region.name not in OUTSIDE), region.name


@pytest.mark.parametrize("ref", ["", "ap-atlantis", "0", "999", True, None, 3.5, "ap-shanghai\x00", "１"])
def test_unknown_references(ref):
    assert regions.find(ref) is None  # type: ignore[arg-type]


def test_lookup_normalises_case_and_space():
    assert regions.lookup(" AP-Shanghai ").name == "ap-shanghai"


@pytest.mark.parametrize(("primary", "replica"), list(itertools.product(ALL, ALL)))
def test_every_pair(primary, replica):
    want = expected_code(primary, replica)
    if want is None:
        plan = rules.check_create("tcr-abc123", premium(primary), replica, [])
        assert plan.replica_region.name == replica
        assert plan.replica_region.region_id == regions.lookup(replica).region_id
    else:
        with pytest.raises(ApiError) as info:
            rules.check_create("tcr-abc123", premium(primary), replica, [])
        assert info.value.code == want
        assert info.value.status == 422
        assert primary in info.value.message or replica in info.value.message


def test_pair_by_numeric_id():
    plan = rules.check_create("tcr-abc123", premium("ap-guangzhou"), 4, [])
    assert plan.replica_region.name == "ap-shanghai"
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", premium("ap-guangzhou"), "5", [])
    assert info.value.code == "CrossBorder"
    assert "cross-instance synchronisation" in info.value.message


def test_cross_border_message_names_alternative_and_regions():
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", premium("ap-guangzhou"), "ap-hongkong", [])
    msg = info.value.message
    assert "ap-guangzhou" in msg and "ap-hongkong" in msg and "ManageReplication" in msg


def test_not_found_not_premium_not_running_unknown():
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-zzz", None, "ap-shanghai", [])
    assert (info.value.code, info.value.status) == ("InstanceNotFound", 404)
    basic = rules.Instance("tcr-abc123", "ap-guangzhou", "basic", "Running")
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", basic, "ap-shanghai", [])
    assert (info.value.code, info.value.status) == ("NotPremium", 422)
    deploying = rules.Instance("tcr-abc123", "ap-guangzhou", "premium", "Deploying")
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", deploying, "ap-shanghai", [])
    assert (info.value.code, info.value.status) == ("InstanceNotRunning", 409)
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", premium("ap-guangzhou"), "ap-atlantis", [])
    assert (info.value.code, info.value.status) == ("UnknownRegion", 422)


def test_replica_exists_and_precedence_lists_every_violation():
    existing = [rules.Replica("tcr-abc123-4-aaaaaa", "ap-shanghai")]
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", premium("ap-guangzhou"), "ap-shanghai", existing)
    assert (info.value.code, info.value.status) == ("ReplicaExists", 409)
    basic = rules.Instance("tcr-abc123", "ap-guangzhou", "standard", "Isolate")
    policy = Policy(denied=frozenset({"ap-hongkong"}))
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", basic, "ap-hongkong", existing, policy)
    codes = [v["code"] for v in info.value.details["violations"]]
    assert info.value.code == "NotPremium"
    assert codes == ["NotPremium", "InstanceNotRunning", "CrossBorder", "PolicyDenied"]
    body = info.value.to_body("rid-1")["error"]
    assert body["requestId"] == "rid-1" and len(body["violations"]) == 4


def test_policy_rules():
    policy = Policy(allowed=frozenset({"ap-shanghai", "ap-beijing"}), max_replicas=1)
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", premium("ap-guangzhou"), "ap-chengdu", [], policy)
    assert info.value.code == "PolicyDenied" and "ap-chengdu" in info.value.message
    existing = [rules.Replica("tcr-abc123-4-aaaaaa", "ap-shanghai")]
    with pytest.raises(ApiError) as info:
        rules.check_create("tcr-abc123", premium("ap-guangzhou"), "ap-beijing", existing, policy)
    assert info.value.code == "PolicyDenied" and "at most 1" in info.value.message


def test_delete_instance_guard():
    rules.check_delete_instance("tcr-abc123", [])
    with pytest.raises(ApiError) as info:
        rules.check_delete_instance("tcr-abc123", [rules.Replica("tcr-abc123-4-aaaaaa", "ap-shanghai")])
    assert (info.value.code, info.value.status) == ("ReplicasExist", 409)
    assert info.value.details["replicas"] == [{"replicaRegistryId": "tcr-abc123-4-aaaaaa", "region": "ap-shanghai"}]


@pytest.mark.parametrize("primary", ALL)
def test_eligibility_agrees_with_oracle(primary):
    rows = rules.eligibility(regions.lookup(primary))
    assert [r["region"] for r in rows] == ALL
    for row in rows:
        want = expected_code(primary, row["region"])
        assert row["replicaAllowed"] == (want is None)
        assert row["code"] == want
        assert (row["reason"] is None) == (want is None)


def test_audit_finds_drift():
    policy = Policy(required=frozenset({"ap-beijing", "ap-guangzhou"}), denied=frozenset({"ap-chengdu"}))
    reps = [rules.Replica("tcr-a-16-x", "ap-chengdu"), rules.Replica("tcr-a-5-y", "ap-hongkong")]
    found = rules.audit_violations(regions.lookup("ap-guangzhou"), reps, policy)
    codes = sorted(v.code for v in found)
    assert codes == ["CrossBorder", "PolicyDenied", "PolicyDenied"]
    assert any("ap-beijing" in v.message and v.rule == "required-region" for v in found)


def test_a_whole_float_is_a_region_id():
    assert regions.lookup(4.0).name == "ap-shanghai"
    assert regions.find(4.5) is None


def test_finance_zones_use_their_regional_api_host():
    from shared.tcr import api_host

    assert api_host("ap-shanghai-fsi") == "tcr.ap-shanghai-fsi.tencentcloudapi.com"
    assert api_host("ap-shenzhen-fsi") == "tcr.ap-shenzhen-fsi.tencentcloudapi.com"
    assert api_host("ap-guangzhou") == "tcr.tencentcloudapi.com"
