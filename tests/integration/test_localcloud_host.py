"""The SCF function host: Function URL events from real HTTP requests, response mapping, warm workers,
time limits, environment, timer events, and the LocalCloud admin surface."""

from __future__ import annotations

import http.client
import json
import os
import re
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.httpd import Request, Response, Server
from localcloud.scfhost import FunctionHost, FunctionSpec, discover_functions, read_serverless_config

ECHO = textwrap.dedent(
    """
    import base64
    import json
    import os
    import pathlib
    import time

    print("echo imported")  # must not corrupt the host protocol


    def main_handler(event, context):
        q = event.get("queryString") or {} if isinstance(event, dict) else {}
        mode = q.get("mode", "echo")
        if "print" in q:
            print(q["print"])
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        if "rendezvous" in q:  # wait until n invocations are inside the handler at the same time
            folder = pathlib.Path(q["rendezvous"])
            (folder / str(os.getpid())).touch()
            deadline = time.monotonic() + 20
            while len(list(folder.iterdir())) < int(q["n"]) and time.monotonic() < deadline:
                time.sleep(0.01)
        if mode == "integrated":
            return {"statusCode": 201, "headers": {"X-Echo": "yes", "Content-Type": "text/plain"}, "body": "made"}
        if mode == "b64":
            return {"statusCode": 200, "isBase64Encoded": True, "headers": {"Content-Type": "application/octet-stream"},
                    "body": base64.b64encode(bytes([0, 1, 2, 255])).decode()}
        if mode == "plain":
            return {"plain": [1, 2]}
        if mode == "string":
            return "Hello, world!"
        if mode == "badstatus":
            return {"statusCode": "teapot", "body": "x"}
        if mode == "raise":
            raise RuntimeError("handler failed on purpose")
        if mode == "unserializable":
            return {"value": {1, 2}}
        if mode == "exit":
            os._exit(3)
        env_keys = ["TENCENTCLOUD_RUNENV", "SCF_FUNCTIONNAME", "SCF_NAMESPACE", "SCF_FUNCTIONVERSION", "PYTHONPATH",
                    "TRIGGER_SRC", "LOCALCLOUD_TEST_VAR", "USER_CODE_ROOT"]
        return {"event": event, "context": context, "pid": os.getpid(), "cwd": os.getcwd(),
                "env": {k: os.environ.get(k) for k in env_keys}}
    """
)

BROKEN = "raise ImportError('this function cannot be imported')\n"

# A timer function that fails its first `fail` calls: the Message is {"dir": ..., "fail": n}; every event it is
# called with is appended to <dir>/events.jsonl, so the test sees what each attempt received.
FLAKY = textwrap.dedent(
    """
    import json
    import pathlib


    def main_handler(event, context):
        opts = json.loads(event["Message"])
        log = pathlib.Path(opts["dir"]) / "events.jsonl"
        with log.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"event": event, "requestId": context["request_id"]}) + "\\n")
        calls = len(log.read_text(encoding="utf-8").splitlines())
        if calls <= opts["fail"]:
            raise RuntimeError(f"failing call {calls} on purpose")
        return {"calls": calls}
    """
)


def _write_function(root: Path, name: str, code: str) -> Path:
    folder = root / "functions" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.py").write_text(code, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def fn_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fnroot")
    _write_function(root, "echo", ECHO)
    _write_function(root, "tick", ECHO)
    _write_function(root, "broken", BROKEN)
    _write_function(root, "flaky", FLAKY)
    return root


@pytest.fixture(scope="module")
def host(fn_root: Path) -> Iterator[FunctionHost]:
    functions = {
        "echo": FunctionSpec("echo", fn_root / "functions" / "echo", timeout_s=5.0, memory_mb=256),
        "tick": FunctionSpec(
            "tick", fn_root / "functions" / "tick", timeout_s=2.0, http=False, timer_name="tick-timer"
        ),
        "broken": FunctionSpec("broken", fn_root / "functions" / "broken", timeout_s=5.0),
        "flaky": FunctionSpec("flaky", fn_root / "functions" / "flaky", timeout_s=5.0, http=False, timer_name="t"),
    }
    env = dict(os.environ)
    env["LOCALCLOUD_TEST_VAR"] = "from-host-env"
    env["TRIGGER_SRC"] = "must-not-leak"
    with FunctionHost(functions, env=env, root=fn_root, log_stream=None) as h:
        yield h


