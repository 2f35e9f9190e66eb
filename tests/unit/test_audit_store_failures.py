"""The audit treats the log store's own errors as it treated an unavailable bucket before they had their own type:
an instance it cannot read is reported under `Unavailable` and the run goes on; a run that cannot save its
summary fails, so that SCF retries the timer."""

from __future__ import annotations

from typing import Any

import pytest

from shared import audit
from shared.config import Config
from shared.errors import StoreCorrupt, StoreUnavailable
from shared.ports import Instance
from shared.runtime import Deadline

PRIMARY = Instance("tcr-abc123", "main", "ap-guangzhou", 1, "premium", "Running", "main.tencentcloudcr.com")
EVENT = {"Type": "Timer", "TriggerName": "audit", "Time": "2024-05-01T00:00:00Z", "Message": ""}


class Tcr:
    def describe_instances(self, registry_ids: Any = None) -> list[Instance]:
        return [PRIMARY]

    def list_replicas(self, registry_id: str, *, region: str | None = None) -> list[Any]:
        return []


class Store:
    """Fails where told to; keeps what is written."""

    def __init__(self, **failures: Exception) -> None:
        self.failures = failures
        self.written: dict[str, Any] = {}

    def _maybe_fail(self, op: str) -> None:
        if op in self.failures:
            raise self.failures[op]

    def list_host_events(self) -> list[Any]:
        self._maybe_fail("list_host_events")
        return []

    def get_state(self, registry_id: str, name: str = "audit") -> dict[str, Any]:
        self._maybe_fail("get_state")
        return {}

    def put_json(self, key: str, doc: Any) -> None:
        self._maybe_fail("put_json")
        self.written[key] = doc


class Notifier:
    enabled = False
    config_error = None


class Services:
    def __init__(self, store: Store) -> None:
        self.tcr = Tcr()
        self.store = store
        self.config = Config({})
        self.deadline = Deadline.never()


def run(store: Store) -> dict[str, Any]:
    return audit.run(EVENT, tcr=Tcr(), store=store, notifier=Notifier(), config=Config({}), deadline=Deadline.never())


@pytest.mark.parametrize("error", [StoreUnavailable("the bucket did not answer"), StoreCorrupt("state is not JSON")])
def test_an_instance_the_store_cannot_serve_is_reported_and_the_run_goes_on(error: Exception) -> None:
    store = Store(list_host_events=error, get_state=error)
    summary = run(store)
    assert summary["errors"] == [
        {"registryId": "", "code": "Unavailable", "message": error.args[0]},
        {"registryId": "tcr-abc123", "code": "Unavailable", "message": error.args[0]},
    ]
    assert summary["complete"] is False and summary["instances"] == []
    assert store.written["reports/latest.json"] is summary


def test_a_run_that_cannot_save_its_summary_fails_for_scf_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[dict[str, Any]] = []
    monkeypatch.setattr(audit.log, "event", lambda name, **fields: logged.append({"event": name, **fields}))
    down = StoreUnavailable("the bucket refused the call")
    store = Store(get_state=down, put_json=down)
    with pytest.raises(StoreUnavailable):
        audit.handle(EVENT, Services(store))
    assert {"event": "audit.failed", "level": "error", "code": "Unavailable"}.items() <= logged[-1].items()
