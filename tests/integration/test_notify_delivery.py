"""Notifications delivered over HTTP to a local stdlib receiver that verifies the signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shared import notify
from shared.config import Config
from shared.errors import ConfigError
from shared.tcr import Deadline, RetryPolicy

SECRET = "receiver-shared-secret-42"
FAST = RetryPolicy(max_attempts=4, base_s=0.005, cap_s=0.02)


class Receiver:
    """A stdlib HTTP receiver on a free port; answers with the scripted statuses, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                timestamp = self.headers.get("X-Timestamp", "")
                signature = self.headers.get("X-Signature", "")
                # Independent check, as docs/notifications.md tells receivers to do it.
                expected = (
                    "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                )
                with outer.lock:
                    outer.received.append(
                        {
                            "body": body,
                            "timestamp": timestamp,
                            "signature": signature,
                            "independent_ok": hmac.compare_digest(expected, signature),
                            "content_type": self.headers.get("Content-Type"),
                            "id_header": self.headers.get("X-Notification-Id"),
                        }
                    )
                    status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        r = Receiver(statuses)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def notifier_for(url: str, **kw: Any) -> notify.Notifier:
    cfg = Config({"NOTIFY_URL": url, "NOTIFY_SECRET": SECRET})
    return notify.Notifier.from_config(cfg, policy=FAST, **kw)


def sample() -> notify.Notification:
    reps = [
        {
            "replicaRegistryId": "tcr-a-4",
            "region": "ap-shanghai",
            "replicatedAt": "2026-01-01T00:00:05Z",
            "lagSeconds": 5,
        }
    ]
    return notify.replicated("tcr-a", "ns/app", "v1", "sha256:" + "a" * 64, "2026-01-01T00:00:00Z", reps)


def test_delivered_signed_and_verifiable(receiver: Any) -> None:
    r = receiver()
    n = sample()
    result = notifier_for(r.url).send(n)
    assert result.outcome == "sent"
    assert result.status == 200
    assert len(r.received) == 1
    got = r.received[0]
    assert got["independent_ok"] is True
    assert notify.verify(SECRET, got["timestamp"], got["body"], got["signature"], 300)
    assert not notify.verify("another-secret", got["timestamp"], got["body"], got["signature"], 300)
    assert got["content_type"] == "application/json"
    body = json.loads(got["body"])
    assert body["id"] == n.id == got["id_header"]
    assert body["kind"] == "replicated"
    assert body["replicas"][0]["lagSeconds"] == 5
    assert abs(int(got["timestamp"]) - time.time()) < 600


def test_retries_server_errors_with_the_same_id_and_body(receiver: Any) -> None:
    r = receiver([503, 500])
    n = sample()
    result = notifier_for(r.url).send(n)
    assert result.outcome == "sent"
    assert result.attempts == 3
    assert len(r.received) == 3
    assert {x["body"] for x in r.received} == {n.payload()}
    assert all(x["independent_ok"] for x in r.received)


def test_client_error_is_not_retried(receiver: Any) -> None:
    r = receiver([400])
    result = notifier_for(r.url).send(sample())
    assert result.outcome == "failed"
    assert result.status == 400
    assert len(r.received) == 1


def test_retries_are_bounded(receiver: Any) -> None:
    r = receiver([503] * 10)
    result = notifier_for(r.url).send(sample())
    assert result.outcome == "failed"
    assert result.attempts == FAST.max_attempts
    assert len(r.received) == FAST.max_attempts


def test_expired_deadline_sends_nothing(receiver: Any) -> None:
    r = receiver()
    result = notifier_for(r.url).send(sample(), deadline=Deadline.after(0.0))
    assert result.outcome == "failed"
    assert r.received == []


def test_unreachable_receiver_fails_without_raising() -> None:
    # A port that was free a moment ago: nothing listens there now.
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()
    result = notifier_for(f"http://127.0.0.1:{port}/hook").send(sample())
    assert result.outcome == "failed"
    assert result.attempts == FAST.max_attempts


def test_send_all_sends_each_id_once(receiver: Any) -> None:
    r = receiver()
    n = sample()
    other = notify.late("tcr-a", "ns/app", "v1", "sha256:" + "a" * 64, "t0", "tcr-a-8", "ap-beijing", 900, 901)
    results = notifier_for(r.url).send_all([n, n, other])
    assert [x.outcome for x in results] == ["sent", "sent"]
    assert sorted(json.loads(x["body"])["kind"] for x in r.received) == ["late", "replicated"]
    assert notify.summarize(results) == {"sent": 2, "skipped": 0, "failed": 0}


QUERY_SECRET = "dq4QuerySecret8c7b6a5"


class GarbledReceiver:
    """Answers every POST with a status line that is not HTTP (http.client raises BadStatusLine)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.wfile.write(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token={QUERY_SECRET}"


def test_a_receiver_that_is_not_http_is_a_failed_delivery(capsys: pytest.CaptureFixture[str]) -> None:
    garbled = GarbledReceiver()
    try:
        result = notifier_for(garbled.url).send(sample())
    finally:
        garbled.server.shutdown()
        garbled.server.server_close()
    assert result.outcome == "failed"
    assert result.attempts == FAST.max_attempts  # a garbled answer may be a passing proxy fault: retried
    assert result.error == "BadStatusLine"
    out = capsys.readouterr().out
    assert '"event": "notify.failed"' in out and QUERY_SECRET not in out


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:9/a b?token={QUERY_SECRET}",  # the client refuses it (InvalidURL quotes the query)
        f"http://user:{QUERY_SECRET}@127.0.0.1:9/hook",  # the client reads the password as a port
        f"http://127.0.0.1:9/caf\u00e9?token={QUERY_SECRET}",
        f"gopher://127.0.0.1:9/?token={QUERY_SECRET}",
    ],
)
def test_a_url_the_client_refuses_is_a_failed_delivery_that_does_not_quote_it(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Config refuses these URLs; a Notifier built around it must still never raise nor repeat the URL.
    result = notify.Notifier(url, SECRET, policy=FAST).send(sample())
    assert result.outcome == "failed"
    assert QUERY_SECRET not in str(result.error)
    assert QUERY_SECRET not in capsys.readouterr().out


def test_a_misconfigured_notifier_fails_every_delivery_with_the_configuration_error() -> None:
    env = {"NOTIFY_URL": f"http://127.0.0.1:9/a b?token={QUERY_SECRET}", "NOTIFY_SECRET": SECRET}
    with pytest.raises(ConfigError) as info:
        notify.Notifier.from_config(Config(env))
    notifier = notify.Notifier.misconfigured(info.value)
    assert notifier.enabled
    results = notifier.send_all([sample()])
    assert [(r.outcome, r.attempts) for r in results] == [("failed", 0)]
    assert "NOTIFY_URL" in str(results[0].error) and QUERY_SECRET not in str(results[0].error)
