"""TCR failures: which are worth a retry, which are refusals, and the product's error for each (DESIGN §3).

`TcrCallError` is one failed call as TCR (or the SDK) reported it; `map_error` turns it into the
`ApiError` a caller answers with. Messages quote TCR's code and RequestId, never a secret (`scrub`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.errors import ApiError

NETWORK_CODES = frozenset({"ClientNetworkError", "ServerNetworkError", "JSONDecodeError", "BadResponse"})
TRANSIENT_INTERNAL_CODES = frozenset(
    {
        "InternalError",
        "InternalError.Unknown",
        "InternalError.ErrorTcrInternal",
        "InternalError.DbError",
        "FailedOperation.DependenceError",
        "ResourceUnavailable",
    }
)
CONFLICT_CODES = frozenset(
    {
        "FailedOperation.PreconditionFailed",
        "FailedOperation.ErrorTcrResourceConflict",
        "InternalError.ErrConflict",
        "InternalError.ErrorConflict",
        "InternalError.ErrorTcrResourceConflict",
        "ResourceInUse",
        "OperationDenied",
        "OperationDenied.QuotaOverLimit",
        "InvalidParameter.ErrNamespaceExist",
        "InvalidParameter.ErrTriggerExist",
        "InvalidParameter.ErrRepoExist",
        "InvalidParameter.ErrorNameExists",
        "LimitExceeded",
        "LimitExceeded.ErrTriggerMaxLimit",
        "LimitExceeded.ErrNamespaceMaxLimit",
        "LimitExceeded.ErrRepoMaxLimit",
    }
)
REGION_CODES = frozenset({"InvalidParameter.UnsupportedRegion", "FailedOperation.ValidateSupportedRegionFail"})
# Classes of codes by which TCR refuses a request (the request cannot succeed as it is), as opposed to
# failing (InternalError*, network, 5xx): an unforeseen refusal is 422 TcrRefused, not 502.
REFUSAL_CLASSES = frozenset(
    {
        "InvalidParameter",
        "FailedOperation",
        "UnsupportedOperation",
        "OperationDenied",
        "ResourceInsufficient",
        "LimitExceeded",
    }
)
# Codes filed under a refusal class that name a fault of TCR itself (errorcodes.py: database, dependency,
# empty answer of its core, its own client): a retry may succeed, so they stay failures.
UPSTREAM_FAULT_CODES = frozenset(
    {
        "FailedOperation.DbError",
        "FailedOperation.DependenceError",
        "FailedOperation.EmptyCoreBody",
        "FailedOperation.ErrorGetDBDataError",
        "FailedOperation.GetDBDataError",
        "FailedOperation.GetSecurityPolicyFail",
        "FailedOperation.GetTcrClient",
    }
)


def is_rate_limit(code: str) -> bool:
    return code == "RequestLimitExceeded" or code.startswith("RequestLimitExceeded.")


def is_refusal(code: str) -> bool:
    """TCR refused the request (its code's class says so), rather than failed to carry it out."""
    return code.split(".", 1)[0] in REFUSAL_CLASSES and code not in UPSTREAM_FAULT_CODES


class TcrCallError(Exception):
    """One failed TCR call, before mapping: the TCR (or SDK) code, message and RequestId."""

    def __init__(self, action: str, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{action}: {code}: {message}")
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def network(self) -> bool:
        return self.code in NETWORK_CODES

    @property
    def rate_limited(self) -> bool:
        return is_rate_limit(self.code)

    @property
    def transient(self) -> bool:
        """Worth trying again for a read."""
        return self.rate_limited or self.network or self.code in TRANSIENT_INTERNAL_CODES

    @property
    def ambiguous(self) -> bool:
        """A write that failed like this may or may not have been carried out."""
        return self.network or self.code in TRANSIENT_INTERNAL_CODES

    @property
    def not_found(self) -> bool:
        return self.code.startswith("ResourceNotFound") or self.code == "InternalError.ErrNotExist"

    @property
    def reference(self) -> str:
        """How an error message names this call: `(TCR <action> <code>, RequestId <id>)`."""
        return f"(TCR {self.action} {self.code}" + (f", RequestId {self.request_id})" if self.request_id else ")")


class TcrApiError(ApiError):
    """An ApiError that came from TCR: keeps the upstream code, RequestId and action for logs."""

    def __init__(
        self, code: str, message: str, *, tcr_code: str, request_id: str | None, action: str, **kw: Any
    ) -> None:
        super().__init__(code, message, **kw)
        self.tcr_code = tcr_code
        self.tcr_request_id = request_id
        self.action = action


def clip(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def map_error(err: TcrCallError, *, not_found: str = "InstanceNotFound") -> TcrApiError:
    """Map a TCR failure to the product's error codes (DESIGN.md §3)."""
    code = err.code
    ref = err.reference
    upstream = clip(err.message)
    if is_rate_limit(code):
        ours, text = "Throttled", f"TCR rate limit still hit after retries {ref}; retry later"
    elif err.not_found:
        what = "replica" if not_found == "ReplicaNotFound" else "instance"
        ours, text = not_found, f"TCR {what} not found: {upstream} {ref}"
    elif code == "InvalidParameter.ReplicationExists":
        ours, text = "ReplicaExists", f"a replica already exists in that region: {upstream} {ref}"
    elif code in REGION_CODES:
        ours, text = "RegionNotSupported", f"TCR does not support that region for this operation: {upstream} {ref}"
    elif code == "ResourceInsufficient.ErrorInstanceNotRunning":
        ours, text = "InstanceNotRunning", f"the instance is not running: {upstream} {ref}; wait until it is Running"
    elif code in CONFLICT_CODES:
        ours, text = "Conflict", f"TCR refused the operation in the current state: {upstream} {ref}"
    elif err.network:
        ours, text = "Unavailable", f"TCR could not be reached or answered badly: {upstream} {ref}; retry later"
    elif code == "DeadlineExceeded":
        ours, text = "Unavailable", f"no time left in this invocation to call TCR {ref}; retry"
    elif is_refusal(code):
        tcr = {"code": code, "message": upstream}
        if err.request_id:
            tcr["requestId"] = err.request_id
        text = (
            f"TCR refused {err.action}: {upstream} {ref}; see error.tcr, change the request or the instance "
            "as TCR says (retrying the same request will not help)"
        )
        return TcrApiError(
            "TcrRefused", text, tcr_code=code, request_id=err.request_id, action=err.action, details={"tcr": tcr}
        )
    else:
        ours, text = "UpstreamError", f"TCR call failed: {upstream} {ref}"
    return TcrApiError(ours, text, tcr_code=code, request_id=err.request_id, action=err.action)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without the given secrets (an upstream message may quote a credential)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


# Private access (ManageInternalEndpoint). No TCR code names an unknown VPC or subnet, a region where the instance
# has no replica, or a duplicate attachment (reference/tcr-private-access.md): these are read from the codes the
# action documents (tencentcloud-sdk-go tcr client.go), for that action only; anything else maps as above.
ACCESS_EXISTS_CODES = frozenset({"InternalError.ErrorConflict", "InternalError.ErrConflict", "ResourceInUse"})


def access_error(
    err: TcrCallError, *, operation: str, vpc_id: str, subnet_id: str | None, region: str | None, dns: bool = False
) -> TcrApiError:
    """Map a failed private-access write to its codes: `operation` Create or Delete (ManageInternalEndpoint's), or
    with `dns` DeleteInternalEndpointDns (a record already gone is AccessNotFound)."""
    code = err.code
    subnet = f" (subnet {subnet_id})" if subnet_id else ""
    where = f"VPC {vpc_id}{subnet} in {region or 'the instance region'}"
    upstream = clip(err.message)
    ref = err.reference
    if operation == "Create" and code in ACCESS_EXISTS_CODES:
        ours, text = "AccessExists", f"{where} is already attached: {upstream} {ref}; list the private access"
    elif operation == "Create" and code in REGION_CODES:
        ours = "NoReplicaInRegion"
        text = f"TCR refused the region of {where}: {upstream} {ref}; create a replica in that region first"
    elif operation == "Create" and (code == "InvalidParameter" or err.not_found):
        ours = "VpcNotFound"
        text = (
            f"TCR refused {where}: {upstream} {ref}; check that the VPC and the subnet exist in that region "
            "and that the instance has a replica there"
        )
    elif operation == "Delete" and err.not_found and not dns:
        ours, text = "AccessNotFound", f"{where} is not attached: {upstream} {ref}"
    elif operation == "Delete" and err.not_found:
        ours, text = "AccessNotFound", f"{where} has no DNS record of the instance: {upstream} {ref}"
    else:
        return map_error(err)
    tcr = {"code": code, "message": upstream}
    if err.request_id:
        tcr["requestId"] = err.request_id
    return TcrApiError(ours, text, tcr_code=code, request_id=err.request_id, action=err.action, details={"tcr": tcr})
