"""Minimal threaded HTTP plumbing shared by the emulated services (stdlib only)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY = 64 * 1024 * 1024


@dataclass
class Request:
    method: str
    raw_path: str  # path and query exactly as sent
    path: str  # decoded path without the query
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client: str = "127.0.0.1"

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    drop: bool = False  # close the connection without answering (fault injection)


Handler = Callable[[Request], Response]


def _make_handler_class(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class _H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "localcloud"
        # TCP_NODELAY: the headers and the body go out as two writes; with Nagle's algorithm the body waits for
        # the client's delayed ACK of the headers (~40 ms per keep-alive call), which no cloud front end costs
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413)
                return
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)

            req = Request(
                method=self.command,
                raw_path=self.path,
                path=unquote(split.path),
                query=parse_qs(split.query, keep_blank_values=True),
                raw_query=split.query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client=self.client_address[0],
            )
            try:
                resp = handler(req)
            except Exception as exc:  # the emulator must answer, never hang the client
                resp = Response(500, {"Content-Type": "text/plain"}, f"localcloud internal error: {exc!r}".encode())
            if resp.drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            try:
                self.send_response(resp.status)
                headers = dict(resp.headers)
                headers.setdefault("Content-Length", str(len(resp.body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(resp.body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a slow fault): no one to tell
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _serve

    return _H


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops or resets bursts of connections on a loaded machine (20
    # concurrent creates, 8 webhook containers); a cloud front end accepts them all
    request_queue_size = 128


class Server:
    """One service on 127.0.0.1:port, served by daemon threads."""

    def __init__(self, handler: Handler, port: int = 0, host: str = "127.0.0.1") -> None:
        self._httpd = _Listener((host, port), _make_handler_class(handler))
        self._httpd.daemon_threads = True
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"localcloud:{self.port}", daemon=True)

    def start(self) -> Server:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
