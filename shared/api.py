"""The replica API's own wiring: who may call it, and the service its routes use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import app, http
from shared.errors import ApiError

if TYPE_CHECKING:
    from shared.private_access import PrivateAccessService
    from shared.replicas import ReplicaService

PUBLIC = frozenset({("GET", "/healthz")})


def authenticate(request: http.Request, services: app.Services) -> None:
    """Bearer token unless API_AUTH=cam (the Function URL then checks CAM); never off silently.

    Decided before routing and validation: a caller without the token learns nothing about the routes,
    the input rules or the configuration (a missing API_TOKEN is a 503 that does not name it).
    """
    if (request.method, request.path) in PUBLIC:
        return
    auth = services.config.api_auth
    if auth.bearer and not http.bearer_matches(request.header("authorization"), auth.token or ""):
        raise ApiError("Unauthorized", "missing or wrong bearer token: send 'Authorization: Bearer <API_TOKEN>'")
    request.authenticated = True


def replica_service(services: app.Services) -> ReplicaService:
    from shared.replicas import ReplicaService

    return ReplicaService(
        services.tcr, services.config, store_factory=lambda: services.store, deadline=services.deadline
    )


def private_access_service(services: app.Services) -> PrivateAccessService:
    from shared.private_access import PrivateAccessService

    return PrivateAccessService(services.tcr, lambda: services.store)


PROFILE = app.Profile("replicas", default_limit_s=30.0, authenticate=authenticate)
