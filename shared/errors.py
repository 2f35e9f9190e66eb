"""Typed errors: each carries the HTTP status and the error code of the public contract.

One table holds the status of every code, so a code can never be answered with two
different statuses. `shared.http` is the one place that turns these into responses.
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
    "MethodNotAllowed": 405,
    "PayloadTooLarge": 413,
    "ReplicaExists": 409,
    "ReplicasExist": 409,
    "InstanceNotRunning": 409,
    "Conflict": 409,
    "NotPremium": 422,
    "SameRegion": 422,
    "CrossBorder": 422,
    "RegionNotSupported": 422,
    "UnknownRegion": 422,
    "PolicyDenied": 422,
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
