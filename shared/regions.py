"""The TCR region catalogue (data in regions.json) and normalisation of region references.

A caller may name a region ("ap-shanghai") or give TCR's numeric region id (4, or "4");
everything downstream works with the canonical `Region`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

_CATALOGUE = Path(__file__).with_name("regions.json")


class Region(NamedTuple):
    name: str
    region_id: int
    mainland: bool
    tcr_served: bool

    @property
    def area(self) -> str:
        return "mainland China" if self.mainland else "outside mainland China"


class RegionLookupError(LookupError):
    """The reference names no region of the catalogue."""

    def __init__(self, reference: object) -> None:
        super().__init__(f"unknown region {reference!r}")
        self.reference = reference


@lru_cache(maxsize=1)
def catalogue() -> tuple[Region, ...]:
    data = json.loads(_CATALOGUE.read_text(encoding="utf-8"))
    return tuple(
        Region(r["name"], int(r["regionId"]), bool(r["mainland"]), bool(r["tcrServed"])) for r in data["regions"]
    )


@lru_cache(maxsize=1)
def _indexes() -> tuple[dict[str, Region], dict[int, Region]]:
    regions = catalogue()
    return {r.name: r for r in regions}, {r.region_id: r for r in regions}


def lookup(reference: str | int | float) -> Region:
    """Resolve a region name or TCR numeric id (int or digit string) to its catalogue entry."""
    by_name, by_id = _indexes()
    if isinstance(reference, bool):
        raise RegionLookupError(reference)
    if isinstance(reference, float) and reference.is_integer():
        reference = int(reference)  # JSON 4.0 is the integer 4
    if isinstance(reference, int):
        found = by_id.get(reference)
    elif isinstance(reference, str):
        text = reference.strip()
        if text.isascii() and text.isdigit() and len(text) <= 6:
            found = by_id.get(int(text))
        else:
            found = by_name.get(text.lower())
    else:
        found = None
    if found is None:
        raise RegionLookupError(reference)
    return found


def find(reference: str | int) -> Region | None:
    try:
        return lookup(reference)
    except RegionLookupError:
        return None


def served() -> tuple[Region, ...]:
    return tuple(r for r in catalogue() if r.tcr_served)


def name_and_id(name: str | None, region_id: int | None) -> tuple[str, int | None]:
    """A region as TCR reported it (the name, the id, or both), completed from the catalogue.

    A region the catalogue does not know keeps what TCR said: its id stands for its name when that is all.
    """
    if name and region_id is not None:
        return name, region_id
    if name:
        found = find(name)
        return name, found.region_id if found else None
    if region_id is not None:
        found = find(region_id)
        return (found.name if found else str(region_id)), region_id
    return "", None
