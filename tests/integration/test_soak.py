"""The fault soak of `make soak`, small: ~80 pushes through TCR's webhook trigger under the same fault mix.

It runs the very code of bench/soak.py (its own localcloud; the verdict read with the COS and TCR SDKs and from
localcloud's delivery records, never through the product's reader) and asserts correctness only, no timing.
Overlap: tests/integration/test_faults_e2e.py checks the same property with 15 pushes, TCR faults limited to the
product's actions, error faults only and no out-of-order delivery, reading the log through the product's API.
"""

from __future__ import annotations

import json

from bench.soak import Soak, soak, verdict

PUSHES = 80


def test_soak_loses_nothing_duplicates_nothing_and_answers_only_retryable_failures():
    counts = soak(Soak(pushes=PUSHES, rate=40, audit_every_s=2, final_bound_s=60, delivery_bound_s=60), log=None)
    detail = json.dumps(counts, indent=1)
    # the faults happened (else this proves nothing)
    assert counts["redeliveries"] > 0 and counts["reordered"] > 0, detail
    kinds = set(counts["faults_injected"])
    assert {"tcr drop", "cos drop"} <= kinds, detail
    assert any(k.startswith("cos error:") for k in kinds) and any(k.startswith("tcr error:") for k in kinds), detail
    assert counts["audits_during"] > 0, detail
    # every push reached the webhook, and every failure it answered is one the sender retries
    assert counts["deliveries"] == PUSHES + counts["redeliveries"], detail
    assert counts["pushes_never_delivered"] == 0, detail
    assert counts["non_retryable_non2xx"] == 0, detail
    assert counts["trigger_log_entries"] == counts["deliveries"], detail
    # exactly one final record per (digest, replica), nothing left pending
    assert counts["still_pending_after_final"] == 0, detail
    assert counts["lost"] == 0 and counts["duplicated"] == 0 and counts["foreign_records"] == 0, detail
    assert counts["final_records"] == PUSHES * counts["replicas"], detail
    assert counts["inbox_objects_left"] == 0, detail


def _line(digest: str, replica: str, event: str, status: str = "replicated") -> bytes:
    return json.dumps({"digest": digest, "replicaRegistryId": replica, "eventId": event, "status": status}).encode()


def test_verdict_counts_what_is_missing_duplicated_or_refused():
    """The checker itself can fail: a lost, a doubled and a pending record, and a 400 answer, are all counted."""
    replicas = {"r1": "ap-shanghai", "r2": "ap-beijing"}
    objects = {
        "log/a.jsonl": b"\n".join([_line("d1", "r1", "e1"), _line("d1", "r2", "e1"), _line("d2", "r1", "e2")]),
        "log/b.jsonl": b"\n".join([_line("d2", "r1", "e2"), _line("d3", "r1", "e3", "pending")]),
        "log/c.jsonl": _line("d3", "r2", "e3b"),
    }
    deliveries = [
        _delivery("d1", "delivered", [_try(202, 1)]),
        _delivery("d2", "delivered", [_try(503, 4), _try(202, 5)]),
        _delivery("d3", "failed", [_try(400, 2)]),
    ]
    counts = verdict(
        digests=["d1", "d2", "d3"],
        replicas=replicas,
        log_objects=objects,
        inbox_left=1,
        deliveries=deliveries,
        trigger_log=[{"Status": "finished"}] * 3,
    )
    assert counts["lost"] == 2  # d2/r2 never written, d3/r1 only pending
    assert counts["duplicated"] == 1  # d2/r1 twice
    assert counts["final_records"] == 5
    assert counts["non2xx_by_status"] == {"400": 1, "503": 1}
    assert counts["non_retryable_non2xx"] == 1
    assert counts["retried_then_delivered"] == 1
    assert counts["pushes_never_delivered"] == 1
    assert counts["reordered"] == 1  # d2 arrived after d3's first attempt


def _delivery(digest: str, outcome: str, attempts: list[dict]) -> dict:
    return {"digest": digest, "redelivery": False, "heldMs": 0, "outcome": outcome, "attempts": attempts}


def _try(status: int, arrival: int) -> dict:
    return {"arrival": arrival, "status": status, "error": None, "injected": False}
