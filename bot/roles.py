"""Web and worker roles: ``avd-bot serve --role web|worker|all`` (and ``socket``), ``all`` by default.

``all`` is one process that acks and works. A ``web`` process verifies, authorizes and acks, and records each
request that needs work after the ack as an inbox row (``bot.storage.inbox``): the ``InboxWriter`` commits the
rows of concurrent requests in one transaction (a group commit), just after the acks or, with
``AVD_INBOX_ACK=commit``, before them, and wakes the workers. A ``worker`` process opens no HTTP listener: it runs the scheduler (jobs, schedules, resume of
unfinished jobs, the approval sweep) and a ``Worker`` that claims inbox rows by compare-and-set, runs each
with the handler its listener registered (``Runtime.inbox_handlers``: the same post-ack work as ``all``,
answering through the row's ``response_url``), renews its claims while they run and marks them done. A
worker that dies leaves claims that expire after ``lease`` seconds; another worker then takes the rows.

::

    Slack --> web: verify, authorize, ack  --(inbox row, committed before the ack; NOTIFY)-->  worker(s):
              help, usage errors, refusals                                          claim, plan, post cards,
              answered in the ack                                                   run jobs, respond
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from bot.runtime import WORK_THREADS, Runtime, run_reporting, utcnow
from bot.storage import inbox
from bot.storage.inbox import LEASE_SECONDS, POLL_SECONDS, Item, NewItem, Store

log = logging.getLogger(__name__)
RECORD_TIMEOUT = 2.0  # a web process answers "busy" when its rows are not committed within this (Slack: 3 s)
PRUNE_EVERY = timedelta(hours=1)
RETRIES = 5  # a row whose work stops this often on an unreachable database is reported and marked done
COLUMNS = ("user_id", "channel_id", "response_url")  # payload keys kept as the row's columns


def env_problems(env: dict[str, str] | None = None) -> list[str]:
    """The roles' environment variables that would stop a process at start-up, one message each."""
    problems = []
    try:
        lease = lease_from_env(env)
        if lease <= 0:
            problems.append(f"AVD_INBOX_LEASE_SECONDS must be a positive number of seconds, not {lease:g}")
    except ValueError:
        problems.append("AVD_INBOX_LEASE_SECONDS must be a number of seconds (e.g. 30)")
    try:
        durable_from_env(env)
    except ValueError as err:
        problems.append(str(err))
    return problems


def lease_from_env(env: dict[str, str] | None = None) -> float:
    """``AVD_INBOX_LEASE_SECONDS`` (default ``LEASE_SECONDS``): how long a silent worker's claims last."""
    value = (env if env is not None else os.environ).get("AVD_INBOX_LEASE_SECONDS", "")
    return float(value) if value else LEASE_SECONDS


def durable_from_env(env: dict[str, str] | None = None) -> bool:
    """``AVD_INBOX_ACK``: ``commit`` (default: safe) acks once the row is committed, so nothing Slack saw
    acknowledged (an Approve press included) is lost with the web process; ``queue`` (opt-in, faster acks) acks
    once the row is queued for the writer, which commits it within milliseconds (a web process that dies in
    between loses what it acked). On SQLite each durable ack waits for the one writer lock, which the workers'
    job writes hold, and an fsync: see docs/benchmarks.md."""
    value = (env if env is not None else os.environ).get("AVD_INBOX_ACK", "commit").strip().lower()
    if value not in ("commit", "queue"):
        raise ValueError(f"AVD_INBOX_ACK must be commit or queue, not {value!r}")
    return value == "commit"


def records_before_ack(role: str, store: Store) -> bool:
    """Whether this process records its post-ack work in the inbox (committed before the ack with
    ``AVD_INBOX_ACK=commit``) rather than running it from memory: a ``web`` process always; an ``all`` process
    on PostgreSQL too, working the rows itself (``start_all``), so that an Approve press Slack saw acknowledged
    survives the process and its region (the database's standby has it). On SQLite an ``all`` process runs it
    in memory after the ack: one file on one machine, where a commit before each ack would wait for SQLite's
    one writer lock behind the jobs' writes (docs/benchmarks.md)."""
    return role == "web" or (role == "all" and store.backend == "postgresql")


