"""``State``: what a provider reads and writes (resources, operations, virtual clock, RNG, faults), as a Protocol.

``AzureSim`` satisfies it; providers, ``lro``, ``seed`` and ``scenarios`` annotate ``State`` so they never point
back at the simulator class. Everything here is shared under ``lock`` (the server holds it around each handler).
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sim.azure.clock import VirtualClock
    from sim.azure.faults import Faults
    from sim.azure.store import Store


class State(Protocol):
    clock: VirtualClock
    rng: random.Random
    store: Store
    operations: dict[str, dict[str, Any]]  # LROs by id (``lro``)
    subscriptions: dict[str, dict[str, Any]]
    graph: dict[str, dict[str, Any]]  # Microsoft Graph objects (``providers.graph``)
    messages: list[dict[str, Any]]  # AVD messages sent to user sessions
    permissions: list[str] | None  # the bot principal's actions (``None``: everything)
    tenant_id: str
    faults: Faults
    lock: threading.RLock
    page_size: int
    poll_retry_after: int | None
    url: str  # the base URL the simulator serves on ("" until started): nextLink and monitor URLs
