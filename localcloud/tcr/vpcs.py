"""The VPC catalogue behind TCR's private-network access (ManageInternalEndpoint and the DNS actions).

Not a VPC API: the data TCR's private-access actions check against. Every TCR region starts with one
default VPC and one subnet (ids and CIDRs derived from the region name, so they are the same on every
run); `/_localcloud/vpcs` adds more. The CIDRs are data only, never network targets.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from localcloud.tcr import regions


def _hash_id(prefix: str, seed: str) -> str:
    return f"{prefix}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


def _default_index(region: str) -> int:
    """1.. in DescribeRegions order: the second octet of the region's default VPC CIDR."""
    names = [r.name for r in regions.served_regions()]
    return names.index(region) + 1


def default_vpc(region: str) -> dict[str, Any]:
    """The region's default VPC: 10.<n>.0.0/16 with the subnet 10.<n>.1.0/24."""
    n = _default_index(region)
    return {
        "vpcId": _hash_id("vpc", f"default/{region}"),
        "region": region,
        "cidr": f"10.{n}.0.0/16",
        "subnets": [{"subnetId": _hash_id("subnet", f"default/{region}"), "cidr": f"10.{n}.1.0/24"}],
    }


def first_subnet(cidr: str) -> str:
    """The VPC's first subnet: its second /24 (x.y.1.0/24) when the VPC is /16../23, else the VPC itself."""
    net = ipaddress.IPv4Network(cidr)
    if net.prefixlen <= 23:
        return str(list(net.subnets(new_prefix=24))[1])
    return str(net)


def check_cidr(cidr: Any) -> str:
    """A private IPv4 network of /16 to /28 (VPC's documented range), normalised; ValueError otherwise."""
    if not isinstance(cidr, str):
        raise ValueError("`cidr` must be a string such as 10.20.0.0/16")
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise ValueError(f"`cidr` {cidr!r} is not an IPv4 network: {exc}") from None
    if not 16 <= net.prefixlen <= 28:
        raise ValueError(f"`cidr` {cidr} must have a prefix between /16 and /28")
    private = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    if not any(net.subnet_of(p) for p in private):
        raise ValueError(f"`cidr` {cidr} must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    return str(net)


def new_vpc(region: str, cidr: str | None, taken: list[str], seq: int) -> dict[str, Any]:
    """An added VPC: `cidr` as given, else the first 10.<k>.0.0/16 (k from 100) not used in the region."""
    if cidr is None:
        used = {ipaddress.IPv4Network(c) for c in taken}
        for k in range(100, 256):
            candidate = ipaddress.IPv4Network(f"10.{k}.0.0/16")
            if not any(candidate.overlaps(u) for u in used):
                cidr = str(candidate)
                break
        else:
            raise ValueError(f"no free 10.x.0.0/16 left in {region}; give `cidr`")
    seed = f"{region}/{cidr}/{seq}"
    return {
        "vpcId": _hash_id("vpc", seed),
        "region": region,
        "cidr": cidr,
        "subnets": [{"subnetId": _hash_id("subnet", seed), "cidr": first_subnet(cidr)}],
    }


def host_address(subnet_cidr: str, used: set[str]) -> str:
    """The first address from the 10th host of the subnet on that is not in `used` (the endpoint's AccessIp)."""
    net = ipaddress.IPv4Network(subnet_cidr)
    for i, host in enumerate(net.hosts()):
        if i >= 9 and str(host) not in used:
            return str(host)
    raise ValueError(f"the subnet {subnet_cidr} has no free address")
