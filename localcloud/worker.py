"""One warm SCF container: imports a function's `index.py` once, then serves invocations.

Started by `localcloud.scfhost.FunctionHost` as `python worker.py <function_dir> <handler>` with the
same interpreter. Standard library only, and it imports nothing from `localcloud` or the product: the
function sees the same modules it would see in SCF (its own directory, then the layer root on PYTHONPATH).

Protocol (JSON lines):
- the host writes one request per line to the worker's stdin:
  `{"id": "<request id>", "event": {...}, "context": {...}, "env": {"TRIGGER_SRC": "timer"}}`;
- the worker answers on its ORIGINAL stdout, which it keeps on a private descriptor: first
  `{"ready": true, "pid": N}` (or `{"ready": false, "error": {...}}` when the import fails), then one
  `{"id", "ok": true, "result": <JSON>}` or `{"id", "ok": false, "error": {"errorType", "errorMessage",
  "stackTrace"}}` per request.
Before importing user code, descriptor 1 is pointed at descriptor 2 and descriptor 0 at /dev/null, so a
handler's `print()` (or a C extension writing to fd 1) lands in the log stream (stderr), never in the
protocol, and a handler reading stdin cannot eat requests.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

_THIS_DIR = os.path.dirname(os.path.abspath(__file__))


def _isolate_streams() -> tuple[Any, Any]:
    """Keep the protocol on private descriptors; give user code stdout->stderr and an empty stdin."""
    # buffered: an unbuffered file's readline() reads ONE byte per read(2), a system call per byte of every request
    # (a 1 KiB webhook event took ~1,500 of them; a 2 MiB body two million). The worker is the only reader.
    proto_in = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    sys.stdout.flush()
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    return proto_in, proto_out


def _send(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc) or type(exc).__name__,
        "stackTrace": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


def _peak_rss_mb() -> float:
    """This worker's own peak resident memory (what SCF reports as MaxMemoryUsed).

    Not getrusage's ru_maxrss: Linux keeps it across fork and exec, so a worker started by a large process (a
    test session, a benchmark) would report that process's resident size (e.g. 125.9 MB for a 40 MB worker).
    /proc/self/status VmHWM is the high-water mark of this program's own memory since exec.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB; macOS bytes


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str]) -> int:
    function_dir, handler_spec = argv[1], argv[2]
    # Running as a script put localcloud/ first on sys.path: user code must not see localcloud's modules.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _THIS_DIR]
    if function_dir not in sys.path:
        sys.path.insert(0, function_dir)
    proto_in, proto_out = _isolate_streams()

    module_name, _, func_name = handler_spec.rpartition(".")
    try:
        module = importlib.import_module(module_name or "index")
        handler = getattr(module, func_name)
        if not callable(handler):
            raise TypeError(f"{handler_spec} is not callable")
    except BaseException as exc:  # an import error must reach the host, whatever it is
        _send(proto_out, {"ready": False, "pid": os.getpid(), "error": _error(exc, "FunctionLoadError")})
        _log(f"[localcloud] cannot load {handler_spec}: {exc!r}")
        return 1
    _send(proto_out, {"ready": True, "pid": os.getpid()})

    for raw in proto_in:
        if raw.isspace():
            continue
        request = json.loads(raw)  # JSON allows the trailing newline: no stripped copy of a large request
        del raw  # nor the line itself kept while the handler runs
        request_id = request.get("id", "")
        overrides: dict[str, str] = request.get("env") or {}
        saved = {k: os.environ.get(k) for k in overrides}
        os.environ.update(overrides)
        started = time.monotonic()
        _log(f"START RequestId: {request_id}")
        try:
            result = handler(request.get("event"), request.get("context"))
            try:
                reply = {"id": request_id, "ok": True, "result": result}
                payload = json.dumps(reply, separators=(",", ":")).encode()
            except (TypeError, ValueError) as exc:
                reply = {"id": request_id, "ok": False, "error": _error(exc, "ReturnValueNotSerializable")}
                payload = json.dumps(reply, separators=(",", ":")).encode()
        except SystemExit as exc:  # SCF treats an exiting handler as a failed invocation
            payload = json.dumps({"id": request_id, "ok": False, "error": _error(exc)}).encode()
        except Exception as exc:
            traceback.print_exc()
            payload = json.dumps({"id": request_id, "ok": False, "error": _error(exc)}).encode()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        duration_ms = (time.monotonic() - started) * 1000.0
        sys.stdout.flush()
        _log(  # one write for both closing lines
            f"END RequestId: {request_id}\n"
            f"Report RequestId: {request_id} Duration: {duration_ms:.2f}ms "
            f"Memory: {request.get('context', {}).get('memory_limit_in_mb', 0)}MB "
            f"MaxMemoryUsed: {_peak_rss_mb():.1f}MB"
        )
        proto_out.write(payload + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
