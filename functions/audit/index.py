"""SCF entry point of the audit (timer trigger): reconcile, archive, check, report, notify."""

from __future__ import annotations

from typing import Any

from shared import app, audit


def main_handler(event: Any, context: Any) -> Any:
    return app.serve_timer(event, context, audit.PROFILE, audit.handle)
