"""HTTP adapter: SCF Function URL and legacy API-gateway events in, SCF responses out.

One `Router` per function (method + path template), and `handle()` as the one place that
turns typed errors into the JSON error body of DESIGN.md §2: the contract's `ApiError` as it is, the log
store's own errors through `api_error`. Nothing unexpected escapes as a
500 or a stack trace: it is logged and answered 503 with a code.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from shared import jsontext, log
from shared.errors import ApiError, BadCursor, ConfigError, LogStoreError, invalid_request

MAX_BODY_BYTES = 1024 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one encoder, not one per answer


def new_request_id() -> str:
    """A random id in UUID form (the uuid module costs a cold start more than this line)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


class Request:
    """One HTTP request, whichever event shape it came in (plain class: no `dataclasses` import on cold start).

    A body that cannot be read (too large, bad base64) is refused when the body is first used, so
    that authentication is decided first. `authenticated` is set once the caller is known: until
    then no error answer may carry configuration details.
    """

    __slots__ = (
        "_body",
        "_body_error",
        "authenticated",
        "headers",
        "method",
        "params",
        "path",
        "query",
        "request_id",
        "services",
        "source",
    )

    def __init__(
        self,
        *,
        method: str,
        path: str,
        headers: dict[str, str],
        query: dict[str, str],
        body: str,
        request_id: str,
        source: str,  # "function-url" or "apigw"
        params: dict[str, str] | None = None,
        body_error: ApiError | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.query = query
        self._body = body
        self._body_error = body_error
        self.request_id = request_id
        self.source = source
        self.params: dict[str, str] = params or {}
        self.authenticated = False
        self.services: Any = None  # the invocation's services (shared.app.Services), set by the entry point

    @property
    def body(self) -> str:
        if self._body_error is not None:
            raise self._body_error
        return self._body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return parse_json(self.body)


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers: dict[str, str] = headers or {}

    def __repr__(self) -> str:
        return f"Response(status={self.status}, body={self.body!r})"

    @classmethod
    def html(cls, status: int, page: str) -> Response:
        """A text page (the dashboard); every other answer is JSON."""
        return cls(status, page, {"Content-Type": "text/html; charset=utf-8"})

    def to_scf(self, request_id: str) -> dict[str, Any]:
        headers = {**JSON_HEADERS, "X-Request-Id": request_id, **self.headers}
        is_text = isinstance(self.body, str) and headers["Content-Type"].startswith("text/")
        return {
            "isBase64Encoded": False,
            "statusCode": self.status,
            "headers": headers,
            "body": self.body if is_text else _COMPACT_JSON.encode(self.body),
        }


def _check_text(value: Any) -> None:
    """Lone surrogates decode from JSON but cannot be stored or echoed as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError("InvalidJSON", "the body contains an invalid unicode escape (lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k)
            _check_text(v)
    elif isinstance(value, list):
        for v in value:
            _check_text(v)


def parse_json(body: str) -> Any:
    if not body or not body.strip():
        raise ApiError("InvalidJSON", "the request body is empty; send a JSON object")
    try:
        data = jsontext.loads(body)
    except jsontext.DuplicateKey as exc:
        raise ApiError("InvalidJSON", f"the request body is ambiguous: {exc}; send each key once per object") from None
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else "nesting too deep"
        raise ApiError("InvalidJSON", f"the request body is not valid JSON: {detail[:200]}") from None
    if not body.isascii() or "\\u" in body:  # only then can a string hold a lone surrogate
        _check_text(data)
    return data


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _flat_query(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in raw.items():
        last = (value[-1] if value else "") if isinstance(value, list) else value
        out[str(key)] = _text(last)
    return out


def _route_path(path: str, api_path: str) -> str:
    """Legacy API gateway: the path to route by, given the API's own path (`requestContext.path`).

    An API mounted under a prefix, whose path ends in a greedy parameter (`/replicas/{proxy+}`), routes
    by the rest of the request path (`/replicas/regions` -> `/regions`). Any other API (an exact path
    such as `/healthz`, or a route's own template) routes by the request path itself.
    """
    prefix, _, last = api_path.rstrip("/").rpartition("/")
    if not (last.startswith("{") and last.endswith("+}")) or "{" in prefix:
        return path
    if path == prefix or path.startswith(prefix + "/"):
        return path[len(prefix) :] or "/"
    return path


def _utf8_size_over(text: str, limit: int) -> bool:
    """Whether `text` takes more than `limit` bytes in UTF-8 (lone surrogates 3 bytes each), without encoding a copy
    of a text that cannot fit or cannot exceed (every character takes 1 to 4 bytes)."""
    if len(text) > limit:
        return True
    if len(text) * 4 <= limit or text.isascii():
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def parse_event(event: Any, context: Any) -> Request:
    """Accept the Function URL event and the legacy API-gateway event; anything else is a 400."""
    request_id = ""
    if isinstance(context, Mapping):
        request_id = _text(context.get("request_id"))
    request_id = request_id or new_request_id()
    if not isinstance(event, Mapping) or not isinstance(event.get("httpMethod"), str):
        raise ApiError("InvalidRequest", "event: not an HTTP event (expected a Function URL or API gateway event)")
    ctx = event.get("requestContext")
    source = "apigw" if isinstance(ctx, Mapping) else "function-url"
    headers_raw = event.get("headers") or {}
    headers = (
        {str(k).lower(): _text(v[-1] if isinstance(v, list) and v else v) for k, v in headers_raw.items()}
        if isinstance(headers_raw, Mapping)
        else {}
    )
    path = _text(event.get("path")) or "/"
    if source == "apigw" and isinstance(ctx, Mapping):
        path = _route_path(path, _text(ctx.get("path")))
    query = _flat_query(event.get("queryString"))
    if not query:
        query = _flat_query(event.get("queryStringParameters"))
    body = event.get("body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        body = json.dumps(body)
    body_error = None
    if event.get("isBase64Encoded") is True and body:
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            body_error = ApiError("InvalidRequest", "body: isBase64Encoded is set but the body is not base64 UTF-8")
    if body_error is None and _utf8_size_over(body, MAX_BODY_BYTES):
        body_error = ApiError("PayloadTooLarge", f"the request body is larger than {MAX_BODY_BYTES} bytes")
    return Request(
        method=event["httpMethod"].upper(),
        path="/" + path.strip("/") if path.strip("/") else "/",
        headers=headers,
        query=query,
        body=body,
        request_id=request_id,
        source=source,
        body_error=body_error,
    )


Handler = Callable[[Request], Response]


class _Route(NamedTuple):
    method: str
    template: str
    segments: tuple[str, ...]  # literal segments, and "{name}" for parameters
    handler: Handler

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """The parameters when `parts` (the path's segments) fit the template, else None."""
        if len(parts) != len(self.segments):
            return None
        params = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


class Router:
    """Routes by method and path template (`/instances/{registryId}/replicas`)."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            segments = tuple(template.strip("/").split("/")) if template.strip("/") else ()
            self._routes.append(_Route(method.upper(), template, segments, handler))
            return handler

        return register

    def routes(self) -> list[tuple[str, str]]:
        return [(r.method, r.template) for r in self._routes]

    def resolve(self, request: Request) -> Response:
        allowed = []
        parts = request.path.strip("/").split("/") if request.path.strip("/") else []
        for route in self._routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.method == request.method:
                request.params = params
                return route.handler(request)
            allowed.append(route.method)
        if allowed:
            raise ApiError(
                "MethodNotAllowed",
                f"{request.method} is not allowed on {request.path}; allowed: {', '.join(sorted(set(allowed)))}",
                details={"allowed": sorted(set(allowed))},
            )
        raise ApiError("RouteNotFound", f"no route for {request.method} {request.path[:200]}; see docs/api.md")


def api_error(error: ApiError | LogStoreError) -> ApiError:
    """The contract's error for a failure: an ApiError as it is; a log-store failure under the code it stands for
    (a bad cursor names the query field it came from)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, BadCursor):
        return invalid_request("query.cursor", f"{error.message}; start again without a cursor", "cursor")
    return ApiError(error.code, error.message)


def error_response(error: ApiError) -> Response:
    headers = {}
    if error.code == "MethodNotAllowed":
        headers["Allow"] = ", ".join(error.details.get("allowed", []))
    return Response(error.status, None, headers)


def _not_configured(error: ConfigError, request_id: str) -> ApiError:
    """Fail closed without telling a caller who is not authenticated how the service is configured.

    The detail (which variable, what is wrong) goes to the log, under the request id the caller gets.
    """
    log.event("config.error", level="error", variable=error.variable, problem=error.message, requestId=request_id)
    return ApiError(
        "Unavailable",
        "the service is not configured; its operator finds the cause in the function's log under this requestId",
    )


def handle(event: Any, context: Any, router: Router, *, before: Callable[[Request], None] | None = None) -> dict:
    """The whole HTTP life cycle of one invocation: parse, check, route, shape the reply."""
    request_id = ""
    request: Request | None = None
    try:
        request = parse_event(event, context)
        request_id = request.request_id
        if before is not None:
            before(request)
        response = router.resolve(request)
    except (ApiError, LogStoreError) as raised:
        exc = api_error(raised)
        request_id = request_id or (_text(context.get("request_id")) if isinstance(context, Mapping) else "")
        request_id = request_id or new_request_id()
        log.event("request.refused", level="warning", code=exc.code, status=exc.status, requestId=request_id)
        if isinstance(exc, ConfigError) and not (request is not None and request.authenticated):
            exc = _not_configured(exc, request_id)
        response = error_response(exc)
        response.body = exc.to_body(request_id)
    except Exception as exc:  # the one place an unexpected failure becomes a coded answer
        request_id = request_id or new_request_id()
        log.exception("request.failed", exc, requestId=request_id)
        error = ApiError("Unavailable", "the service failed unexpectedly; retry later and report the requestId")
        response = Response(error.status, error.to_body(request_id))
    return response.to_scf(request_id)


def bearer_matches(header: str | None, token: str) -> bool:
    """Constant-time comparison of `Authorization: Bearer <token>`."""
    if not header or not token:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8", "surrogatepass"), token.encode("utf-8"))
