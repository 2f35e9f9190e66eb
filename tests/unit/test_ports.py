"""The adapters and the fakes (tests/fakes.py) implement the ports (shared.ports), method by method.

This compares signatures, so neither a port and its adapter nor a port and its fake can drift apart
unnoticed: the services' unit tests on the fakes then test what production runs.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest

from shared import logstore, notify, ports, records, tcr
from shared.errors import ConfigError
from shared.logstore import LogStore
from shared.notify import Notifier
from shared.tcr import TcrAdapter
from tests.fakes import FakeLogStore, FakeNotifier, FakeTcr

PAIRS = [
    (ports.TcrPort, TcrAdapter),
    (ports.LogStorePort, LogStore),
    (ports.NotifierPort, Notifier),
    (ports.TcrPort, FakeTcr),
    (ports.LogStorePort, FakeLogStore),
    (ports.NotifierPort, FakeNotifier),
]
# What the ports name for annotations only (under TYPE_CHECKING)
ANNOTATION_NAMES = {
    "ConfigError": ConfigError,
    "InboxItem": logstore.InboxItem,
    "Page": logstore.Page,
    "ResolveResult": logstore.ResolveResult,
    "Delivery": notify.Delivery,
    "Notification": notify.Notification,
    "PushEvent": records.PushEvent,
    "Record": records.Record,
    "Deadline": tcr.Deadline,
}


def resolved(annotation: Any, owner: type) -> Any:
    """An annotation (text under `from __future__ import annotations`) as the object it names."""
    if not isinstance(annotation, str):
        return annotation
    return eval(annotation, {**vars(ports), **ANNOTATION_NAMES, **vars(sys.modules[owner.__module__])})


def members(port: type) -> list[str]:
    return [name for name in vars(port) if not name.startswith("_")]


def test_every_port_names_what_it_holds() -> None:
    assert members(ports.TcrPort) == [
        "describe_instances",
        "get_instance",
        "find_instance_by_domain",
        "list_replicas",
        "create_replica",
        "delete_replica",
        "delete_instance",
        "sync_status",
        "list_internal_endpoints",
        "create_internal_endpoint",
        "delete_internal_endpoint",
        "create_endpoint_dns",
        "delete_endpoint_dns",
        "endpoint_dns_status",
    ]
    assert set(members(ports.NotifierPort)) == {"enabled", "config_error", "send_all"}


@pytest.mark.parametrize(("port", "adapter"), PAIRS, ids=lambda p: getattr(p, "__name__", ""))
def test_the_adapter_accepts_every_call_the_port_allows(port: type, adapter: type) -> None:
    for name in members(port):
        wanted = vars(port)[name]
        assert hasattr(adapter, name), f"{adapter.__name__} has no {name}"
        if isinstance(wanted, property):
            continue  # an attribute or a property of the adapter: checked by the services' tests
        want, got = inspect.signature(wanted), inspect.signature(getattr(adapter, name))
        returns = resolved(got.return_annotation, adapter), resolved(want.return_annotation, port)
        assert returns[0] == returns[1], f"{adapter.__name__}.{name} returns another type"
        given = dict(got.parameters)
        for param in list(want.parameters.values())[1:]:
            mine = given.pop(param.name, None)
            where = f"{adapter.__name__}.{name}({param.name})"
            assert mine is not None, f"{where} is missing"
            assert mine.kind == param.kind or (
                mine.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD and param.kind != inspect.Parameter.VAR_POSITIONAL
            ), f"{where} is passed differently"
            assert resolved(mine.annotation, adapter) == resolved(param.annotation, port), f"{where} takes another type"
            assert (mine.default is inspect.Parameter.empty) == (param.default is inspect.Parameter.empty), (
                f"{where}: optional in one, required in the other"
            )
        del given["self"]
        extra = [p.name for p in given.values() if p.default is inspect.Parameter.empty]
        assert not extra, f"{adapter.__name__}.{name} requires {extra}, which callers of the port never pass"
