"""The whole push -> webhook -> audit -> log story with the functions running on Python 3.10, SCF's runtime.

The rest of the suite runs the functions on this venv's interpreter; vermin checks 3.10 syntax and stdlib
names, but not behaviour that differs between versions (datetime parsing did). This test runs the workers
on a real Python 3.10 with the layer's pinned dependencies for 3.10, when such an interpreter is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from support import call, create_instance, tcr_client, wait_for, wait_replicas_running

from bench.package import PackageError, find_python310, install_dependencies
from localcloud.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runtime310() -> tuple[str, Path]:
    python = find_python310()
    if not python:
        pytest.skip("no Python 3.10 interpreter installed (set PYTHON310 to use one)")
    requirements = ROOT / "requirements.txt"
    target = ROOT / "build" / "runtime310"
    stamp = target / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if not stamp.is_file() or stamp.read_text() != digest:
        try:
            install_dependencies(requirements, target)
        except (PackageError, OSError) as exc:
            pytest.skip(f"could not install the Python 3.10 dependencies: {exc}")
        stamp.write_text(digest)
    return python, target


@pytest.fixture(scope="module")
def cloud(runtime310):
    python, site = runtime310
    c = LocalCloud(
        port=0,
        replica_ready_after_s=0.2,
        faults={"replication": {"lagMs": [20, 80]}},
        function_env={"API_TOKEN": "py310-api", "WEBHOOK_TOKEN": "py310-hook"},
        function_python=python,
        function_site_packages=site,
        log_stream=None,
    )
    c.start()
    yield c
    c.stop()


def test_functions_run_on_python310(cloud):
    env = cloud.env()
    tcr = tcr_client(env)
    status, body = call("POST", cloud.host_url + "/_localcloud/timer/audit", {"message": json.dumps({"instances": []})})
    assert status == 200, body
    registry_id = create_instance(tcr)
    replicas = env["REPLICAS_URL"]
    assert (
        call("POST", f"{replicas}/instances/{registry_id}/replicas", {"region": "ap-shanghai"}, token="py310-api")[0]
        == 202
    )
    wait_replicas_running(tcr, registry_id)
    tcr.call_json("CreateNamespace", {"RegistryId": registry_id, "NamespaceName": "rt", "IsPublic": False})
    target = {"Address": env["WEBHOOK_URL"], "Headers": [{"Key": "X-Webhook-Token", "Values": ["py310-hook"]}]}
    trigger = {"Name": "rt", "Targets": [target], "EventTypes": ["pushImage"], "Condition": ".*", "Enabled": True}
    tcr.call_json("CreateWebhookTrigger", {"RegistryId": registry_id, "Namespace": "rt", "Trigger": trigger})
    call(
        "POST",
        cloud.host_url + "/_localcloud/push",
        {"registryId": registry_id, "namespace": "rt", "repository": "svc", "tag": "3.10"},
    )

    def logs():
        status, page = call("GET", f"{replicas}/instances/{registry_id}/replication-logs", token="py310-api")
        assert status == 200, page
        return page["records"]

    wait_for(lambda: len(logs()) == 1)
    time.sleep(0.3)
    message = json.dumps({"instances": [registry_id]})
    wait_for(
        lambda: (
            call("POST", cloud.host_url + "/_localcloud/timer/audit", {"message": message})[1]["instances"][0][
                "stillPending"
            ]
            == 0
        ),
        timeout=20,
        interval=0.3,
    )
    [record] = logs()
    assert record["status"] == "replicated" and record["lagSeconds"] is not None
    status, sync = call(
        "GET",
        f"{replicas}/instances/{registry_id}/replicas/{record['replicaRegistryId']}/sync-status",
        token="py310-api",
    )
    assert status == 200 and sync["pending"] == 0 and sync["lastSyncAt"]
    # the workers that served all this are Python 3.10 processes
    pids = cloud.host.worker_pids("replicas") + cloud.host.worker_pids("webhook")
    assert pids
    for pid in pids:
        exe = os.path.realpath(f"/proc/{pid}/exe")
        assert os.path.basename(exe).startswith("python3.10"), exe
