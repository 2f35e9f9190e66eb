"""The audit's latest report of one instance, as the replica API serves it: page, JSON, or a link to the page.

A browser cannot send the API's bearer token, so the page is also reachable through a COS pre-signed GET
link that expires: anyone holding the link sees that one page until then, and nothing else.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from shared import records as rl
from shared.errors import ApiError

if TYPE_CHECKING:
    from shared.ports import LogStorePort


def _missing(registry_id: str) -> ApiError:
    return ApiError(
        "ReportNotFound",
        f"no audit report for {registry_id} yet: the audit writes one on its next timer run "
        "(or invoke the audit function now)",
    )


def page(store: LogStorePort, registry_id: str) -> str:
    text = store.get_text(rl.instance_report_key(registry_id, "html"))
    if text is None:
        raise _missing(registry_id)
    return text


def document(store: LogStorePort, registry_id: str) -> Any:
    doc = store.get_json(rl.instance_report_key(registry_id, "json"))
    if doc is None:
        raise _missing(registry_id)
    return doc


def link(store: LogStorePort, registry_id: str, ttl_s: int, now: datetime | None = None) -> dict[str, Any]:
    """A pre-signed link to the latest page, valid `ttl_s` seconds (shared.inputs.ReportLink bounds it); refused
    before the first audit rather than linking to nothing."""
    key = rl.instance_report_key(registry_id, "html")
    if not store.exists(key):
        raise _missing(registry_id)
    now = now or datetime.now(timezone.utc)
    return {"url": store.presigned_get(key, ttl_s), "expiresAt": rl.iso_utc(now + timedelta(seconds=ttl_s))}
