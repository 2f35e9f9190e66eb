"""Typed errors: the public contract's (`ApiError`) and the log store's own (`LogStoreError`).

An `ApiError` carries the error code of the public contract and its HTTP status. One table holds the
status of every code, so a code can never be answered with two different statuses. The data layer
raises its own errors instead: they say what failed, not what to answer. `shared.http` is the one place
that turns either into a response.
"""

from __future__ import annotations

from typing import Any

STATUS_BY_CODE: dict[str, int] = {
    "InvalidJSON": 400,
    "InvalidRequest": 400,
    "Unauthorized": 401,
    "InstanceNotFound": 404,
    "ReplicaNotFound": 404,
    "RouteNotFound": 404,
    "ReportNotFound": 404,
    "AccessNotFound": 404,
    "MethodNotAllowed": 405,
    "PayloadTooLarge": 413,
    "ReplicaExists": 409,
    "ReplicasExist": 409,
    "InstanceNotRunning": 409,
    "Conflict": 409,
    "AccessExists": 409,
    "ReplicaNotRunning": 409,
    "PrivateAccessExists": 409,
    "NotPremium": 422,
    "SameRegion": 422,
    "CrossBorder": 422,
    "RegionNotSupported": 422,
    "UnknownRegion": 422,
    "PolicyDenied": 422,
    "NoReplicaInRegion": 422,
    "VpcNotFound": 422,
    "TcrRefused": 422,
    "Throttled": 429,
    "UpstreamError": 502,
    "Unavailable": 503,
}


class ApiError(Exception):
    """An error a caller can act on: the HTTP status follows from the code."""

    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        if code not in STATUS_BY_CODE:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = STATUS_BY_CODE[code]
        self.details: dict[str, Any] = dict(details or {})

    def to_body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "requestId": request_id}
        error.update(self.details)
        return {"error": error}

    def __repr__(self) -> str:
        return f"ApiError({self.code!r}, {self.message!r})"


class ConfigError(ApiError):
    """Missing or invalid configuration: names the variable, never falls back silently."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(
            "Unavailable",
            f"configuration error: {variable} {problem}",
            details={"variable": variable},
        )
        self.variable = variable


def invalid_request(field: str, reason: str, rule: str) -> ApiError:
    """InvalidRequest naming the field and the rule, worded as the schema validator words its refusals."""
    return ApiError("InvalidRequest", f"{field}: {reason} (rule: {rule})", details={"field": field, "rule": rule})


class LogStoreError(Exception):
    """A failure of the replication log in COS (shared.logstore), in the data layer's own terms.

    `code` is the product's error code the failure stands for: `shared.http.api_error` turns it into the
    answer, and the audit (which answers no HTTP request) reports it under that code in its summary.
    """

    code = "Unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class StoreUnavailable(LogStoreError):
    """The bucket did not answer within the retries the deadline allowed, or refused the call (403, ...)."""


class StoreCorrupt(LogStoreError):
    """An object in the bucket is not what the log's layout says it is: another attempt will not help."""


class BadCursor(LogStoreError):
    """A query's cursor is malformed, altered, or belongs to a query with other filters."""

    code = "InvalidRequest"
