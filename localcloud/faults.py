"""Fault injection shared by the emulated services: one seeded plan, read and changed at run time.

Plan shape (every part optional), as in the admin surface `/_localcloud/faults` and `LOCALCLOUD_FAULTS`:
{"seed": 1,
 "tcr": {"errorRate": 0.1, "codes": ["RequestLimitExceeded"], "latencyMs": 0, "dropRate": 0.0, "actions": ["*"],
         "slowRate": 0.0, "slowMs": 3000, "rateLimit": {"DescribeInstances": 5}},
 "cos": {"errorRate": 0.1, "statuses": [503], "latencyMs": 0, "dropRate": 0.0, "operations": ["*"],
         "slowRate": 0.0, "slowMs": 3000},
 "webhook": {"failRate": 0.0, "redeliverRate": 0.2, "reorderRate": 0.1, "reorderDelayMs": [200, 2000]},
 "replication": {"lagMs": [200, 2000], "failRate": 0.0}}
"""

from __future__ import annotations

import copy
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

DEFAULT_PLAN: dict[str, Any] = {
    "seed": 0,
    "tcr": {
        "errorRate": 0.0,
        "codes": ["RequestLimitExceeded"],
        "latencyMs": 0,
        "dropRate": 0.0,
        "actions": ["*"],
        "slowRate": 0.0,
        "slowMs": 3000,
        "rateLimit": {},
    },
    "cos": {
        "errorRate": 0.0,
        "statuses": [503],
        "latencyMs": 0,
        "dropRate": 0.0,
        "operations": ["*"],
        "slowRate": 0.0,
        "slowMs": 3000,
    },
    "webhook": {"failRate": 0.0, "redeliverRate": 0.0, "reorderRate": 0.0, "reorderDelayMs": [200, 2000]},
    "replication": {"lagMs": [50, 300], "failRate": 0.0},
}


class FaultPlanError(ValueError):
    pass


@dataclass
class Decision:
    latency_s: float = 0.0
    drop: bool = False
    error: str | int | None = None  # TCR error code, or COS HTTP status


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _check_rate(part: str, name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise FaultPlanError(f"{part}.{name} must be a number between 0 and 1")


def validate(plan: dict[str, Any]) -> None:
    if not isinstance(plan, dict):
        raise FaultPlanError("fault plan must be a JSON object")
    unknown = set(plan) - set(DEFAULT_PLAN)
    if unknown:
        raise FaultPlanError(f"unknown fault plan parts: {sorted(unknown)}")
    for part in ("tcr", "cos", "webhook", "replication"):
        body = plan.get(part, {})
        if not isinstance(body, dict):
            raise FaultPlanError(f"{part} must be an object")
        for name in ("errorRate", "dropRate", "failRate", "redeliverRate", "reorderRate", "slowRate"):
            if name in body:
                _check_rate(part, name, body[name])
        for name in ("latencyMs", "slowMs"):
            if name in body and (
                not isinstance(body[name], (int, float)) or isinstance(body[name], bool) or body[name] < 0
            ):
                raise FaultPlanError(f"{part}.{name} must be a non-negative number")
    for part, name in (("replication", "lagMs"), ("webhook", "reorderDelayMs")):
        span = plan.get(part, {}).get(name)
        if span is not None and not (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in span)
            and span[0] <= span[1]
        ):
            raise FaultPlanError(f"{part}.{name} must be [min, max] milliseconds")


class Faults:
    """Thread-safe holder of the current plan and its seeded random stream."""

    def __init__(self, plan: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = copy.deepcopy(DEFAULT_PLAN)
        self._rng = random.Random(0)
        self._windows: dict[str, list[float]] = {}
        self._injected: dict[str, dict[str, int]] = {"tcr": {}, "cos": {}}  # since start, whatever the plan
        if plan:
            self.set(plan)

    def get(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._plan)

    def set(self, plan: dict[str, Any]) -> dict[str, Any]:
        validate(plan)
        with self._lock:
            self._plan = _merge(DEFAULT_PLAN, plan)
            self._rng = random.Random(self._plan.get("seed", 0))
            self._windows.clear()
            return copy.deepcopy(self._plan)

    def clear(self) -> None:
        with self._lock:
            self._plan = copy.deepcopy(DEFAULT_PLAN)
            self._rng = random.Random(0)
            self._windows.clear()

    def random(self) -> float:
        with self._lock:
            return self._rng.random()

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)

    def injected(self) -> dict[str, dict[str, int]]:
        """Faults injected so far per service, by kind: `error:<code or status>`, `drop`, `slow`."""
        with self._lock:
            return copy.deepcopy(self._injected)

    def _count(self, service: str, kind: str) -> None:
        counts = self._injected.setdefault(service, {})
        counts[kind] = counts.get(kind, 0) + 1

    def part(self, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._plan.get(name, {}))

    def _rate_limited(self, action: str, per_second: float) -> bool:
        now = time.monotonic()
        window = [t for t in self._windows.get(action, []) if now - t < 1.0]
        limited = len(window) >= per_second
        if not limited:
            window.append(now)
        self._windows[action] = window
        return limited

    def decide(self, service: str, operation: str) -> Decision:
        """What happens to one call of `operation` on `service` ("tcr" or "cos")."""
        with self._lock:
            part = self._plan.get(service, {})
            scope = part.get("actions" if service == "tcr" else "operations", ["*"])
            decision = Decision(latency_s=float(part.get("latencyMs", 0)) / 1000.0)
            limits = part.get("rateLimit") or {}
            if service == "tcr" and operation in limits and self._rate_limited(operation, float(limits[operation])):
                decision.error = "RequestLimitExceeded"
                self._count(service, "error:RequestLimitExceeded")
                return decision
            if "*" not in scope and operation not in scope:
                return decision
            # drawn only when set, so that seeded plans without it keep their outcomes
            if part.get("slowRate", 0) and self._rng.random() < part["slowRate"]:
                decision.latency_s += float(part.get("slowMs", 3000)) / 1000.0
                self._count(service, "slow")
            if part.get("dropRate", 0) and self._rng.random() < part["dropRate"]:
                decision.drop = True
                self._count(service, "drop")
                return decision
            if part.get("errorRate", 0) and self._rng.random() < part["errorRate"]:
                choices = part.get("codes" if service == "tcr" else "statuses") or (
                    ["InternalError"] if service == "tcr" else [503]
                )
                decision.error = self._rng.choice(choices)
                self._count(service, f"error:{decision.error}")
            return decision
