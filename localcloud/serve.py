"""`python -m localcloud.serve` (`make serve`): localcloud and the product's functions in the foreground.

Ports: the function host on LOCALCLOUD_PORT (default 9000), TCR on +1, COS on +2. The functions get API_TOKEN and
WEBHOOK_TOKEN from the environment, or generated values (printed). Prints the KEY=VALUE lines that point a script
at it and a few curl lines to try; stops cleanly on Ctrl-C or SIGTERM (exit 0).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TextIO

from localcloud.cloud import REPO_ROOT, LocalCloud, base_port
from localcloud.faults import FaultPlanError

READY = "localcloud ready:"


def tokens() -> tuple[dict[str, str], list[str]]:
    """API_TOKEN and WEBHOOK_TOKEN from the environment, else generated; and the names that were generated."""
    values: dict[str, str] = {}
    generated: list[str] = []
    for name in ("API_TOKEN", "WEBHOOK_TOKEN"):
        value = os.environ.get(name, "").strip()
        if not value:
            value = f"demo-{name.split('_')[0].lower()}-{secrets.token_hex(8)}"
            generated.append(name)
        values[name] = value
    return values, generated


def guide(cloud: LocalCloud, generated: list[str], out: TextIO) -> None:
    """The env lines and copy-paste commands for a running localcloud."""
    env = cloud.env()
    q = shlex.quote
    host, replicas = cloud.host_url, env["REPLICAS_URL"]
    auth = q(f"Authorization: Bearer {env['API_TOKEN']}")
    lines = ["", "# environment (paste into a shell, or eval):"]
    lines += [f"export {key}={q(value)}" for key, value in env.items()]
    if generated:
        lines.append(f"# generated for this run: {', '.join(generated)} (set them in the environment to choose)")
    push = """'{"registryId": "'"$REGISTRY_ID"'", "namespace": "team", "repository": "api", "tag": "1.0"}'"""
    lines += [
        "",
        "# try it:",
        f"curl -s {replicas}/healthz",
        f"curl -s -H {auth} {q(replicas + '/regions?primary=ap-guangzhou')}",
        "# a premium instance, namespace team and its push webhook, through the TCR API (real SDK);",
        "# or `make demo` for the whole story on its own ports:",
        f"REGISTRY_ID=$({q(sys.executable)} -c "
        f"{q(f'from localcloud.demo import create_instance; print(create_instance({host!r}))')})",
        f'curl -s -X POST -H {auth} -d \'{{"region": "ap-shanghai"}}\' {replicas}/instances/$REGISTRY_ID/replicas',
        f"curl -s -H {auth} {replicas}/instances/$REGISTRY_ID/replicas",
        f"curl -s -X POST -d {push} {host}/_localcloud/push",
        "sleep 2  # the webhook records the push as pending; replication to the replica takes a moment",
        f"curl -s -X POST {host}/_localcloud/timer/audit",
        f"curl -s -H {auth} {replicas}/instances/$REGISTRY_ID/replication-logs",
        "# the dashboard the audit wrote: a pre-signed link to open in a browser (or GET .../report with the token)",
        f"curl -s -H {auth} {replicas}/instances/$REGISTRY_ID/report-link",
        f"curl -s {host}/_localcloud/stats",
        "",
        "Ctrl-C stops it.",
    ]
    print("\n".join(lines), file=out, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--replica-ready-after", type=float, default=1.0, help="seconds a new replica stays Deploying")
    parser.add_argument(
        "--state-file", default=os.environ.get("LOCALCLOUD_STATE_FILE"), help="load at start, save at stop"
    )
    parser.add_argument("--root", default=str(REPO_ROOT), help="project root holding functions/<name>/index.py")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

    port = base_port("localcloud serve")
    function_env, generated = tokens()
    try:
        cloud = LocalCloud(
            port=port,
            tcr_port=port + 1,
            cos_port=port + 2,
            replica_ready_after_s=args.replica_ready_after,
            function_env=function_env,
            state_file=Path(args.state_file) if args.state_file else None,
            root=Path(args.root).resolve(),
            log_stream=sys.stderr,
        )
        cloud.start()
    except FaultPlanError as exc:
        print(f"localcloud serve: bad fault plan (LOCALCLOUD_FAULTS): {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"localcloud serve: cannot start on ports {port}..{port + 2}: {exc}", file=sys.stderr)
        print("  set LOCALCLOUD_PORT to a free base port, e.g. LOCALCLOUD_PORT=19000 make serve", file=sys.stderr)
        return 1
    try:
        print(
            f"{READY} functions {cloud.host_url} tcr 127.0.0.1:{cloud.tcr_port} cos 127.0.0.1:{cloud.cos_port}",
            flush=True,
        )
        guide(cloud, generated, sys.stdout)
        while not stop.wait(0.5):
            pass
    finally:
        cloud.stop()
    print("localcloud stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
