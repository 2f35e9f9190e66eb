"""The one place that reads the environment (DESIGN.md §8).

Everything is read at use, per invocation: `Config()` is cheap, holds only a reference to the
environment mapping, and every property re-reads it, so SCF's rotating role credentials and a
changed setting are picked up by a warm container. Missing or invalid settings raise
`ConfigError(variable, problem)` naming the variable; there is never a default credential, and no
secret value ever appears in a message, `str` or `repr`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from shared.errors import ConfigError

SECRET_ID = "TENCENTCLOUD_SECRETID"
SECRET_KEY = "TENCENTCLOUD_SECRETKEY"
SESSION_TOKEN = "TENCENTCLOUD_SESSIONTOKEN"
REGION = "TENCENTCLOUD_REGION"
TCR_ENDPOINT = "TCR_ENDPOINT"
COS_ENDPOINT = "COS_ENDPOINT"
LOG_BUCKET = "LOG_BUCKET"
LOG_BUCKET_REGION = "LOG_BUCKET_REGION"
API_TOKEN = "API_TOKEN"
API_AUTH = "API_AUTH"
WEBHOOK_TOKEN = "WEBHOOK_TOKEN"
WEBHOOK_TOKEN_HEADER = "WEBHOOK_TOKEN_HEADER"
WEBHOOK_HMAC_SECRET = "WEBHOOK_HMAC_SECRET"
NOTIFY_URL = "NOTIFY_URL"
NOTIFY_SECRET = "NOTIFY_SECRET"
REPLICATION_SLA_SECONDS = "REPLICATION_SLA_SECONDS"
POLICY = "POLICY"
AUDIT_TCR_CALL_BUDGET = "AUDIT_TCR_CALL_BUDGET"

DEFAULT_WEBHOOK_TOKEN_HEADER = "X-Webhook-Token"
DEFAULT_SLA_SECONDS = 900
# 400 log pages of 20 entries: 10,000 pushes read at <= 0.04 TCR calls each, ~1-2 minutes of a 900 s run
DEFAULT_AUDIT_TCR_CALL_BUDGET = 400
MAX_AUDIT_TCR_CALL_BUDGET = 20000

_REGION_RE = re.compile(r"[a-z]{2}-[a-z]+(?:-[a-z0-9]+)*")
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_HEADER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-[0-9]+")
_URL_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_URL_HOST_RE = re.compile(rf"{_URL_LABEL}(?:\.{_URL_LABEL})*\.?")  # fullmatch: a DNS name or IPv4 address
MAX_URL_LENGTH = 2048


def whole_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() then refuses."""
    return text.isascii() and text.isdigit()


