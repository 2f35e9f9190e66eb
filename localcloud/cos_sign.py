"""COS request signature (q-sign-algorithm=sha1), recomputed on the server side.

The algorithm is COS's documented request signature, as cos-python-sdk-v5's `CosS3Auth` builds it:

    Authorization: q-sign-algorithm=sha1&q-ak=<SecretId>&q-sign-time=<s>;<e>&q-key-time=<s>;<e>
                   &q-header-list=<h1;h2>&q-url-param-list=<p1;p2>&q-signature=<hex>
    SignKey      = hex(HMAC-SHA1(SecretKey, q-key-time))
    HttpString   = lower(method) \\n path \\n sorted(k=v of listed params) \\n sorted(k=v of listed headers) \\n
    StringToSign = "sha1" \\n q-sign-time \\n hex(SHA1(HttpString)) \\n
    q-signature  = hex(HMAC-SHA1(SignKey, StringToSign))

Names and values are percent-encoded with the safe characters `-_.~`; names are lower-cased.
The same fields may also arrive as query parameters (a pre-signed URL).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

REQUIRED_FIELDS = (
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
)


class SignatureError(Exception):
    """A refused signature: `code` is the COS error code, `status` the HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class ParsedAuth:
    algorithm: str
    access_key: str
    sign_time: str
    key_time: str
    header_list: list[str]
    param_list: list[str]
    signature: str


def _enc(value: str) -> str:
    """Percent-encode like the SDK: UTF-8 bytes, safe characters `-_.~`."""
    return quote(value.encode("utf-8"), safe="-_.~")


def _hostname(host: str) -> str:
    """The Host header without a port: the SDK signs a URL's hostname, a browser sends `host:port` (assumed)."""
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() and not name.endswith(":") and "]" not in port else host


def _header_bytes(value: str) -> bytes:
    """http.server decodes header bytes as latin-1; get the bytes the client sent back."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def parse_authorization(text: str) -> ParsedAuth:
    fields: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        fields[name.strip()] = value.strip()
    return parsed_from_fields(fields)


def parsed_from_fields(fields: dict[str, str]) -> ParsedAuth:
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise SignatureError(403, "AccessDenied", f"Authorization is malformed: missing {', '.join(missing)}")
    return ParsedAuth(
        algorithm=fields["q-sign-algorithm"],
        access_key=fields["q-ak"],
        sign_time=fields["q-sign-time"],
        key_time=fields["q-key-time"],
        header_list=[h for h in fields["q-header-list"].split(";") if h],
        param_list=[p for p in fields["q-url-param-list"].split(";") if p],
        signature=fields["q-signature"],
    )


def parse_time_range(value: str) -> tuple[int, int]:
    start, sep, end = value.partition(";")
    try:
        if not sep:
            raise ValueError(value)
        return int(start), int(end)
    except ValueError:
        raise SignatureError(403, "AccessDenied", f"q-sign-time is malformed: {value!r}") from None


def http_string(
    *,
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    param_list: list[str],
    header_list: list[str],
) -> str:
    """The canonical request over the listed params and headers only (as the client listed them)."""
    params: dict[str, str] = {}
    for name, values in query.items():
        params[_enc(name).lower()] = _enc(values[0] if values else "")
    heads: dict[str, str] = {}
    for name, value in headers.items():
        sent = _hostname(value) if name.lower() == "host" else value
        heads[_enc(name).lower()] = quote(_header_bytes(sent), safe="-_.~")
    listed_params = sorted((p, params.get(p, "")) for p in param_list)
    listed_heads = sorted((h, heads.get(h, "")) for h in header_list)
    return "{}\n{}\n{}\n{}\n".format(
        method.lower(),
        path,
        "&".join(f"{k}={v}" for k, v in listed_params),
        "&".join(f"{k}={v}" for k, v in listed_heads),
    )


def signature(secret_key: str, key_time: str, sign_time: str, canonical: str) -> str:
    sign_key = hmac.new(secret_key.encode("utf-8"), key_time.encode("utf-8"), hashlib.sha1).hexdigest()
    digest = hashlib.sha1(canonical.encode("utf-8")).hexdigest()  # noqa: S324 - COS signature is SHA-1
    string_to_sign = f"sha1\n{sign_time}\n{digest}\n"
    return hmac.new(sign_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).hexdigest()


def verify(
    *,
    auth: ParsedAuth,
    keys: dict[str, str],
    method: str,
    path: str,
    query: dict[str, list[str]],
    headers: dict[str, str],
    now: float,
    tokens: dict[str, str] | None = None,
) -> str:
    """Check one request; return the SecretId on success, raise SignatureError otherwise.

    Order of checks: algorithm, SecretId known, q-sign-time window, signature value, session token.
    `tokens` maps the SecretId of temporary (role) credentials to their session token, which the request
    must carry (header `x-cos-security-token`, or query `x-cos-security-token` / `q-token` on a pre-signed
    URL); a missing or different token is 403 `InvalidAccessKeyId` (a temporary SecretId means nothing
    without its token). A SecretId not in `tokens` is a permanent key: no token needed, none checked.
    """
    if auth.algorithm.lower() != "sha1":
        raise SignatureError(403, "AccessDenied", f"q-sign-algorithm {auth.algorithm!r} is not supported; use sha1")
    secret = keys.get(auth.access_key)
    if secret is None:
        raise SignatureError(403, "InvalidAccessKeyId", "The access key Id format you provided is invalid.")
    start, end = parse_time_range(auth.sign_time)
    if now > end:
        raise SignatureError(403, "AccessDenied", "Request has expired")
    if now < start:
        raise SignatureError(403, "AccessDenied", "Request is not yet valid (q-sign-time starts in the future)")
    # the signed query must not list pre-signed auth fields themselves
    sign_query = {k: v for k, v in query.items() if k.lower() not in REQUIRED_FIELDS and k.lower() != "q-token"}
    canonical = http_string(
        method=method,
        path=path,
        query=sign_query,
        headers=headers,
        param_list=auth.param_list,
        header_list=auth.header_list,
    )
    expected = signature(secret, auth.key_time, auth.sign_time, canonical)
    if not hmac.compare_digest(expected, auth.signature.lower()):
        raise SignatureError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    expected_token = (tokens or {}).get(auth.access_key)
    if expected_token is not None:
        sent = _sent_token(headers, query)
        if not sent:
            raise SignatureError(
                403,
                "InvalidAccessKeyId",
                f"The SecretId {auth.access_key} is a temporary key: the request must carry its security token "
                "(x-cos-security-token).",
            )
        if not hmac.compare_digest(sent.encode("utf-8"), expected_token.encode("utf-8")):
            raise SignatureError(
                403,
                "InvalidAccessKeyId",
                f"The security token is not the one issued with the temporary SecretId {auth.access_key}.",
            )
    return auth.access_key


def _sent_token(headers: dict[str, str], query: dict[str, list[str]]) -> str:
    for name, value in headers.items():
        if name.lower() == "x-cos-security-token":
            return value
    for name, values in query.items():
        if name.lower() in ("x-cos-security-token", "q-token") and values:
            return values[0]
    return ""