def start_all(runtime: Runtime, *, lease: float | None = None) -> Worker | None:
    """Start an ``all`` process's own work: the scheduler, and when it records before the ack
    (``runtime.defer`` set: ``records_before_ack``) a ``Worker`` on its own inbox rows (and any other web
    process's), stopped first when the runtime stops."""
    runtime.start()
    if runtime.defer is None:
        return None
    worker = Worker(runtime, lease=lease_from_env() if lease is None else lease).start()
    runtime.on_stop.insert(0, worker.stop)
    return worker


class InboxWriter:
    """The web role's ``Runtime.defer``: ``writer(kind, payload)`` returns once the row is committed (or
    ``False`` after ``RECORD_TIMEOUT`` or an error, and the listener answers "busy, try again"); with
    ``durable=False``, once it is queued (a failed batch is then retried until it commits, and ``close``
    flushes the queue). One thread writes what the request threads queued, all of it in one transaction (a
    group commit) whose commit also wakes the workers (PostgreSQL's NOTIFY)."""

    def __init__(
        self,
        store: Store,
        *,
        timeout: float = RECORD_TIMEOUT,
        durable: bool = True,
        yield_to: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.durable = durable
        # queue mode: wait for the acks in flight first (``AckGate.wait``, bounded), so a burst is one commit
        self.yield_to = None if durable else yield_to
        self._queue: list[tuple[NewItem, threading.Lock, list[bool]]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="avd-inbox-writer", daemon=True)
        self._thread.start()

    def __call__(self, kind: str, payload: dict[str, Any]) -> bool:
        body = {k: v for k, v in payload.items() if k not in COLUMNS}
        item = NewItem(
            kind,
            body,
            user_id=str(payload.get("user_id", "")),
            channel=str(payload.get("channel_id", "")),
            response_url=str(payload.get("response_url", "")),
        )
        # released by the writer once the row's batch is written: a bare lock, which costs a waiting request
        # thread less CPU than an Event (no Condition, no waiter list; on the ack path)
        done, result = threading.Lock(), [False]
        done.acquire()
        with self._cond:
            if self._closed:
                return False
            self._queue.append((item, done, result))
            self._cond.notify()
        if not self.durable:
            return True
        if not done.acquire(timeout=self.timeout):
            log.warning("inbox: a %s row was not committed within %.1f s", kind, self.timeout)
            return False
        return result[0]

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
            if self.yield_to is not None and not self._closed:
                self.yield_to()
            with self._cond:
                batch, self._queue = self._queue, []
            try:
                inbox.record(self.store, [item for item, _done, _result in batch], utcnow(), wake=True)
                ok = True
            except Exception:  # noqa: BLE001 - durable: answered "busy"; queued: acked, so tried again
                log.exception("inbox: could not record %d rows", len(batch))
                ok = False
                if not self.durable:
                    with self._cond:
                        self._queue[:0] = batch
                    time.sleep(0.2)
                    continue
            for _item, done, result in batch:
                result[0] = ok
                done.release()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=self.timeout + 1)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Claims inbox rows and runs them on its own ``capacity`` threads; renews its claims every
    ``lease / 3`` seconds and prunes done rows once an hour. A row is marked done once its work ran, whether it
    succeeded or failed (a failure is reported with an incident id), except when the work stopped because the
    database was unreachable (``Store.unreachable``: lost past its retries, a failover): that row is given back
    and runs again, from the start (its handlers are idempotent), up to ``RETRIES`` times on this worker."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        name: str | None = None,
        lease: float = LEASE_SECONDS,
        poll: float = POLL_SECONDS,
        capacity: int = WORK_THREADS,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.name = name or worker_name()
        self.lease = lease
        self.poll = poll
        self.capacity = capacity
        self._held: set[int] = set()
        self._finished: list[int] = []  # handled, marked done by the next claim's transaction
        self._again: list[int] = []  # stopped on an unreachable database, released by the next claim
        self._tries: dict[int, int] = {}  # row -> times its work stopped on an unreachable database here
        self._room = threading.Condition()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="avd-inbox")
        self._threads = [
            threading.Thread(target=self._loop, name="avd-inbox-claim", daemon=True),
            threading.Thread(target=self._heartbeat, name="avd-inbox-lease", daemon=True),
        ]
        self._pruned_at: datetime | None = None

    def start(self) -> Worker:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._room:
            self._room.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.lease)
        self._pool.shutdown(wait=True)

    def _free(self) -> int:
        with self._room:
            while self._busy() >= self.capacity and not self._stop.is_set():
                self._room.wait(0.5)
            return self.capacity - self._busy()

    def _busy(self) -> int:
        """Rows running now (held, not yet finished or given back); call with ``_room`` held."""
        return len(self._held) - len(self._finished) - len(self._again)

    def _loop(self) -> None:
        while not self._stop.is_set():
            free = self._free()
            if self._stop.is_set():
                break
            with self._room:
                finished, self._finished = self._finished, []
                again, self._again = self._again, []
            try:
                items = inbox.claim(
                    self.store,
                    self.name,
                    utcnow(),
                    lease=self.lease,
                    limit=free,
                    done=finished,
                    release=again,
                )
            except Exception:  # noqa: BLE001 - a locked or lost database: try again after a pause
                log.exception("inbox: claim failed")
                with self._room:
                    self._finished[:0] = finished
                    self._again[:0] = again
                self._stop.wait(1.0)
                continue
            with self._room:
                self._held.difference_update(finished + again)
                self._room.notify_all()
                self._held.update(item.id for item in items)
            for item in items:
                self._pool.submit(self._handle, item)
            if not items:
                try:
                    inbox.wait(
                        self.store,
                        1.0,
                        clock=utcnow,
                        lease=self.lease,
                        poll=self.poll,
                        woken=lambda: bool(self._finished or self._again) or self._stop.is_set(),
                    )
                except Exception:  # noqa: BLE001
                    log.exception("inbox: wait failed")
                    self._stop.wait(1.0)
        self._pool.shutdown(wait=True)
        with self._room:
            finished, self._finished = self._finished, []
            again, self._again = self._again, []
        if finished or again:  # stopping: what ran is marked done, what stopped on the database given back
            try:
                inbox.claim(
                    self.store, self.name, utcnow(), lease=self.lease, limit=0, done=finished, release=again
                )
            except Exception:  # noqa: BLE001 - their claims expire and another worker runs them again
                log.exception("inbox: could not mark %d rows done at stop", len(finished))

    def _handle(self, item: Item) -> None:
        again = False

        def work(handler: Callable[[dict[str, Any]], object], payload: dict[str, Any]) -> None:
            nonlocal again
            try:
                handler(payload)
            except Exception as exc:
                with self._room:
                    tries = self._tries[item.id] = self._tries.get(item.id, 0) + 1
                if not self.store.unreachable(exc) or tries >= RETRIES:
                    raise  # a fault of the work itself (or the database's, too often): reported, row done
                log.warning(
                    "inbox: row %d stopped, the database is unreachable (%s): given back to run again",
                    item.id,
                    type(exc).__name__,
                )
                again = True

        try:
            handler = self.runtime.inbox_handlers.get(item.kind)
            payload = {
                **item.payload,
                "user_id": item.user_id,
                "channel_id": item.channel,
                "response_url": item.response_url,
            }
            if handler is None:
                log.error("inbox: row %d has a kind no listener handles: %s", item.id, item.kind)
            else:
                log.debug("inbox: %s handles row %d (%s)", self.name, item.id, item.kind)
                run_reporting(work, handler, payload)
        except Exception:  # noqa: BLE001 - never raised by run_reporting; logged all the same
            log.exception("inbox: row %d failed", item.id)
        finally:
            with self._room:  # held (its claim renewed) until the claim loop marks it done or gives it back
                if again:
                    self._again.append(item.id)
                else:
                    self._tries.pop(item.id, None)
                    self._finished.append(item.id)
                self._room.notify_all()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease / 3):
            now = utcnow()
            with self._room:
                held = sorted(self._held)
            try:
                inbox.renew(self.store, self.name, held, now)
                if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                    self._pruned_at = now
                    inbox.prune(self.store, now)
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.exception("inbox: renewing claims failed")