def _get(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value with surrounding blanks removed; empty counts as unset."""
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _require(env: Mapping[str, str], name: str, what: str) -> str:
    value = _get(env, name)
    if value is None:
        raise ConfigError(name, f"is not set: {what}")
    return value


def _mask(secret_id: str) -> str:
    return secret_id[:4] + "****" if len(secret_id) > 8 else "****"


class Credentials:
    """Live credentials from SCF's variables, re-read at every use (role credentials rotate).

    Works as a TCR SDK credential (`get_credential_info()`, `secret_id`, `secret_key`, `token`,
    `secretId`, `secretKey`) and as a cos-python-sdk-v5 `CredentialInstance` (`secret_id`,
    `secret_key`, `token`). A missing id or key raises `ConfigError`, never a default.
    """

    __slots__ = ("_env", "_last")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env: Mapping[str, str] = os.environ if environ is None else environ
        # (raw values, checked values) of the last good read: the same raw values check the same way
        self._last: tuple[tuple[str | None, ...], tuple[str, str, str | None]] | None = None

    @property
    def secret_id(self) -> str:
        value = _require(self._env, SECRET_ID, "the function needs a run role (SCF injects its credentials)")
        if any(c.isspace() for c in value):
            raise ConfigError(SECRET_ID, "must not contain blanks")
        return value

    @property
    def secret_key(self) -> str:
        value = _require(self._env, SECRET_KEY, "the function needs a run role (SCF injects its credentials)")
        if any(c.isspace() for c in value):
            raise ConfigError(SECRET_KEY, "must not contain blanks")
        return value

    @property
    def token(self) -> str | None:
        return _get(self._env, SESSION_TOKEN)

    # The TCR SDK's Credential interface.
    @property
    def secretId(self) -> str:
        return self.secret_id

    @property
    def secretKey(self) -> str:
        return self.secret_key

    def get_credential_info(self) -> tuple[str, str, str | None]:
        """The current (id, key, token), checked; re-read on every call (every COS request asks)."""
        env = self._env
        raw = (env.get(SECRET_ID), env.get(SECRET_KEY), env.get(SESSION_TOKEN))
        last = self._last
        if last is not None and last[0] == raw:
            return last[1]
        info = (self.secret_id, self.secret_key, self.token)
        self._last = (raw, info)
        return info

    def check(self) -> None:
        """Raise ConfigError now if the credentials are missing (instead of at the first call)."""
        self.get_credential_info()

    def secrets(self) -> tuple[str, ...]:
        """The current secret values (for scrubbing upstream messages); never log this."""
        names = (SECRET_ID, SECRET_KEY, SESSION_TOKEN)
        return tuple(v for v in (_get(self._env, n) for n in names) if v)

    def __repr__(self) -> str:
        sid = _get(self._env, SECRET_ID)
        return f"Credentials(secret_id={_mask(sid) if sid else None!r}, secret_key=***, token=***)"

    __str__ = __repr__


class Endpoint(NamedTuple):
    """A local override: plain http to host:port."""

    host: str
    port: int

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.netloc}"

    def __str__(self) -> str:
        return self.netloc


def parse_endpoint(variable: str, raw: str) -> Endpoint:
    text = raw.strip()
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() != "http":
            raise ConfigError(variable, "must be host:port (plain http), e.g. 127.0.0.1:9001")
    text = text.rstrip("/")
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not _HOST_RE.fullmatch(host):
        raise ConfigError(variable, f"must be host:port, e.g. 127.0.0.1:9001 (got {raw!r})")
    if not whole_number(port_text) or not 0 < int(port_text) < 65536:
        raise ConfigError(variable, f"has an invalid port (got {raw!r}); expected host:port with port 1-65535")
    return Endpoint(host, int(port_text))


def notify_url_problem(url: str) -> str | None:
    """Why `url` cannot be NOTIFY_URL, in words that never repeat the URL (its query may be a credential)."""
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if any(not "!" <= c <= "~" for c in url):
        return "must not contain blanks, control or non-ASCII characters (percent-encode them; IDN hosts in punycode)"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "is not a valid URL: check the host (IPv6 in [brackets]) and the port (1-65535)"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not host:
        return "has no host: expected http(s)://host[:port]/path"
    if "@" in parts.netloc:
        return "must not carry user:password@ (it is not sent; NOTIFY_SECRET signs every notification)"
    if port == 0:
        return "has port 0: expected 1-65535"
    if ":" in host:
        import ipaddress  # lazily: only an IPv6 receiver needs it

        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has an invalid IPv6 host"
    elif not _URL_HOST_RE.fullmatch(host):
        return "has an invalid host name"
    return None


# Value objects are NamedTuples, not dataclasses: importing `dataclasses` (and the `inspect` it pulls in)
# costs a cold start ~10 ms. Each one that holds a secret prints it masked.


class ApiAuth(NamedTuple):
    """How the replica API authenticates callers: bearer token, or CAM at the Function URL."""

    mode: str  # "bearer" or "cam"
    token: str | None = None

    @property
    def bearer(self) -> bool:
        return self.mode == "bearer"

    def __repr__(self) -> str:
        return f"ApiAuth(mode={self.mode!r}, token=***)"


class WebhookAuth(NamedTuple):
    token: str
    header: str = DEFAULT_WEBHOOK_TOKEN_HEADER
    hmac_secret: str | None = None

    def __repr__(self) -> str:
        return f"WebhookAuth(token=***, header={self.header!r}, hmac_secret=***)"


class NotifyTarget(NamedTuple):
    url: str  # may carry credentials in its query: never printed
    secret: str

    def __repr__(self) -> str:
        parts = urlsplit(self.url)
        return f"NotifyTarget(url='{parts.scheme}://{parts.hostname}/...', secret=***)"


class Config:
    """Typed accessors over the environment; read per invocation, nothing cached.

    `Config()` reads `os.environ`; `Config({...})` reads the given mapping (tests, scripts).
    """

    __slots__ = ("_env", "_last")

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env: Mapping[str, str] = os.environ if environ is None else environ
        # (raw values, checked values) of the last good read: the same raw values check the same way
        self._last: tuple[tuple[str | None, ...], tuple[str, str, str | None]] | None = None

    def __repr__(self) -> str:
        return "Config(<environment>)"

    __str__ = __repr__

    def raw(self, name: str) -> str | None:
        return _get(self._env, name)

    @property
    def credentials(self) -> Credentials:
        return Credentials(self._env)

    @property
    def region(self) -> str:
        value = _require(self._env, REGION, "SCF sets it to the function's region, e.g. ap-guangzhou")
        if not _REGION_RE.fullmatch(value):
            raise ConfigError(REGION, f"is not a region name like ap-guangzhou (got {value!r})")
        return value

    @property
    def tcr_endpoint(self) -> Endpoint | None:
        value = _get(self._env, TCR_ENDPOINT)
        return parse_endpoint(TCR_ENDPOINT, value) if value else None

    @property
    def cos_endpoint(self) -> Endpoint | None:
        value = _get(self._env, COS_ENDPOINT)
        return parse_endpoint(COS_ENDPOINT, value) if value else None

    @property
    def log_bucket(self) -> str:
        value = _require(self._env, LOG_BUCKET, "name the COS bucket of the replication log, e.g. tcr-log-1250000000")
        if not _BUCKET_RE.fullmatch(value) or len(value) > 60:
            raise ConfigError(LOG_BUCKET, f"must be a COS bucket name <name>-<appid> in lower case (got {value!r})")
        return value

    @property
    def log_bucket_region(self) -> str:
        """LOG_BUCKET_REGION, or the function's own region when unset."""
        value = _get(self._env, LOG_BUCKET_REGION)
        if value is None:
            try:
                return self.region
            except ConfigError:
                raise ConfigError(LOG_BUCKET_REGION, "is not set and TENCENTCLOUD_REGION is not set either") from None
        if not _REGION_RE.fullmatch(value):
            raise ConfigError(LOG_BUCKET_REGION, f"is not a region name like ap-guangzhou (got {value!r})")
        return value

    @property
    def api_auth(self) -> ApiAuth:
        mode = (_get(self._env, API_AUTH) or "bearer").lower()
        token = _get(self._env, API_TOKEN)
        if mode == "cam":
            return ApiAuth("cam", token)
        if mode != "bearer":
            raise ConfigError(API_AUTH, "must be 'bearer' (API_TOKEN) or 'cam' (Function URL with CAM auth)")
        if token is None:
            raise ConfigError(
                API_TOKEN,
                "is not set: set API_TOKEN for bearer auth, or API_AUTH=cam if the Function URL checks CAM",
            )
        return ApiAuth("bearer", token)

    @property
    def webhook_auth(self) -> WebhookAuth:
        token = _require(self._env, WEBHOOK_TOKEN, "the TCR trigger must send this secret in a header")
        header = _get(self._env, WEBHOOK_TOKEN_HEADER) or DEFAULT_WEBHOOK_TOKEN_HEADER
        if not _HEADER_RE.fullmatch(header):
            raise ConfigError(WEBHOOK_TOKEN_HEADER, f"is not a valid HTTP header name (got {header!r})")
        return WebhookAuth(token=token, header=header, hmac_secret=_get(self._env, WEBHOOK_HMAC_SECRET))

    @property
    def notify(self) -> NotifyTarget | None:
        """None when NOTIFY_URL is unset (notifications are optional and reported as skipped)."""
        url = _get(self._env, NOTIFY_URL)
        if url is None:
            return None
        problem = notify_url_problem(url)
        if problem:
            raise ConfigError(NOTIFY_URL, problem)
        secret = _get(self._env, NOTIFY_SECRET)
        if secret is None:
            raise ConfigError(NOTIFY_SECRET, "is not set but NOTIFY_URL is: notifications must be signed")
        return NotifyTarget(url=url, secret=secret)

    @property
    def sla_seconds(self) -> int:
        value = _get(self._env, REPLICATION_SLA_SECONDS)
        if value is None:
            return DEFAULT_SLA_SECONDS
        if not whole_number(value) or int(value) <= 0:
            raise ConfigError(REPLICATION_SLA_SECONDS, f"must be a positive whole number of seconds (got {value!r})")
        return int(value)

    @property
    def audit_tcr_call_budget(self) -> int:
        """Most DescribeReplicationInstanceSyncStatus calls one audit run makes (shared by instances and replicas)."""
        value = _get(self._env, AUDIT_TCR_CALL_BUDGET)
        if value is None:
            return DEFAULT_AUDIT_TCR_CALL_BUDGET
        if not whole_number(value) or not 1 <= int(value) <= MAX_AUDIT_TCR_CALL_BUDGET:
            raise ConfigError(
                AUDIT_TCR_CALL_BUDGET,
                f"must be a whole number of TCR calls from 1 to {MAX_AUDIT_TCR_CALL_BUDGET} (got {value!r})",
            )
        return int(value)

    @property
    def policy(self) -> str | None:
        """The raw POLICY value (JSON text or a path); shared.policy parses it."""
        return _get(self._env, POLICY)
