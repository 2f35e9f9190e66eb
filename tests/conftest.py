"""Shared fixtures: one localcloud per test session, its environment, and the sample events."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def localcloud() -> Iterator[LocalCloud]:
    """A running localcloud on free ports: fast replica lifecycle and replication lag."""
    cloud = LocalCloud(
        port=0,
        replica_ready_after_s=0.3,
        faults={"replication": {"lagMs": [20, 100]}},
        function_env={"API_TOKEN": "test-api-token", "WEBHOOK_TOKEN": "test-webhook-token"},
    )
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="session")
def cloud_env(localcloud: LocalCloud) -> dict[str, str]:
    """`localcloud.env()`: endpoints, credentials, REPLICAS_URL/WEBHOOK_URL, API_TOKEN and WEBHOOK_TOKEN."""
    return localcloud.env()


@pytest.fixture(scope="session")
def events_dir() -> Path:
    return REPO_ROOT / "events"
