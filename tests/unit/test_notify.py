"""shared.notify: signing against an independently computed HMAC, verify(), stable ids, bodies."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from shared import notify
from shared.config import Config
from shared.errors import ConfigError

SECRET = "notify-shared-secret"


def reference_signature(secret: str, timestamp: str, body: bytes) -> str:
    # Written out from the contract, independent of shared.notify.sign.
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def test_sign_matches_reference_hmac() -> None:
    body = b'{"kind":"late","id":"x"}'
    assert notify.sign(SECRET, 1700000000, body) == reference_signature(SECRET, "1700000000", body)
    # a known vector: HMAC-SHA256("key", "1.{}")
    expected = "sha256=" + hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()
    assert notify.sign("key", "1", "{}") == expected


def test_verify_accepts_a_good_signature_within_tolerance() -> None:
    body = b'{"a":1}'
    sig = reference_signature(SECRET, "1700000000", body)
    assert notify.verify(SECRET, "1700000000", body, sig, 300, now=1700000100)
    assert notify.verify(SECRET, 1700000000, body.decode(), sig, 300, now=1699999900)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature", "now"),
    [
        ("wrong-secret", "1700000000", b'{"a":1}', None, 1700000000),
        (SECRET, "1700000000", b'{"a":2}', None, 1700000000),  # body changed
        (SECRET, "1700000001", b'{"a":1}', None, 1700000000),  # timestamp changed
        (SECRET, "1700000000", b'{"a":1}', None, 1700000301),  # too old
        (SECRET, "1700000000", b'{"a":1}', None, 1699999699),  # from the future
        (SECRET, "17e8", b'{"a":1}', None, 1700000000),  # not an integer
        (SECRET, None, b'{"a":1}', None, 1700000000),
        (SECRET, "1700000000", b'{"a":1}', "", 1700000000),
        (SECRET, "1700000000", b'{"a":1}', "sha1=abc", 1700000000),
    ],
)
def test_verify_rejects(secret: str, timestamp: str | None, body: bytes, signature: str | None, now: int) -> None:
    good = reference_signature(SECRET, "1700000000", b'{"a":1}')
    sig = good if signature is None else signature
    assert not notify.verify(secret, timestamp, body, sig, 300, now=now)


def test_verify_without_tolerance_skips_freshness() -> None:
    body = b"{}"
    sig = reference_signature(SECRET, "1", body)
    assert notify.verify(SECRET, "1", body, sig, 0, now=1700000000)


def test_ids_are_stable_and_distinct() -> None:
    reps = [{"replicaRegistryId": "tcr-a-4", "region": "ap-shanghai", "replicatedAt": "t", "lagSeconds": 3}]
    a = notify.replicated("tcr-a", "ns/app", "v1", "sha256:1", "t0", reps, created_at=1)
    b = notify.replicated("tcr-a", "ns/app", "v1", "sha256:1", "t0", list(reversed(reps)), created_at=99)
    c = notify.replicated("tcr-a", "ns/app", "v1", "sha256:2", "t0", reps, created_at=1)
    assert a.id == b.id
    assert a.id != c.id
    assert a.body["id"] == a.id and a.id.startswith("replicated-")
    late = notify.late("tcr-a", "ns/app", "v1", "sha256:1", "t0", "tcr-a-4", "ap-shanghai", 900, 950.0)
    failed = notify.failed("tcr-a", "ns/app", "v1", "sha256:1", "t0", "tcr-a-4", "ap-shanghai", "boom")
    assert len({a.id, late.id, failed.id}) == 3


def test_replicated_body_has_per_replica_lag() -> None:
    reps = [
        {
            "replicaRegistryId": "tcr-a-8",
            "region": "ap-beijing",
            "replicatedAt": "2026-01-01T00:00:09Z",
            "lagSeconds": 9,
        },
        {
            "replicaRegistryId": "tcr-a-4",
            "region": "ap-shanghai",
            "replicatedAt": "2026-01-01T00:00:04Z",
            "lagSeconds": 4,
        },
    ]
    n = notify.replicated(
        "tcr-a", "ns/app", "v1", "sha256:1", "2026-01-01T00:00:00Z", reps, primary_region="ap-guangzhou"
    )
    body = json.loads(n.payload())
    assert body["kind"] == "replicated"
    assert body["schemaVersion"] == 1
    assert body["digest"] == "sha256:1"
    assert {r["region"]: r["lagSeconds"] for r in body["replicas"]} == {"ap-beijing": 9, "ap-shanghai": 4}
    assert body["maxLagSeconds"] == 9


def test_period_controls_repeat_of_lasting_findings() -> None:
    v = [{"code": "CrossBorder", "region": "ap-singapore"}]
    day1 = notify.policy_violation("tcr-a", v, period="2026-01-01")
    day1_again = notify.policy_violation("tcr-a", list(v), period="2026-01-01")
    day2 = notify.policy_violation("tcr-a", v, period="2026-01-02")
    assert day1.id == day1_again.id != day2.id
    u1 = notify.replica_unhealthy("tcr-a", "tcr-a-4", "ap-shanghai", "Unhealthy", period="2026-01-01")
    u2 = notify.replica_unhealthy("tcr-a", "tcr-a-4", "ap-shanghai", "Unhealthy", period="2026-01-02")
    assert u1.id != u2.id and u1.kind == "replica_unhealthy"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        notify.build("exploded", ("x",), {})


def test_not_configured_is_skipped_not_an_error() -> None:
    notifier = notify.Notifier.from_config(Config({}))
    assert not notifier.enabled
    n = notify.late("tcr-a", "ns/app", "v1", "sha256:1", "t0", "tcr-a-4", "ap-shanghai", 900, 950.0)
    result = notifier.send(n)
    assert result.outcome == "skipped"
    assert result.attempts == 0
    assert notify.summarize([result]) == {"sent": 0, "skipped": 1, "failed": 0}


def test_url_without_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        notify.Notifier.from_config(Config({"NOTIFY_URL": "http://127.0.0.1:1/hook"}))
    assert info.value.variable == "NOTIFY_SECRET"


def test_headers_carry_timestamp_signature_and_id() -> None:
    notifier = notify.Notifier("http://127.0.0.1:1/", SECRET, clock=lambda: 1700000000.7)
    n = notify.failed("tcr-a", "ns/app", "v1", "sha256:1", "t0", "tcr-a-4", "ap-shanghai", "boom")
    body = n.payload()
    headers = notifier.headers(n, body, 1700000000)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Timestamp"] == "1700000000"
    assert headers["X-Signature"] == reference_signature(SECRET, "1700000000", body)
    assert headers["X-Notification-Id"] == n.id
    assert "secret" not in repr(notifier).lower()
