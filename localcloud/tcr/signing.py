"""TC3-HMAC-SHA256 verification, recomputed from the raw request (see reference/tcr-sdk-wire.md §3).

The canonical request is rebuilt from what arrived on the wire (method, path, query, the headers the
client says it signed, the body bytes), never from a parsed form of the parameters.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone

ALGORITHM = "TC3-HMAC-SHA256"
MAX_SKEW_S = 300

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


@dataclass
class AuthError(Exception):
    code: str
    message: str


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    k_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(
    *,
    method: str,
    path: str,
    raw_query: str,
    headers: dict[str, str],
    body: bytes,
    keys: dict[str, str],
    now: float,
    service: str = "tcr",
    tokens: dict[str, str] | None = None,
) -> str:
    """Check the Authorization header; return the SecretId on success, raise AuthError otherwise.

    `tokens` maps the SecretId of temporary (role) credentials to their session token: a request signed
    with such a key must carry that token in `X-TC-Token` (AuthFailure.TokenFailure otherwise). A SecretId
    not in `tokens` is a permanent key: it needs no token, and a token sent with it is not checked.
    """
    auth = headers.get("authorization", "")
    if not auth:
        raise AuthError("AuthFailure.SignatureFailure", "The request has no Authorization header.")
    m = _AUTH_RE.match(auth.strip())
    if not m:
        raise AuthError(
            "AuthFailure.InvalidAuthorization",
            "The Authorization header does not follow TC3-HMAC-SHA256 "
            "(Credential=..., SignedHeaders=..., Signature=...).",
        )
    parts = m.group("cred").split("/")
    if len(parts) != 4 or parts[3] != "tc3_request":
        raise AuthError(
            "AuthFailure.InvalidAuthorization", "Credential must be <SecretId>/<date>/<service>/tc3_request."
        )
    secret_id, date, cred_service, _ = parts
    secret_key = keys.get(secret_id)
    if secret_key is None:
        raise AuthError("AuthFailure.SecretIdNotFound", f"The SecretId {secret_id} is not found.")

    ts_text = headers.get("x-tc-timestamp", "")
    try:
        timestamp = int(ts_text)
    except ValueError:
        raise AuthError("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing or not an integer.") from None
    if abs(now - timestamp) > MAX_SKEW_S:
        raise AuthError(
            "AuthFailure.SignatureExpire",
            f"The request has expired: X-TC-Timestamp {timestamp} is more than {MAX_SKEW_S} s from the server "
            f"time {int(now)}; check the client clock.",
        )
    if cred_service != service:
        raise AuthError("AuthFailure.SignatureFailure", f"The credential scope names service {cred_service!r}.")
    expected_date = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    if date != expected_date:
        raise AuthError("AuthFailure.SignatureFailure", "The credential scope date does not match X-TC-Timestamp.")

    signed = m.group("signed").lower().split(";")
    if "content-type" not in signed or "host" not in signed:
        raise AuthError("AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host.")
    # Tencent's TC3 rules: header names and values lower-cased and trimmed.
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed)
    if headers.get("x-tc-content-sha256", "") == "UNSIGNED-PAYLOAD":
        payload_hash = hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest()
    else:
        payload_hash = hashlib.sha256(b"" if method == "GET" else body).hexdigest()
    canonical_query = raw_query if method == "GET" else ""
    canonical_request = "\n".join(
        [method, path or "/", canonical_query, canonical_headers, ";".join(signed), payload_hash]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            ts_text,
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    expected = signature(secret_key, date, service, string_to_sign)
    if not hmac.compare_digest(expected, m.group("sig").lower()):
        raise AuthError(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated; check the SecretKey and the signing method.",
        )
    expected_token = (tokens or {}).get(secret_id)
    if expected_token is not None:
        sent = headers.get("x-tc-token", "")
        if not sent:
            raise AuthError(
                "AuthFailure.TokenFailure",
                f"The SecretId {secret_id} is a temporary credential: the request must carry its session token "
                "(X-TC-Token).",
            )
        if not hmac.compare_digest(sent.encode("utf-8"), expected_token.encode("utf-8")):
            raise AuthError(
                "AuthFailure.TokenFailure",
                f"The session token (X-TC-Token) is not the one issued with the SecretId {secret_id}.",
            )
    return secret_id
