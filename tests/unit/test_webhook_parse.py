"""shared.webhook.parse against malformed and mutated payloads of all three kinds (TCR, Harbor, distribution).

Whatever a sender puts in a field, the parser either returns pushes (or a reason to ignore the payload) or raises a
400 `InvalidRequest` naming the field by its path and the rule it broke: never another exception (a 5xx).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import records as rl
from shared import webhook
from shared.errors import ApiError

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOW = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
SAMPLES = {
    "tcr": "webhook_tcr_push_image.json",
    "tcr-delete": "webhook_tcr_delete_image.json",
    "harbor": "webhook_harbor_push_artifact.json",
    "distribution": "webhook_distribution_envelope.json",
}
NAMED = re.compile(r"^(body(\.[A-Za-z_]+|\[\d+\])*): .+ \(rule: [A-Za-z]+\)")


def sample(kind: str) -> dict[str, Any]:
    return json.loads(json.loads((EVENTS / SAMPLES[kind]).read_text())["body"])


def refused(body: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        webhook.parse(body, NOW)
    assert info.value.code == "InvalidRequest" and info.value.status == 400
    return info.value


def tcr_with(field: str, value: Any) -> dict[str, Any]:
    body = sample("tcr")
    body["event_data"]["resources"][0][field] = value
    return body


def envelope_with(field: str, value: Any) -> dict[str, Any]:
    body = sample("distribution")
    body["events"][1][field] = value
    return body


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        (tcr_with("resource_url", "https://[::1/team/api:1.0"), "body.event_data.resources[0].resource_url", "format"),
        (tcr_with("resource_url", "[broken/team/api:1"), "body.event_data.resources[0].resource_url", "format"),
        (tcr_with("resource_url", "host:99999999/team/api:1"), "body.event_data.resources[0].resource_url", "format"),
        (tcr_with("resource_url", "bad host/team/api:1"), "body.event_data.resources[0].resource_url", "format"),
        (envelope_with("request", {"host": "[broken"}), "body.events[1].request.host", "format"),
        (envelope_with("actor", ["admin"]), "body.events[1].actor", "type"),
        (envelope_with("actor", []), "body.events[1].actor", "type"),
        (envelope_with("actor", "admin"), "body.events[1].actor", "type"),
        (envelope_with("actor", {"name": ["admin"]}), "body.events[1].actor.name", "type"),
        (envelope_with("timestamp", "not a time"), "body.events[1].timestamp", "format"),
    ],
)
def test_malformed_fields_are_400_naming_path_and_rule(body, field, rule):
    error = refused(body)
    assert error.message.startswith(f"{field}: ") and error.message.endswith(f"(rule: {rule})"), error.message
    assert error.details == {"field": field, "rule": rule}


def test_a_bad_target_url_is_named_too():
    body = sample("distribution")
    body["events"][1]["target"]["url"] = "https://[::1/v2/team-a/api/manifests/x"
    assert refused(body).details["field"] == "body.events[1].target.url"


def test_malformed_hosts_are_refused_even_in_events_that_would_be_skipped():
    body = sample("distribution")  # events[0] is a blob push: ignored, but its fields are still the sender's
    body["events"][0]["request"]["host"] = "[broken"
    assert refused(body).details["field"] == "body.events[0].request.host"


@pytest.mark.parametrize(
    "url",
    [
        "wcctest.tencentcloudcr.com/nginx/nginx:v1",
        "https://wcctest.tencentcloudcr.com/nginx/nginx:v1",
        "wcctest.tencentcloudcr.com:443/nginx/nginx:v1",
        "https://[::1]:5000/nginx/nginx:v1",
        "10.0.0.5/nginx/nginx:v1",
        "registry_1.internal/nginx/nginx:v1",
        "",
    ],
)
def test_well_formed_urls_still_parse(url):
    pushes, ignored = webhook.parse(tcr_with("resource_url", url), NOW)
    assert ignored is None and pushes[0].host == webhook.host_of(url, "x")


# -- a push dated in the future ------------------------------------------------------------------------------


def test_a_push_far_in_the_future_is_recorded_at_the_receive_time():
    body = sample("tcr")
    body["occur_at"] = 32503680000  # 3000-01-01T00:00:00Z
    (push,), _ = webhook.parse(body, NOW)
    assert push.occurred_at == NOW
    assert push.reported_at == datetime(3000, 1, 1, tzinfo=timezone.utc)


def test_a_distribution_push_in_the_future_too():
    body = envelope_with("timestamp", "2999-06-01T00:00:00Z")
    (push,), _ = webhook.parse(body, NOW)
    assert (push.occurred_at, push.reported_at) == (NOW, datetime(2999, 6, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize("ahead", [0, 60, 300])
def test_small_clock_skew_is_kept_as_sent(ahead):
    body = sample("tcr")
    body["occur_at"] = int((NOW + timedelta(seconds=ahead)).timestamp())
    (push,), _ = webhook.parse(body, NOW)
    assert push.occurred_at == NOW + timedelta(seconds=ahead) and push.reported_at is None


def test_a_future_push_keeps_one_event_id_across_redeliveries():
    body = sample("tcr")
    body["occur_at"] = 32503680000
    ids = set()
    for minutes in (0, 7):
        (push,), _ = webhook.parse(body, NOW + timedelta(minutes=minutes))
        recs = rl.event_records(
            registry_id="tcr-dg284imq",
            primary_region="ap-guangzhou",
            namespace=push.namespace,
            repository=push.repository,
            tag=push.tag,
            digest=push.digest,
            pushed_at=push.occurred_at,
            reported_at=push.reported_at,
            operator=push.operator,
            replicas=[("tcr-dg284imq-1-abc", "ap-shanghai")],
            now=NOW,
        )
        assert recs[0].reportedAt == "3000-01-01T00:00:00Z"
        ids.add(recs[0].eventId)
    assert len(ids) == 1


# -- property-based: mutated fields of every payload kind ---------------------------------------------------

BAD_TEXT = st.sampled_from(
    [
        "https://[::1/team/api:1.0",
        "[broken",
        "https://[::1]/team/api:1",
        "http://h:port/x",
        "http://h:-1/x",
        "//",
        "://",
        "https://",
        "@",
        "a b/c:d",
        "host/ns/repo@sha256:" + "a" * 64,
        "\n",
        "\u0000",
        "\u2028host/ns/r:1",
        "é.example/ns/r:1",
        "x" * 3000,
        "9999-12-31T23:59:59-23:59",
        "3000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "sha256:" + "a" * 64,
        "sha256:" + "a" * 64 + "\n",
        "application/vnd.oci.image.manifest.v1+json",
        "push",
        "delete",
        "pushImage",
        "DELETE_ARTIFACT",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS | BAD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
VALUES = st.one_of(BAD_TEXT, SCALARS, st.lists(BAD_TEXT | SCALARS, max_size=2), JSON)
# the fields the parser reads: most mutations hit one of them (the others are only carried along)
READ = {
    "type",
    "occur_at",
    "operator",
    "event_data",
    "resources",
    "repository",
    "digest",
    "tag",
    "resource_url",
    "name",
    "namespace",
    "repo_full_name",
    "events",
    "action",
    "timestamp",
    "target",
    "mediaType",
    "url",
    "request",
    "host",
    "actor",
}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a mutation can hit: its keys and list items, at any depth."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += paths(item, (*prefix, index))
    return out


@st.composite
def mutated(draw: Any) -> dict[str, Any]:
    body = copy.deepcopy(sample(draw(st.sampled_from(sorted(SAMPLES)))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        every = paths(body)
        read = [p for p in every if p[-1] in READ or isinstance(p[-1], int)]
        where = draw(st.sampled_from(read) if read and draw(st.integers(0, 3)) else st.sampled_from(every))
        parent = body
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "extra"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8) | st.sampled_from(sorted(READ)))] = draw(VALUES)
        else:
            parent[last] = draw(VALUES)
        if not paths(body):
            break
    return body


def check_parse(body: dict[str, Any], now: datetime) -> None:
    try:
        pushes, ignored = webhook.parse(body, now)
    except ApiError as exc:
        assert exc.code == "InvalidRequest", exc.message
        assert NAMED.match(exc.message), exc.message
        assert exc.details["field"] == NAMED.match(exc.message).group(1)
        return
    assert (pushes == []) == (ignored is not None)
    for push in pushes:
        # what record() does with a push must not fail either: records and their inbox key
        assert push.occurred_at <= now + timedelta(seconds=webhook.FUTURE_SKEW_S)
        recs = rl.event_records(
            registry_id="tcr-dg284imq",
            primary_region="ap-guangzhou",
            namespace=push.namespace,
            repository=push.repository,
            tag=push.tag,
            digest=push.digest,
            pushed_at=push.occurred_at,
            reported_at=push.reported_at,
            operator=push.operator,
            replicas=[("tcr-dg284imq-1-abc", "ap-shanghai")],
            now=now,
            event_type=push.event_type,
        )
        key = rl.inbox_key(recs)
        decoded = rl.parse_inbox_key(key, updated_at=recs[0].updatedAt)
        assert decoded.records is None or list(decoded.records) == recs


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated())
def test_mutated_payloads_parse_or_are_named_400s(body):
    check_parse(body, NOW)
