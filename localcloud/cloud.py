"""LocalCloud: the TCR API, COS and the SCF function host on 127.0.0.1, with the admin surface.

    with LocalCloud(port=0, faults={"replication": {"lagMs": [20, 100]}}) as cloud:
        env = cloud.env()          # what points the functions (or a script) at it
        cloud.host_url             # http://127.0.0.1:<port>: /replicas/..., /webhook..., /_localcloud/...

Admin surface on the function host port (not part of any Tencent API):
    POST   /_localcloud/push             -> TcrService.admin_push (200 {"digest": ...}; its errors keep their status);
                                            {"pushes": [push, ...]} (up to 1000): each in order, 200 {"results": [...]}
    POST   /_localcloud/instance-status  -> pin an instance's Registry.Status ({"registryId", "status"}; 400, 404)
    GET    /_localcloud/vpcs?region=R    -> the VPC catalogue {"vpcs": [{"vpcId", "region", "cidr", "subnets"}]}
    POST   /_localcloud/vpcs             -> add a VPC with one subnet ({"region", "cidr"?}; 400 on bad input)
    GET    /_localcloud/faults           -> the current fault plan
    POST   /_localcloud/faults           -> set a plan (400 InvalidFaultPlan with the reason on a bad plan)
    DELETE /_localcloud/faults           -> back to the default plan
    GET    /_localcloud/faults/injected  -> faults injected since start, per service and kind ({"tcr": {"drop": n}})
    GET    /_localcloud/webhook-deliveries?registryId=R -> every webhook delivery and its attempts' answers
    GET    /_localcloud/stats            -> {"tcr": {...}, "cos": {...}, "functions": {name: invocations}}
    POST   /_localcloud/timer/<function> -> invoke the function's timer trigger ({"message": "..."} optional;
                                            "retries": N invokes a failed one again with the identical event)
    GET    /_localcloud/health, GET /_localcloud/env
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from localcloud.faults import FaultPlanError, Faults
from localcloud.httpd import Request, Response, Server
from localcloud.scfhost import FunctionHost, FunctionSpec, check_timer_retries, discover_functions

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SECRET_ID = "AKIDLOCALCLOUD0000000000000000000000"
DEFAULT_SECRET_KEY = "localcloudSecretKey00000000000000"
# The run role's temporary credentials: what SCF injects into a function (scf-platform.md, tcr-sdk-wire.md §6).
# A request signed with this key pair must carry this session token (X-TC-Token / x-cos-security-token).
ROLE_SECRET_ID = "AKIDLOCALCLOUDROLE000000000000000000"
ROLE_SECRET_KEY = "localcloudRoleSecretKey0000000000"
SESSION_TOKEN = "localcloudSessionToken0000000000000000000000000000"
APPID = "1250000000"
UIN = "100000000001"
REGION = "ap-guangzhou"
LOG_BUCKET = f"tcr-replication-log-{APPID}"
LOG_BUCKET_REGION = "ap-guangzhou"
DEFAULT_PORT = 9000
STATE_VERSION = 1
MAX_BULK_PUSHES = 1000  # pushes in one bulk /_localcloud/push


def base_port(prog: str = "localcloud") -> int:
    """LOCALCLOUD_PORT (default 9000): the function host's port; TCR is on +1 and COS on +2."""
    raw = os.environ.get("LOCALCLOUD_PORT", "").strip()
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"{prog}: LOCALCLOUD_PORT must be a port number, not {raw!r}") from None
    if not 0 < port < 65534:
        raise SystemExit(f"{prog}: LOCALCLOUD_PORT {port} is out of range (1..65533)")
    return port


def credentials() -> tuple[str, str]:
    """The account's permanent key pair (no token needed): env LOCALCLOUD_SECRET_ID / LOCALCLOUD_SECRET_KEY
    or the defaults. For admin scripts and tests that act as the account owner."""
    return (
        os.environ.get("LOCALCLOUD_SECRET_ID") or DEFAULT_SECRET_ID,
        os.environ.get("LOCALCLOUD_SECRET_KEY") or DEFAULT_SECRET_KEY,
    )


def role_credentials() -> tuple[str, str, str]:
    """The run role's temporary credentials (SecretId, SecretKey, session token) handed to the functions."""
    return ROLE_SECRET_ID, ROLE_SECRET_KEY, SESSION_TOKEN