@pytest.fixture(scope="module")
def url(host: FunctionHost) -> Iterator[tuple[str, int]]:
    server = Server(host.handle, 0).start()
    try:
        yield "127.0.0.1", server.port
    finally:
        server.close()


def _call(
    url: tuple[str, int], method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*url, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _echo(url: tuple[str, int], path: str = "/echo/", **kwargs: Any) -> dict[str, Any]:
    status, _, body = _call(url, kwargs.pop("method", "GET"), path, **kwargs)
    assert status == 200, body
    return json.loads(body)


# --- the Function URL event -------------------------------------------------------------------------------


def test_event_is_built_from_the_http_request(url: tuple[str, int]) -> None:
    out = _echo(
        url,
        "/echo/instances/tcr-1/replicas?region=ap-shanghai&tag=a&tag=b&empty=",
        method="POST",
        body=b'{"region": "ap-shanghai"}',
        headers={"X-Custom-Header": "Value", "Content-Type": "application/json"},
    )
    event = out["event"]
    assert set(event) == {"httpMethod", "path", "headers", "queryString", "body"}
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/instances/tcr-1/replicas"
    assert event["queryString"] == {"region": "ap-shanghai", "tag": "a,b", "empty": ""}
    assert event["body"] == '{"region": "ap-shanghai"}'
    headers = event["headers"]
    assert headers["x-custom-header"] == "Value"
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == "25"
    assert headers["x-scf-remote-addr"] == "127.0.0.1"
    assert all(k == k.lower() for k in headers)


@pytest.mark.parametrize("path", ["/echo", "/echo/", "/echo?x=1"])
def test_function_root_is_slash_and_missing_body_is_empty(url: tuple[str, int], path: str) -> None:
    event = _echo(url, path)["event"]
    assert event["path"] == "/"
    assert event["body"] == ""
    assert event["httpMethod"] == "GET"


def test_unknown_routes_and_timer_only_functions_are_404(url: tuple[str, int]) -> None:
    for path in ("/nothing/here", "/echoes", "/tick", "/"):
        status, _, body = _call(url, "GET", path)
        assert status == 404, path
        assert json.loads(body)["errorType"] == "FunctionNotFound"


# --- response mapping -----------------------------------------------------------------------------------------


def test_integrated_response_sets_status_headers_and_body(url: tuple[str, int]) -> None:
    status, headers, body = _call(url, "GET", "/echo/?mode=integrated")
    assert (status, headers["x-echo"], headers["content-type"], body) == (201, "yes", "text/plain", b"made")


def test_base64_body_is_decoded(url: tuple[str, int]) -> None:
    status, headers, body = _call(url, "GET", "/echo/?mode=b64")
    assert (status, headers["content-type"], body) == (200, "application/octet-stream", bytes([0, 1, 2, 255]))


def test_return_value_without_status_code_is_200_json(url: tuple[str, int]) -> None:
    status, headers, body = _call(url, "GET", "/echo/?mode=plain")
    assert (status, headers["content-type"], json.loads(body)) == (200, "application/json", {"plain": [1, 2]})
    status, headers, body = _call(url, "GET", "/echo/?mode=string")
    assert (status, headers["content-type"], body) == (200, "application/json", b"Hello, world!")


@pytest.mark.parametrize(
    ("mode", "status", "code", "error_type"),
    [
        ("raise", 502, 430, "RuntimeError"),
        ("unserializable", 502, 430, "ReturnValueNotSerializable"),
        ("badstatus", 502, 403, "InvalidScfResponseFormat"),
        ("exit", 502, 405, "ContainerStateExited"),
    ],
)
def test_handler_failures_become_scf_errors(
    url: tuple[str, int], mode: str, status: int, code: int, error_type: str
) -> None:
    got, headers, body = _call(url, "GET", f"/echo/?mode={mode}")
    error = json.loads(body)
    assert got == status
    assert (error["errorCode"], error["errorType"]) == (code, error_type)
    assert error["requestId"] == headers["x-scf-request-id"]
    assert "Traceback" not in body.decode()
    assert _echo(url)["event"]["path"] == "/"  # and the function still serves


def test_function_that_cannot_be_imported_answers_502(url: tuple[str, int]) -> None:
    status, _, body = _call(url, "GET", "/broken/")
    error = json.loads(body)
    assert status == 502
    assert error["errorType"] == "FunctionLoadError"
    assert "cannot be imported" in error["errorMessage"]


# --- execution model ---------------------------------------------------------------------------------------------


def test_warm_worker_is_reused(url: tuple[str, int], host: FunctionHost) -> None:
    first = _echo(url)["pid"]
    second = _echo(url)["pid"]
    assert first == second
    assert first != os.getpid()
    assert first in host.worker_pids("echo")


def test_concurrent_invocations_run_in_separate_workers(url: tuple[str, int], tmp_path: Path) -> None:
    folder = tmp_path / "rv"
    folder.mkdir()
    results: list[dict[str, Any]] = []

    def one() -> None:
        results.append(_echo(url, f"/echo/?rendezvous={folder}&n=3"))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 3
    assert len({r["pid"] for r in results}) == 3
    assert len(list(folder.iterdir())) == 3  # all three were inside the handler at once


def test_time_limit_kills_the_worker_and_the_next_call_is_served(host: FunctionHost) -> None:
    warm = host.invoke("tick", {"queryString": {}})
    assert warm.ok
    slow = host.invoke("tick", {"queryString": {"sleep": "30"}})
    assert not slow.ok
    assert slow.http_status == 504
    assert slow.error is not None
    assert (slow.error["errorCode"], slow.error["errorType"]) == (433, "TimeLimitReached")
    assert slow.pid == warm.pid
    assert warm.pid not in host.worker_pids("tick")
    with pytest.raises(ProcessLookupError):
        os.kill(warm.pid, 0)
    after = host.invoke("tick", {"queryString": {}})
    assert after.ok
    assert after.cold
    assert after.result["pid"] != warm.pid


def test_environment_and_context(url: tuple[str, int], fn_root: Path) -> None:
    out = _echo(url)
    env, ctx = out["env"], out["context"]
    assert env["TENCENTCLOUD_RUNENV"] == "SCF"
    assert env["SCF_FUNCTIONNAME"] == "echo"
    assert env["SCF_NAMESPACE"] == "default"
    assert env["SCF_FUNCTIONVERSION"] == "$LATEST"
    assert env["LOCALCLOUD_TEST_VAR"] == "from-host-env"
    assert env["TRIGGER_SRC"] is None  # an HTTP invocation is not a timer
    assert env["PYTHONPATH"].split(os.pathsep) == [str(fn_root / "functions" / "echo"), str(fn_root)]
    assert Path(out["cwd"]) == fn_root / "functions" / "echo"
    assert set(ctx) == {
        "memory_limit_in_mb",
        "time_limit_in_ms",
        "request_id",
        "environment",
        "environ",
        "function_version",
        "function_name",
        "namespace",
        "tencentcloud_region",
        "tencentcloud_appid",
        "tencentcloud_uin",
    }
    assert (ctx["memory_limit_in_mb"], ctx["time_limit_in_ms"]) == (256, 5000)
    assert (ctx["function_name"], ctx["namespace"], ctx["function_version"]) == ("echo", "default", "$LATEST")
    assert ctx["tencentcloud_region"] == "ap-guangzhou"
    assert re.fullmatch(r"[0-9a-f-]{36}", ctx["request_id"])
    assert isinstance(json.loads(ctx["environment"]), dict)


def test_request_ids_differ_per_invocation(url: tuple[str, int]) -> None:
    ids = {_echo(url)["context"]["request_id"] for _ in range(3)}
    assert len(ids) == 3


def test_handler_prints_go_to_the_log_not_the_protocol(url: tuple[str, int], host: FunctionHost) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    out = _echo(url, f"/echo/?print={marker}")
    assert out["event"]["queryString"]["print"] == marker
    assert marker in host.logs("echo")
    assert "echo imported" in host.logs("echo")


# --- timer ---------------------------------------------------------------------------------------------------------


def test_timer_event_shape_and_trigger_src(host: FunctionHost) -> None:
    result = host.invoke_timer("echo", '{"sla": 60}', trigger_name="nightly")
    assert result.ok
    event = result.result["event"]
    assert set(event) == {"Type", "TriggerName", "Time", "Message"}
    assert (event["Type"], event["TriggerName"], event["Message"]) == ("Timer", "nightly", '{"sla": 60}')
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["Time"])
    assert result.result["env"]["TRIGGER_SRC"] == "timer"
    after = host.invoke("echo", {"queryString": {}})
    assert after.result["env"]["TRIGGER_SRC"] is None  # per invocation only


