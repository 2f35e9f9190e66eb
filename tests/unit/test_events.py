"""Every sample event under events/ goes through the adapter it is for; payload parsing is checked field by field."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared import http, schemas, webhook
from shared.errors import ApiError

EVENTS = Path(__file__).resolve().parents[2] / "events"
ALL = sorted(p.name for p in EVENTS.glob("*.json"))
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_there_is_a_sample_per_trigger():
    kinds = {name.split("_")[0] for name in ALL}
    assert kinds == {"apigw", "function", "timer", "webhook"}
    assert len(ALL) >= 15


@pytest.mark.parametrize("name", [n for n in ALL if n.startswith(("function_url", "apigw", "webhook"))])
def test_http_samples_parse(name):
    event = load(name)
    request = http.parse_event(event, {"request_id": "r-1"})
    assert request.method == event["httpMethod"]
    assert request.path.startswith("/")
    assert request.request_id == "r-1"
    if request.body:
        request.json()


@pytest.mark.parametrize("name", [n for n in ALL if n.startswith("timer")])
def test_timer_samples_validate(name):
    schemas.validate("timer.event", load(name), where="event")


def test_tcr_push_sample_fields():
    pushes, ignored = webhook.parse(json.loads(load("webhook_tcr_push_image.json")["body"]), NOW)
    assert ignored is None and len(pushes) == 1
    push = pushes[0]
    assert (push.namespace, push.repository, push.tag) == ("nginx", "nginx", "v1")
    assert push.digest == "sha256:7ac7819e1523911399b798309025935a9968b277d86d50e5255465d6592c0266"
    assert push.host == "wcctest.tencentcloudcr.com"
    assert push.operator == "3211064422"
    assert push.occurred_at == datetime(2020, 4, 13, 10, 47, 23, tzinfo=timezone.utc)  # occur_at 1586774843


def test_harbor_sample_fields():
    pushes, _ = webhook.parse(json.loads(load("webhook_harbor_push_artifact.json")["body"]), NOW)
    assert [(p.event_type, p.namespace, p.repository, p.tag, p.operator) for p in pushes] == [
        ("pushImage", "test-webhook", "debian", "latest", "admin")
    ]


def test_distribution_envelope_keeps_only_the_manifest_push():
    pushes, _ = webhook.parse(json.loads(load("webhook_distribution_envelope.json")["body"]), NOW)
    assert len(pushes) == 1
    push = pushes[0]
    assert (push.namespace, push.repository, push.tag) == ("team-a", "api", "1.4.2")
    assert push.host == "wcctest.tencentcloudcr.com"
    assert push.occurred_at == datetime(2026, 11, 28, 1, 59, 59, tzinfo=timezone.utc)


def test_delete_and_empty_samples():
    pushes, _ = webhook.parse(json.loads(load("webhook_tcr_delete_image.json")["body"]), NOW)
    assert [p.event_type for p in pushes] == ["deleteImage"]
    pushes, ignored = webhook.parse(json.loads(load("webhook_tcr_push_image_empty.json")["body"]), NOW)
    assert pushes == [] and "no resources" in ignored


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"type": "pushImage"},
        {"type": "pushImage", "event_data": {"resources": "x"}},
        {
            "events": [
                {
                    "action": "push",
                    "timestamp": "not a time",
                    "target": {
                        "digest": "sha256:" + "a" * 64,
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "repository": "a/b",
                    },
                }
            ]
        },
    ],
)
def test_bad_payloads_raise_invalid_request(body):
    with pytest.raises(ApiError) as info:
        webhook.parse(body, NOW)
    assert info.value.code == "InvalidRequest"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-18T07:49:43.78381Z", datetime(2024, 11, 18, 7, 49, 43, tzinfo=timezone.utc)),
        ("2021-09-28T07:47:44.302804Z", datetime(2021, 9, 28, 7, 47, 44, tzinfo=timezone.utc)),
        ("2026-11-28T09:35:01+08:00", datetime(2026, 11, 28, 1, 35, 1, tzinfo=timezone.utc)),
        ("2026-11-28T01:59:59.000000001Z", datetime(2026, 11, 28, 1, 59, 59, tzinfo=timezone.utc)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=timezone.utc)),
        ("not a time", None),
        ("", None),
    ],
)
def test_tcr_times_with_any_fraction_parse(text, expected):
    # TCR writes Go times: 0-9 fractional digits; Python 3.10's fromisoformat alone takes only 3 or 6
    from shared.times import parse_or_none

    assert parse_or_none(text) == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-27T14:44:26.402973972-08:00", datetime(2026, 11, 27, 22, 44, 26, tzinfo=timezone.utc)),
        ("2026-11-28T01:59:59.5+0800", datetime(2026, 11, 27, 17, 59, 59, tzinfo=timezone.utc)),
        ("2026-11-28 01:59:59.123456789Z", datetime(2026, 11, 28, 1, 59, 59, tzinfo=timezone.utc)),
    ],
)
def test_distribution_timestamps_keep_their_offset(stamp, expected):
    body = json.loads(load("webhook_distribution_envelope.json")["body"])
    body["events"][1]["timestamp"] = stamp
    pushes, _ = webhook.parse(body, NOW)
    assert pushes[0].occurred_at == expected


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59"])
def test_out_of_range_timestamps_are_invalid_requests(stamp):
    body = json.loads(load("webhook_distribution_envelope.json")["body"])
    body["events"][1]["timestamp"] = stamp
    with pytest.raises(ApiError) as info:
        webhook.parse(body, NOW)
    assert info.value.code == "InvalidRequest"
