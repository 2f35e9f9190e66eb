"""The COS object store of localcloud: an in-memory, thread-safe, COS-compatible service (stdlib only).

The real cos-python-sdk-v5 talks to it unchanged with
`CosConfig(Region=..., SecretId=..., SecretKey=..., Scheme='http', IP='127.0.0.1', Port=PORT)`: requests then
arrive as `http://127.0.0.1:PORT/<key>` with `Host: <bucket>-<appid>.cos.<region>.myqcloud.com`, and the bucket is
read from the Host header. A Host that is an IP address or `localhost` means path-style (`/<bucket>/<key>`).

Every request is signature-checked (see cos_sign.py), then the fault plan (`faults.decide("cos", Operation)`)
is applied before the operation takes effect, so a failed write is never stored. See docs/localcloud-cos.md for
which behaviours are documented COS behaviour and which are assumptions.
"""

from __future__ import annotations

import base64
import bisect
import calendar
import hashlib
import itertools
import os
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_tz
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from localcloud import cos_sign
from localcloud.faults import Faults
from localcloud.httpd import Request, Response

APPID = "1250000000"
MAX_KEYS_LIMIT = 1000
MAX_DELETE_OBJECTS = 1000
MAX_KEY_BYTES = 850
DEFAULT_CONTENT_TYPE = "application/octet-stream"
SNAPSHOT_VERSION = 1

# headers stored with an object and returned by GET/HEAD (besides x-cos-meta-*)
_STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]*-[0-9]+$")
_HOST_RE = re.compile(r"^(?P<bucket>[^.]+)\.cos\.(?P<region>[a-z0-9-]+)\.(?:myqcloud\.com|tencentcos\.cn)$")
_IP_RE = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")

# fault statuses -> COS error codes; fault codes (strings) -> statuses
_STATUS_CODES = {
    400: "InvalidRequest",
    403: "AccessDenied",
    404: "NoSuchKey",
    409: "OperationAborted",
    429: "SlowDown",
    500: "InternalError",
    501: "NotImplemented",
    502: "InternalError",
    503: "ServiceUnavailable",
    504: "RequestTimeout",
}
_CODE_STATUSES = {
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "InternalError": 500,
    "RequestTimeout": 400,
    "AccessDenied": 403,
    "RequestLimitExceeded": 429,
}
_ERROR_MESSAGES = {
    "ServiceUnavailable": "Service is unable to handle request.",
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
    "RequestTimeout": "Your socket connection to the server was not read from or written to within the timeout.",
}

# CRC-64/XZ (ECMA-182 polynomial, reflected), as COS's x-cos-hash-crc64ecma
_CRC64_POLY = 0xC96C5795D7870F42
_CRC64_TABLE: list[int] = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _CRC64_POLY if _c & 1 else _c >> 1
    _CRC64_TABLE.append(_c)


