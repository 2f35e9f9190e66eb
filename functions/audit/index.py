"""SCF entry point of the audit (timer trigger): reconcile, archive, check, report, notify."""

from __future__ import annotations

import time
from typing import Any

from shared import log
from shared.errors import ApiError, ConfigError

_STORE: Any = None


def _store() -> Any:
    global _STORE  # noqa: PLW0603 - one log store per warm container, on purpose
    if _STORE is None:
        from shared.logstore import LogStore

        _STORE = LogStore.from_env()
    return _STORE


def main_handler(event: Any, context: Any) -> dict:
    started = time.monotonic()
    from shared import audit, notify
    from shared.config import Config
    from shared.tcr import Deadline, default_adapter

    config = Config()
    deadline = Deadline.from_context(context, started, default_limit_s=900.0, margin_s=5.0)
    tcr = default_adapter()
    tcr.set_deadline(deadline)
    store = _store()
    store.deadline = deadline.expires_at
    try:
        notifier = notify.Notifier.from_config(config)
    except ConfigError as exc:
        # Notifying is not the audit's core: statuses and reports go on, notices wait in the outbox.
        log.event("audit.notify-misconfigured", level="error", variable=exc.variable, message=exc.message)
        notifier = notify.Notifier.misconfigured(exc)
    try:
        summary = audit.run(
            event if isinstance(event, dict) else {},
            tcr=tcr,
            store=store,
            notifier=notifier,
            config=config,
            deadline=deadline,
        )
    except ApiError as exc:
        # Bad options or configuration: a retry would fail the same way, so fail loudly once.
        log.event("audit.failed", level="error", code=exc.code, message=exc.message)
        if exc.status >= 500:
            raise
        return {"error": {"code": exc.code, "message": exc.message}}
    log.event(
        "audit.done",
        runId=summary["runId"],
        instances=len(summary["instances"]),
        complete=summary["complete"],
        notifications=summary["notifications"],
    )
    return summary
