"""The SCF function host: Function URL routes, timer invocations, warm worker subprocesses.

Each function runs in worker subprocesses (`localcloud/worker.py`, same interpreter), like SCF's warm
containers: the first invocation starts one (cold start: `index.py` is imported), later invocations reuse
it, concurrent invocations get more of them (up to `max_workers` per function, started on demand; beyond
that, callers wait for a free worker). A worker past the function's time limit is killed and the call
answers SCF's timeout error; the next call starts a fresh worker. See docs/localcloud.md for what is
documented SCF behaviour and what is assumed.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from localcloud.httpd import Request, Response

WORKER_SCRIPT = Path(__file__).with_name("worker.py")

DEFAULT_TIMEOUT_S: dict[str, float] = {"replicas": 30.0, "webhook": 10.0, "audit": 900.0}
HTTP_FUNCTIONS = ("replicas", "webhook")  # functions with a Function URL; audit has only its timer
DEFAULT_MEMORY_MB = 128
DEFAULT_INIT_TIMEOUT_S = 30.0  # generous locally: a loaded CI machine must not fail cold starts

# SCF status codes (tencentcloud.com/document/product/583/35311) and the HTTP status we answer with.
ERR_USER_CODE = (430, "UserCodeException", 502)
ERR_TIMEOUT = (433, "TimeLimitReached", 504)
ERR_CONTAINER_EXITED = (405, "ContainerStateExited", 502)
ERR_LOAD = (430, "FunctionLoadError", 502)
ERR_BAD_RESPONSE = (403, "InvalidScfResponseFormat", 502)
ERR_TOO_LARGE = (407, "ResponseSizeTooLarge", 502)
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
# SCF retries an asynchronous invocation (timer, COS, ...) that ends in a run error 2 times by default
# (scf-platform.md §3); localcloud retries only when asked (FunctionHost(timer_retries=) or the timer body).
SCF_ASYNC_RETRIES = 2
MAX_TIMER_RETRIES = 10


@dataclass
class FunctionSpec:
    """One deployed function: where its code is and how it is configured."""

    name: str
    directory: Path
    handler: str = "index.main_handler"
    timeout_s: float = 3.0
    memory_mb: int = DEFAULT_MEMORY_MB
    http: bool = True  # exposed as a Function URL route /<name>/...
    init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S
    timer_name: str = "timer"  # TriggerName of its timer events (serverless.yml `events: - timer: parameters: name`)
    environment: dict[str, str] = field(default_factory=dict)  # the function's own configured variables


@dataclass
class InvocationResult:
    request_id: str
    function: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None  # {"errorCode", "errorType", "errorMessage", "requestId"}
    http_status: int = 200  # the HTTP status an error is answered with
    duration_ms: float = 0.0
    pid: int | None = None
    cold: bool = False
    attempts: int = 1  # invocations made for this event (a retried timer makes more than one)
    attempt_request_ids: list[str] = field(default_factory=list)  # every attempt's request id, in order


class InvocationError(Exception):
    def __init__(self, spec: tuple[int, str, int], message: str) -> None:
        super().__init__(message)
        self.code, self.error_type, self.http_status = spec
        self.message = message


# ---------------------------------------------------------------------------------------------
# serverless.yml


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _inputs_match(name: str, instance: str, inputs: dict[str, Any]) -> bool:
    src = inputs.get("src")
    if isinstance(src, dict):
        src = src.get("src")
    if isinstance(src, str) and f"functions/{name}" in src.replace("\\", "/"):
        return True
    names = [instance, str(inputs.get("name") or "")]
    return any(n == name or n.endswith(("-" + name, "_" + name)) or f"-{name}-" in n for n in names if n)


def read_serverless_config(root: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """`{function: {"timeout": s, "memorySize": mb, "timerName": str}}` from serverless.yml files, best effort.

    Looks at `functions/<name>/serverless.yml` (Tencent's one-folder-per-function layout) and the root
    `serverless.yml` (any number of YAML documents; `component: scf` instances matched by their `src`
    or name, and `multi-scf` style `functions:` maps). Values that are not plain numbers (for example
    `${env.TIMEOUT}`) are ignored. Without PyYAML, nothing is read.
    """
    try:
        import yaml
    except ImportError:
        return {}
    found: dict[str, dict[str, Any]] = {}

    def take(name: str, inputs: Any) -> None:
        if not isinstance(inputs, dict):
            return
        for key in ("timeout", "memorySize"):
            value = _int_or_none(inputs.get(key))
            if value is not None:
                found.setdefault(name, {}).setdefault(key, value)
        for trigger in inputs.get("events") or []:
            timer = trigger.get("timer") if isinstance(trigger, dict) else None
            params = timer.get("parameters") if isinstance(timer, dict) else None
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                found.setdefault(name, {}).setdefault("timerName", params["name"])

    def load(path: Path) -> list[Any]:
        try:
            return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            return []

    for name in names:
        for doc in load(root / "functions" / name / "serverless.yml"):
            if isinstance(doc, dict):
                take(name, doc.get("inputs"))
    candidates: list[tuple[str, Any]] = []
    for doc in load(root / "serverless.yml"):
        if not isinstance(doc, dict):
            continue
        candidates.append((str(doc.get("name") or ""), doc.get("inputs")))
        for key, value in doc.items():  # several instances keyed by name in one document
            if isinstance(value, dict) and "inputs" in value:
                candidates.append((str(value.get("name") or key), value["inputs"]))
        for holder in (doc, doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}):
            funcs = holder.get("functions")
            if isinstance(funcs, dict):
                for fname, finputs in funcs.items():
                    candidates.append((str(fname), finputs))
    for instance, inputs in candidates:
        if not isinstance(inputs, dict):
            continue
        for name in names:
            if _inputs_match(name, instance, inputs):
                take(name, inputs)
    return found


def discover_functions(root: Path) -> dict[str, FunctionSpec]:
    """The product's three functions under `root/functions`, configured from serverless.yml if present."""
    names = list(DEFAULT_TIMEOUT_S)
    config = read_serverless_config(root, names)
    specs: dict[str, FunctionSpec] = {}
    for name in names:
        conf = config.get(name, {})
        specs[name] = FunctionSpec(
            name=name,
            directory=root / "functions" / name,
            timeout_s=float(conf.get("timeout", DEFAULT_TIMEOUT_S[name])),
            memory_mb=int(conf.get("memorySize", DEFAULT_MEMORY_MB)),
            http=name in HTTP_FUNCTIONS,
            timer_name=str(conf.get("timerName", "timer")),
        )
    return specs


# ---------------------------------------------------------------------------------------------
# workers


class _Worker:
    def __init__(self, spec: FunctionSpec, env: dict[str, str], log: _LogSink, python: str | None = None) -> None:
        self.spec = spec
        self.proc = subprocess.Popen(  # noqa: S603 - our own worker script, argv list, no shell
            [python or sys.executable, str(WORKER_SCRIPT), str(spec.directory), spec.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(spec.directory),
            env=env,
            start_new_session=True,  # its own process group: a timeout kills the handler's children too
        )
        self.pid = self.proc.pid
        self._buf = b""
        self._fd = self.proc.stdout.fileno() if self.proc.stdout else -1
        self.used = False
        self._log_thread = threading.Thread(
            target=log.pump, args=(spec.name, self.pid, self.proc.stderr), name=f"scf-log:{spec.name}", daemon=True
        )
        self._log_thread.start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def wait_ready(self) -> None:
        try:
            message = self._read_message(time.monotonic() + self.spec.init_timeout_s)
        except TimeoutError:
            self.kill()
            raise InvocationError(
                ERR_TIMEOUT, f"function initialisation timed out after {self.spec.init_timeout_s:g} seconds"
            ) from None
        except (EOFError, ValueError):
            self.kill()
            raise InvocationError(ERR_CONTAINER_EXITED, "the function's container exited during start-up") from None
        if not message.get("ready"):
            self.kill()
            error = message.get("error") or {}
            raise InvocationError(
                ERR_LOAD, f"cannot load {self.spec.handler}: {error.get('errorType')}: {error.get('errorMessage')}"
            )

    def call(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        self.used = True
        # UTF-8 rather than \u escapes (6 bytes for each non-ASCII character of a body); lone surrogates pass as
        # json.loads() reads them back from bytes
        data = (json.dumps(request, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            return self._read_message(deadline)
        except TimeoutError:
            self.kill()
            raise InvocationError(
                ERR_TIMEOUT, f"Invoking task timed out after {self.spec.timeout_s:g} seconds"
            ) from None
        except (EOFError, BrokenPipeError, ValueError, OSError):
            self.kill()
            raise InvocationError(
                ERR_CONTAINER_EXITED, "the function's container exited during the invocation"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass

    def close(self) -> None:
        """Stop gracefully: EOF on its stdin ends the serve loop; kill if it does not go."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


class _LogSink:
    """Forwards workers' stderr (handler prints and logs) to a stream, keeping recent lines per function."""

    def __init__(self, stream: TextIO | None, keep: int = 2000) -> None:
        self.stream = stream
        self._lines: dict[str, collections.deque[str]] = collections.defaultdict(lambda: collections.deque(maxlen=keep))
        # request ids whose Report line went through before anyone waited for it (the last 256), and the waiters:
        # each invocation waits on its own event, so a Report line wakes one thread, not every waiting one
        self._reported: dict[str, None] = {}
        self._waiters: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def pump(self, name: str, pid: int, pipe: Any) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self._lines[name].append(line)
                if line.startswith("Report RequestId: "):
                    request_id = line.split()[2]
                    waiter = self._waiters.get(request_id)
                    if waiter is not None:
                        waiter.set()
                    else:
                        self._reported[request_id] = None
                        if len(self._reported) > 256:
                            del self._reported[next(iter(self._reported))]
                if self.stream is not None:
                    try:
                        self.stream.write(f"[scf:{name}:{pid}] {line}\n")
                        self.stream.flush()
                    except (OSError, ValueError):
                        pass
        pipe.close()

    def wait_reported(self, request_id: str, timeout: float) -> None:
        """Wait until the invocation's closing Report line went through (its logs are then complete)."""
        with self._lock:
            if request_id in self._reported:
                del self._reported[request_id]
                return
            waiter = self._waiters[request_id] = threading.Event()
        try:
            waiter.wait(timeout)
        finally:
            with self._lock:
                self._waiters.pop(request_id, None)

    def lines(self, name: str) -> list[str]:
        with self._lock:
            return list(self._lines.get(name, ()))


class _Pool:
    def __init__(self, spec: FunctionSpec, max_workers: int) -> None:
        self.spec = spec
        self.max_workers = max_workers
        self.idle: list[_Worker] = []
        self.all: set[_Worker] = set()
        self.starting = 0
        self.cond = threading.Condition()
        self.invocations = 0
        self.closed = False


# ---------------------------------------------------------------------------------------------
# the host


def check_timer_retries(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TIMER_RETRIES:
        raise ValueError(f"retries must be an integer from 0 to {MAX_TIMER_RETRIES}, not {value!r}")
    return value


def _utc_now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return Response(status, all_headers, json.dumps(payload).encode())


class FunctionHost:
    """Runs functions in warm worker subprocesses and maps HTTP requests to Function URL events.

    `env` is the complete process environment of the workers except the per-function variables the
    host adds (`SCF_FUNCTIONNAME`, `USER_CODE_ROOT`, `PYTHONPATH`, and the function's own configured
    `environment`). Use `LocalCloud` to get the localcloud variables; standalone, pass what you need.
    """

    def __init__(
        self,
        functions: dict[str, FunctionSpec],
        *,
        env: dict[str, str] | None = None,
        root: Path | None = None,
        region: str = "ap-guangzhou",
        appid: str = "1250000000",
        uin: str = "100000000001",
        max_workers: int = 4,
        log_stream: TextIO | None = sys.stderr,
        python: str | None = None,
        site_packages: Path | None = None,
        timer_retries: int = 0,
    ) -> None:
        """`python`: the interpreter of the workers (e.g. a Python 3.10 standing for SCF's runtime);
        `site_packages`: where that interpreter finds the dependencies (the layer's third-party part);
        `timer_retries`: how many times a timer invocation that ends in an error is invoked again with the
        identical event (SCF's asynchronous default is `SCF_ASYNC_RETRIES`; 0 here unless asked)."""
        self.timer_retries = check_timer_retries(timer_retries)
        self.python = python
        self.site_packages = Path(site_packages) if site_packages else None
        self.functions = dict(functions)
        self.root = Path(root) if root else Path(__file__).resolve().parent.parent
        self.region = region
        self.appid = appid
        self.uin = uin
        self.max_workers = max_workers
        self._base_env = dict(os.environ if env is None else env)
        self._log = _LogSink(log_stream)
        self._pools = {name: _Pool(spec, max_workers) for name, spec in self.functions.items()}
        self._closed = False

    # --- environment and context ---------------------------------------------------------------

    def function_env(self, spec: FunctionSpec) -> dict[str, str]:
        env = dict(self._base_env)
        env.update(spec.environment)
        env.update(
            {
                "SCF_FUNCTIONNAME": spec.name,
                "SCF_NAMESPACE": "default",
                "SCF_FUNCTIONVERSION": "$LATEST",
                "TENCENTCLOUD_RUNENV": "SCF",
                "USER_CODE_ROOT": str(spec.directory),
                # SCF: PYTHONPATH=/var/user:/opt (code, then layers); here the repo root stands for /opt.
                "PYTHONPATH": os.pathsep.join(
                    [str(spec.directory), str(self.root)] + ([str(self.site_packages)] if self.site_packages else [])
                ),
            }
        )
        env.setdefault("TENCENTCLOUD_REGION", self.region)
        env.setdefault("TENCENTCLOUD_APPID", self.appid)
        env.setdefault("TENCENTCLOUD_UIN", self.uin)
        env.pop("TRIGGER_SRC", None)  # per invocation only
        return env

    def _env_value(self, spec: FunctionSpec, name: str, default: str) -> str:
        """What `function_env(spec)[name]` holds for a variable the host does not set itself, without copying the
        whole environment for every invocation."""
        if name in spec.environment:
            return spec.environment[name]
        return self._base_env.get(name, default)

    def _context(self, spec: FunctionSpec, request_id: str) -> dict[str, Any]:
        configured = dict(spec.environment)
        configured.setdefault("SCF_NAMESPACE", "default")
        return {
            "memory_limit_in_mb": spec.memory_mb,
            "time_limit_in_ms": int(spec.timeout_s * 1000),
            "request_id": request_id,
            "environment": json.dumps(configured, separators=(",", ":")),
            "environ": ";".join(f"{k}={v}" for k, v in configured.items()),
            "function_version": "$LATEST",
            "function_name": spec.name,
            "namespace": "default",
            "tencentcloud_region": self._env_value(spec, "TENCENTCLOUD_REGION", self.region),
            "tencentcloud_appid": self._env_value(spec, "TENCENTCLOUD_APPID", self.appid),
            "tencentcloud_uin": self._env_value(spec, "TENCENTCLOUD_UIN", self.uin),
        }

    # --- pool --------------------------------------------------------------------------------------

    def _acquire(self, pool: _Pool) -> tuple[_Worker, bool]:
        with pool.cond:
            while True:
                if pool.closed or self._closed:
                    raise InvocationError(ERR_CONTAINER_EXITED, "the function host is shutting down")
                while pool.idle:
                    worker = pool.idle.pop()
                    if worker.alive():
                        return worker, False
                    pool.all.discard(worker)
                    worker.kill()
                if len(pool.all) + pool.starting < pool.max_workers:
                    break
                pool.cond.wait(timeout=1.0)
            pool.starting += 1  # reserve the slot while the process starts
        try:
            worker = _Worker(pool.spec, self.function_env(pool.spec), self._log, self.python)
        finally:
            with pool.cond:
                pool.starting -= 1
                pool.cond.notify()
        with pool.cond:
            closing = pool.closed or self._closed
            if not closing:
                pool.all.add(worker)
        if closing:
            worker.kill()
            raise InvocationError(ERR_CONTAINER_EXITED, "the function host is shutting down")
        try:
            worker.wait_ready()
        except BaseException:
            self._release(pool, worker, broken=True)
            raise
        return worker, True

    def _release(self, pool: _Pool, worker: _Worker, *, broken: bool = False) -> None:
        with pool.cond:
            if broken or not worker.alive() or pool.closed:
                pool.all.discard(worker)
                dead = True
            else:
                pool.idle.append(worker)
                dead = False
            pool.cond.notify()
        if dead:
            worker.kill()

    # --- invocation --------------------------------------------------------------------------------

    def invoke(self, name: str, event: Any, *, env: dict[str, str] | None = None) -> InvocationResult:
        """Invoke `name` synchronously with `event`; `env` adds variables for this invocation only."""
        pool = self._pools.get(name)
        if pool is None:
            raise KeyError(f"no function named {name!r}")
        request_id = str(uuid.uuid4())
        with pool.cond:
            pool.invocations += 1
        started = time.monotonic()
        worker: _Worker | None = None
        cold = False
        try:
            worker, cold = self._acquire(pool)
            reply = worker.call(
                {"id": request_id, "event": event, "context": self._context(pool.spec, request_id), "env": env or {}},
                time.monotonic() + pool.spec.timeout_s,
            )
        except InvocationError as exc:
            if worker is not None:
                self._release(pool, worker, broken=True)
            return InvocationResult(
                request_id=request_id,
                function=name,
                ok=False,
                error={
                    "errorCode": exc.code,
                    "errorType": exc.error_type,
                    "errorMessage": exc.message,
                    "requestId": request_id,
                },
                http_status=exc.http_status,
                duration_ms=(time.monotonic() - started) * 1000.0,
                pid=worker.pid if worker else None,
                cold=cold,
            )
        self._release(pool, worker)
        duration_ms = (time.monotonic() - started) * 1000.0
        self._log.wait_reported(request_id, timeout=2.0)
        if reply.get("ok"):
            return InvocationResult(
                request_id, name, True, reply.get("result"), None, 200, duration_ms, worker.pid, cold
            )
        error = reply.get("error") or {}
        code, default_type, http_status = ERR_USER_CODE
        return InvocationResult(
            request_id,
            name,
            False,
            None,
            {
                "errorCode": code,
                "errorType": error.get("errorType") or default_type,
                "errorMessage": error.get("errorMessage") or "user code exception caught",
                "requestId": request_id,
            },
            http_status,
            duration_ms,
            worker.pid,
            cold,
        )

    def invoke_timer(
        self,
        name: str,
        message: str | None = None,
        *,
        trigger_name: str | None = None,
        retries: int | None = None,
    ) -> InvocationResult:
        """Invoke `name` as its timer trigger does; TriggerName defaults to the function's configured timer name.

        An invocation that ends in an error is invoked again with the identical event (same Time, TriggerName
        and Message), up to `retries` times (default: the host's `timer_retries`), at once. The result is the
        last attempt's, with `attempts` and `attempt_request_ids` telling how many were made.
        """
        spec = self.functions.get(name)
        if spec is None:
            raise KeyError(f"no function named {name!r}")
        extra = self.timer_retries if retries is None else check_timer_retries(retries)
        event = {
            "Type": "Timer",
            "TriggerName": trigger_name or spec.timer_name,
            "Time": _utc_now_iso(),
            "Message": message or "",
        }
        ids: list[str] = []
        while True:
            result = self.invoke(name, dict(event), env={"TRIGGER_SRC": "timer"})
            ids.append(result.request_id)
            if result.ok or len(ids) > extra or self._closed:
                break
        result.attempts = len(ids)
        result.attempt_request_ids = ids
        return result

    # --- HTTP --------------------------------------------------------------------------------------

    @staticmethod
    def build_event(req: Request, path: str) -> dict[str, Any]:
        """The Function URL event of `req`, with `path` relative to the function's URL."""
        headers = {k.lower(): v for k, v in req.headers.items()}
        headers["x-scf-remote-addr"] = req.client
        query = {k: ",".join(v) for k, v in req.query.items()}
        return {
            "httpMethod": req.method,
            "path": path or "/",
            "headers": headers,
            "queryString": query,
            "body": req.body.decode("utf-8", errors="replace"),
        }

    def route(self, path: str) -> tuple[str, str] | None:
        """(function, event path) for a Function URL request path, or None."""
        segment, sep, rest = path.lstrip("/").partition("/")
        spec = self.functions.get(segment)
        if spec is None or not spec.http:
            return None
        return segment, "/" + rest if sep else "/"

    def handle(self, req: Request) -> Response:
        if req.path.startswith("/_localcloud/timer/"):
            return self._handle_timer(req)
        target = self.route(req.path)
        if target is None:
            return _json_response(
                404,
                {"errorCode": 404, "errorType": "FunctionNotFound", "errorMessage": f"no function URL at {req.path}"},
            )
        name, path = target
        result = self.invoke(name, self.build_event(req, path))
        return self.to_http(result)

    def _handle_timer(self, req: Request) -> Response:
        name = req.path[len("/_localcloud/timer/") :].strip("/")
        if req.method != "POST":
            return _json_response(405, {"errorType": "MethodNotAllowed", "errorMessage": "use POST"})
        if name not in self.functions:
            return _json_response(404, {"errorType": "FunctionNotFound", "errorMessage": f"no function named {name!r}"})
        message: str | None = None
        trigger: str | None = None
        retries: int | None = None
        if req.body.strip():
            try:
                body = json.loads(req.body)
            except ValueError:
                return _json_response(400, {"errorType": "InvalidJSON", "errorMessage": "body must be JSON"})
            if not isinstance(body, dict):
                return _json_response(400, {"errorType": "InvalidRequest", "errorMessage": "body must be an object"})
            raw = body.get("message")
            message = raw if isinstance(raw, str) or raw is None else json.dumps(raw)
            trigger = str(body["triggerName"]) if body.get("triggerName") else None
            if body.get("retries") is not None:
                try:
                    retries = check_timer_retries(body["retries"])
                except ValueError as exc:
                    return _json_response(400, {"errorType": "InvalidRequest", "errorMessage": str(exc)})
        result = self.invoke_timer(name, message, trigger_name=trigger, retries=retries)
        headers = {
            "X-Scf-Request-Id": result.request_id,
            "X-Localcloud-Attempts": str(result.attempts),
            "X-Localcloud-Attempt-Request-Ids": ",".join(result.attempt_request_ids),
        }
        if not result.ok:
            return _json_response(result.http_status, result.error, headers)
        return _json_response(200, result.result, headers)

    @staticmethod
    def to_http(result: InvocationResult) -> Response:
        """Turn an invocation's outcome into the Function URL's HTTP response."""
        rid = {"X-Scf-Request-Id": result.request_id}
        if not result.ok:
            return _json_response(result.http_status, result.error, rid)
        value = result.result
        try:
            if isinstance(value, dict) and "statusCode" in value:
                resp = FunctionHost._integrated(value)
            elif isinstance(value, str):
                resp = Response(200, {"Content-Type": "application/json"}, value.encode())
            else:
                resp = Response(200, {"Content-Type": "application/json"}, json.dumps(value).encode())
        except InvocationError as exc:
            error = {
                "errorCode": exc.code,
                "errorType": exc.error_type,
                "errorMessage": exc.message,
                "requestId": result.request_id,
            }
            return _json_response(exc.http_status, error, rid)
        if len(resp.body) > MAX_RESPONSE_BYTES:
            code, etype, status = ERR_TOO_LARGE
            error = {
                "errorCode": code,
                "errorType": etype,
                "errorMessage": "The size of response exceeds the upper limit (6MB)",
                "requestId": result.request_id,
            }
            return _json_response(status, error, rid)
        resp.headers.update(rid)
        return resp

    @staticmethod
    def _integrated(value: dict[str, Any]) -> Response:
        status = value.get("statusCode")
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise InvocationError(ERR_BAD_RESPONSE, f"invalid statusCode {status!r} in the function's response")
        headers: dict[str, str] = {}
        raw_headers = value.get("headers") or {}
        if not isinstance(raw_headers, dict):
            raise InvocationError(ERR_BAD_RESPONSE, "headers in the function's response must be an object")
        for key, val in raw_headers.items():
            headers[str(key)] = ", ".join(str(v) for v in val) if isinstance(val, list) else str(val)
        body = value.get("body")
        if body is None:
            data = b""
        elif isinstance(body, str):
            if value.get("isBase64Encoded") is True:
                try:
                    data = base64.b64decode(body, validate=True)
                except (binascii.Error, ValueError):
                    raise InvocationError(ERR_BAD_RESPONSE, "body is not valid base64") from None
            else:
                data = body.encode()
        else:
            data = json.dumps(body).encode()
        if not any(k.lower() == "content-type" for k in headers) and data:
            headers["Content-Type"] = "application/json"
        return Response(status, headers, data)

    # --- bookkeeping ---------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        out = {}
        for name, pool in self._pools.items():
            with pool.cond:
                out[name] = pool.invocations
        return out

    def worker_pids(self, name: str) -> list[int]:
        pool = self._pools[name]
        with pool.cond:
            return sorted(w.pid for w in pool.all)

    def logs(self, name: str) -> list[str]:
        """Recent log lines (stdout and stderr) of `name`'s workers."""
        return self._log.lines(name)

    def close(self) -> None:
        self._closed = True
        workers: list[_Worker] = []
        for pool in self._pools.values():
            with pool.cond:
                pool.closed = True
                workers.extend(pool.all)
                pool.idle.clear()
                pool.cond.notify_all()
        threads = [threading.Thread(target=w.close, daemon=True) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)

    def __enter__(self) -> FunctionHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
