"""Helpers of the function tests: real SDK clients pointed at localcloud, and plain HTTP calls.

Setup and independent checks go straight to TCR and COS through the real SDKs, never through the
product's own adapters, so a bug in `shared` cannot hide itself.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any


def tcr_client(env: dict[str, str], region: str = "ap-guangzhou") -> Any:
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.tcr.v20190924 import tcr_client as mod

    cred = credential.Credential(
        env["TENCENTCLOUD_SECRETID"], env["TENCENTCLOUD_SECRETKEY"], env.get("TENCENTCLOUD_SESSIONTOKEN") or None
    )
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=env["TCR_ENDPOINT"], protocol="http", reqTimeout=10))
    return mod.TcrClient(cred, region, profile)


def cos_client(env: dict[str, str]) -> Any:
    from qcloud_cos import CosConfig, CosS3Client

    host, port = env["COS_ENDPOINT"].split(":")
    conf = CosConfig(
        Region=env["LOG_BUCKET_REGION"],
        SecretId=env["TENCENTCLOUD_SECRETID"],
        SecretKey=env["TENCENTCLOUD_SECRETKEY"],
        Token=env.get("TENCENTCLOUD_SESSIONTOKEN") or None,
        Scheme="http",
        IP=host,
        Port=int(port),
    )
    return CosS3Client(conf, retry=0)


def cos_keys(env: dict[str, str], prefix: str) -> list[str]:
    client = cos_client(env)
    keys: list[str] = []
    marker = ""
    while True:
        resp = client.list_objects(Bucket=env["LOG_BUCKET"], Prefix=prefix, Marker=marker, MaxKeys=1000)
        keys.extend(o["Key"] for o in resp.get("Contents", []))
        if resp.get("IsTruncated") != "true":
            return keys
        marker = resp.get("NextMarker") or keys[-1]


def cos_json(env: dict[str, str], key: str) -> Any:
    resp = cos_client(env).get_object(Bucket=env["LOG_BUCKET"], Key=key)
    return json.loads(resp["Body"].get_raw_stream().read())


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text) if text else None
        except ValueError:
            return exc.code, text.decode("utf-8", "replace")


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)


def create_instance(tcr: Any, registry_type: str = "premium") -> str:
    name = f"it-{uuid.uuid4().hex[:10]}"
    resp = tcr.call_json("CreateInstance", {"RegistryName": name, "RegistryType": registry_type})
    registry_id = resp["Response"]["RegistryId"]

    def running() -> bool:  # the region's listing: naming a Deploying instance in Registryids is refused
        out = tcr.call_json("DescribeInstances", {"Limit": 100})["Response"]
        return any(r["RegistryId"] == registry_id and r["Status"] == "Running" for r in out["Registries"])

    wait_for(running)
    return registry_id


def tcr_replicas(tcr: Any, registry_id: str) -> list[dict[str, Any]]:
    out = tcr.call_json("DescribeReplicationInstances", {"RegistryId": registry_id, "Limit": 100})["Response"]
    return out.get("ReplicationRegistries") or []


def wait_replicas_running(tcr: Any, registry_id: str) -> None:
    wait_for(lambda: all(r["Status"] == "Running" for r in tcr_replicas(tcr, registry_id)))


def free_base_port() -> int:
    """A port p with p, p+1 and p+2 free right now (localcloud's fixed port layout)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base > 65530:
            continue
        try:
            for port in (base, base + 1, base + 2):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no three consecutive free ports")