def crc64ecma(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


class CosError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Object:
    body: bytes
    content_type: str
    etag: str  # quoted MD5 hex
    last_modified: float
    crc64: str
    meta: dict[str, str] = field(default_factory=dict)  # x-cos-meta-* (lower-case names) -> value
    headers: dict[str, str] = field(default_factory=dict)  # stored standard headers

    def to_json(self) -> dict[str, Any]:
        return {
            "body": base64.b64encode(self.body).decode("ascii"),
            "contentType": self.content_type,
            "etag": self.etag,
            "lastModified": self.last_modified,
            "crc64": self.crc64,
            "meta": dict(self.meta),
            "headers": dict(self.headers),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Object:
        body = base64.b64decode(data["body"])
        return cls(
            body=body,
            content_type=str(data.get("contentType") or DEFAULT_CONTENT_TYPE),
            etag=str(data.get("etag") or f'"{hashlib.md5(body).hexdigest()}"'),  # noqa: S324 - COS ETag is MD5
            last_modified=float(data.get("lastModified", 0.0)),
            crc64=str(data.get("crc64") or crc64ecma(body)),
            meta=dict(data.get("meta") or {}),
            headers=dict(data.get("headers") or {}),
        )


@dataclass
class _Bucket:
    name: str
    region: str | None  # None: reachable through any region's domain
    created: float
    objects: dict[str, _Object] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # sorted object keys

    def put(self, key: str, obj: _Object) -> None:
        if key not in self.objects:
            bisect.insort(self.keys, key)
        self.objects[key] = obj

    def delete(self, key: str) -> bool:
        if self.objects.pop(key, None) is None:
            return False
        idx = bisect.bisect_left(self.keys, key)
        if idx < len(self.keys) and self.keys[idx] == key:
            del self.keys[idx]
        return True


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d}Z"


def _parse_http_date(value: str) -> float | None:
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    return float(calendar.timegm(parsed[:9]) - (parsed[9] or 0))


def _url(value: str) -> str:
    return quote(value.encode("utf-8"), safe="-_.~/")


def _x(value: str) -> str:
    return escape(value, {'"': "&quot;"})


def _etag_matches(header: str, etag: str) -> bool:
    wanted = [t.strip() for t in header.split(",")]
    bare = etag.strip('"')
    return any(t == "*" or t.strip('"') == bare or t == f"W/{etag}" for t in wanted)


class CosService:
    """In-memory COS: buckets of objects, COS signature checks, COS-shaped XML errors, fault injection."""

    def __init__(
        self,
        *,
        keys: dict[str, str],
        faults: Faults,
        buckets: Iterable[str] = (),
        now: Callable[[], float] = time.time,
        tokens: dict[str, str] | None = None,
    ) -> None:
        self._keys = dict(keys)
        self._tokens = dict(tokens or {})  # SecretId of temporary credentials -> its security token
        self._faults = faults
        self._now = now
        self._lock = threading.RLock()
        self._buckets: dict[str, _Bucket] = {}
        self._stats: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._node = os.urandom(4).hex()
        for name in buckets:
            self.create_bucket(name)

    # ----- public, programmatic surface -------------------------------------------------------------------------

    def create_bucket(self, name: str, region: str | None = None) -> None:
        """Create a bucket (full name `<name>-<appid>`); no-op if it exists. region=None: any region's domain."""
        if not _BUCKET_RE.match(name):
            raise ValueError(f"invalid COS bucket name {name!r}: expected <lowercase-name>-<appid>")
        with self._lock:
            if name not in self._buckets:
                self._buckets[name] = _Bucket(name=name, region=region, created=self._now())

    def stats(self) -> dict[str, int]:
        """Calls received per COS operation (every call, including refused and fault-injected ones)."""
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": SNAPSHOT_VERSION,
                "buckets": {
                    b.name: {
                        "region": b.region,
                        "created": b.created,
                        "objects": {k: b.objects[k].to_json() for k in b.keys},
                    }
                    for b in self._buckets.values()
                },
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace all buckets and objects with a snapshot's."""
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported COS snapshot (expected version {SNAPSHOT_VERSION})")
        buckets: dict[str, _Bucket] = {}
        for name, raw in (data.get("buckets") or {}).items():
            bucket = _Bucket(name=name, region=raw.get("region"), created=float(raw.get("created", 0.0)))
            for key, obj in (raw.get("objects") or {}).items():
                bucket.objects[key] = _Object.from_json(obj)
            bucket.keys = sorted(bucket.objects)
            buckets[name] = bucket
        with self._lock:
            self._buckets = buckets

    # ----- HTTP --------------------------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        request_id = self._request_id()
        host = req.header("host").strip().lower()
        resource = host + req.raw_path.split("?", 1)[0]
        try:
            bucket_name, region, key = self._address(req, host)
            operation = self._operation(req, bucket_name, key)
            with self._lock:
                self._stats[operation] = self._stats.get(operation, 0) + 1
            self._authenticate(req, bucket_name, key)
            decision = self._faults.decide("cos", operation)
            if decision.latency_s > 0:
                time.sleep(decision.latency_s)
            if decision.drop:
                return Response(drop=True)
            if decision.error is not None:
                raise self._fault_error(decision.error)
            resp = self._dispatch(operation, req, bucket_name, region, key)
        except CosError as err:
            resp = self._error(err.status, err.code, err.message, resource, request_id)
        except cos_sign.SignatureError as err:
            resp = self._error(err.status, err.code, err.message, resource, request_id)
        except Exception as exc:  # answer like COS, never with a traceback
            resp = self._error(500, "InternalError", f"localcloud COS internal error: {exc!r}", resource, request_id)
        resp.headers["x-cos-request-id"] = request_id
        return resp

    def _request_id(self) -> str:
        raw = f"{int(self._now()):x}_{self._node}_{next(self._ids):x}"
        return base64.b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")

    def _error(self, status: int, code: str, message: str, resource: str, request_id: str) -> Response:
        trace = base64.b64encode(hashlib.sha256(request_id.encode()).digest()[:24]).decode("ascii")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{_x(code)}</Code><Message>{_x(message or code)}</Message>"
            f"<Resource>{_x(resource or '/')}</Resource><RequestId>{_x(request_id)}</RequestId>"
            f"<TraceId>{_x(trace)}</TraceId></Error>"
        ).encode()
        return Response(status, {"Content-Type": "application/xml", "x-cos-trace-id": trace}, body)

    @staticmethod
    def _fault_error(error: str | int) -> CosError:
        if isinstance(error, int) or (isinstance(error, str) and error.isdigit()):
            status = int(error)
            code = _STATUS_CODES.get(status, "InternalError" if status >= 500 else "InvalidRequest")
        else:
            code = str(error)
            status = _CODE_STATUSES.get(code, 503)
        return CosError(status, code, _ERROR_MESSAGES.get(code, f"{code} (injected by localcloud)"))

    def _address(self, req: Request, host: str) -> tuple[str | None, str | None, str]:
        """(bucket or None, region or None, key) from the Host header and the path."""
        hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host
        match = _HOST_RE.match(hostname)
        if match:
            return match.group("bucket"), match.group("region"), req.path[1:] if req.path.startswith("/") else req.path
        if hostname in ("localhost", "") or _IP_RE.match(hostname) or hostname.startswith("["):
            path = req.path[1:] if req.path.startswith("/") else req.path
            bucket, _, key = path.partition("/")
            return (bucket or None), None, key
        if hostname.startswith("service.cos.") or hostname.startswith("cos."):
            return None, None, req.path.lstrip("/")
        # a custom domain: its first label is taken as the bucket
        return hostname.split(".", 1)[0], None, req.path[1:] if req.path.startswith("/") else req.path

    @staticmethod
    def _operation(req: Request, bucket: str | None, key: str) -> str:
        method = req.method.upper()
        if bucket is None:
            return "ListBuckets" if method == "GET" else "Unsupported"
        if not key:
            if "delete" in req.query and method == "POST":
                return "DeleteObjects"
            subresources = [
                q
                for q in req.query
                if q not in ("prefix", "delimiter", "marker", "max-keys", "encoding-type") and not q.startswith("q-")
            ]
            if subresources and method in ("GET", "PUT", "DELETE"):
                return "Unsupported"
            return {
                "PUT": "PutBucket",
                "HEAD": "HeadBucket",
                "GET": "ListObjects",
                "DELETE": "DeleteBucket",
            }.get(method, "Unsupported")
        if "append" in req.query or "uploads" in req.query or "uploadId" in req.query:
            return "Unsupported"
        if method == "PUT" and req.header("x-cos-copy-source"):
            return "Unsupported"
        return {
            "PUT": "PutObject",
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "DELETE": "DeleteObject",
        }.get(method, "Unsupported")

    def _authenticate(self, req: Request, bucket: str | None, key: str) -> None:
        header = req.header("authorization")
        if header:
            auth = cos_sign.parse_authorization(header)
        elif "q-sign-algorithm" in req.query:
            auth = cos_sign.parsed_from_fields({k: v[0] for k, v in req.query.items() if k.startswith("q-")})
        else:
            raise CosError(403, "AccessDenied", "Access Denied.")
        cos_sign.verify(
            auth=auth,
            keys=self._keys,
            tokens=self._tokens,
            method=req.method,
            path="/" + key,
            query=req.query,
            headers=req.headers,
            now=self._now(),
        )

    def _bucket(self, name: str | None, region: str | None) -> _Bucket:
        bucket = self._buckets.get(name or "")
        if bucket is None or (region is not None and bucket.region is not None and bucket.region != region):
            raise CosError(404, "NoSuchBucket", "The specified bucket does not exist.")
        return bucket

    def _dispatch(self, operation: str, req: Request, bucket: str | None, region: str | None, key: str) -> Response:
        if operation == "PutBucket":
            return self._put_bucket(req, bucket or "", region)
        if operation in {"Unsupported", "ListBuckets"}:
            raise CosError(501, "NotImplemented", f"{req.method} {req.raw_path} is not implemented by localcloud COS")
        with self._lock:
            b = self._bucket(bucket, region)
            if operation == "HeadBucket":
                headers = {"x-cos-bucket-region": b.region or region or ""}
                return Response(200, headers)
            if operation == "DeleteBucket":
                if b.objects:
                    raise CosError(409, "BucketNotEmpty", "The bucket you tried to delete is not empty.")
                del self._buckets[b.name]
                return Response(204)
            if operation == "ListObjects":
                return self._list_objects(req, b)
            if operation == "DeleteObjects":
                return self._delete_objects(req, b)
            if operation == "PutObject":
                return self._put_object(req, b, key)
            if operation in ("GetObject", "HeadObject"):
                return self._get_object(req, b, key, head=operation == "HeadObject")
            if operation == "DeleteObject":
                b.delete(key)
                return Response(204)
        raise CosError(501, "NotImplemented", operation)

    # ----- operations --------------------------------------------------------------------------------------------

    def _put_bucket(self, req: Request, name: str, region: str | None) -> Response:
        if not _BUCKET_RE.match(name):
            raise CosError(400, "InvalidBucketName", "The specified bucket is not valid.")
        with self._lock:
            if name in self._buckets:
                raise CosError(409, "BucketAlreadyExists", "The requested bucket name is not available.")
            self._buckets[name] = _Bucket(name=name, region=region, created=self._now())
        return Response(200)

    def _put_object(self, req: Request, bucket: _Bucket, key: str) -> Response:
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise CosError(400, "KeyTooLong", f"Your key is too long (max {MAX_KEY_BYTES} bytes).")
        body = req.body
        md5 = hashlib.md5(body)  # noqa: S324 - COS ETag and Content-MD5 are MD5
        content_md5 = req.header("content-md5")
        if content_md5:
            try:
                sent = base64.b64decode(content_md5, validate=True)
            except ValueError:
                sent = b""
            if sent != md5.digest():
                raise CosError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
        if req.header("if-none-match").strip() == "*" and key in bucket.objects:
            raise CosError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
        if req.header("x-cos-forbid-overwrite").lower() == "true" and key in bucket.objects:
            raise CosError(409, "FileAlreadyExists", "The object already exists and x-cos-forbid-overwrite is true.")
        if_match = req.header("if-match")
        if if_match:
            current = bucket.objects.get(key)
            if current is None or not _etag_matches(if_match, current.etag):
                raise CosError(
                    412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold."
                )
        obj = _Object(
            body=body,
            content_type=req.header("content-type") or DEFAULT_CONTENT_TYPE,
            etag=f'"{md5.hexdigest()}"',
            last_modified=self._now(),
            crc64=str(crc64ecma(body)),
            meta={k: v for k, v in req.headers.items() if k.startswith("x-cos-meta-")},
            headers={k: req.headers[k] for k in _STORED_HEADERS if k in req.headers},
        )
        bucket.put(key, obj)
        return Response(200, {"ETag": obj.etag, "x-cos-hash-crc64ecma": obj.crc64})

    def _get_object(self, req: Request, bucket: _Bucket, key: str, *, head: bool) -> Response:
        obj = bucket.objects.get(key)
        if obj is None:
            raise CosError(404, "NoSuchKey", "The specified key does not exist.")
        headers = {
            "Content-Type": obj.content_type,
            "ETag": obj.etag,
            "Last-Modified": _http_date(obj.last_modified),
            "Accept-Ranges": "bytes",
            "x-cos-hash-crc64ecma": obj.crc64,
        }
        for name, value in obj.headers.items():
            headers["-".join(p.capitalize() for p in name.split("-"))] = value
        headers.update(obj.meta)
        for param, header in (
            ("response-content-type", "Content-Type"),
            ("response-content-disposition", "Content-Disposition"),
            ("response-cache-control", "Cache-Control"),
            ("response-content-encoding", "Content-Encoding"),
            ("response-content-language", "Content-Language"),
            ("response-expires", "Expires"),
        ):
            value = req.param(param)
            if value:
                headers[header] = value
        if_match = req.header("if-match")
        if if_match and not _etag_matches(if_match, obj.etag):
            raise CosError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
        if_none = req.header("if-none-match")
        if if_none and _etag_matches(if_none, obj.etag):
            return Response(304, {"ETag": obj.etag, "Last-Modified": headers["Last-Modified"]})
        since = _parse_http_date(req.header("if-modified-since")) if req.header("if-modified-since") else None
        if since is not None and not if_none and int(obj.last_modified) <= since:
            return Response(304, {"ETag": obj.etag, "Last-Modified": headers["Last-Modified"]})
        unmod = _parse_http_date(req.header("if-unmodified-since")) if req.header("if-unmodified-since") else None
        if unmod is not None and not if_match and int(obj.last_modified) > unmod:
            raise CosError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.")
        body = obj.body
        status = 200
        byte_range = self._range(req.header("range"), len(body))
        if byte_range is not None:
            start, end = byte_range
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            body = body[start : end + 1]
            status = 206
        headers["Content-Length"] = str(len(body))
        return Response(status, headers, b"" if head else body)

    @staticmethod
    def _range(value: str, size: int) -> tuple[int, int] | None:
        """Parse a single `bytes=a-b` range; None = whole object (absent or not understood, as HTTP says)."""
        match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value or "")
        if not match or (not match.group(1) and not match.group(2)):
            return None
        first, last = match.group(1), match.group(2)
        if not first:
            suffix = int(last)
            if suffix == 0:
                raise CosError(416, "InvalidRange", "The requested range is not satisfiable")
            return max(0, size - suffix), size - 1
        start = int(first)
        end = int(last) if last else size - 1
        if start >= size or (last and end < start):
            raise CosError(416, "InvalidRange", "The requested range is not satisfiable")
        return start, min(end, size - 1)

    def _list_objects(self, req: Request, bucket: _Bucket) -> Response:
        prefix = req.param("prefix") or ""
        delimiter = req.param("delimiter") or ""
        marker = req.param("marker") or ""
        encoding = req.param("encoding-type") or ""
        if encoding and encoding != "url":
            raise CosError(400, "InvalidArgument", "encoding-type must be url")
        raw_max = req.param("max-keys")
        try:
            max_keys = MAX_KEYS_LIMIT if raw_max in (None, "") else int(raw_max)
        except ValueError:
            raise CosError(400, "InvalidArgument", "max-keys must be an integer between 0 and 1000") from None
        if max_keys < 0:
            raise CosError(400, "InvalidArgument", "max-keys must be an integer between 0 and 1000")
        max_keys = min(max_keys, MAX_KEYS_LIMIT)

        keys = bucket.keys
        idx = bisect.bisect_right(keys, marker) if marker else 0
        if prefix:
            idx = max(idx, bisect.bisect_left(keys, prefix))
        contents: list[str] = []
        prefixes: list[str] = []
        truncated = False
        last = ""
        while idx < len(keys):
            key = keys[idx]
            if not key.startswith(prefix):
                break
            entry = key
            is_prefix = False
            if delimiter:
                pos = key.find(delimiter, len(prefix))
                if pos >= 0:
                    entry = key[: pos + len(delimiter)]
                    is_prefix = True
            if is_prefix and marker and entry <= marker:
                idx = self._skip_prefix(keys, idx, entry)
                continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if is_prefix:
                prefixes.append(entry)
                idx = self._skip_prefix(keys, idx, entry)
            else:
                contents.append(key)
                idx += 1
            last = entry

        def enc(value: str) -> str:
            return _x(_url(value) if encoding else value)

        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>',
            f"<Name>{_x(bucket.name)}</Name>",
        ]
        if encoding:
            parts.append("<EncodingType>url</EncodingType>")
        parts.append(f"<Prefix>{enc(prefix)}</Prefix><Marker>{enc(marker)}</Marker><MaxKeys>{max_keys}</MaxKeys>")
        if delimiter:
            parts.append(f"<Delimiter>{enc(delimiter)}</Delimiter>")
        parts.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if truncated:
            parts.append(f"<NextMarker>{enc(last)}</NextMarker>")
        parts.extend(f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in prefixes)
        for key in contents:
            obj = bucket.objects[key]
            parts.append(
                f"<Contents><Key>{enc(key)}</Key><LastModified>{_iso(obj.last_modified)}</LastModified>"
                f"<ETag>{_x(obj.etag)}</ETag><Size>{len(obj.body)}</Size>"
                f"<Owner><ID>{APPID}</ID><DisplayName>{APPID}</DisplayName></Owner>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        parts.append("</ListBucketResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(parts).encode("utf-8"))

    @staticmethod
    def _skip_prefix(keys: list[str], idx: int, common: str) -> int:
        """Index of the first key after `idx` that does not start with `common` (keys are sorted)."""
        upper = common[:-1] + chr(ord(common[-1]) + 1)
        return max(idx + 1, bisect.bisect_left(keys, upper, idx))

    def _delete_objects(self, req: Request, bucket: _Bucket) -> Response:
        content_md5 = req.header("content-md5")
        if not content_md5:
            raise CosError(400, "InvalidRequest", "Missing required header for this request: Content-MD5")
        try:
            sent = base64.b64decode(content_md5, validate=True)
        except ValueError:
            sent = b""
        if sent != hashlib.md5(req.body).digest():  # noqa: S324 - Content-MD5 is MD5
            raise CosError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
        try:
            root = ET.fromstring(req.body)  # noqa: S314 - local emulator, body from a local client
        except ET.ParseError:
            raise CosError(400, "MalformedXML", "The XML you provided was not well-formed.") from None
        if root.tag != "Delete":
            raise CosError(400, "MalformedXML", "The XML you provided was not well-formed.")
        quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
        keys = [(obj.findtext("Key") or "") for obj in root.findall("Object")]
        if not keys or len(keys) > MAX_DELETE_OBJECTS:
            raise CosError(400, "MalformedXML", f"A Delete request names between 1 and {MAX_DELETE_OBJECTS} objects.")
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult>']
        for key in keys:
            if not key:
                parts.append("<Error><Key></Key><Code>InvalidArgument</Code><Message>Key is empty</Message></Error>")
                continue
            bucket.delete(key)
            if not quiet:
                parts.append(f"<Deleted><Key>{_x(key)}</Key></Deleted>")
        parts.append("</DeleteResult>")
        return Response(200, {"Content-Type": "application/xml"}, "".join(parts).encode("utf-8"))
