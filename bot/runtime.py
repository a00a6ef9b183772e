"""The contracts at the bottom of ``bot``: ``Runtime`` and what plug-ins and the engine see of each other.

Everything in ``bot`` may import this module. At run time it imports only ``bot.reads`` and the pure text of
``bot.slack.render``; the concrete types it names are imported for type checking only, from modules that do
not import it back. The composition
root, ``bot.app.build_app``, fills a ``Runtime``; capabilities (``bot.capabilities``) are plain values of
``Capability`` listed in one table; the job engine is reached through the ``JobEngine`` protocol and writes
job cards through a ``ProgressSink``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from avdcore.errors import UserError
from azureops.plan import Plan
from azureops.snapshots import Budget
from bot.reads import SharedRead
from bot.slack.render import internal_error
from commands import Vocabulary, ops

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from slack_bolt import App, Respond
    from slack_sdk import WebClient

    from azureops.clients import AzureClients
    from bot.config.settings import Settings
    from bot.slack.ackgate import AckGate
    from bot.slack.authz import Authz, ReplayMemory
    from bot.slack.render import Reply
    from bot.storage.store import Store

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
WORK_THREADS = 8
READER_THREADS = 4
WORK_QUEUE = 256  # post-ack tasks waiting or running at once; past it `/avd` answers "busy, try again"
READER_QUEUE = 32  # Azure reads waiting or running at once (they are shared: one `/avd status` read for all)


BUSY_TEXT = ":hourglass: avd-ops is busy right now: try again in a minute."


class PoolFull(UserError):
    """A bounded pool already holds its limit of tasks: shown to the user as "busy, try again"."""


class BoundedPool(ThreadPoolExecutor):
    """A thread pool that holds at most ``limit`` tasks (running or waiting): ``submit`` past it raises
    ``PoolFull`` instead of queueing for ever."""

    def __init__(self, max_workers: int, *, limit: int, thread_name_prefix: str = "") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.limit = limit
        self.name = thread_name_prefix or "pool"
        self._held = 0
        self._count_lock = threading.Lock()

    @property
    def held(self) -> int:
        return self._held

    def has_room(self) -> bool:
        return self._held < self.limit

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count_lock:
            if self._held >= self.limit:
                log.warning("%s holds its limit of %d tasks: refused one more", self.name, self.limit)
                raise PoolFull(BUSY_TEXT)
            self._held += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        return future

    def _release(self) -> None:
        with self._count_lock:
            self._held -= 1


def run_reporting(fn: Callable[..., Any], *args: Any, respond: Callable[..., Any] | None = None) -> None:
    """``fn(*args)``; an unexpected error is logged with an incident id and, when ``respond`` is given, the
    user is told that id (the same answer as Bolt's ``@app.error``)."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - the one catch-all for work after the ack
        incident = uuid.uuid4().hex[:8]
        log.error("incident %s: unhandled %s", incident, type(exc).__name__, exc_info=exc)
        if respond is not None:
            try:
                respond(text=internal_error(incident), response_type="ephemeral")
            except Exception:  # noqa: BLE001 - the error path must not raise
                log.exception("incident %s: could not tell the user", incident)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CommandContext:
    """Who typed what, where, and how to answer them."""

    user_id: str
    channel_id: str
    team_id: str
    text: str
    response_url: str
    trigger_id: str
    respond: Respond
    client: WebClient
    now: datetime
    acked: dict[str, Any] | None = None  # what the ack already showed (``Capability.ack_answers``)


Say = Callable[[str], None]
Handler = Callable[["Runtime", CommandContext, ops.Operation], "Reply | None"]
BuildPlan = Callable[["Runtime", ops.Operation, datetime], Plan]
AckAnswer = Callable[["Runtime", ops.Operation], "dict[str, Any] | None"]
# A button press: (runtime, user, channel, the button's value) -> the ephemeral answer to the presser. The
# Slack side (``bot.slack.actions``) acks, hands the press to the work pool and sends the answer.
ButtonHandler = Callable[["Runtime", str, str, str], str]
# A timer's target: (runtime, the schedule's arguments plus ``user`` and ``channel``); see bot.engine.schedules.
TimerTarget = Callable[["Runtime", "dict[str, Any]"], object]
# A submitted scale-set form: (runtime, user, the view's private metadata, the parsed
# ``bot.slack.modals.ScaleSetForm``).
FormHandler = Callable[["Runtime", str, "dict[str, Any]", Any], None]
# Roles (``avd-bot serve --role``, ``bot.roles``): ``all`` acks and works in one process; ``web`` verifies,
# authorizes, acks and records post-ack work in the inbox (``bot.storage.inbox``); ``worker`` runs it.
ROLES = ("all", "web", "worker")
# The web role's recorder: (kind, payload) -> recorded. The payload is JSON without secrets; its ``user_id``,
# ``channel_id`` and ``response_url`` keys are also the inbox row's columns.
Defer = Callable[[str, "dict[str, Any]"], bool]
# A worker's handler of one kind of inbox row: runs the same post-ack work as the ``all`` role, from the payload.
InboxHandler = Callable[["dict[str, Any]"], None]


class ProgressSink(Protocol):
    """Where the engine reports a job: its one card (coalesced edits) and its thread."""

    def post_card(self, job_id: int, channel: str, *, fresh: bool = False) -> None: ...

    def known(self, job_id: int, channel: str, ts: str | None, updated_wall: float | None) -> None: ...

    def touch(self, job_id: int, *, final: bool = False) -> None: ...

    def reply(self, job_id: int, text: str, *, broadcast: bool = False) -> None: ...

    def finish(self, job_id: int) -> None:
        """The job ended: a last edit of its card and the final result in its thread (broadcast)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class JobEngine(Protocol):
    """What capabilities, approvals and listeners ask of the job engine (``bot.engine.runner.Engine``)."""

    runtime: Runtime
    store: Store
    progress: ProgressSink

    def now(self) -> datetime: ...

    def request(
        self,
        op: ops.Operation,
        user: str,
        channel: str,
        say: Say,
        *,
        kind: str | None = None,
        plan: Plan | None = None,
        approval: bool | None = None,
    ) -> int | None:
        """Plan ``op`` and start it, or open its approval; ``say`` tells the requester why not."""

    def submit(self, job_id: int) -> None: ...

    def cancel(self, job_id: int, user: str) -> str: ...

    def retry(self, job_id: int, user: str) -> str: ...


@dataclass(frozen=True)
class Timer:
    """One stored schedule, with the time the scheduler will next run it (None: paused or not yet started)."""

    id: str
    target: str
    args: dict[str, Any]
    cron: str | None
    run_at: datetime | None
    created_by: str
    channel: str
    next_run: datetime | None


class Schedules(Protocol):
    """Recurring and timed work kept as data (``bot.engine.schedules.Timers``)."""

    def request(self, schedule_id: str, op: ops.Operation, cron: str, *, user: str, channel: str) -> None:
        """Request ``op`` as ``user`` in ``channel`` on the cron ``cron`` (UTC)."""

    def put(
        self,
        schedule_id: str,
        target: str,
        args: dict[str, Any],
        *,
        cron: str | None = None,
        run_at: datetime | None = None,
        user: str,
        channel: str,
    ) -> None:
        """Add or replace a schedule: recurring (``cron``) or once (``run_at``) of a named target."""

    def remove(self, schedule_id: str) -> bool: ...

    def get(self, schedule_id: str) -> Timer | None: ...

    def listed(self, prefix: str = "") -> list[Timer]: ...


@dataclass(frozen=True)
class Capability:
    """One capability as a value: what it answers, plans and listens to (listed in ``bot.capabilities``).

    ``handlers`` answer ``/avd`` operations after the ack; ``jobs`` routes an operation to the plan kind the
    engine runs for it (planned after the ack, approval by policy); ``plans`` are the plan builders by kind;
    ``ack_answers`` answer inside the ack from memory; ``buttons`` answer presses by action id; ``form``
    receives a submitted scale-set form (``bot.slack.modals``); ``timers`` are targets a stored schedule may
    name (``bot.engine.schedules.Timers``); ``on_start`` runs once when the runtime is built
    (e.g. install configured schedules).
    """

    name: str
    handlers: Mapping[type[ops.Operation], Handler] = field(default_factory=dict)
    jobs: Mapping[type[ops.Operation], str] = field(default_factory=dict)
    plans: Mapping[str, BuildPlan] = field(default_factory=dict)
    ack_answers: Mapping[type[ops.Operation], AckAnswer] = field(default_factory=dict)
    buttons: Mapping[str, ButtonHandler] = field(default_factory=dict)
    form: FormHandler | None = None
    timers: Mapping[str, TimerTarget] = field(default_factory=dict)
    on_start: Callable[[Runtime], None] | None = None


@dataclass
class Registry:
    """The capabilities' tables, merged once by ``bot.engine.registry.build_registry``."""

    handlers: dict[type[ops.Operation], Handler] = field(default_factory=dict)
    jobs: dict[type[ops.Operation], str] = field(default_factory=dict)
    plans: dict[str, BuildPlan] = field(default_factory=dict)
    ack_answers: dict[type[ops.Operation], AckAnswer] = field(default_factory=dict)
    buttons: dict[str, ButtonHandler] = field(default_factory=dict)
    forms: list[FormHandler] = field(default_factory=list)
    timers: dict[str, TimerTarget] = field(default_factory=dict)
    on_start: list[Callable[[Runtime], None]] = field(default_factory=list)

    def kind_of(self, op: ops.Operation) -> str:
        return self.jobs.get(type(op), op.verb)


@dataclass
class Runtime:
    """Everything a listener, capability or job needs, built once by ``bot.app.build_app``."""

    settings: Settings
    app: App
    client: WebClient
    store: Store
    azure: AzureClients
    scheduler: BackgroundScheduler
    clock: Clock
    authz: Authz
    vocab: Vocabulary
    executor: ThreadPoolExecutor
    registry: Registry
    gate: AckGate
    replay: ReplayMemory  # interactions already handled (the request guard refuses replays)
    require_operator: bool = True  # /avd behind the operator check (``bot.slack.authz.OperatorCheck``)
    on_stop: list[Callable[[], None]] = field(default_factory=list)  # closers of what build_app made
    engine: JobEngine = field(init=False)  # set by build_app once the engine exists
    timers: Schedules = field(init=False)  # schedules kept as data (``bot.engine.schedules.Timers``)
    # Post-ack work (audit writes, handlers, approval decisions) runs here, never on Bolt's listener
    # threads: those only ack, so a burst of slow answers cannot delay the next request's ack.
    # Both pools are bounded (``BoundedPool``): a full one refuses instead of queueing for ever.
    workers: BoundedPool = field(
        default_factory=lambda: BoundedPool(WORK_THREADS, limit=WORK_QUEUE, thread_name_prefix="avd-work")
    )
    # Azure reads for read-only answers (status, doctor, replicas list), off the work pool.
    readers: BoundedPool = field(
        default_factory=lambda: BoundedPool(
            READER_THREADS, limit=READER_QUEUE, thread_name_prefix="avd-reader"
        )
    )
    status_read: SharedRead = field(default_factory=SharedRead)  # one `/avd status` read shared by everyone
    role: str = "all"  # one of ROLES
    defer: Defer | None = None  # set in the web role: post-ack work is recorded for a worker, not run here
    # kind -> the worker's handler of that inbox row, registered next to the listener that records it
    inbox_handlers: dict[str, InboxHandler] = field(default_factory=dict)
    snapshot_budget: Budget = field(default_factory=Budget)  # ARM request budget of snapshot copies

    @property
    def simulated_azure(self) -> bool:
        return self.settings.simulated_azure

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()

    def after_ack(
        self, fn: Callable[..., Any], *args: Any, respond: Callable[..., Any] | None = None
    ) -> bool:
        """Run ``fn(*args)`` on the work pool; an unexpected error is logged with an incident id and, when
        ``respond`` is given, the user is told that id (the same answer as Bolt's ``@app.error``).
        ``False`` (logged, nothing queued) when the pool already holds ``WORK_QUEUE`` tasks: a listener
        that can still answer in its ack checks ``workers.has_room()`` first and says "busy"."""

        def run() -> None:
            self.gate.wait()  # acks of a burst first (at most AckGate.max_wait)
            run_reporting(fn, *args, respond=respond)

        try:
            self.workers.submit(run)
        except PoolFull:
            log.warning(
                "work pool full (%d tasks): %s not run", self.workers.limit, getattr(fn, "__name__", fn)
            )
            return False
        return True

    def hand_off(
        self,
        kind: str,
        payload: dict[str, Any],
        fn: Callable[..., Any],
        *args: Any,
        respond: Callable[..., Any] | None = None,
    ) -> bool:
        """Post-ack work: in the web role recorded as an inbox row of ``kind`` for a worker (which runs
        ``inbox_handlers[kind](payload)``); otherwise ``after_ack(fn, *args)`` in this process."""
        if self.defer is not None:
            return self.defer(kind, payload)
        return self.after_ack(fn, *args, respond=respond)

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.workers.shutdown(wait=True, cancel_futures=True)  # nothing may write while the store closes
        self.readers.shutdown(wait=False, cancel_futures=True)
        self.azure.close()
        for close in self.on_stop:
            close()
        self.store.close()
