"""Helpers of the function tests: real SDK clients pointed at localcloud, and plain HTTP calls.

Setup and independent checks go straight to TCR and COS through the real SDKs, never through the
product's own adapters, so a bug in `shared` cannot hide itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from tests.browser import Browser


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


def add_replicas(env: dict[str, str], tcr: Any, registry_id: str, regions: tuple[str, ...], *, token: str) -> None:
    """Create a replica in each region through the replica API (202 each), then wait until TCR lists all Running."""
    for region in regions:
        status, body = call(
            "POST", f"{env['REPLICAS_URL']}/instances/{registry_id}/replicas", {"region": region}, token=token
        )
        assert status == 202, body
    wait_replicas_running(tcr, registry_id)


def create_namespace(tcr: Any, registry_id: str, namespace: str) -> None:
    tcr.call_json("CreateNamespace", {"RegistryId": registry_id, "NamespaceName": namespace, "IsPublic": False})


def instance_with_replicas(
    env: dict[str, str], tcr: Any, regions: tuple[str, ...], *, token: str, namespace: str | None = None
) -> str:
    """A new premium instance with a Running replica in each region (and the namespace, when one is named)."""
    registry_id = create_instance(tcr)
    add_replicas(env, tcr, registry_id, regions, token=token)
    if namespace is not None:
        create_namespace(tcr, registry_id, namespace)
    return registry_id


def add_push_trigger(
    env: dict[str, str], tcr: Any, registry_id: str, namespace: str, *, webhook_token: str, name: str | None = None
) -> None:
    """A TCR webhook trigger on every push in the namespace, to the webhook with its X-Webhook-Token header."""
    trigger = {
        "Name": name or f"hook-{namespace}",
        "Targets": [
            {"Address": env["WEBHOOK_URL"], "Headers": [{"Key": "X-Webhook-Token", "Values": [webhook_token]}]}
        ],
        "EventTypes": ["pushImage"],
        "Condition": ".*",
        "Enabled": True,
    }
    tcr.call_json("CreateWebhookTrigger", {"RegistryId": registry_id, "Namespace": namespace, "Trigger": trigger})


def public_domain(tcr: Any, registry_id: str) -> str:
    return str(
        tcr.call_json("DescribeInstances", {"Registryids": [registry_id]})["Response"]["Registries"][0]["PublicDomain"]
    )


def tcr_push_payload(
    domain: str,
    digest: str,
    *,
    namespace: str,
    repository: str,
    tag: str,
    occur_at: int,
    kind: str = "pushImage",
    repo_type: str | None = None,
) -> dict[str, Any]:
    """A payload as TCR's webhook trigger sends it (reference/tcr-webhook-payloads.md §1a)."""
    full = f"{namespace}/{repository}"
    repo: dict[str, Any] = {"name": repository, "namespace": namespace, "repo_full_name": full}
    if repo_type is not None:
        repo["repo_type"] = repo_type
    return {
        "type": kind,
        "occur_at": occur_at,
        "event_data": {
            "resources": [{"digest": digest, "tag": tag, "resource_url": f"{domain}/{full}:{tag}"}],
            "repository": repo,
        },
        "operator": "100000000001",
    }


def push(cloud: LocalCloud, registry_id: str, namespace: str, repository: str, tag: str) -> str:
    """An image push to localcloud's TCR (which fires the instance's triggers); its digest."""
    status, body = call(
        "POST",
        cloud.host_url + "/_localcloud/push",
        {"registryId": registry_id, "namespace": namespace, "repository": repository, "tag": tag},
    )
    assert status == 200, body
    return str(body["digest"])


def log_records(env: dict[str, str], registry_id: str, *, token: str, query: str = "") -> list[dict[str, Any]]:
    """One page of the instance's replication log through the replica API (`query` without its `?`)."""
    url = f"{env['REPLICAS_URL']}/instances/{registry_id}/replication-logs" + (f"?{query}" if query else "")
    status, body = call("GET", url, token=token)
    assert status == 200, body
    return list(body["records"])


def post_timer(cloud: LocalCloud, instances: list[str] | None = None, **options: Any) -> tuple[int, Any]:
    """The audit's timer trigger through localcloud, its message naming `instances` and `options` (none: `{}`)."""
    message = json.dumps({"instances": instances, **options}) if instances else None
    return call("POST", cloud.host_url + "/_localcloud/timer/audit", {"message": message} if message else {})


def timer_audit(cloud: LocalCloud, instances: list[str] | None = None, **options: Any) -> dict[str, Any]:
    """`post_timer`, answered 200: the run's summary."""
    status, body = post_timer(cloud, instances, **options)
    assert status == 200, body
    return dict(body)


def report_of(env: dict[str, str], summary: dict[str, Any]) -> dict[str, Any]:
    """The report of the first instance of an audit summary, read from COS."""
    return dict(cos_json(env, summary["instances"][0]["report"]))


@contextmanager
def local_cloud(
    function_env: dict[str, str],
    *,
    lag_ms: tuple[int, int] = (20, 80),
    replica_ready_after_s: float = 0.2,
    **options: Any,
) -> Iterator[LocalCloud]:
    """A localcloud of a test module's own on free ports, quiet, with replication lag `lag_ms`."""
    from localcloud.cloud import LocalCloud

    cloud = LocalCloud(
        port=0,
        replica_ready_after_s=replica_ready_after_s,
        faults={"replication": {"lagMs": list(lag_ms)}},
        function_env=function_env,
        log_stream=None,
        **options,
    )
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


class Receiver:
    """A stdlib HTTP server on a free port that keeps the notices POSTed to it.

    `mode` "ok" answers 204, "refuse" 503, "garble" a status line that is not HTTP; `refuse = n` answers 503 to
    the next n deliveries (a receiver that is down). With a `secret`, reading `received` checks every kept
    notice's signature independently, as docs/notifications.md tells a receiver to.
    """

    def __init__(self, secret: str | None = None, query: str = "") -> None:
        self.secret = secret
        self.mode = "ok"
        self.refuse = 0
        self.paths: list[str] = []
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.paths.append(self.path)
                if outer.mode == "refuse" or outer.refuse > 0:
                    outer.refuse = max(outer.refuse - 1, 0)
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.mode == "garble":
                    self.wfile.write(b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n")
                    self.close_connection = True
                    return
                outer.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.url = f"{self.base}?{query}" if query else self.base

    @property
    def received(self) -> list[dict[str, Any]]:
        out = []
        for headers, body in list(self.deliveries):
            if self.secret is not None:
                mac = hmac.new(self.secret.encode(), headers["x-timestamp"].encode() + b"." + body, hashlib.sha256)
                expected = "sha256=" + mac.hexdigest()
                assert hmac.compare_digest(headers["x-signature"], expected), "notification signature does not verify"
            out.append(json.loads(body))
        return out

    def bodies(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [n for n in self.received if kind is None or n["kind"] == kind]

    def of(self, kind: str, registry_id: str) -> list[dict[str, Any]]:
        return [n for n in self.received if n.get("kind") == kind and n.get("registryId") == registry_id]

    def ids(self, registry_id: str) -> list[str]:
        return [n["id"] for n in self.received if n.get("registryId") == registry_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiver_running(secret: str | None = None, query: str = "") -> Iterator[Receiver]:
    r = Receiver(secret, query)
    try:
        yield r
    finally:
        r.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium, or the test fails saying how to install it."""
    import pytest

    from tests.browser import Browser, find_chromium

    executable = find_chromium()
    if executable is None:
        pytest.fail("chromium is not installed: `make test` installs Debian's chromium (make browser)")
    with Browser(executable) as b:
        yield b


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
