"""The routes' typed inputs (shared.inputs): every field built from the validated dict, every refusal naming it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from shared.errors import ApiError
from shared.inputs import (
    DEFAULT_LINK_TTL_S,
    DEFAULT_LOG_LIMIT,
    CreateReplica,
    DeleteInstance,
    LogQuery,
    RegionsQuery,
    ReportLink,
    WebhookQuery,
)

UTC = timezone.utc


def refusal(build: Any, data: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        build(data)
    assert info.value.code == "InvalidRequest" and info.value.status == 400
    return info.value


def assert_names(error: ApiError, field: str, rule: str) -> None:
    assert error.details == {"field": field, "rule": rule}
    assert error.message.startswith(f"{field}: ") and f"(rule: {rule})" in error.message


# -- GET /regions ----------------------------------------------------------------------------------------


def test_regions_query_takes_a_region_name_or_id() -> None:
    assert RegionsQuery.from_query({"primary": "ap-guangzhou"}) == RegionsQuery("ap-guangzhou")
    assert RegionsQuery.from_query({"primary": "1"}).primary == "1"


@pytest.mark.parametrize(
    ("query", "field", "rule", "names"),
    [
        ({}, "query", "required", "'primary'"),
        ({"primary": "Guangzhou"}, "query.primary", "pattern", ""),
        ({"primary": "ap-guangzhou", "x": "1"}, "query", "additionalProperties", "'x'"),
    ],
)
def test_regions_query_refusals_name_the_field(query: dict[str, str], field: str, rule: str, names: str) -> None:
    error = refusal(RegionsQuery.from_query, query)
    assert_names(error, field, rule)
    assert names in error.message


# -- POST /instances/{id}/replicas -----------------------------------------------------------------------


def test_create_replica_reads_every_field() -> None:
    body = {"region": "ap-shanghai", "syncTag": True, "dryRun": True}
    assert CreateReplica.from_body(body) == CreateReplica(region="ap-shanghai", sync_tag=True, dry_run=True)
    assert CreateReplica.from_body({"region": 4}) == CreateReplica(region=4, sync_tag=False, dry_run=False)
    assert CreateReplica.from_body({"region": "4", "dryRun": False}).region == "4"


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"region": "Shanghai"}, "body.region", "oneOf"),
        ({"region": 0}, "body.region", "oneOf"),
        ({"region": True}, "body.region", "oneOf"),
        ({"region": "ap-shanghai", "syncTag": "true"}, "body.syncTag", "type"),
        ({"region": "ap-shanghai", "dryRun": 1}, "body.dryRun", "type"),
        ({}, "body", "required"),
        ({"region": "ap-shanghai", "sync_tag": True}, "body", "additionalProperties"),
        (["ap-shanghai"], "body", "type"),
    ],
)
def test_create_replica_refusals_name_the_field(body: Any, field: str, rule: str) -> None:
    assert_names(refusal(CreateReplica.from_body, body), field, rule)


# -- DELETE /instances/{id} ------------------------------------------------------------------------------


def test_delete_instance_keeps_the_bucket_unless_asked() -> None:
    assert DeleteInstance.from_query({}) == DeleteInstance(delete_bucket=False)
    assert DeleteInstance.from_query({"deleteBucket": "false"}).delete_bucket is False
    assert DeleteInstance.from_query({"deleteBucket": "true"}).delete_bucket is True


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [({"deleteBucket": "yes"}, "query.deleteBucket", "enum"), ({"force": "true"}, "query", "additionalProperties")],
)
def test_delete_instance_refusals_name_the_field(query: dict[str, str], field: str, rule: str) -> None:
    assert_names(refusal(DeleteInstance.from_query, query), field, rule)


# -- GET /instances/{id}/replication-logs ----------------------------------------------------------------


def test_log_query_defaults() -> None:
    assert LogQuery.from_query({}) == LogQuery(None, None, None, None, None, DEFAULT_LOG_LIMIT, None)
    assert DEFAULT_LOG_LIMIT == 100


def test_log_query_reads_every_field_and_parses_times_and_limit_once() -> None:
    query = LogQuery.from_query(
        {
            "replica": "tcr-abc123-4-aaaaaa",
            "since": "2024-05-01T08:00:00+08:00",
            "until": "2024-05-01",
            "status": "replicated",
            "repository": "team/app",
            "limit": "1000",
            "cursor": "abc_-09==",
        }
    )
    assert query == LogQuery(
        replica="tcr-abc123-4-aaaaaa",
        since=datetime(2024, 5, 1, tzinfo=UTC),
        until=datetime(2024, 5, 1, tzinfo=UTC),
        status="replicated",
        repository="team/app",
        limit=1000,
        cursor="abc_-09==",
    )
    assert isinstance(query.limit, int)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T10:20", datetime(2024, 5, 1, 10, 20, tzinfo=UTC)),
        ("2024-05-01 10:20:30Z", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),
        ("2024-05-01T10:20:30.123456789Z", datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),
        ("2024-05-01T10:20:30-0130", datetime(2024, 5, 1, 11, 50, 30, tzinfo=UTC)),
    ],
)
def test_log_query_times_are_utc_to_the_second(text: str, expected: datetime) -> None:
    assert LogQuery.from_query({"since": text}).since == expected
    assert LogQuery.from_query({"until": text}).until == expected


def test_log_query_replica_may_be_a_region_name_or_id() -> None:
    assert LogQuery.from_query({"replica": "ap-shanghai"}).replica == "ap-shanghai"
    assert LogQuery.from_query({"replica": "4"}).replica == "4"


def test_log_query_since_may_equal_until() -> None:
    query = LogQuery.from_query({"since": "2024-05-01T00:00:00Z", "until": "2024-05-01"})
    assert query.since == query.until


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"replica": "Shanghai"}, "query.replica", "pattern"),
        ({"since": "yesterday"}, "query.since", "pattern"),
        ({"until": "2024-5-1"}, "query.until", "pattern"),
        ({"since": "2024-02-30"}, "query.since", "time"),
        ({"until": "2024-05-01T25:00:00Z"}, "query.until", "time"),
        ({"until": "9999-12-31T23:59:59-23:59"}, "query.until", "time"),  # after the year 9999 in UTC
        ({"since": "0001-01-01T00:00:00+01:00"}, "query.since", "time"),  # before the year 1 in UTC
        ({"since": "2024-05-02", "until": "2024-05-01T23:59:59Z"}, "query.since", "order"),
        ({"status": "done"}, "query.status", "enum"),
        ({"repository": "Team/App"}, "query.repository", "pattern"),
        ({"repository": ""}, "query.repository", "minLength"),
        ({"limit": "0"}, "query.limit", "pattern"),
        ({"limit": "1001"}, "query.limit", "pattern"),
        ({"limit": "010"}, "query.limit", "pattern"),
        ({"cursor": "not a cursor"}, "query.cursor", "pattern"),
        ({"page": "2"}, "query", "additionalProperties"),
    ],
)
def test_log_query_refusals_name_the_field(query: dict[str, str], field: str, rule: str) -> None:
    assert_names(refusal(LogQuery.from_query, query), field, rule)


def test_log_query_order_refusal_says_which_bound() -> None:
    error = refusal(LogQuery.from_query, {"since": "2024-05-02", "until": "2024-05-01"})
    assert "must not be after query.until (2024-05-01)" in error.message


# -- GET /instances/{id}/report-link ---------------------------------------------------------------------


def test_report_link_ttl_defaults_and_bounds() -> None:
    assert ReportLink.from_query({}) == ReportLink(ttl=DEFAULT_LINK_TTL_S) == ReportLink(900)
    assert ReportLink.from_query({"ttl": "60"}).ttl == 60
    assert ReportLink.from_query({"ttl": "86400"}).ttl == 86400


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"ttl": "59"}, "query.ttl", "range"),
        ({"ttl": "86401"}, "query.ttl", "range"),
        ({"ttl": "99999"}, "query.ttl", "range"),
        ({"ttl": "9"}, "query.ttl", "pattern"),
        ({"ttl": "0900"}, "query.ttl", "pattern"),
        ({"ttl": "15m"}, "query.ttl", "pattern"),
        ({"expires": "900"}, "query", "additionalProperties"),
    ],
)
def test_report_link_refusals_name_the_field(query: dict[str, str], field: str, rule: str) -> None:
    assert_names(refusal(ReportLink.from_query, query), field, rule)


def test_report_link_range_refusal_says_the_range_and_the_value() -> None:
    assert refusal(ReportLink.from_query, {"ttl": "59"}).message == (
        "query.ttl: must be 60..86400 seconds (got 59) (rule: range)"
    )


# -- the webhook's POST / --------------------------------------------------------------------------------


def test_webhook_query_names_the_instance_when_the_trigger_does() -> None:
    assert WebhookQuery.from_query({}) == WebhookQuery(registry_id=None)
    assert WebhookQuery.from_query({"registryId": "tcr-abc123"}).registry_id == "tcr-abc123"


@pytest.mark.parametrize(
    ("query", "field", "rule"),
    [
        ({"registryId": "tcr-abc123\n"}, "query.registryId", "pattern"),
        ({"registryId": "abc"}, "query.registryId", "pattern"),
        ({"registry": "tcr-abc123"}, "query", "additionalProperties"),
    ],
)
def test_webhook_query_refusals_name_the_field(query: dict[str, str], field: str, rule: str) -> None:
    assert_names(refusal(WebhookQuery.from_query, query), field, rule)
