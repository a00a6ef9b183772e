"""Helpers for the chaos and fault-matrix suites.

* ``World``/``make_world``: a fresh seed-scenario ARM simulator (its ASR vault and plan included), ``AzureClients`` with a short
  read timeout, a recording ``StepContext`` and the snapshot-replication ``Target`` of the example profile.
* ``Recorder``: a ``StepContext`` that keeps tokens, progress and notes in memory.
* ``kill_schedule(seed, ...)``: the fixed, seeded list of moments a chaos trial SIGKILLs the bot.
* ``twice(sim)``: Azure writes the simulator applied more than once (method, path), polls and control calls aside.
* ``audit_verify(env)``: ``avd-bot audit verify`` as a subprocess, its exit code and output.
"""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.asr import RecoveryPlanRef
from azureops.clients import AzureClients
from azureops.dr_capacity import ScaleSetRef
from azureops.identities import JoinApp
from azureops.sessions import HostPoolRef, UserSessionInfo
from sim.azure import AzureSim, seed
from tests.kit.waiting import wait_until

SUB = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
TENANT = "00000000-0000-0000-0000-0000000000aa"
POOL = HostPoolRef(SUB, "AVD", "EntraAuth")
DR_POOL = HostPoolRef(SUB, "AVDDR", "EntraAuthDR")
VMSS = ScaleSetRef(SUB, "VMSS", "Entra")
APP = JoinApp(object_id="11111111-2222-3333-4444-555555555555", name="AVD-Join", tenant_id=TENANT)
ASR_PLAN = RecoveryPlanRef(SUB, seed.ASR_RG, seed.ASR_VAULT, seed.ASR_PLAN)  # the seed's vault and plan
LOCK_SCOPE = f"/subscriptions/{SUB2}/resourceGroups/SNAPDR"


@dataclass
class Recorder:
    """A ``StepContext`` that records what a step reports."""

    tokens: list[str] = field(default_factory=list)
    progressed: list[tuple[float | None, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def save_token(self, token: str) -> None:
        self.tokens.append(token)

    def progress(self, percent: float | None, text: str = "") -> None:
        self.progressed.append((percent, text))

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass
class World:
    sim: AzureSim
    clients: AzureClients
    read_timeout: float
    ctx: Recorder = field(default_factory=Recorder)
    replica: str = "snap-gold-scratch"  # a replica made in SNAPDR by ``make_world`` (for the delete case)
    lock: Any = None  # azureops.locks.Lock on SNAPDR, present in Azure

    @property
    def target(self) -> copies.Target:
        return copies.Target(SUB, SUB2, "SNAPDR", "uksouth", self.clients, snaps.Budget(), poll_seconds=0.05)

    @property
    def session(self) -> UserSessionInfo:
        from azureops import sessions

        return next(s for s in sessions.user_sessions(self.clients, POOL) if s.state.lower() == "active")

    def close(self) -> None:
        self.clients.close()
        self.sim.stop()


def make_world(*, lock: bool = False, read_timeout: float = 1.5, time_scale: float = 6000.0) -> World:
    """A fresh simulator with one replica (and with ``lock``, one CanNotDelete lock) in SNAPDR, and clients
    with a short read timeout."""
    from azure.mgmt.resource.locks.models import ManagementLockObject

    from azureops import locks as azlocks

    sim = AzureSim(scenario="seed", time_scale=time_scale, poll_retry_after=None)
    sim.start()
    clients = AzureClients(
        sim.url, sim.ca_path, polling_interval=0.05, read_timeout=read_timeout, connection_timeout=5.0
    )
    w = World(sim, clients, read_timeout)
    source = snaps.get_snapshot(clients.compute(SUB), SUB, "GOLD-VDA", w.replica)
    assert source is not None
    copies.copy_snapshot(w.target, source, lambda p, t: None)
    w.lock = azlocks.Lock(scope=LOCK_SCOPE, name="keep-snapdr", level="CanNotDelete", notes="chaos kit")
    if lock:
        clients.locks(SUB2).management_locks.create_or_update_by_scope(
            LOCK_SCOPE, w.lock.name, ManagementLockObject(level="CanNotDelete", notes="chaos kit")
        )
    return w


def wait_for(predicate: Callable[[], Any], timeout: float, what: str = "the condition") -> Any:
    """Poll ``predicate`` every 10 ms until truthy (returns its value) or fail after ``timeout`` seconds."""
    return wait_until(predicate, timeout, what, interval=0.01)


# ---- chaos ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: after ``steps_done`` finished steps of the watched job, ``delay`` seconds into the next one
    (0.0 = at the step boundary itself)."""

    steps_done: int
    delay: float


def kill_schedule(seed: int, steps: int, kills: int = 3, *, max_delay: float = 0.6) -> list[Kill]:
    """``kills`` distinct moments over a ``steps``-step job, ordered, from ``random.Random(seed)`` (reproducible)."""
    rng = random.Random(seed)
    boundaries = sorted(rng.sample(range(steps), min(kills, steps)))
    return [
        Kill(b, 0.0 if rng.random() < 0.4 else round(rng.uniform(0.05, max_delay), 2)) for b in boundaries
    ]


def twice(
    sim: AzureSim, *, allowed: Callable[[str, str], bool] = lambda m, p: False
) -> dict[tuple[str, str], int]:
    """(method, path) of Azure writes applied (2xx) more than once, except those ``allowed``."""
    counts = Counter((e.method, e.path.lower()) for e in sim.writes() if 200 <= e.status < 300)
    return {k: n for k, n in counts.items() if n > 1 and not allowed(*k)}


def audit_verify(avd_bot: str, env: dict[str, str], cwd: str) -> tuple[int, str]:
    """Run ``avd-bot audit verify`` against the bot's database; (exit code, output)."""
    done = subprocess.run(
        [avd_bot, "audit", "verify"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, (done.stdout + done.stderr).strip()
