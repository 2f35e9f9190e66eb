"""`python -m localcloud` as a user runs it: up (ready line, serving, SIGTERM -> exit 0), env, timer."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_base_port

REPO_ROOT = Path(__file__).resolve().parents[2]

AUDIT = textwrap.dedent(
    """
    import os

    def main_handler(event, context):
        if event.get("Message") == "fail":
            raise RuntimeError("audit failed on purpose")
        return {"event": event, "trigger": os.environ.get("TRIGGER_SRC"), "token": os.environ.get("API_TOKEN"),
                "tcr": os.environ.get("TCR_ENDPOINT"), "function": context["function_name"], "pid": os.getpid()}
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "PYTHONPATH": str(REPO_ROOT)})
    env.pop("LOCALCLOUD_FAULTS", None)
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcloud", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_env_prints_key_value_lines_for_the_configured_ports() -> None:
    result = _cli("env", env=_env(LOCALCLOUD_PORT="12000"))
    assert result.returncode == 0, result.stderr
    pairs = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert pairs["TCR_ENDPOINT"] == "127.0.0.1:12001"
    assert pairs["COS_ENDPOINT"] == "127.0.0.1:12002"
    assert pairs["REPLICAS_URL"] == "http://127.0.0.1:12000/replicas"
    assert pairs["WEBHOOK_URL"] == "http://127.0.0.1:12000/webhook"
    # the run role's temporary credentials, as SCF injects them (not the account's permanent key)
    assert pairs["TENCENTCLOUD_SECRETID"] == "AKIDLOCALCLOUDROLE000000000000000000"
    assert pairs["TENCENTCLOUD_SECRETKEY"] == "localcloudRoleSecretKey0000000000"
    assert pairs["TENCENTCLOUD_SESSIONTOKEN"]
    assert pairs["TENCENTCLOUD_REGION"] == "ap-guangzhou"
    assert (pairs["LOG_BUCKET"], pairs["LOG_BUCKET_REGION"]) == ("tcr-replication-log-1250000000", "ap-guangzhou")
    with socket.socket() as s:  # nothing was started: the port is still free
        s.bind(("127.0.0.1", 12000))


def test_env_default_port_and_credential_override() -> None:
    env = _env(LOCALCLOUD_SECRET_ID="AKIDother", LOCALCLOUD_SECRET_KEY="otherKey")
    env.pop("LOCALCLOUD_PORT", None)
    pairs = dict(line.split("=", 1) for line in _cli("env", env=env).stdout.splitlines())
    assert pairs["TCR_ENDPOINT"] == "127.0.0.1:9001"
    # the override changes the permanent key TCR and COS accept, not the role credentials handed out
    assert (pairs["TENCENTCLOUD_SECRETID"], pairs["TENCENTCLOUD_SECRETKEY"]) == (
        "AKIDLOCALCLOUDROLE000000000000000000",
        "localcloudRoleSecretKey0000000000",
    )


def test_bad_port_is_refused() -> None:
    result = _cli("env", env=_env(LOCALCLOUD_PORT="nine"))
    assert result.returncode != 0
    assert "LOCALCLOUD_PORT" in result.stderr


def test_up_exits_1_when_a_port_is_taken() -> None:
    port = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 2))
        taken.listen()
        result = _cli("up", env=_env(LOCALCLOUD_PORT=str(port)))
    assert result.returncode == 1
    assert "cannot start" in result.stderr
    assert "localcloud ready" not in result.stdout


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    root = tmp_path_factory.mktemp("cliroot")
    (root / "functions" / "audit").mkdir(parents=True)
    (root / "functions" / "audit" / "index.py").write_text(AUDIT, encoding="utf-8")
    port = free_base_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcloud", "--root", str(root), "up"],
        cwd=REPO_ROOT,
        env=_env(LOCALCLOUD_PORT=str(port), API_TOKEN="cli-token"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    got_line = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        lines.append(proc.stdout.readline())
        got_line.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not got_line.wait(30):
            raise AssertionError("no ready line from `python -m localcloud up`")
        yield proc, port, lines[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_up_prints_one_ready_line(running: tuple[subprocess.Popen[str], int, str]) -> None:
    _, port, line = running
    assert line.strip() == (
        f"localcloud ready: functions http://127.0.0.1:{port} tcr 127.0.0.1:{port + 1} cos 127.0.0.1:{port + 2}"
    )


def test_up_serves_admin_and_tcr_ports(running: tuple[subprocess.Popen[str], int, str]) -> None:
    _, port, _ = running
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/_localcloud/stats")
    stats = json.loads(conn.getresponse().read())
    conn.close()
    assert set(stats) == {"tcr", "cos", "functions"}
    conn = http.client.HTTPConnection("127.0.0.1", port + 1, timeout=10)
    conn.request("POST", "/", body=b"{}", headers={"Content-Type": "application/json"})
    body = json.loads(conn.getresponse().read())  # unsigned: TCR's envelope with an error, not a crash
    conn.close()
    assert "Error" in body["Response"]


def test_timer_command_invokes_the_function(running: tuple[subprocess.Popen[str], int, str]) -> None:
    _, port, _ = running
    result = _cli("timer", "audit", "--message", '{"sla": 30}', "--url", f"http://127.0.0.1:{port}", env=_env())
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert (out["event"]["Type"], out["event"]["Message"]) == ("Timer", '{"sla": 30}')
    assert out["trigger"] == "timer"
    assert out["function"] == "audit"
    assert out["token"] == "cli-token"  # the host's own environment reaches the function
    assert out["tcr"] == f"127.0.0.1:{port + 1}"


def test_timer_command_uses_localcloud_port_by_default(running: tuple[subprocess.Popen[str], int, str]) -> None:
    _, port, _ = running
    result = _cli("timer", "audit", env=_env(LOCALCLOUD_PORT=str(port)))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["event"]["Message"] == ""


def test_timer_command_fails_when_the_function_fails(running: tuple[subprocess.Popen[str], int, str]) -> None:
    _, port, _ = running
    result = _cli("timer", "audit", "--message", "fail", "--url", f"http://127.0.0.1:{port}", env=_env())
    assert result.returncode != 0
    assert "audit failed on purpose" in result.stderr
    result = _cli("timer", "nosuch", "--url", f"http://127.0.0.1:{port}", env=_env())
    assert result.returncode != 0


def test_timer_command_fails_when_nothing_listens() -> None:
    port = free_base_port()
    result = _cli("timer", "audit", "--url", f"http://127.0.0.1:{port}", env=_env())
    assert result.returncode != 0
    assert "cannot reach" in result.stderr


def test_sigterm_stops_up_with_exit_0(running: tuple[subprocess.Popen[str], int, str]) -> None:
    proc, port, _ = running
    result = _cli("timer", "audit", "--url", f"http://127.0.0.1:{port}", env=_env())
    worker_pid = json.loads(result.stdout)["pid"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    with pytest.raises(ProcessLookupError):  # its function workers are gone too
        os.kill(worker_pid, 0)
    for p in (port, port + 1, port + 2):  # nothing listens any more
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p), timeout=5).close()
