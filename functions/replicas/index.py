"""SCF entry point of the replica API (Function URL): routes parse and validate, `shared` decides."""

from __future__ import annotations

import time
from typing import Any

from shared import http, schemas
from shared.config import Config
from shared.errors import ApiError

router = http.Router()
PUBLIC = {("GET", "/healthz")}


_STORE: Any = None
_INVOCATION: dict[str, Any] = {}


def _store() -> Any:
    """One log store per warm container, bounded by this invocation's deadline."""
    global _STORE  # noqa: PLW0603 - warm-container cache, on purpose
    if _STORE is None:
        from shared.logstore import LogStore

        _STORE = LogStore.from_env()
    deadline = _INVOCATION.get("deadline")
    _STORE.deadline = deadline.expires_at if deadline is not None else None
    return _STORE


def _service() -> Any:
    from shared.replicas import ReplicaService
    from shared.tcr import default_adapter

    return ReplicaService(default_adapter(), store_factory=_store, deadline=_INVOCATION.get("deadline"))


def _ids(request: http.Request) -> tuple[str, str | None]:
    registry_id = request.params["registryId"]
    schemas.validate("path.registryId", registry_id, where="path.registryId")
    replica_id = request.params.get("replicaRegistryId")
    if replica_id is not None:
        schemas.validate("path.replicaRegistryId", replica_id, where="path.replicaRegistryId")
    return registry_id, replica_id


def _no_query(request: http.Request) -> None:
    schemas.validate("query.none", request.query, where="query")


@router.route("GET", "/healthz")
def healthz(request: http.Request) -> http.Response:
    return http.Response(200, {"ok": True})


@router.route("GET", "/regions")
def list_regions(request: http.Request) -> http.Response:
    schemas.validate("query.regions", request.query, where="query")
    from shared.replicas import ReplicaService

    return http.Response(200, ReplicaService(None).regions_for(request.query["primary"]))


@router.route("GET", "/instances/{registryId}/replicas")
def list_replicas(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    return http.Response(200, _service().list(registry_id))


@router.route("POST", "/instances/{registryId}/replicas")
def create_replica(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    body = request.json()
    schemas.validate("replica.create", body)
    dry_run = bool(body.get("dryRun", False))
    result = _service().create(registry_id, body["region"], sync_tag=bool(body.get("syncTag", False)), dry_run=dry_run)
    return http.Response(200 if dry_run else 202, result)


@router.route("DELETE", "/instances/{registryId}/replicas/{replicaRegistryId}")
def delete_replica(request: http.Request) -> http.Response:
    registry_id, replica_id = _ids(request)
    _no_query(request)
    assert replica_id is not None
    return http.Response(202, _service().delete(registry_id, replica_id))


@router.route("GET", "/instances/{registryId}/replicas/{replicaRegistryId}/sync-status")
def sync_status(request: http.Request) -> http.Response:
    registry_id, replica_id = _ids(request)
    _no_query(request)
    assert replica_id is not None
    return http.Response(200, _service().sync_status(registry_id, replica_id))


@router.route("GET", "/instances/{registryId}/replication-logs")
def replication_logs(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    schemas.validate("query.replicationLogs", request.query, where="query")
    return http.Response(200, _service().logs(registry_id, request.query))


@router.route("DELETE", "/instances/{registryId}")
def delete_instance(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    schemas.validate("query.deleteInstance", request.query, where="query")
    delete_bucket = request.query.get("deleteBucket") == "true"
    return http.Response(202, _service().delete_instance(registry_id, delete_bucket=delete_bucket))


def authenticate(request: http.Request) -> None:
    """Bearer token unless API_AUTH=cam (the Function URL then checks CAM); never off silently.

    Decided before routing and validation: a caller without the token learns nothing about the routes,
    the input rules or the configuration (a missing API_TOKEN is a 503 that does not name it).
    """
    if (request.method, request.path) in PUBLIC:
        return
    auth = Config().api_auth
    if auth.bearer and not http.bearer_matches(request.header("authorization"), auth.token or ""):
        raise ApiError("Unauthorized", "missing or wrong bearer token: send 'Authorization: Bearer <API_TOKEN>'")
    request.authenticated = True


def main_handler(event: Any, context: Any) -> dict:
    started = time.monotonic()

    def before(request: http.Request) -> None:
        authenticate(request)
        from shared.tcr import Deadline, default_adapter

        deadline = Deadline.from_context(context, started)
        _INVOCATION["deadline"] = deadline
        default_adapter().set_deadline(deadline)

    return http.handle(event, context, router, before=before)
