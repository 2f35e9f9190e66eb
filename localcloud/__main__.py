"""`python -m localcloud <command>`: up, env, timer.

Ports: the function host on LOCALCLOUD_PORT (default 9000), TCR on +1, COS on +2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localcloud.cloud import REPO_ROOT, LocalCloud, base_port
from localcloud.faults import FaultPlanError


def _cloud(args: argparse.Namespace, **kwargs: Any) -> LocalCloud:
    port = base_port()
    return LocalCloud(port=port, tcr_port=port + 1, cos_port=port + 2, root=Path(args.root).resolve(), **kwargs)


def cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        cloud = _cloud(
            args,
            replica_ready_after_s=args.replica_ready_after,
            timer_retries=args.timer_retries,
            state_file=Path(args.state_file) if args.state_file else None,
        )
        cloud.start()
    except FaultPlanError as exc:
        print(f"localcloud: bad fault plan: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"localcloud: cannot start: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. --timer-retries out of range, or a state file of another kind
        print(f"localcloud: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        print(
            f"localcloud ready: functions {cloud.host_url}"
            f" tcr 127.0.0.1:{cloud.tcr_port} cos 127.0.0.1:{cloud.cos_port}",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        cloud.stop()
    print("localcloud stopped", file=sys.stderr, flush=True)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    for key, value in _cloud(args).env().items():
        print(f"{key}={value}")
    return 0


def cmd_timer(args: argparse.Namespace) -> int:
    url = (args.url or os.environ.get("LOCALCLOUD_URL") or f"http://127.0.0.1:{base_port()}").rstrip("/")
    payload: dict[str, Any] = {}
    if args.message is not None:
        payload["message"] = args.message
    if args.retries is not None:
        payload["retries"] = args.retries
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own localcloud
        f"{url}/_localcloud/timer/{args.function}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(request, timeout=args.timeout) as resp:
            body = resp.read().decode("utf-8", errors="replace")
            status = resp.status
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", errors="replace")
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        print(f"localcloud timer: cannot reach {url}: {exc}", file=sys.stderr)
        return 2
    if status >= 400:
        print(body, file=sys.stderr)
        print(f"localcloud timer: {args.function} failed with HTTP {status}", file=sys.stderr)
        return 1
    print(body)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localcloud", description="local Tencent Cloud: TCR, COS, SCF")
    parser.add_argument(
        "--root",
        default=str(REPO_ROOT),
        help="project root holding functions/<name>/index.py and the layer code (default: this repository)",
    )
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True

    up = sub.add_parser("up", help="run TCR, COS and the function host in the foreground until SIGINT/SIGTERM")
    up.add_argument(
        "--replica-ready-after", type=float, default=1.0, help="seconds a new instance or replica stays Deploying"
    )
    up.add_argument(
        "--timer-retries",
        type=int,
        default=0,
        help="times a timer invocation that fails is invoked again with the same event (SCF's default is 2)",
    )
    up.add_argument("--state-file", default=os.environ.get("LOCALCLOUD_STATE_FILE"), help="load at start, save at stop")
    up.set_defaults(func=cmd_up)

    env = sub.add_parser("env", help="print KEY=VALUE lines pointing the functions or a script at localcloud")
    env.set_defaults(func=cmd_env)

    timer = sub.add_parser("timer", help="invoke a function's timer trigger on a running localcloud")
    timer.add_argument("function", help="function name, e.g. audit")
    timer.add_argument("--message", help="the timer's Message (the audit reads JSON options from it)")
    timer.add_argument(
        "--url", help="localcloud function host URL (default LOCALCLOUD_URL or 127.0.0.1:LOCALCLOUD_PORT)"
    )
    timer.add_argument("--timeout", type=float, default=960.0, help="seconds to wait for the result")
    timer.add_argument("--retries", type=int, help="retry a failed invocation up to N times (default: the host's)")
    timer.set_defaults(func=cmd_timer)
    # `demo` and `serve` are added by their own modules: sub.add_parser("demo", ...).set_defaults(func=...)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
