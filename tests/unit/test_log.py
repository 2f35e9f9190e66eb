"""shared.log: a URL anywhere in a log line loses its userinfo, query string and fragment."""

from __future__ import annotations

import json

import pytest

from shared import log

SECRET = "s3cretQueryValue9a8b7c"


def captured(capsys: pytest.CaptureFixture[str]) -> dict:
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_field_values_lose_query_userinfo_and_fragment(capsys: pytest.CaptureFixture[str]) -> None:
    log.event(
        "x",
        url=f"https://hooks.example.com/a/b?key={SECRET}&x=1",
        detail=f"POST to http://bob:{SECRET}@10.0.0.1:8080/hook#{SECRET} failed; again https://h/p?k={SECRET}",
        nested={"u": [f"http://h.example/p?q={SECRET}"]},
    )
    record = captured(capsys)
    assert SECRET not in json.dumps(record)
    assert record["url"] == "https://hooks.example.com/a/b"
    assert record["detail"] == "POST to http://10.0.0.1:8080/hook failed; again https://h/p"
    assert record["nested"] == {"u": ["http://h.example/p"]}


def test_exception_detail_and_trace_lose_the_query(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise RuntimeError(f"could not reach https://hooks.example.com/x?token={SECRET}")
    except RuntimeError as exc:
        log.exception("boom", exc)
    record = captured(capsys)
    assert SECRET not in json.dumps(record)
    assert "https://hooks.example.com/x" in record["detail"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://u:{SECRET}@hooks.example.com:8443/path/{SECRET}?k={SECRET}", "https://hooks.example.com:8443"),
        ("http://127.0.0.1:9/hook", "http://127.0.0.1:9"),
        ("http://[::1]:80", "http://[::1]:80"),
        ("not a url", ""),
        (None, ""),
    ],
)
def test_origin_is_scheme_host_and_port_only(url: str | None, expected: str) -> None:
    assert log.origin(url) == expected


def test_text_without_urls_is_unchanged() -> None:
    text = 'plain "text" with ? and # and user@host'
    assert log.redact_urls(text) == text
