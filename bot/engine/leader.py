"""One leader among the bot's processes, elected through the database's ``leases`` row named ``leader``.

The leader arms the stored schedules, runs the approval and retention sweep, and resumes unfinished jobs when
it takes over (``bot.engine.schedules.install`` gives it those as ``on_gain``/``on_loss``). Every process runs a
``Leader``: the one holding the lease renews it every ``ttl / 3``; the others try to acquire it at the same
pace and succeed once it has expired, been released by a clean shutdown, or belongs to a process of this host
that has ended.

A leader acts only while ``acting()``: until its local deadline, ``ttl - margin`` after the start of its
last successful renewal, measured on the monotonic clock (it keeps counting while a process is paused). A
watchdog thread steps down at that deadline even when the renewal is stuck on an unreachable database, so a
process never acts as leader once its lease could have expired and another taken it. Writes only the leader
may make also check the lease in their own transaction (``bot.storage.leases.fence``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable

from bot.storage import leases
from bot.storage.leases import LEADER, Lease
from bot.storage.store import Store

log = logging.getLogger(__name__)


def host() -> str:
    """This host's name, qualified by the PID namespace when Linux shows it: containers sharing a hostname
    (host networking) do not see each other's processes, so a pid is only looked up within the same one."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}~{namespace}"


def owner_id() -> str:
    """``hostname:pid:random``: unique per process start, and says which process to look for."""
    return f"{host()}:{os.getpid()}:{secrets.token_hex(4)}"


def ended(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer runs (its lease may be taken now)."""
    where, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if where != host() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leader:
    """Acquire, renew and lose the ``leader`` lease; ``on_gain``/``on_loss`` run on each change, in order."""

    def __init__(
        self,
        store: Store,
        *,
        ttl: float,
        on_gain: Callable[[], None] = lambda: None,
        on_loss: Callable[[], None] = lambda: None,
        on_renew: Callable[[], None] = lambda: None,
        owner: str | None = None,
        name: str = LEADER,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl = float(ttl)
        self.every = self.ttl / 3  # renew (or try to acquire) this often
        self.margin = self.ttl / 5  # stop acting this long before the lease could expire
        self.owner = owner or owner_id()
        self.name = name
        self.wall = wall
        self.mono = monotonic
        self.on_gain, self.on_loss, self.on_renew = on_gain, on_loss, on_renew
        self._lease: Lease | None = None  # the last lease we held (renewed while it is still ours)
        self._acting: tuple[Lease, float] | None = None  # (lease, monotonic deadline) while leading
        self._turns = threading.RLock()  # one gain or loss at a time, callbacks included
        self._wake = threading.Condition()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- what the rest of the engine asks --------------------------------------------------------

    def acting(self) -> Lease | None:
        """The lease while this process may act as leader (before its local deadline), else ``None``."""
        state = self._acting
        if state is None or self.mono() >= state[1]:
            return None
        return state[0]

    def current(self) -> Lease | None:
        """The lease row as the database has it (whoever holds it)."""
        return leases.current(self.store, self.name)

    # ---- the loop --------------------------------------------------------------------------------

    def start(self) -> None:
        """Try once now (a lone process leads from its first moment), then keep trying in the background."""
        self.tick()
        for target, name in ((self._run, "avd-leader"), (self._watch, "avd-leader-watchdog")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Step down and release the lease, so a standby takes over without waiting for it to expire."""
        self._stopped.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.ttl)
        with self._turns:
            lease = self._lease
            self._step_down("stopping")
            self._lease = None
        if lease is not None:
            try:
                leases.release(self.store, lease)
            except Exception:  # noqa: BLE001 - it expires by itself
                log.warning("leader: could not release the lease; it expires in %.0fs", self.ttl)

    def tick(self) -> None:
        """One renewal (or attempt to acquire); the controllable step the background loop repeats."""
        started, now = self.mono(), self.wall()
        try:
            held = self._lease
            lease = leases.renew(self.store, held, self.ttl, now) if held is not None else None
            if lease is None:
                current = self.current()
                dead = current.owner if current is not None and current.owner and ended(current.owner) else ""
                if current is None or dead or current.expires_at <= now or current.owner in ("", self.owner):
                    lease = leases.acquire(self.store, self.name, self.owner, self.ttl, now, dead_owner=dead)
                # else: held by a live process and not expired; a standby writes nothing until it might win
        except Exception:  # noqa: BLE001 - the database is unreachable: the watchdog steps down in time
            log.warning("leader: lease not renewed (database unreachable?)", exc_info=True)
            self._check_deadline()
            return
        with self._turns:
            if lease is None:
                self._lease = None
                self._step_down("the lease is held by another process")
                return
            if self._acting is not None and self._acting[0].epoch != lease.epoch:
                self._step_down(f"a new epoch {lease.epoch}")
            self._lease = lease
            deadline = started + self.ttl - self.margin
            if self.mono() >= deadline:  # the renewal itself took too long to act on
                self._step_down("the renewal came back too late")
                return
            gained = self._acting is None
            self._acting = (lease, deadline)
            if gained:
                log.info("leader: %s leads (epoch %d)", self.owner, lease.epoch)
                self._call(self.on_gain, "on_gain")
            else:
                self._call(self.on_renew, "on_renew")
        with self._wake:
            self._wake.notify_all()

    def _run(self) -> None:
        while not self._stopped.wait(self.every):
            self.tick()

    def _watch(self) -> None:
        """Step down at the local deadline, whatever the renewal thread is doing."""
        with self._wake:
            while not self._stopped.is_set():
                state = self._acting
                wait = None if state is None else max(0.0, state[1] - self.mono())
                if wait == 0.0:
                    self._check_deadline()
                    continue
                self._wake.wait(timeout=wait)

    def _check_deadline(self) -> None:
        with self._turns:
            state = self._acting
            if state is not None and self.mono() >= state[1]:
                self._step_down("the lease could have expired (no renewal in time)")

    def _step_down(self, why: str) -> None:
        with self._turns:
            if self._acting is None:
                return
            self._acting = None
            log.warning("leader: %s stops leading: %s", self.owner, why)
            self._call(self.on_loss, "on_loss")

    def _call(self, callback: Callable[[], None], what: str) -> None:
        try:
            callback()
        except Exception:  # noqa: BLE001 - a failed callback must not stop the lease loop
            log.exception("leader: %s failed", what)
