"""The composition root: everything one invocation needs, built in one place from the configuration and the
SCF context.

A function module is its routes plus one line that hands the event, the context and its `Profile` (defined
beside its domain: `shared.api.PROFILE`, `shared.webhook.PROFILE`, `shared.audit.PROFILE`) to `serve_http` or
`serve_timer`. Adapters live as long as the warm container (their SDK clients are costly to
build); each invocation binds its own deadline to them here, once, so no route can forget the time limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from shared import http
from shared.config import Config
from shared.errors import ApiError
from shared.runtime import Deadline

if TYPE_CHECKING:
    from shared.logstore import LogStore
    from shared.ports import TcrPort
    from shared.tcr import TcrAdapter


class Profile(NamedTuple):
    """What differs between the functions: time limits and how callers are authenticated."""

    name: str
    default_limit_s: float  # when the context carries no time limit
    margin_s: float = 1.0  # kept back from the limit to shape and send the answer
    cos_timeout_s: int = 10  # per COS attempt
    tcr_attempt_s: float | None = None  # per TCR attempt (None: the adapter's default)
    tcr_budget_s: float | None = None  # the TCR part's share of the invocation (None: all of it)
    # decides who the caller is before anything else (routing, validation); None: the route decides
    authenticate: Callable[[http.Request, Services], None] | None = None


_stores: dict[str, LogStore] = {}
_stores_lock = threading.Lock()


def _warm_store(profile: Profile) -> LogStore:
    """One log store per function per warm container (its COS client follows rotating credentials)."""
    with _stores_lock:
        store = _stores.get(profile.name)
        if store is None:
            from shared.logstore import LogStore

            store = _stores[profile.name] = LogStore.from_env(timeout=profile.cos_timeout_s)
        return store


def reset() -> None:
    """Forget the warm container's adapters (tests that point a fresh process-wide environment elsewhere)."""
    import shared.tcr

    with _stores_lock:
        _stores.clear()
    shared.tcr.reset_default_adapter()


class Services:
    """One invocation: its configuration, its deadline, and the adapters and services bound to that deadline."""

    def __init__(self, profile: Profile, context: Any, started: float | None = None) -> None:
        self.profile = profile
        self.context: Mapping[str, Any] | None = context if isinstance(context, Mapping) else None
        self.deadline = Deadline.from_context(
            self.context,
            time.monotonic() if started is None else started,
            default_limit_s=profile.default_limit_s,
            margin_s=profile.margin_s,
        )
        self._config: Config | None = None
        self._tcr: TcrAdapter | None = None
        self._store: LogStore | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config()
        return self._config

    @property
    def tcr(self) -> TcrAdapter:
        if self._tcr is None:
            from shared.tcr import default_adapter

            adapter = default_adapter()
            deadline = self.deadline
            if self.profile.tcr_attempt_s is not None:
                adapter.timeout_s = self.profile.tcr_attempt_s
            if self.profile.tcr_budget_s is not None:
                try:
                    adapter.warm()  # a cold container's SDK import is not TCR being slow
                except ApiError:
                    pass  # e.g. a bad TCR_ENDPOINT: the TCR part fails the same way, within its budget
                deadline = deadline.within(self.profile.tcr_budget_s)
            adapter.set_deadline(deadline)
            self._tcr = adapter
        return self._tcr

    @property
    def tcr_on_demand(self) -> TcrPort:
        """The invocation's TCR adapter, bound to its deadline at the first call made through it: a warm webhook
        whose replica list is cached makes none and so skips the set-up."""
        return cast("TcrPort", _OnDemand(self))

    @property
    def store(self) -> LogStore:
        if self._store is None:
            store = _warm_store(self.profile)
            store.set_deadline(self.deadline)
            self._store = store
        return self._store


class _OnDemand:
    __slots__ = ("_services",)

    def __init__(self, services: Services) -> None:
        self._services = services

    def __getattr__(self, name: str) -> Any:
        return getattr(self._services.tcr, name)


def serve_http(event: Any, context: Any, router: http.Router, profile: Profile) -> dict[str, Any]:
    """An HTTP function's whole invocation: its services, authentication, the route, one coded answer."""
    services = Services(profile, context, time.monotonic())

    def before(request: http.Request) -> None:
        request.services = services
        if profile.authenticate is not None:
            profile.authenticate(request, services)

    return http.handle(event, context, router, before=before)


def serve_timer(event: Any, context: Any, profile: Profile, run: Callable[[Any, Services], Any]) -> Any:
    """A timer function's invocation: `run(event, services)` with the services bound to its deadline."""
    return run(event, Services(profile, context, time.monotonic()))
