"""`make bench` runs every scenario and writes every target into its results file (a smoke run: sizes chosen
by BENCH_SCALE=smoke, one interpreter per cold-start probe). Timing is not asserted here; the shape is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.__main__ import NOT_BY_DEFAULT, SCENARIOS  # noqa: E402


def test_bench_writes_every_scenario_and_target(tmp_path):
    out_file = tmp_path / "latest.json"
    out_file.write_text(
        json.dumps({"targets": [{"name": "kept", "scenario": "elsewhere", "ok": True}], "scenarios": {"elsewhere": 1}})
    )
    env = {
        **os.environ,
        "BENCH_RUNS": "1",
        "BENCH_SCALE": "smoke",
        "BENCH_RESULTS": str(out_file),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    out = subprocess.run(
        [sys.executable, "-m", "bench"], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out_file.read_text())
    assert set(doc["machine"]) >= {"cpus", "python", "when"}
    ran = [n for n in SCENARIOS if n not in NOT_BY_DEFAULT]
    assert set(doc["scenarios"]) == set(ran) | {"elsewhere"}, "a run keeps the scenarios it did not run"
    assert any(t["name"] == "kept" for t in doc["targets"])
    for name in ran:
        mine = [t for t in doc["targets"] if t["scenario"] == name]
        assert mine, f"scenario {name} reported no target"
        for t in mine:
            assert t["op"] in ("<=", ">=") and isinstance(t["value"], (int, float)) and t["unit"]
            expected = t["value"] <= t["target"] if t["op"] == "<=" else t["value"] >= t["target"]
            assert t["ok"] is expected, t
            assert t["name"] in out.stdout, "every target is printed as well as stored"
    for fn in ("replicas", "webhook", "audit"):
        assert sum(t["name"].startswith(f"{fn}:") for t in doc["targets"] if t["scenario"] == "cold_start") == 3
    assert out.stdout.splitlines()[-1].startswith(tuple(f"{i} of " for i in range(100)))
