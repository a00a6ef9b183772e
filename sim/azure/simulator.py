"""``AzureSim``: the ARM double's state, its HTTPS server and the accessors tests assert with."""

from __future__ import annotations

import json
import random
import re
import ssl
import threading
from collections.abc import Mapping
from datetime import datetime
from types import ModuleType
from typing import Any

from sim.azure.clock import VirtualClock
from sim.azure.faults import Faults
from sim.azure.journal import Entry, Journal
from sim.azure.providers import PROVIDERS, gallery, sessions
from sim.azure.router import Request, Router
from sim.azure.scenarios import build
from sim.azure.server import serve
from sim.azure.store import Store, public
from sim.azure.throttle import Throttle
from sim.tls import TlsMaterial, issue_tls

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
_AUTO = -1


class View(dict[str, Any]):
    """A resource as a dict that also answers ``view.capacity`` / ``view.provisioning_state`` by looking the
    camelCase name up at the top level, then in ``properties``, then in ``sku``."""

    def __getattr__(self, name: str) -> Any:
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
        for where in (self, self.get("properties") or {}, self.get("sku") or {}):
            if camel in where:
                return where[camel]
        raise AttributeError(name)


class AzureSim:
    """An Azure Resource Manager double on loopback HTTPS. See docs/simulator.md."""

    def __init__(
        self,
        scenario: str = "seed",
        time_scale: float = 120.0,
        rng_seed: int = 0,
        throttle: Mapping[str, tuple[int, float]] | None = None,
        *,
        page_size: int = 100,
        poll_retry_after: int | None = _AUTO,
        start: datetime | None = None,
        providers: tuple[ModuleType, ...] = PROVIDERS,
    ) -> None:
        self.clock = VirtualClock(time_scale, start)
        self.rng = random.Random(rng_seed)
        self.store = Store()
        self.operations: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.graph: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.permissions: list[str] | None = None
        self.tenant_id = "00000000-0000-0000-0000-0000000000aa"
        self.faults = Faults()
        self.journal_log = Journal()
        self.throttle = Throttle(throttle)
        self.lock = threading.RLock()
        self.router = Router()
        for provider in providers:
            provider.register(self.router)
        self.page_size = page_size
        if poll_retry_after == _AUTO:
            poll_retry_after = None if time_scale >= 1000 else max(1, round(15 / time_scale))
        self.poll_retry_after = poll_retry_after
        self.url = ""
        self.ca_path = ""
        self._tls: TlsMaterial | None = None
        self._server: Any = None
        build(self, scenario)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        """Serve on https://127.0.0.1:``port`` (0 = a free port); returns the base URL."""
        self._tls = issue_tls()
        self.ca_path = self._tls.ca_path
        self._server, _ = serve(self, port, self._tls.context)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.faults.heal()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    def client_context(self) -> ssl.SSLContext:
        """An SSL context trusting the simulator's CA (for raw HTTP clients in tests)."""
        return ssl.create_default_context(cafile=self.ca_path)

    # -- time ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Bring every in-flight resource up to the virtual now (runs before each request)."""
        with self.lock:
            now = self.clock.seconds()
            for ticker in self.router.tickers:
                ticker(self, now)

    # -- journal, permissions ------------------------------------------------------------------------
    @property
    def journal(self) -> list[Entry]:
        return self.journal_log.snapshot()

    def writes(self, path_contains: str = "") -> list[Entry]:
        return self.journal_log.writes(path_contains)

    def set_permissions(self, principal_actions: list[str] | None) -> None:
        """Actions the bot's principal holds (``None`` = everything, ``["*"]``); others get 403."""
        self.permissions = list(principal_actions) if principal_actions is not None else None

    def region_of(self, req: Request) -> str | None:
        """The location a request concerns: a ``/locations/x/`` segment, the body, or the nearest stored id."""
        m = re.search(r"/locations/([^/]+)", req.path, re.IGNORECASE)
        if m:
            return m.group(1)
        if isinstance(req.body, dict) and isinstance(req.body.get("location"), str):
            return str(req.body["location"])
        parts = req.path.split("/")
        for end in range(len(parts), 2, -1):
            doc = self.store.get("/".join(parts[:end]))
            if doc is not None and doc.get("location"):
                return str(doc["location"])
        return None

    # -- accessors ----------------------------------------------------------------------------------
    def resource(self, arm_id: str) -> View | None:
        self.tick()
        with self.lock:
            doc = public(self.store.get(arm_id))
        return View(doc) if doc is not None else None

    def _rid(self, rg: str, tail: str, sub: str | None) -> str:
        return f"/subscriptions/{sub or DEFAULT_SUBSCRIPTION}/resourceGroups/{rg}/providers/{tail}"

    def scale_set(self, rg: str, name: str, sub: str | None = None) -> View | None:
        return self.resource(self._rid(rg, f"Microsoft.Compute/virtualMachineScaleSets/{name}", sub))

    def host_pool(self, rg: str, name: str, sub: str | None = None) -> View | None:
        return self.resource(self._rid(rg, f"Microsoft.DesktopVirtualization/hostPools/{name}", sub))

    def session_hosts(self, rg: str, pool: str, sub: str | None = None) -> list[View]:
        self.tick()
        pool_id = self._rid(rg, f"Microsoft.DesktopVirtualization/hostPools/{pool}", sub)
        with self.lock:
            return [
                View(sessions.render_host(self, d)) for d in self.store.children(pool_id + "/sessionHosts")
            ]

    def user_sessions(self, rg: str, pool: str, sub: str | None = None) -> list[View]:
        self.tick()
        pool_id = self._rid(rg, f"Microsoft.DesktopVirtualization/hostPools/{pool}", sub)
        with self.lock:
            return [View(public(d) or {}) for d in sessions.all_user_sessions(self, pool_id)]

    def image_version(
        self, rg: str, gallery_name: str, image: str, version: str, sub: str | None = None
    ) -> View | None:
        self.tick()
        vid = self._rid(
            rg, f"Microsoft.Compute/galleries/{gallery_name}/images/{image}/versions/{version}", sub
        )
        with self.lock:
            doc = self.store.get(vid)
            return View(gallery.render_version(doc, expand=True)) if doc else None

    # -- persistence -----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self.lock:
            state: dict[str, Any] = json.loads(
                json.dumps(
                    {
                        "format": "avd-ops-azure-sim/1",
                        "clock": self.clock.seconds(),
                        "timeScale": self.clock.time_scale,
                        "subscriptions": self.subscriptions,
                        "resources": self.store.items,
                        "operations": self.operations,
                        "graph": self.graph,
                        "messages": self.messages,
                        "permissions": self.permissions,
                    }
                )
            )
        return state

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.state(), fh, indent=1, sort_keys=True)

    @classmethod
    def load(cls, path: str, **kwargs: Any) -> AzureSim:
        """A simulator restored from ``save``: same resources, operations and virtual time."""
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
        kwargs.setdefault("time_scale", state.get("timeScale", 120.0))
        sim = cls(scenario="empty", **kwargs)
        sim.restore(state)
        return sim

    def restore(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.clock.reset(float(state["clock"]))
            self.subscriptions = state["subscriptions"]
            self.store.items = state["resources"]
            self.operations = state["operations"]
            self.graph = state["graph"]
            self.messages = state.get("messages", [])
            self.permissions = state.get("permissions")
