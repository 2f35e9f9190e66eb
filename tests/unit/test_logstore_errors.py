"""The log store raises its own errors (shared.errors.LogStoreError), never an HTTP answer (stub client, no network)."""

from __future__ import annotations

from typing import Any

import pytest
from qcloud_cos.cos_exception import CosServiceError

from shared.errors import ApiError, BadCursor, StoreCorrupt, StoreUnavailable
from shared.logstore import LogStore
from shared.runtime import RetryPolicy


class Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def get_raw_stream(self) -> Any:
        return self

    def read(self) -> bytes:
        return self._data


class StubClient:
    """Answers every GET with one body (or error) and counts every call; lists nothing."""

    def __init__(self, get: bytes | Exception = b"{}") -> None:
        self.get = get
        self.requests: list[str] = []

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append("GetObject")
        if isinstance(self.get, Exception):
            raise self.get
        return {"Body": Body(self.get)}

    def list_objects(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append("ListObjects")
        return {"Contents": [], "CommonPrefixes": [], "IsTruncated": "false"}


def make(client: StubClient) -> LogStore:
    return LogStore(client, "tcr-replication-log-1250000000", policy=RetryPolicy(max_attempts=1), sleep=lambda _: None)


@pytest.mark.parametrize("cursor", ["bm90LWEtY3Vyc29y", "x", "eyJ2IjoxfQ"])
def test_a_bad_cursor_is_the_stores_own_error_raised_before_any_read(cursor: str) -> None:
    client = StubClient()
    with pytest.raises(BadCursor) as info:
        make(client).query("tcr-abc123", cursor=cursor)
    assert not isinstance(info.value, ApiError)
    assert info.value.code == "InvalidRequest" and "cursor" in info.value.message
    assert client.requests == []


def test_a_query_without_cursor_reads_and_returns_an_empty_page() -> None:
    client = StubClient()
    page = make(client).query("tcr-abc123", status="replicated", limit=5)
    assert page.records == [] and page.next_cursor is None
    assert client.requests and set(client.requests) == {"ListObjects"}


def test_an_object_that_is_not_json_is_corrupt_not_unavailable() -> None:
    with pytest.raises(StoreCorrupt) as info:
        make(StubClient(get=b"{not json")).get_json("state/tcr-abc123/audit.json")
    assert not isinstance(info.value, (ApiError, StoreUnavailable))
    assert info.value.code == "Unavailable" and "state/tcr-abc123/audit.json" in info.value.message


def test_a_refused_read_is_unavailable() -> None:
    body = {"code": "AccessDenied", "message": "x", "resource": "r", "requestid": "1", "traceid": "t"}
    with pytest.raises(StoreUnavailable) as info:
        make(StubClient(get=CosServiceError("GET", body, 403))).get_text("reports/tcr-abc123/latest.html")
    assert not isinstance(info.value, ApiError)
    assert "refused GetObject" in info.value.message and "403" in info.value.message