def test_timer_over_http(url: tuple[str, int]) -> None:
    status, headers, body = _call(url, "POST", "/_localcloud/timer/tick", body=json.dumps({"message": "m1"}).encode())
    assert status == 200
    out = json.loads(body)
    assert (out["event"]["Type"], out["event"]["Message"]) == ("Timer", "m1")
    assert out["context"]["request_id"] == headers["x-scf-request-id"]
    status, _, body = _call(url, "POST", "/_localcloud/timer/tick")
    event = json.loads(body)["event"]
    assert (status, event["Message"], event["TriggerName"]) == (200, "", "tick-timer")
    status, _, _ = _call(url, "POST", "/_localcloud/timer/nope")
    assert status == 404


def test_stats_count_invocations(host: FunctionHost) -> None:
    before = host.stats()["tick"]
    host.invoke_timer("tick")
    host.invoke_timer("tick")
    assert host.stats()["tick"] == before + 2


def _recorded(folder: Path) -> list[dict[str, Any]]:
    path = folder / "events.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _flaky_timer(url: tuple[str, int], body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    status, headers, raw = _call(url, "POST", "/_localcloud/timer/flaky", body=json.dumps(body).encode())
    return status, headers, json.loads(raw)


def test_failed_timer_is_retried_with_the_identical_event(url: tuple[str, int], tmp_path: Path) -> None:
    message = json.dumps({"dir": str(tmp_path), "fail": 1})
    status, headers, body = _flaky_timer(url, {"message": message, "retries": 2})
    assert status == 200, body
    assert body == {"calls": 2}  # the second call's answer
    calls = _recorded(tmp_path)
    assert len(calls) == 2  # it succeeded on the second call: no third
    first, second = calls[0]["event"], calls[1]["event"]
    assert first == second
    assert (first["Type"], first["TriggerName"], first["Message"]) == ("Timer", "t", message)
    assert headers["x-localcloud-attempts"] == "2"
    ids = [c["requestId"] for c in calls]
    assert headers["x-localcloud-attempt-request-ids"].split(",") == ids
    assert headers["x-scf-request-id"] == ids[1] and ids[0] != ids[1]