def accepted_keys() -> tuple[dict[str, str], dict[str, str]]:
    """(SecretId -> SecretKey, SecretId -> required session token) for TCR and COS: the permanent pair and
    the role's temporary pair, whose token is required."""
    secret_id, secret_key = credentials()
    role_id, role_key, token = role_credentials()
    keys = {role_id: role_key, secret_id: secret_key}  # a permanent key configured as the role's id stays permanent
    tokens = {role_id: token} if secret_id != role_id else {}
    return keys, tokens


def _json(status: int, payload: Any) -> Response:
    return Response(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": {"code": code, "message": message}})


class LocalCloud:
    """Composes TcrService, CosService, the fault plan and the FunctionHost; see the module docstring.

    `tcr` / `cos` accept pre-built service objects (tests); by default the real emulators are built.
    `functions` replaces the product's functions (default: `root/functions/{replicas,webhook,audit}`).
    `timer_retries`: how many times a failed timer invocation is retried (SCF's asynchronous default is 2).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        tcr_port: int = 0,
        cos_port: int = 0,
        faults: dict[str, Any] | None = None,
        replica_ready_after_s: float = 1.0,
        function_env: dict[str, str] | None = None,
        state_file: Path | None = None,
        root: Path = REPO_ROOT,
        functions: dict[str, FunctionSpec] | None = None,
        max_workers: int = 4,
        log_stream: TextIO | None = sys.stderr,
        tcr: Any | None = None,
        cos: Any | None = None,
        function_python: str | None = None,
        function_site_packages: Path | None = None,
        timer_retries: int = 0,
        endpoint_ready_after_s: float | None = None,
    ) -> None:
        self.port = port
        self.tcr_port = tcr_port
        self.cos_port = cos_port
        self.root = Path(root)
        self.replica_ready_after_s = replica_ready_after_s
        # TCR internal endpoints (VPC attachments) are Creating this long, then Running (None: as replicas)
        self.endpoint_ready_after_s = endpoint_ready_after_s
        self.function_env = dict(function_env or {})
        self.state_file = Path(state_file) if state_file else None
        self.max_workers = max_workers
        self.log_stream = log_stream
        self._functions = functions
        self._plan = faults
        self.tcr = tcr
        self.cos = cos
        self.function_python = function_python
        self.function_site_packages = function_site_packages
        self.timer_retries = check_timer_retries(timer_retries)  # refused here, before any server is started
        self.faults: Faults | None = None
        self.host: FunctionHost | None = None
        self._servers: dict[str, Server] = {}
        self._started = False

    # --- configuration ---------------------------------------------------------------------------

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """KEY=VALUE settings that point the functions (or a script) at this localcloud.

        The credentials are the run role's temporary ones, as SCF injects them: TENCENTCLOUD_SECRETID,
        TENCENTCLOUD_SECRETKEY and TENCENTCLOUD_SESSIONTOKEN; a client built from them must send the token.
        Includes `function_env` (it wins), so a script gets the same API_TOKEN the functions run with.
        """
        secret_id, secret_key, token = role_credentials()
        env = {
            "TENCENTCLOUD_SECRETID": secret_id,
            "TENCENTCLOUD_SECRETKEY": secret_key,
            "TENCENTCLOUD_SESSIONTOKEN": token,
            "TENCENTCLOUD_REGION": REGION,
            "TENCENTCLOUD_APPID": APPID,
            "TENCENTCLOUD_UIN": UIN,
            "TCR_ENDPOINT": f"127.0.0.1:{self.tcr_port}",
            "COS_ENDPOINT": f"127.0.0.1:{self.cos_port}",
            "LOG_BUCKET": LOG_BUCKET,
            "LOG_BUCKET_REGION": LOG_BUCKET_REGION,
            "REPLICAS_URL": f"{self.host_url}/replicas",
            "WEBHOOK_URL": f"{self.host_url}/webhook",
            "LOCALCLOUD_URL": self.host_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        env.update(self.function_env)  # e.g. API_TOKEN: a script calling the functions needs it too
        return env

    @staticmethod
    def plan_from_env() -> dict[str, Any] | None:
        raw = os.environ.get("LOCALCLOUD_FAULTS", "").strip()
        if not raw:
            return None
        try:
            plan = json.loads(raw)
        except ValueError as exc:
            raise FaultPlanError(f"LOCALCLOUD_FAULTS is not valid JSON: {exc}") from None
        return plan

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> LocalCloud:
        if self._started:
            return self
        plan = self._plan if self._plan is not None else self.plan_from_env()
        self.faults = Faults(plan)
        keys, tokens = accepted_keys()
        if self.tcr is None:
            from localcloud.tcr import TcrService

            self.tcr = TcrService(
                keys=keys,
                tokens=tokens,
                faults=self.faults,
                replica_ready_after_s=self.replica_ready_after_s,
                endpoint_ready_after_s=self.endpoint_ready_after_s,
            )
        if self.cos is None:
            from localcloud.cos import CosService

            self.cos = CosService(keys=keys, tokens=tokens, faults=self.faults)
            # in its own region only, as in COS: a client configured for another region gets NoSuchBucket
            self.cos.create_bucket(LOG_BUCKET, region=LOG_BUCKET_REGION)
        self._load_state()
        # Each server is started as soon as it is bound (closing a never-started Server would block),
        # except the function host's, which needs the FunctionHost and the FunctionHost needs its port.
        try:
            self._servers["tcr"] = Server(self.tcr.handle, self.tcr_port).start()
            self._servers["cos"] = Server(self.cos.handle, self.cos_port).start()
            host_server = Server(self._handle, self.port)
        except OSError:
            self._close_servers()
            close = getattr(self.tcr, "close", None)
            if callable(close):
                close()
            raise
        self.tcr_port = self._servers["tcr"].port
        self.cos_port = self._servers["cos"].port
        self.port = host_server.port
        worker_env = dict(os.environ)
        worker_env.update(self.env())
        self.host = FunctionHost(
            self._functions if self._functions is not None else discover_functions(self.root),
            env=worker_env,
            root=self.root,
            region=REGION,
            appid=APPID,
            uin=UIN,
            max_workers=self.max_workers,
            log_stream=self.log_stream,
            python=self.function_python,
            site_packages=self.function_site_packages,
            timer_retries=self.timer_retries,
        )
        self._servers["host"] = host_server.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._close_servers()  # no new requests anywhere; then stop the workers, then save
        if self.host:
            self.host.close()
        try:
            self._save_state()
        finally:
            close = getattr(self.tcr, "close", None)
            if callable(close):
                close()

    def _close_servers(self) -> None:
        def close(server: Server) -> None:
            try:
                server.close()
            except Exception as exc:  # keep closing the others
                print(f"localcloud: closing port {server.port}: {exc!r}", file=sys.stderr)

        threads = [threading.Thread(target=close, args=(s,), daemon=True) for s in self._servers.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        self._servers.clear()

    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state -----------------------------------------------------------------------------------------

    def _load_state(self) -> None:
        if not self.state_file or not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"{self.state_file}: not a localcloud state file (version {STATE_VERSION})")
        if state.get("tcr") is not None:
            self.tcr.restore(state["tcr"])
        if state.get("cos") is not None:
            self.cos.restore(state["cos"])

    def _save_state(self) -> None:
        if not self.state_file:
            return
        state = {
            "version": STATE_VERSION,
            "savedAt": time.time(),
            "tcr": self.tcr.snapshot(),
            "cos": self.cos.snapshot(),
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(self.state_file)

    # --- admin surface ------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            "tcr": self.tcr.stats() if self.tcr else {},
            "cos": self.cos.stats() if self.cos else {},
            "functions": self.host.stats() if self.host else {},
        }

    def _handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        assert self.host is not None and self.faults is not None
        if not path.startswith("/_localcloud/") or path.startswith("/_localcloud/timer/"):
            return self.host.handle(req)
        if path == "/_localcloud/push":
            if req.method != "POST":
                return _error(405, "MethodNotAllowed", "use POST /_localcloud/push")
            return self._push(req)
        if path == "/_localcloud/instance-status":
            if req.method != "POST":
                return _error(405, "MethodNotAllowed", "use POST /_localcloud/instance-status")
            return self._instance_status(req)
        if path == "/_localcloud/vpcs":
            return self._vpcs(req)
        if path == "/_localcloud/faults":
            return self._faults(req)
        if path == "/_localcloud/faults/injected" and req.method == "GET":
            return _json(200, self.faults.injected())
        if path == "/_localcloud/webhook-deliveries":
            return self._webhook_deliveries(req)
        if path == "/_localcloud/stats" and req.method == "GET":
            return _json(200, self.stats())
        if path == "/_localcloud/health" and req.method == "GET":
            return _json(200, {"ok": True, "functions": sorted(self.host.functions)})
        if path == "/_localcloud/env" and req.method == "GET":
            return _json(200, self.env())
        return _error(404, "NotFound", f"no admin route {req.method} {req.path}")

    def _push(self, req: Request) -> Response:
        assert self.tcr is not None
        return self._admin_call(req, self._push_one_or_many, "{registryId, namespace, repository, tag}")

    def _push_one_or_many(self, body: dict[str, Any]) -> dict[str, Any]:
        """One push, or `{"pushes": [...]}`: each in order, as if sent one by one (a bench seeds thousands). The
        first refused push stops the batch with its status and index; the pushes before it stay done."""
        from localcloud.tcr import AdminError

        assert self.tcr is not None
        if "pushes" not in body:
            return dict(self.tcr.admin_push(body))
        pushes = body["pushes"]
        if set(body) != {"pushes"} or not isinstance(pushes, list) or not 1 <= len(pushes) <= MAX_BULK_PUSHES:
            raise AdminError(400, f'a bulk push is {{"pushes": [push, ...]}} with 1 to {MAX_BULK_PUSHES} pushes')
        results = []
        for index, push in enumerate(pushes):
            try:
                results.append(self.tcr.admin_push(push))
            except AdminError as exc:
                raise AdminError(exc.status, f"pushes[{index}]: {exc.message} ({index} done before it)") from None
        return {"results": results}

    def _instance_status(self, req: Request) -> Response:
        assert self.tcr is not None
        return self._admin_call(req, self.tcr.admin_instance_status, "{registryId, status}")

    def _vpcs(self, req: Request) -> Response:
        """The VPC catalogue behind TCR's private access: GET ?region=R lists, POST {"region", "cidr"?} adds."""
        assert self.tcr is not None
        if req.method == "POST":
            return self._admin_call(req, self.tcr.admin_add_vpc, "{region, cidr?}")
        if req.method != "GET":
            return _error(405, "MethodNotAllowed", "use GET or POST /_localcloud/vpcs")
        from urllib.parse import parse_qs

        from localcloud.tcr import AdminError

        query = parse_qs(req.raw_query, keep_blank_values=True)
        unknown = sorted(set(query) - {"region"})
        if unknown:
            return _error(400, "InvalidRequest", f"unknown query parameter {unknown[0]!r}; only region is accepted")
        region = query.get("region", [None])[-1]
        try:
            return _json(200, self.tcr.admin_list_vpcs(region))
        except AdminError as exc:
            return _error(exc.status, "AdminError", exc.message)

    def _webhook_deliveries(self, req: Request) -> Response:
        """GET ?registryId=R: every webhook delivery of the instance and what each attempt was answered."""
        assert self.tcr is not None
        if req.method != "GET":
            return _error(405, "MethodNotAllowed", "use GET /_localcloud/webhook-deliveries?registryId=<id>")
        from urllib.parse import parse_qs

        from localcloud.tcr import AdminError

        query = parse_qs(req.raw_query, keep_blank_values=True)
        unknown = sorted(set(query) - {"registryId"})
        if unknown or not query.get("registryId", [""])[-1]:
            return _error(400, "InvalidRequest", "registryId is required and is the only query parameter")
        try:
            return _json(200, self.tcr.admin_webhook_deliveries(query["registryId"][-1]))
        except AdminError as exc:
            return _error(exc.status, "AdminError", exc.message)

    @staticmethod
    def _admin_call(req: Request, action: Any, shape: str) -> Response:
        """A JSON-object body handed to one of TcrService's admin actions; its AdminError becomes a 4xx."""
        from localcloud.tcr import AdminError

        try:
            body = json.loads(req.body or b"null")
        except ValueError as exc:
            return _error(400, "InvalidJSON", f"body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "InvalidRequest", f"body must be a JSON object {shape}")
        try:
            result = action(body)
        except AdminError as exc:
            return _error(int(getattr(exc, "status", 400)), "AdminError", str(getattr(exc, "message", exc)))
        return _json(200, result)

    def _faults(self, req: Request) -> Response:
        assert self.faults is not None
        if req.method == "GET":
            return _json(200, self.faults.get())
        if req.method == "DELETE":
            self.faults.clear()
            return _json(200, self.faults.get())
        if req.method == "POST":
            try:
                plan = json.loads(req.body or b"{}")
            except ValueError as exc:
                return _error(400, "InvalidFaultPlan", f"body is not valid JSON: {exc}")
            try:
                return _json(200, self.faults.set(plan))
            except FaultPlanError as exc:
                return _error(400, "InvalidFaultPlan", str(exc))
        return _error(405, "MethodNotAllowed", "use GET, POST or DELETE /_localcloud/faults")
