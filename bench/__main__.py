"""`make bench` / `make soak`: the targets of DESIGN.md §11 measured as ratios against a floor taken in the same run.

`python -m bench [scenario ...]` runs the named scenarios (default: all but `soak`), prints a table per
scenario and writes `bench/results/latest.json` (or `$BENCH_RESULTS`). Nothing here is asserted in tests:
timing belongs to benchmarks. Everything runs on 127.0.0.1 against an embedded localcloud. Sizes come from
environment variables so that the test suite can smoke-run every scenario small (see docs/performance.md).
"""

from __future__ import annotations

import importlib
import os
import sys

from bench.results import ROOT, Results

# scenario name -> module holding `run(results)`, in the order `make bench` runs them
SCENARIOS = {
    "cold_start": "bench.cold",
    "webhook": "bench.webhook",
    "webhook_concurrency": "bench.concurrency",
    "audit": "bench.audit",
    "log_query": "bench.logquery",
    "polling": "bench.polling",
    "soak": "bench.soak",
}
NOT_BY_DEFAULT = {"soak"}


def main(argv: list[str]) -> int:
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    names = argv or [n for n in SCENARIOS if n not in NOT_BY_DEFAULT]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    results = Results()
    try:
        for name in names:
            importlib.import_module(SCENARIOS[name]).run(results)
    finally:
        path = results.write()
        print(f"{results.summary()}; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