def test_timer_retries_stop_after_n_and_answer_the_last_error(url: tuple[str, int], tmp_path: Path) -> None:
    message = json.dumps({"dir": str(tmp_path), "fail": 99})
    status, headers, body = _flaky_timer(url, {"message": message, "retries": 2})
    assert status == 502 and body["errorType"] and "failing call 3" in body["errorMessage"]
    assert len(_recorded(tmp_path)) == 3  # one invocation and two retries
    assert headers["x-localcloud-attempts"] == "3"


def test_timer_is_not_retried_unless_asked(url: tuple[str, int], host: FunctionHost, tmp_path: Path) -> None:
    message = json.dumps({"dir": str(tmp_path), "fail": 1})
    status, headers, _ = _flaky_timer(url, {"message": message})
    assert status == 502 and headers["x-localcloud-attempts"] == "1"
    assert len(_recorded(tmp_path)) == 1
    result = host.invoke_timer("flaky", message, retries=1)  # the Python API takes the same option
    assert result.ok and result.result == {"calls": 2} and result.attempts == 1  # no error this time
    assert len(_recorded(tmp_path)) == 2


@pytest.mark.parametrize("retries", ["2", -1, 11, True, 1.5])
def test_bad_timer_retries_are_400(url: tuple[str, int], retries: Any, tmp_path: Path) -> None:
    message = json.dumps({"dir": str(tmp_path), "fail": 0})
    status, _, body = _flaky_timer(url, {"message": message, "retries": retries})
    assert status == 400 and "retries" in body["errorMessage"]
    assert _recorded(tmp_path) == []  # nothing was invoked


