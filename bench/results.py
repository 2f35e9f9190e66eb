"""What a bench run measured: every target as a row on stdout and an entry of `bench/results/latest.json`.

`latest.json` is `{"machine": {...}, "targets": [...], "scenarios": {...}}`. A run replaces the entries of the
scenarios it ran and keeps the others, so `make soak` adds its counts to the last `make bench` and vice versa.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "bench" / "results" / "latest.json"


def results_path() -> Path:
    return Path(os.environ.get("BENCH_RESULTS") or DEFAULT_PATH)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


class Results:
    """The targets and raw figures of one run, grouped by scenario."""

    def __init__(self) -> None:
        self.targets: list[dict[str, Any]] = []
        self.scenarios: dict[str, Any] = {}
        self.current = ""

    def begin(self, scenario: str, title: str) -> None:
        self.current = scenario
        self.scenarios.setdefault(scenario, {})
        print(title, flush=True)

    def figure(self, name: str, value: Any) -> None:
        """A raw figure of the current scenario (no target)."""
        self.scenarios.setdefault(self.current, {})[name] = value

    def target(self, name: str, value: float, target: float, unit: str = "x", op: str = "<=") -> bool:
        if op not in ("<=", ">="):
            raise ValueError(f"op must be '<=' or '>=', not {op!r}")
        ok = value <= target if op == "<=" else value >= target
        print(f"  {name:<64} {value:>10.3f} {unit:<6} target {op} {target:<8} {'ok' if ok else 'MISSED'}", flush=True)
        self.targets.append(
            {
                "name": name,
                "value": round(value, 4),
                "unit": unit,
                "target": target,
                "op": op,
                "ok": ok,
                "scenario": self.current,
            }
        )
        return ok

    def write(self, path: Path | None = None) -> Path:
        path = path or results_path()
        old: dict[str, Any] = {}
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except ValueError:
                old = {}
        ran = set(self.scenarios)
        targets = [t for t in old.get("targets", []) if t.get("scenario") not in ran] + self.targets
        scenarios = {k: v for k, v in old.get("scenarios", {}).items() if k not in ran}
        scenarios.update(self.scenarios)
        doc = {"machine": machine(), "targets": targets, "scenarios": scenarios}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
        return path

    def summary(self) -> str:
        missed = [t["name"] for t in self.targets if not t["ok"]]
        met = len(self.targets) - len(missed)
        return f"{met} of {len(self.targets)} targets met" + (
            "" if not missed else f"; {len(missed)} missed (see above)"
        )


def markdown(doc: dict[str, Any]) -> str:
    """The targets of a results document as the table docs/performance.md shows."""
    m = doc.get("machine", {})
    lines = [
        f"Run {m.get('when', '?')} on {m.get('cpus', '?')} CPUs, Python {m.get('python', '?')} "
        f"({m.get('platform', '?')}).",
        "",
        "| scenario | target | value | limit | |",
        "|---|---|---|---|---|",
    ]
    for t in doc.get("targets", []):
        unit = "x" if t["unit"] == "x" else f" {t['unit']}"
        value = f"{t['value']:.3f}".rstrip("0").rstrip(".") if isinstance(t["value"], float) else str(t["value"])
        lines.append(
            f"| {t.get('scenario', '')} | {t['name']} | {value}{unit} | {t['op']} {t['target']} "
            f"| {'met' if t['ok'] else '**missed**'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(json.loads(results_path().read_text())))
