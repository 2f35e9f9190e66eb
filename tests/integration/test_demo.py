"""`make demo` and `make serve` as a new user runs them: python -m localcloud.demo / python -m localcloud.serve."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import free_base_port

from localcloud import demo
from localcloud.cloud import LocalCloud

REPO_ROOT = Path(__file__).resolve().parents[2]
# The story the demo promises (DESIGN.md §3-§7), written here independently of the demo's constants.
IMAGES = ("team/api:1.0", "team/web:1.0", "team/worker:2.3")
REPLICAS = ("ap-shanghai", "ap-beijing")
REFUSALS = {
    "ap-hongkong": "422 CrossBorder",
    "ap-taipei": "422 RegionNotSupported",
    "ap-guangzhou": "422 SameRegion",
}
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NO_PROXY)
    env["PYTHONPATH"] = str(REPO_ROOT)
    for name in ("LOCALCLOUD_FAULTS", "API_TOKEN", "WEBHOOK_TOKEN", "LOCALCLOUD_STATE_FILE"):
        env.pop(name, None)
    env.update(extra)
    return env


def _get(url: str, token: str | None = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# --- demo ---------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_demo_plays_the_whole_story_and_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "localcloud.demo"],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, f"stdout:\n{out}\nstderr:\n{result.stderr}"
    assert "DEMO FAILED" not in out + result.stderr
    for region, refusal in REFUSALS.items():
        assert re.search(rf"\b{re.escape(region)}: {refusal}\b", out), f"no {refusal} refusal for {region}"
    assert "409 ReplicasExist" in out
    for image in IMAGES:
        for region in REPLICAS:
            row = rf"^\s+{re.escape(image)}\s+{re.escape(region)}\s+replicated\s+\d+(\.\d+)? s$"
            assert re.search(row, out, re.MULTILINE), f"no replicated row for {image} in {region}"
    rows = re.findall(r"^\s+team/\S+\s+ap-\S+\s+\S+\s+\S+ s$", out, re.MULTILINE)
    assert len(rows) == len(IMAGES) * len(REPLICAS)
    assert re.search(r"cos://tcr-replication-log-1250000000/reports/tcr-[a-z0-9]+/\d{4}-\d{2}-\d{2}/\S+\.json", out)
    page = re.search(r"open it: file://(\S+\.html)", out)
    assert page and "<svg" in Path(page.group(1)).read_text(encoding="utf-8")
    assert re.search(r"^\s+http://127\.0\.0\.1:\d+/\S+\?q-sign-algorithm=sha1&\S+$", out, re.MULTILINE)
    log_path = re.search(r"function logs: (\S+)", out)
    assert log_path and Path(log_path.group(1)).is_file()
    assert "START RequestId" in Path(log_path.group(1)).read_text(encoding="utf-8")  # the functions' logs went there


def test_demo_stops_with_the_exchange_when_the_product_deviates() -> None:
    """The functions run with another API token: the first authenticated call answers 401, the demo must stop."""
    with LocalCloud(
        port=0, log_stream=None, function_env={"API_TOKEN": "not-the-demo-token", "WEBHOOK_TOKEN": "w"}
    ) as cloud:
        out = io.StringIO()
        with pytest.raises(demo.DemoError) as info:
            demo.play(cloud, demo.Story(out))
    assert "HTTP 401" in info.value.message
    assert "Unauthorized" in info.value.detail
    assert "GET /regions" in info.value.message


# --- serve --------------------------------------------------------------------------------------------------------


class Lines:
    """Reads a process's stdout on a daemon thread; wait_for() returns the first line that matches."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def wait_for(self, pattern: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; got {self.seen}") from None
            if line is None:
                raise AssertionError(f"stdout closed before a line matching {pattern!r}; got {self.seen}")
            self.seen.append(line)
            if re.search(pattern, line):
                return line


def test_serve_runs_the_functions_prints_the_guide_and_stops_on_sigterm() -> None:
    port = free_base_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud.serve"],
        cwd=REPO_ROOT,
        env=_env(LOCALCLOUD_PORT=str(port), API_TOKEN="serve-test-token"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = Lines(proc)
        ready = lines.wait_for(r"^localcloud ready:")
        assert f"http://127.0.0.1:{port}" in ready
        assert f"tcr 127.0.0.1:{port + 1}" in ready
        assert f"cos 127.0.0.1:{port + 2}" in ready
        lines.wait_for(r"Ctrl-C stops it")
        exports = dict(line[len("export ") :].split("=", 1) for line in lines.seen if line.startswith("export "))
        assert exports["API_TOKEN"] == "serve-test-token"  # taken from the environment
        assert exports["WEBHOOK_TOKEN"]  # generated, and printed
        assert exports["REPLICAS_URL"] == f"http://127.0.0.1:{port}/replicas"
        assert exports["TCR_ENDPOINT"] == f"127.0.0.1:{port + 1}"
        assert any(line.startswith("curl ") and "/healthz" in line for line in lines.seen)

        base = f"http://127.0.0.1:{port}/replicas"
        assert _get(f"{base}/healthz") == (200, {"ok": True})
        status, body = _get(f"{base}/regions?primary=ap-guangzhou")
        assert status == 401
        status, body = _get(f"{base}/regions?primary=ap-guangzhou", token="serve-test-token")
        assert status == 200
        assert isinstance(body, dict) and any(r["region"] == "ap-shanghai" for r in body["regions"])

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    for released in (port, port + 1, port + 2):  # nothing listens any more (TIME_WAIT leftovers are fine)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", released))
            s.listen()


def test_serve_refuses_a_taken_port_with_a_hint() -> None:
    port = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "localcloud.serve"],
            cwd=REPO_ROOT,
            env=_env(LOCALCLOUD_PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "LOCALCLOUD_PORT" in result.stderr
    assert "localcloud ready" not in result.stdout
