"""The deployment definition against the framework's documented inputs and against the code.

The Serverless Cloud Framework (`scf deploy`) reads the root serverless.yml as the app definition and one
yml per component instance: layer/serverless.yml and functions/<name>/serverless.yml. These tests check
each against the inputs the `scf` / `layer` components document (scf-platform.md §1) and check that every
environment variable the code reads is declared for the function that reads it. The variables are found
by scanning the source (Config properties used, os.environ lookups), not by reading the yml.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("replicas", "webhook", "audit")
HTTP_FUNCTIONS = ("replicas", "webhook")

# Inputs of the `scf` component (serverless-components/tencent-scf docs/configure.md and
# serverless.component.yml; scf-platform.md §1), and of the `layer` component.
SCF_INPUT_KEYS = {
    "name", "namespace", "role", "enableRoleAuth", "src", "type", "handler", "runtime", "region", "description",
    "memorySize", "timeout", "initTimeout", "environment", "publicAccess", "vpcConfig", "cfs", "deadLetter",
    "layers", "cls", "eip", "asyncRunEnable", "traceEnable", "msgTTL", "retryNum", "tags", "ignoreTriggers",
    "events", "installDependency", "image",
}  # fmt: skip
LAYER_INPUT_KEYS = {"name", "region", "src", "runtimes", "description"}
INSTANCE_KEYS = {"org", "app", "stage", "component", "name", "inputs"}
EVENT_TYPES = {"timer", "http", "apigw", "cos", "cmq", "ckafka", "cls", "mps", "clb"}
HTTP_TRIGGER_KEYS = {"qualifier", "netConfig", "authType", "corsConfig", "name"}
TIMER_TRIGGER_KEYS = {"name", "qualifier", "cronExpression", "enable", "argument"}
# Runtime strings of tencentcloud-sdk-python-scf (scf/v20180416/models.py): Python only.
PYTHON_RUNTIMES = {"Python2.7", "Python3.6", "Python3.7", "Python3.9", "Python3.10"}
SCF_VARIABLE_PREFIXES = ("TENCENTCLOUD_", "SCF_")  # injected by SCF, never declared
SCF_INJECTED_EXTRA = {"TRIGGER_SRC", "USER_CODE_ROOT", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "_SCF_SERVER_PORT"}
LOCAL_ONLY = {"TCR_ENDPOINT", "COS_ENDPOINT"}  # localcloud overrides (plain http): must stay unset in the cloud
ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY")


def load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def function_yml(name: str) -> dict[str, Any]:
    return load(ROOT / "functions" / name / "serverless.yml")


def env_vars(name: str) -> dict[str, Any]:
    return function_yml(name)["inputs"].get("environment", {}).get("variables", {}) or {}


def injected(name: str) -> bool:
    return name.startswith(SCF_VARIABLE_PREFIXES) or name in SCF_INJECTED_EXTRA


# -- the source scan -------------------------------------------------------------------------------


@cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _module_file(module: str) -> Path | None:
    base = ROOT / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Nodes under `if TYPE_CHECKING:`: imports for annotations only, never run."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def _imports(tree: ast.AST) -> set[str]:
    """Every `shared` module a file imports, at module level or lazily inside a function."""
    found: set[str] = set()
    skipped = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "shared")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "shared":
                continue
            found.add(node.module)
            for alias in node.names:  # `from shared import http` imports the module shared.http
                if _module_file(f"{node.module}.{alias.name}") is not None:
                    found.add(f"{node.module}.{alias.name}")
    return found


def closure(entry: Path) -> dict[str, ast.AST]:
    """The parsed files one function can load: its index.py and every `shared` module reachable from it."""
    trees: dict[str, ast.AST] = {str(entry): parse(entry)}
    todo = list(_imports(trees[str(entry)]))
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue
        tree = parse(path)
        trees[str(path)] = tree
        todo.extend(_imports(tree))
        parent = module.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return trees


@cache
def config_model() -> tuple[dict[str, str], dict[str, set[str]]]:
    """From shared/config.py: the env-name constants, and the variables behind each Config property."""
    tree = ast.parse((ROOT / "shared" / "config.py").read_text(encoding="utf-8"))
    constants: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            and re.fullmatch(r"[A-Z][A-Z0-9_]+", node.value.value)
            and not node.targets[0].id.startswith("DEFAULT")
        ):
            constants[node.targets[0].id] = node.value.value
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in ("Config", "Credentials")):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            names = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
            direct.setdefault(fn.name, set()).update(constants[n] for n in names if n in constants)
            attrs = {n.attr for n in ast.walk(fn) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
            calls.setdefault(fn.name, set()).update(a for a in attrs if a != fn.name)
    # `credentials` returns a Credentials object: it stands for the three credential variables.
    resolved: dict[str, set[str]] = {}
    for prop in direct:
        out, stack, seen = set(), [prop], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            out |= direct.get(current, set())
            stack.extend(c for c in calls.get(current, set()) if c in direct)
        resolved[prop] = out
    creds = {constants[k] for k in ("SECRET_ID", "SECRET_KEY", "SESSION_TOKEN") if k in constants}
    resolved["credentials"] = resolved.get("credentials", set()) | creds
    return constants, resolved


def _mentions_config(node: ast.AST) -> bool:
    text = ast.unparse(node).lower()
    return "config" in text or "cfg" in text or text.endswith("current()")


def variables_read(trees: dict[str, ast.AST]) -> set[str]:
    """Environment variables the given files read: through Config properties or directly from os.environ."""
    constants, by_property = config_model()
    out: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            # cfg.log_bucket, self.config.region, (config or Config()).notify, Config().api_auth ...
            if isinstance(node, ast.Attribute) and node.attr in by_property and _mentions_config(node.value):
                out |= by_property[node.attr]
            if not isinstance(node, (ast.Call, ast.Subscript)):
                continue
            if isinstance(node, ast.Subscript):
                target, keys = node.value, [node.slice]
            else:
                target, keys = node.func, list(node.args[:2])
            text = ast.unparse(target)
            reads_env = text.endswith(("environ", "environ.get", "environ.setdefault", "getenv", ".raw")) or text in (
                "env.get",
                "self._env.get",
                "_get",
                "_require",
            )
            if not reads_env:
                continue
            for key in keys:
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(key.value, str)
                    and re.fullmatch(r"[A-Z_][A-Z0-9_]+", key.value)
                ):
                    out.add(key.value)
                elif isinstance(key, ast.Name) and key.id in constants:
                    out.add(constants[key.id])
                elif isinstance(key, ast.Attribute) and key.attr in constants:
                    out.add(constants[key.attr])
    return out


@cache
def read_by_function(name: str) -> set[str]:
    # shared/config.py defines every accessor; what a function reads is what it (and its modules) access.
    trees = closure(ROOT / "functions" / name / "index.py")
    trees.pop(str(ROOT / "shared" / "config.py"), None)
    return variables_read(trees)


@cache
def read_anywhere() -> set[str]:
    trees: dict[str, ast.AST] = {}
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        trees[str(path)] = parse(path)
    return variables_read(trees)


# -- the scanner itself: it must see what the code reads ------------------------------------------


def test_scan_finds_the_replica_api_settings() -> None:
    """Independent anchor: the replica API checks its bearer token and reads the policy (DESIGN §3, §4)."""
    found = read_by_function("replicas")
    assert {"API_TOKEN", "API_AUTH", "POLICY", "TENCENTCLOUD_SECRETID", "TENCENTCLOUD_REGION"} <= found


def test_scan_sees_direct_environ_reads(tmp_path: Path) -> None:
    source = (
        "import os\n"
        "def f(cfg):\n"
        "    a = os.environ.get('ALPHA_SETTING')\n"
        "    b = os.environ['BETA_SETTING']\n"
        "    c = os.getenv('GAMMA_SETTING', '1')\n"
        "    return cfg.sla_seconds, cfg.raw('DELTA_SETTING')\n"
    )
    found = variables_read({"x": ast.parse(source)})
    assert {"ALPHA_SETTING", "BETA_SETTING", "GAMMA_SETTING", "DELTA_SETTING", "REPLICATION_SLA_SECONDS"} <= found


def test_scan_ignores_unrelated_attributes() -> None:
    found = variables_read({"x": ast.parse("def f(plan):\n    return plan.region, plan.notify\n")})
    assert found == set()


# -- layout and the framework's traversal ----------------------------------------------------------


def test_root_is_the_app_definition() -> None:
    root = load(ROOT / "serverless.yml")
    assert "component" not in root, "a component at the root would stop `scf deploy` from traversing sub-folders"
    assert root.get("app") and root.get("stage")
    assert set(root) <= INSTANCE_KEYS


def test_every_instance_shares_app_and_stage() -> None:
    root = load(ROOT / "serverless.yml")
    # layer/ inherits from the root (its parent folder); functions/<name>/ must repeat the values.
    for name in FUNCTIONS:
        doc = function_yml(name)
        assert (doc.get("app"), doc.get("stage")) == (root["app"], root["stage"]), name
    layer = load(ROOT / "layer" / "serverless.yml")
    assert layer.get("app", root["app"]) == root["app"]
    assert layer.get("stage", root["stage"]) == root["stage"]


def test_instance_names_are_unique() -> None:
    names = [function_yml(n)["name"] for n in FUNCTIONS] + [load(ROOT / "layer" / "serverless.yml")["name"]]
    assert len(names) == len(set(names))


# -- the layer -------------------------------------------------------------------------------------


def test_layer_inputs() -> None:
    doc = load(ROOT / "layer" / "serverless.yml")
    assert set(doc) <= INSTANCE_KEYS
    assert doc["component"] == "layer"
    inputs = doc["inputs"]
    assert set(inputs) <= LAYER_INPUT_KEYS
    assert {"name", "src", "runtimes"} <= set(inputs)
    assert re.fullmatch(r"[A-Za-z][\w-]{0,58}[A-Za-z0-9]", inputs["name"])
    assert inputs["runtimes"] == ["Python3.10"]
    src = inputs["src"]["src"] if isinstance(inputs["src"], dict) else inputs["src"]
    assert (ROOT / "layer" / src).resolve() == (ROOT / "build" / "layer").resolve(), "the tree make package builds"


def test_functions_bind_the_layer_instance() -> None:
    layer_instance = load(ROOT / "layer" / "serverless.yml")["name"]
    for name in FUNCTIONS:
        layers = function_yml(name)["inputs"]["layers"]
        assert len(layers) == 1, name
        ref = f"${{output:${{stage}}:${{app}}:{layer_instance}."
        assert layers[0]["name"] == ref + "name}", name
        assert layers[0]["version"] == ref + "version}", name


# -- the functions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_inputs_are_documented_keys(name: str) -> None:
    doc = function_yml(name)
    assert set(doc) <= INSTANCE_KEYS
    assert doc["component"] == "scf"
    assert set(doc["inputs"]) <= SCF_INPUT_KEYS, set(doc["inputs"]) - SCF_INPUT_KEYS


@pytest.mark.parametrize("name", FUNCTIONS)
def test_runtime_memory_timeout(name: str) -> None:
    inputs = function_yml(name)["inputs"]
    assert inputs["runtime"] in PYTHON_RUNTIMES
    assert inputs["runtime"] == "Python3.10"
    memory = inputs["memorySize"]
    assert memory == 64 or (128 <= memory <= 3072 and memory % 128 == 0)
    assert memory == 128  # DESIGN §1
    assert isinstance(inputs["timeout"], int) and 1 <= inputs["timeout"] <= 900
    assert inputs.get("type", "event") == "event"


def test_timeouts_fit_the_work() -> None:
    timeouts = {name: function_yml(name)["inputs"]["timeout"] for name in FUNCTIONS}
    assert timeouts["audit"] == 900  # 100,000 records inside SCF's 900 s (DESIGN §11)
    assert 10 <= timeouts["replicas"] <= 60  # TCR calls with retries, answered synchronously
    assert 3 <= timeouts["webhook"] <= 30  # answers well inside a second; room for one COS write with retries


@pytest.mark.parametrize("name", FUNCTIONS)
def test_handler_exists(name: str) -> None:
    inputs = function_yml(name)["inputs"]
    assert inputs["handler"] == "index.main_handler"
    src = inputs["src"]["src"] if isinstance(inputs["src"], dict) else inputs["src"]
    folder = (ROOT / "functions" / name / src).resolve()
    assert folder == (ROOT / "functions" / name).resolve()
    module, _, func = inputs["handler"].partition(".")
    tree = ast.parse((folder / f"{module}.py").read_text(encoding="utf-8"))
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert func in defined


@pytest.mark.parametrize("name", FUNCTIONS)
def test_role_is_a_name_not_a_secret(name: str) -> None:
    role = function_yml(name)["inputs"]["role"]
    assert isinstance(role, str) and re.fullmatch(r"[\w+=,.@-]{1,64}", role)


def _triggers(name: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for event in function_yml(name)["inputs"].get("events", []):
        assert isinstance(event, dict) and len(event) == 1, event
        ((kind, body),) = event.items()
        assert kind in EVENT_TYPES
        out.append((kind, body.get("parameters", {})))
    return out


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_http_functions_have_a_public_function_url(name: str) -> None:
    triggers = _triggers(name)
    assert [kind for kind, _ in triggers] == ["http"]
    params = triggers[0][1]
    assert set(params) <= HTTP_TRIGGER_KEYS
    assert params["netConfig"]["enableExtranet"] is True  # the toolkit defaults it to false: no public URL
    assert params["authType"] in ("NONE", "CAM")


def test_replicas_auth_mode_matches_function_url_auth() -> None:
    """API_AUTH=cam turns the bearer check off: only safe when the Function URL itself checks CAM."""
    (params,) = [p for kind, p in _triggers("replicas") if kind == "http"]
    api_auth = str(env_vars("replicas").get("API_AUTH", "bearer")).lower()
    assert api_auth in ("bearer", "cam")
    assert (api_auth == "cam") == (params["authType"] == "CAM")


def test_webhook_url_is_not_cam() -> None:
    (params,) = [p for kind, p in _triggers("webhook") if kind == "http"]
    assert params["authType"] == "NONE"  # TCR's trigger sends static headers; it cannot sign CAM requests


def test_audit_timer() -> None:
    triggers = _triggers("audit")
    assert [kind for kind, _ in triggers] == ["timer"]
    params = triggers[0][1]
    assert set(params) <= TIMER_TRIGGER_KEYS
    assert params["enable"] is True  # the component's default is CLOSE
    fields = params["cronExpression"].split()
    assert len(fields) == 7  # second minute hour day month weekday year
    assert fields[0].isdigit()  # at most once a minute, on a fixed second


# -- environment variables -------------------------------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_variable_the_function_reads_is_declared(name: str) -> None:
    declared = set(env_vars(name))
    needed = {v for v in read_by_function(name) if not injected(v) and v not in LOCAL_ONLY}
    assert needed <= declared, f"{name} reads {sorted(needed - declared)} but serverless.yml does not declare them"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_declared_variables_are_known_to_the_code(name: str) -> None:
    known = read_anywhere()
    unknown = set(env_vars(name)) - known
    assert not unknown, f"{name} declares {sorted(unknown)}, which no code reads"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_injected_or_local_variable_is_declared(name: str) -> None:
    for variable in env_vars(name):
        assert not injected(variable), f"{variable} is injected by SCF (role credentials, region)"
        assert variable not in LOCAL_ONLY, f"{variable} points at localcloud and must be unset in the cloud"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_secrets_are_env_references_not_literals(name: str) -> None:
    for variable, value in env_vars(name).items():
        if any(word in variable for word in SECRET_WORDS) and variable != "WEBHOOK_TOKEN_HEADER":
            assert isinstance(value, str) and ENV_REF.match(value), f"{variable} must be ${{env:...}}, not a literal"


def test_design_settings_are_declared_where_used() -> None:
    """DESIGN §3, §5, §6, §8: who needs what (an anchor that does not depend on the handlers' progress)."""
    assert {"API_TOKEN", "API_AUTH", "POLICY"} <= set(env_vars("replicas"))
    assert {"WEBHOOK_TOKEN", "WEBHOOK_TOKEN_HEADER", "WEBHOOK_HMAC_SECRET", "LOG_BUCKET"} <= set(env_vars("webhook"))
    assert {"LOG_BUCKET", "NOTIFY_URL", "NOTIFY_SECRET", "REPLICATION_SLA_SECONDS", "POLICY"} <= set(env_vars("audit"))
    for name in FUNCTIONS:
        assert "LOG_BUCKET_REGION" in env_vars(name)


def test_every_variable_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    variables = read_anywhere() | {v for n in FUNCTIONS for v in env_vars(n)}
    missing = sorted(v for v in variables if f"`{v}`" not in text)
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_deploy_time_variables_are_documented() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    paths = [ROOT / "serverless.yml", ROOT / "layer" / "serverless.yml"]
    paths += [ROOT / "functions" / n / "serverless.yml" for n in FUNCTIONS]
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            refs.update(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", node))

    for path in paths:
        walk(load(path))
    assert "REGION" in refs
    missing = sorted(r for r in refs if r not in text)
    assert not missing, f"docs/deploy.md does not mention {missing}"


# -- the run role's CAM policy (docs/cam-policy.json) ----------------------------------------------

TCR_ACTION = re.compile(r"^(Describe|Create|Delete|Modify|Manage|Check|Batch)[A-Z][A-Za-z]+$")
COS_ACTIONS = {"PutObject", "GetObject", "HeadObject", "DeleteObject", "DeleteMultipleObject", "GetBucket"}


def adapter_actions() -> dict[str, set[str]]:
    """{adapter method: TCR actions it sends}, from shared/tcr.py (string constants, through self-calls)."""
    tree = ast.parse((ROOT / "shared" / "tcr.py").read_text(encoding="utf-8"))
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            consts = {n.value for n in ast.walk(fn) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            direct[fn.name] = {c for c in consts if TCR_ACTION.match(c) and c != "DeleteBucket"}
            calls[fn.name] = {
                n.func.attr
                for n in ast.walk(fn)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
            }
    out = {}
    for name in direct:
        seen, stack, actions = set(), [name], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            actions |= direct.get(current, set())
            stack.extend(c for c in calls.get(current, set()) if c in direct)
        out[name] = actions
    return out


@cache
def tcr_actions_called() -> set[str]:
    """TCR actions the deployed functions can send: adapter methods called from their code."""
    by_method = {m: a for m, a in adapter_actions().items() if not m.startswith("_") and a}
    used: set[str] = set()
    for name in FUNCTIONS:
        trees = closure(ROOT / "functions" / name / "index.py")
        trees.pop(str(ROOT / "shared" / "tcr.py"), None)
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in by_method:
                    used |= by_method[node.func.attr]
                is_action = (
                    isinstance(node, ast.Constant) and isinstance(node.value, str) and TCR_ACTION.match(node.value)
                )
                if is_action and any(node.value in a for a in by_method.values()):
                    used.add(node.value)  # adapter.call("DescribeX", ...)
    return used


def cam_statements() -> list[dict[str, Any]]:
    import json

    doc = json.loads((ROOT / "docs" / "cam-policy.json").read_text(encoding="utf-8"))
    assert doc["version"] == "2.0"
    for statement in doc["statement"]:
        assert statement["effect"] == "allow"
        assert "*" not in [a.split(":", 1)[-1] for a in statement["action"]], "no wildcard actions"
    return doc["statement"]


def test_action_scan_finds_the_replica_writes() -> None:
    assert {"CreateReplicationInstance", "DeleteReplicationInstance", "DescribeInstances"} <= tcr_actions_called()


def test_cam_policy_grants_exactly_the_tcr_actions_the_code_calls() -> None:
    granted = {a.removeprefix("name/tcr:") for s in cam_statements() for a in s["action"] if a.startswith("name/tcr:")}
    assert granted == tcr_actions_called()


def test_cam_policy_cos_is_the_log_bucket_only() -> None:
    cos = [s for s in cam_statements() if any(a.startswith("name/cos:") for a in s["action"])]
    granted = {a.removeprefix("name/cos:") for s in cos for a in s["action"]}
    assert granted == COS_ACTIONS
    for statement in cos:
        assert all(a.startswith("name/cos:") for a in statement["action"]), "COS actions in their own statement"
        for resource in statement["resource"]:
            assert resource != "*"
            assert re.fullmatch(r"qcs::cos:[A-Za-z0-9_-]+:uid/[A-Za-z0-9_]+:[A-Za-z0-9_-]+/\*", resource), resource


def test_cam_policy_tcr_writes_are_scoped_to_instances() -> None:
    for statement in cam_statements():
        actions = [a.removeprefix("name/tcr:") for a in statement["action"] if a.startswith("name/tcr:")]
        if any(a.startswith(("Create", "Delete")) for a in actions):
            assert all(r.startswith("qcs::tcr:") and ":instance/" in r for r in statement["resource"])
