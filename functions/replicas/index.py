"""SCF entry point of the replica API (Function URL): each route turns its input into a typed value
(shared.inputs, validated there once), `shared` decides."""

from __future__ import annotations

from typing import Any

from shared import api, app, http, schemas
from shared.inputs import (
    AttachPrivateAccess,
    CreateReplica,
    DeleteInstance,
    DeleteReplica,
    DetachPrivateAccess,
    LogQuery,
    RegionsQuery,
    ReportLink,
)

router = http.Router()


def _service(request: http.Request) -> Any:
    return api.replica_service(request.services)


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
    query = RegionsQuery.from_query(request.query)
    from shared.replicas import ReplicaService

    return http.Response(200, ReplicaService(None).regions_for(query.primary))


@router.route("GET", "/instances/{registryId}/replicas")
def list_replicas(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    return http.Response(200, _service(request).list(registry_id))


@router.route("POST", "/instances/{registryId}/replicas")
def create_replica(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    create = CreateReplica.from_body(request.json())
    return http.Response(200 if create.dry_run else 202, _service(request).create(registry_id, create))


@router.route("DELETE", "/instances/{registryId}/replicas/{replicaRegistryId}")
def delete_replica(request: http.Request) -> http.Response:
    registry_id, replica_id = _ids(request)
    query = DeleteReplica.from_query(request.query)
    assert replica_id is not None
    answer = _service(request).delete(registry_id, replica_id, detach_private_access=query.detach_private_access)
    return http.Response(202, answer)


@router.route("GET", "/instances/{registryId}/private-access")
def private_access(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    return http.Response(200, api.private_access_service(request.services).view(registry_id))


@router.route("POST", "/instances/{registryId}/private-access")
def attach_private_access(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    attach = AttachPrivateAccess.from_body(request.json())
    answer = api.private_access_service(request.services).attach(registry_id, attach)
    return http.Response(200 if attach.dry_run else 202, answer)


@router.route("DELETE", "/instances/{registryId}/private-access/{vpcId}")
def detach_private_access(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    detach = DetachPrivateAccess.from_request(request.params["vpcId"], request.query)
    answer = api.private_access_service(request.services).detach(registry_id, detach.vpc_id, detach.region)
    return http.Response(202, answer)


@router.route("GET", "/instances/{registryId}/replicas/{replicaRegistryId}/sync-status")
def sync_status(request: http.Request) -> http.Response:
    registry_id, replica_id = _ids(request)
    _no_query(request)
    assert replica_id is not None
    return http.Response(200, _service(request).sync_status(registry_id, replica_id))


@router.route("GET", "/instances/{registryId}/replication-logs")
def replication_logs(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    query = LogQuery.from_query(request.query)
    return http.Response(200, _service(request).logs(registry_id, query))


@router.route("DELETE", "/instances/{registryId}")
def delete_instance(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    query = DeleteInstance.from_query(request.query)
    return http.Response(202, _service(request).delete_instance(registry_id, delete_bucket=query.delete_bucket))


@router.route("GET", "/instances/{registryId}/report")
def report_page(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    from shared import reports

    return http.Response.html(200, reports.page(request.services.store, registry_id))


@router.route("GET", "/instances/{registryId}/report.json")
def report_json(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    _no_query(request)
    from shared import reports

    return http.Response(200, reports.document(request.services.store, registry_id))


@router.route("GET", "/instances/{registryId}/report-link")
def report_link(request: http.Request) -> http.Response:
    registry_id, _ = _ids(request)
    query = ReportLink.from_query(request.query)
    from shared import reports

    return http.Response(200, reports.link(request.services.store, registry_id, query.ttl))


def main_handler(event: Any, context: Any) -> dict:
    return app.serve_http(event, context, router, api.PROFILE)
