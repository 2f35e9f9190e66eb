"""The cloud's own region facts for the TCR emulator (written independently of the product's rules).

Sources (see /work/shared/reference/regions.md):
- the regions the TCR API serves: the DescribeRegions API doc's list of 19 regions;
- the numeric TCR region ids: the RegionIdMap table (agrees with Tencent's API examples);
- mainland China vs. outside: Tencent's region pages; Hong Kong and Taipei count as outside.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every region name TCR gives a numeric id to (a superset of the served ones).
REGION_IDS: dict[str, int] = {
    "ap-guangzhou": 1,
    "ap-shanghai": 4,
    "ap-hongkong": 5,
    "na-toronto": 6,
    "ap-shanghai-fsi": 7,
    "ap-beijing": 8,
    "ap-singapore": 9,
    "ap-shenzhen-fsi": 11,
    "ap-guangzhou-open": 12,
    "ap-shanghai-ysx": 13,
    "na-siliconvalley": 15,
    "ap-chengdu": 16,
    "eu-frankfurt": 17,
    "ap-seoul": 18,
    "ap-chongqing": 19,
    "ap-mumbai": 21,
    "na-ashburn": 22,
    "ap-bangkok": 23,
    "eu-moscow": 24,
    "ap-tokyo": 25,
    "ap-jinan-ec": 31,
    "ap-hangzhou-ec": 32,
    "ap-nanjing": 33,
    "ap-fuzhou-ec": 34,
    "ap-wuhan-ec": 35,
    "ap-tianjin": 36,
    "ap-shenzhen": 37,
    "ap-taipei": 39,
    "ap-changsha-ec": 45,
    "ap-beijing-fsi": 46,
    "ap-shijiazhuang-ec": 53,
    "ap-qingyuan": 54,
    "ap-hefei-ec": 55,
    "ap-shenyang-ec": 56,
    "ap-xian-ec": 57,
    "ap-xibei-ec": 58,
    "ap-zhengzhou-ec": 71,
    "ap-jakarta": 72,
    "ap-qingyuan-xinan": 73,
    "sa-saopaulo": 74,
    "ap-guiyang": 76,
    "ap-shenzhen-sycft": 77,
    "ap-shanghai-adc": 78,
}

NAMES_BY_ID: dict[int, str] = {v: k for k, v in REGION_IDS.items()}

# The regions the TCR API serves (DescribeRegions doc), with a short alias each (aliases: our assumption,
# only "gz" for ap-guangzhou is documented).
SERVED: dict[str, str] = {
    "ap-guangzhou": "gz",
    "ap-shanghai": "sh",
    "ap-hongkong": "hk",
    "ap-shanghai-fsi": "shjr",
    "ap-beijing": "bj",
    "ap-singapore": "sg",
    "ap-shenzhen-fsi": "szjr",
    "na-siliconvalley": "usw",
    "ap-chengdu": "cd",
    "eu-frankfurt": "de",
    "ap-seoul": "kr",
    "ap-chongqing": "cq",
    "ap-mumbai": "in",
    "na-ashburn": "use",
    "ap-bangkok": "th",
    "ap-tokyo": "jp",
    "ap-nanjing": "nj",
    "ap-jakarta": "jkt",
    "sa-saopaulo": "sao",
}

_MAINLAND_NAMED = {
    "ap-guangzhou",
    "ap-shanghai",
    "ap-nanjing",
    "ap-beijing",
    "ap-chengdu",
    "ap-chongqing",
    "ap-tianjin",
    "ap-shenzhen",
    "ap-qingyuan",
    "ap-qingyuan-xinan",
    "ap-guiyang",
    "ap-shanghai-fsi",
    "ap-shenzhen-fsi",
    "ap-beijing-fsi",
    "ap-guangzhou-open",
    "ap-shanghai-ysx",
    "ap-shenzhen-sycft",
    "ap-shanghai-adc",
}

# Not served at all (Taiwan): a named exception kept apart so the message can say so.
TAIWAN = "ap-taipei"


@dataclass(frozen=True)
class RegionInfo:
    name: str
    region_id: int
    alias: str


def is_mainland(name: str) -> bool:
    return name in _MAINLAND_NAMED or name.endswith("-ec")


def is_served(name: str) -> bool:
    return name in SERVED


def served_regions() -> list[RegionInfo]:
    """The TCR regions in id order, as DescribeRegions lists them."""
    out = [RegionInfo(name, REGION_IDS[name], alias) for name, alias in SERVED.items()]
    return sorted(out, key=lambda r: r.region_id)