def test_host_and_localcloud_default_timer_retries(fn_root: Path, tmp_path: Path) -> None:
    functions = {"flaky": FunctionSpec("flaky", fn_root / "functions" / "flaky", timeout_s=5.0, http=False)}
    with FunctionHost(functions, root=fn_root, log_stream=None, timer_retries=1) as own:
        first = tmp_path / "host"
        first.mkdir()
        result = own.invoke_timer("flaky", json.dumps({"dir": str(first), "fail": 1}))
        assert (result.ok, result.attempts, len(_recorded(first))) == (True, 2, 2)
    with pytest.raises(ValueError):
        LocalCloud(functions=functions, log_stream=None, timer_retries=-1)
    cloud = LocalCloud(
        root=fn_root, functions=functions, log_stream=None, tcr=_StandIn("tcr"), cos=_StandIn("cos"), timer_retries=2
    )
    with cloud:
        second = tmp_path / "cloud"
        second.mkdir()
        status, headers, _ = _flaky_timer(
            ("127.0.0.1", cloud.port), {"message": json.dumps({"dir": str(second), "fail": 2})}
        )
        assert (status, headers["x-localcloud-attempts"], len(_recorded(second))) == (200, "3", 3)


# --- serverless.yml -----------------------------------------------------------------------------------------------


def test_serverless_yml_sets_timeout_and_memory(tmp_path: Path) -> None:
    _write_function(tmp_path, "replicas", "def main_handler(e, c):\n    return 1\n")
    (tmp_path / "functions" / "replicas" / "serverless.yml").write_text(
        "component: scf\nname: replicas\ninputs:\n  src: ./\n  timeout: 12\n  memorySize: 256\n", encoding="utf-8"
    )
    (tmp_path / "serverless.yml").write_text(
        textwrap.dedent(
            """\
            component: scf
            name: tcr-webhook
            inputs:
              src: ./functions/webhook
              timeout: 7
              events:
                - timer:
                    parameters: {name: every-minute, cronExpression: '0 * * * * * *', enable: true}
            ---
            component: scf
            name: audit
            inputs:
              src: {src: ./functions/audit}
              timeout: ${env.AUDIT_TIMEOUT}
              memorySize: 512
            """
        ),
        encoding="utf-8",
    )
    assert read_serverless_config(tmp_path, ["replicas", "webhook", "audit"]) == {
        "replicas": {"timeout": 12, "memorySize": 256},
        "webhook": {"timeout": 7, "timerName": "every-minute"},
        "audit": {"memorySize": 512},
    }
    specs = discover_functions(tmp_path)
    assert (specs["replicas"].timeout_s, specs["replicas"].memory_mb, specs["replicas"].http) == (12, 256, True)
    assert (specs["webhook"].timeout_s, specs["webhook"].memory_mb, specs["webhook"].http) == (7, 128, True)
    assert (specs["audit"].timeout_s, specs["audit"].memory_mb, specs["audit"].http) == (900, 512, False)
    assert (specs["webhook"].timer_name, specs["audit"].timer_name) == ("every-minute", "timer")


def test_defaults_without_serverless_yml(tmp_path: Path) -> None:
    specs = discover_functions(tmp_path)
    assert {n: s.timeout_s for n, s in specs.items()} == {"replicas": 30, "webhook": 10, "audit": 900}
    assert specs["replicas"].directory == tmp_path / "functions" / "replicas"


# --- LocalCloud admin surface (stand-in services: this file tests the composition, not TCR or COS) ---


class _StandIn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.pushed: list[dict[str, Any]] = []

    def handle(self, req: Request) -> Response:
        return Response(200, {"Content-Type": "text/plain"}, self.name.encode())

    def stats(self) -> dict[str, int]:
        return {f"{self.name}-calls": 1}

    def admin_push(self, body: dict[str, Any]) -> dict[str, Any]:
        self.pushed.append(body)
        return {"digest": "sha256:" + "0" * 64}

    def snapshot(self) -> dict[str, Any]:
        return {"pushed": self.pushed}

    def restore(self, data: dict[str, Any]) -> None:
        self.pushed = list(data["pushed"])


@pytest.fixture
def small_cloud(fn_root: Path) -> Iterator[LocalCloud]:
    functions = {"echo": FunctionSpec("echo", fn_root / "functions" / "echo", timeout_s=5.0)}
    cloud = LocalCloud(
        root=fn_root,
        functions=functions,
        function_env={"LOCALCLOUD_TEST_VAR": "from-function-env"},
        faults={"replication": {"lagMs": [20, 100]}},
        log_stream=None,
        tcr=_StandIn("tcr"),
        cos=_StandIn("cos"),
    )
    with cloud:
        yield cloud


