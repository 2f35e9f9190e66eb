"""`make bench` runs and reports every target with a ratio (a smoke run: one interpreter, a few events)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_reports_every_target():
    env = {**os.environ, "BENCH_RUNS": "1", "BENCH_EVENTS": "5", "NO_PROXY": "127.0.0.1,localhost"}
    out = subprocess.run(
        [sys.executable, "-m", "bench"], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    for fn in ("replicas", "webhook", "audit"):
        assert sum(line.strip().startswith(f"{fn}:") for line in lines) == 3, out.stdout
    assert any("remote calls per push event" in line for line in lines)
    assert any("median handler time" in line for line in lines)
    assert lines[-1].endswith(("targets met", "(see above)")), lines[-1]
