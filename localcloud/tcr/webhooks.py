"""Webhook payloads in TCR's format, their delivery, and the background scheduler of the emulator."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

PostWebhook = Callable[[str, dict[str, str], bytes], int]

DELIVERY_TIMEOUT_S = 5.0


def push_payload(
    *,
    occur_at: int,
    digest: str,
    tag: str,
    public_domain: str,
    namespace: str,
    repository: str,
    repo_created: int,
    public: bool,
    operator: str,
) -> dict[str, Any]:
    """A pushImage payload, key for key as TCR stores it (reference/tcr-webhook-payloads.md §1a)."""
    full = f"{namespace}/{repository}"
    return {
        "type": "pushImage",
        "occur_at": occur_at,
        "event_data": {
            "resources": [{"digest": digest, "tag": tag, "resource_url": f"{public_domain}/{full}:{tag}"}],
            "repository": {
                "date_created": repo_created,
                "name": repository,
                "namespace": namespace,
                "repo_full_name": full,
                "repo_type": "public" if public else "private",
            },
        },
        "operator": operator,
    }


def encode_payload(payload: dict[str, Any]) -> bytes:
    """Compact JSON, as in the stored Detail string."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def urllib_post(url: str, headers: dict[str, str], body: bytes) -> int:
    """Default delivery: one HTTP POST, no proxy (the cloud calls the target directly), 5 s timeout."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) checked at creation
    try:
        with opener.open(req, timeout=DELIVERY_TIMEOUT_S) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Scheduler:
    """Runs callables after a delay on one daemon thread; long work goes to its own daemon threads.

    The thread starts on first use and stops on close(); pending work is then dropped.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self.stopped = threading.Event()
        self._workers: set[threading.Thread] = set()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self._cond:
            if self.stopped.is_set():
                return
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay_s), next(self._seq), fn))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="localcloud-tcr-scheduler", daemon=True)
                self._thread.start()
            self._cond.notify()

    def spawn(self, fn: Callable[[], None], name: str) -> None:
        """Run fn now on its own daemon thread (a webhook delivery may block on a slow target)."""
        if self.stopped.is_set():
            return

        def run() -> None:
            try:
                fn()
            finally:
                with self._cond:
                    self._workers.discard(threading.current_thread())

        t = threading.Thread(target=run, name=name, daemon=True)
        with self._cond:
            self._workers.add(t)
        t.start()

    def sleep(self, seconds: float) -> bool:
        """Wait; False when the scheduler was closed meanwhile."""
        return not self.stopped.wait(seconds)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self.stopped.is_set():
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self.stopped.is_set():
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception as exc:  # a failing task must not stop the others
                logging.getLogger(__name__).warning("localcloud TCR background task failed: %r", exc)

    def close(self, timeout_s: float = 2.0) -> None:
        with self._cond:
            self.stopped.set()
            self._heap.clear()
            self._cond.notify_all()
            thread = self._thread
            workers = list(self._workers)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        for w in workers:
            if w is not threading.current_thread():
                w.join(timeout_s)