def _cloud_call(cloud: LocalCloud, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    status, _, raw = _call(("127.0.0.1", cloud.port), method, path, body=data)
    return status, json.loads(raw)


def test_faults_round_trip(small_cloud: LocalCloud) -> None:
    status, plan = _cloud_call(small_cloud, "GET", "/_localcloud/faults")
    assert (status, plan["replication"]["lagMs"]) == (200, [20, 100])
    new_plan = {"seed": 7, "tcr": {"errorRate": 0.25, "codes": ["InternalError"]}, "cos": {"statuses": [500]}}
    status, _ = _cloud_call(small_cloud, "POST", "/_localcloud/faults", new_plan)
    assert status == 200
    status, plan = _cloud_call(small_cloud, "GET", "/_localcloud/faults")
    assert (plan["seed"], plan["tcr"]["errorRate"], plan["tcr"]["codes"], plan["cos"]["statuses"]) == (
        7,
        0.25,
        ["InternalError"],
        [500],
    )
    status, _ = _cloud_call(small_cloud, "DELETE", "/_localcloud/faults")
    assert status == 200
    _, plan = _cloud_call(small_cloud, "GET", "/_localcloud/faults")
    assert plan["tcr"]["errorRate"] == 0.0


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ({"tcr": {"errorRate": 2}}, "tcr.errorRate"),
        ({"bogus": {}}, "bogus"),
        ({"replication": {"lagMs": [5, 1]}}, "lagMs"),
        (b"{not json", "JSON"),
        ([1, 2], "object"),
    ],
)
def test_bad_fault_plan_is_400_with_a_reason(small_cloud: LocalCloud, plan: Any, words: str) -> None:
    status, body = _cloud_call(small_cloud, "POST", "/_localcloud/faults", plan)
    assert status == 400
    assert body["error"]["code"] == "InvalidFaultPlan"
    assert words in body["error"]["message"]
    _, current = _cloud_call(small_cloud, "GET", "/_localcloud/faults")
    assert current["replication"]["lagMs"] == [20, 100]  # unchanged


def test_admin_push_stats_and_function_routes(small_cloud: LocalCloud) -> None:
    status, body = _cloud_call(
        small_cloud, "POST", "/_localcloud/push", {"registryId": "tcr-1", "namespace": "n", "repository": "r"}
    )
    assert (status, body) == (200, {"digest": "sha256:" + "0" * 64})
    assert small_cloud.tcr.pushed == [{"registryId": "tcr-1", "namespace": "n", "repository": "r"}]
    status, body = _cloud_call(small_cloud, "POST", "/_localcloud/push", b"[]")
    assert status == 400
    status, out = _cloud_call(small_cloud, "GET", "/echo/x?y=1")
    assert (status, out["event"]["path"], out["env"]["LOCALCLOUD_TEST_VAR"]) == (200, "/x", "from-function-env")
    status, stats = _cloud_call(small_cloud, "GET", "/_localcloud/stats")
    assert stats == {"tcr": {"tcr-calls": 1}, "cos": {"cos-calls": 1}, "functions": {"echo": 1}}
    status, _ = _cloud_call(small_cloud, "GET", "/_localcloud/nothing")
    assert status == 404


def test_env_points_at_the_started_ports(small_cloud: LocalCloud) -> None:
    env = small_cloud.env()
    assert env["TCR_ENDPOINT"] == f"127.0.0.1:{small_cloud.tcr_port}"
    assert env["COS_ENDPOINT"] == f"127.0.0.1:{small_cloud.cos_port}"
    assert env["REPLICAS_URL"] == f"http://127.0.0.1:{small_cloud.port}/replicas"
    assert env["WEBHOOK_URL"] == f"http://127.0.0.1:{small_cloud.port}/webhook"
    assert (env["TENCENTCLOUD_REGION"], env["LOG_BUCKET"], env["LOG_BUCKET_REGION"]) == (
        "ap-guangzhou",
        "tcr-replication-log-1250000000",
        "ap-guangzhou",
    )
    assert len({small_cloud.port, small_cloud.tcr_port, small_cloud.cos_port}) == 3
    status, _, body = _call(("127.0.0.1", small_cloud.tcr_port), "POST", "/")
    assert (status, body) == (200, b"tcr")  # the TCR port serves the TCR service


def test_state_file_saved_at_stop_and_loaded_at_start(fn_root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    kwargs: dict[str, Any] = {"root": fn_root, "functions": {}, "log_stream": None, "state_file": state}
    with LocalCloud(tcr=_StandIn("tcr"), cos=_StandIn("cos"), **kwargs) as cloud:
        cloud.tcr.admin_push({"registryId": "tcr-9"})
    assert json.loads(state.read_text())["tcr"] == {"pushed": [{"registryId": "tcr-9"}]}
    fresh = _StandIn("tcr")
    with LocalCloud(tcr=fresh, cos=_StandIn("cos"), **kwargs):
        assert fresh.pushed == [{"registryId": "tcr-9"}]


# --- the session fixture: the real TCR and COS emulators behind the same composition -------------------------------


def test_session_localcloud_composes_the_real_services(localcloud: LocalCloud, cloud_env: dict[str, str]) -> None:
    status, stats = _cloud_call(localcloud, "GET", "/_localcloud/stats")
    assert status == 200
    assert set(stats) == {"tcr", "cos", "functions"}
    assert set(stats["functions"]) == {"replicas", "webhook", "audit"}
    _, plan = _cloud_call(localcloud, "GET", "/_localcloud/faults")
    assert plan["replication"]["lagMs"] == [20, 100]
    host, port = cloud_env["TCR_ENDPOINT"].split(":")
    status, _, body = _call((host, int(port)), "POST", "/", body=b"{}", headers={"Content-Type": "application/json"})
    assert "Error" in json.loads(body)["Response"]  # TCR's envelope: an unsigned call is refused, not crashed
    assert cloud_env["REPLICAS_URL"] == f"{localcloud.host_url}/replicas"
    assert cloud_env["API_TOKEN"]


def test_bulk_admin_push_pushes_in_order_and_names_the_one_refused(localcloud, cloud_env) -> None:
    from tests.integration.support import call, create_instance, tcr_client

    tcr = tcr_client(cloud_env)
    registry_id = create_instance(tcr)
    url = localcloud.host_url + "/_localcloud/push"
    pushes = [{"registryId": registry_id, "namespace": "bulk", "repository": "app", "tag": f"v{i}"} for i in range(3)]
    status, body = call("POST", url, {"pushes": pushes})
    assert status == 200 and [r["digest"][:7] for r in body["results"]] == ["sha256:"] * 3
    bad = [{**pushes[0], "tag": "w0"}, {**pushes[1], "registryId": "tcr-nosuch"}, {**pushes[2], "tag": "w2"}]
    status, body = call("POST", url, {"pushes": bad})
    assert status == 404 and body["error"]["message"].startswith("pushes[1]: "), body
    listed = tcr.call_json(
        "DescribeImages", {"RegistryId": registry_id, "NamespaceName": "bulk", "RepositoryName": "app", "Limit": 100}
    )["Response"]["ImageInfoList"]
    assert sorted(i["ImageVersion"] for i in listed) == ["v0", "v1", "v2", "w0"], "the pushes before it stay done"
    for malformed in ({"pushes": []}, {"pushes": pushes, "tag": "x"}, {"pushes": [pushes[0]] * 1001}):
        assert call("POST", url, malformed)[0] == 400


MEMORY = textwrap.dedent(
    """
    def main_handler(event, context):
        size = int((event.get("queryString") or {}).get("mb", "0"))
        block = bytearray(size * 1024 * 1024)
        for i in range(0, len(block), 4096):  # resident, not just reserved
            block[i] = 1
        return {"allocated": size}
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc")
def test_max_memory_used_is_the_workers_own_peak_not_its_parents(tmp_path: Path) -> None:
    """Linux keeps getrusage's ru_maxrss across fork and exec: a worker started by a large process must still
    report its own peak (a replicas worker once reported 125.9 MB, the test session's size)."""
    folder = _write_function(tmp_path, "mem", MEMORY)
    ballast = bytearray(200 * 1024 * 1024)  # this process: at least 200 MB resident while the worker starts
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    spec = FunctionSpec("mem", folder, timeout_s=10.0)
    with FunctionHost({"mem": spec}, env=dict(os.environ), root=tmp_path, log_stream=None) as h:
        reported = []
        for mb in (0, 64):
            assert h.invoke("mem", {"queryString": {"mb": str(mb)}}).ok
            line = [x for x in h.logs("mem") if x.startswith("Report RequestId: ")][-1]
            reported.append(float(re.search(r"MaxMemoryUsed: ([0-9.]+)MB", line).group(1)))
    del ballast
    assert reported[0] < 100, f"an idle worker reported {reported[0]} MB: its parent's size"
    assert reported[1] >= reported[0] + 60, f"64 MB more allocated, reported {reported}"
