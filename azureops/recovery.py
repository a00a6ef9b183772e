"""The host-pool steps failover, failback and drill plans are made of: each reads Azure first (``check``),
writes only what differs (``apply``) and re-attaches after a restart (``resume``, from the token it saved before
waiting). The DR scale set's steps live in ``azureops.dr_capacity``.

Primary-side steps go through a ``PrimaryGate``: their calls are bounded by the configured timeout, and once
the primary region has not answered, every later primary step is skipped with a warning instead of failing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from avdcore.errors import AvdError, AzureUnavailable
from azureops import sessions
from azureops.clients import AzureClients
from azureops.hostpools import Opts
from azureops.plan import Step, StepContext, format_seconds
from azureops.sessions import HostPoolRef

Clock = Callable[[], datetime]
Skip = "skipped"


@dataclass
class PrimaryGate:
    """Bounded calls to the primary region; remembers (for this run) that it did not answer."""

    region: str
    timeout: float
    down: str = ""
    opts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.opts = {
            "timeout": self.timeout,
            "read_timeout": self.timeout,
            "connection_timeout": self.timeout,
        }

    def skipped(self, ctx: StepContext) -> str:
        text = f":warning: skipped: the primary region {self.region} did not answer ({self.down})"
        ctx.note(text)
        return text

    def call(self, fn: Callable[[Opts], Any]) -> Any:
        """``fn(opts)``; on an unanswered primary remember why and raise ``AzureUnavailable``."""
        if self.down:
            raise AzureUnavailable(self.down)
        try:
            return fn(self.opts)
        except AzureUnavailable as err:
            self.down = f"no answer within {format_seconds(self.timeout)}: {err.message}"
            raise

    def check(self, fn: Callable[[Opts], bool]) -> bool:
        """A step check: False when the primary does not answer (``apply`` then skips the step)."""
        try:
            return bool(self.call(fn))
        except AzureUnavailable:
            return False


def primary_step(
    gate: PrimaryGate,
    *,
    name: str,
    resource_id: str,
    description: str,
    done: Callable[[Opts], bool],
    change: Callable[[StepContext, Opts], str],
    estimate: int,
    intent: dict[str, Any],
) -> Step:
    """A primary-side step: ``done(opts)`` reads, ``change(ctx, opts)`` writes; skipped when the region is down."""

    def apply(ctx: StepContext) -> str:
        try:
            return str(gate.call(lambda opts: change(ctx, opts)))
        except AzureUnavailable:
            return gate.skipped(ctx)

    return Step(
        name=name,
        resource_id=resource_id,
        description=description,
        apply=apply,
        check=lambda ctx: gate.check(done),
        estimate_seconds=estimate,
        intent=intent,
    )


def drain_step(
    clients: AzureClients,
    pool: HostPoolRef,
    gate: PrimaryGate | None,
    *,
    drain: bool,
    name: str,
    estimate: int = 5,
) -> Step:
    verb = "Drain" if drain else "Undrain"
    what = "no new sessions on" if drain else "allow new sessions on"
    description = f"{verb} {pool.name}: {what} every session host"

    def change(ctx: StepContext, opts: Opts) -> str:
        changed = sessions.set_drain(clients, pool, drain, opts)
        return f"{len(changed)} session host(s) {'drained' if drain else 'undrained'}"

    def done(opts: Opts) -> bool:
        return sessions.is_drained(clients, pool, drain, opts)

    return _maybe_gated(
        gate,
        name=name,
        resource_id=pool.id,
        description=description,
        done=done,
        change=change,
        estimate=estimate,
        intent={"allowNewSession": not drain},
    )


def autoscale_step(
    clients: AzureClients, pool: HostPoolRef, gate: PrimaryGate | None, *, enabled: bool, name: str
) -> Step:
    description = (
        f"Re-enable autoscale on {pool.name} (scaling plans this bot switched off)"
        if enabled
        else f"Disable autoscale on {pool.name} if a scaling plan is attached"
    )

    def change(ctx: StepContext, opts: Opts) -> str:
        changed = sessions.set_autoscale(clients, pool, enabled, opts)
        return f"scaling plan(s) {'enabled' if enabled else 'disabled'}: {', '.join(changed) or 'none'}"

    return _maybe_gated(
        gate,
        name=name,
        resource_id=pool.id,
        description=description,
        done=lambda opts: sessions.autoscale_settled(clients, pool, enabled, opts),
        change=change,
        estimate=3,
        intent={"scalingPlanEnabled": enabled},
    )


def _maybe_gated(
    gate: PrimaryGate | None,
    *,
    name: str,
    resource_id: str,
    description: str,
    done: Callable[[Opts], bool],
    change: Callable[[StepContext, Opts], str],
    estimate: int,
    intent: dict[str, Any],
) -> Step:
    if gate is not None:
        return primary_step(
            gate,
            name=name,
            resource_id=resource_id,
            description=description,
            done=done,
            change=change,
            estimate=estimate,
            intent=intent,
        )
    return Step(
        name=name,
        resource_id=resource_id,
        description=description,
        apply=lambda ctx: change(ctx, {}),
        check=lambda ctx: done({}),
        estimate_seconds=estimate,
        intent=intent,
    )


def wait_until(clock: Clock, deadline: datetime, *, tick: float = 0.5) -> None:
    """Sleep until ``clock()`` reaches ``deadline``, never longer than needed."""
    while (left := (deadline - clock()).total_seconds()) > 0:
        time.sleep(min(left, tick))


def notify_step(
    clients: AzureClients,
    pool: HostPoolRef,
    gate: PrimaryGate | None,
    clock: Clock,
    *,
    grace: int,
    title: str,
    body: str,
    name: str,
) -> Step:
    """Message every active user, then wait the grace period; the token keeps the deadline and who was told."""
    text = body.replace("{seconds}", str(grace))
    description = (
        f"Message active users in {pool.name}, then wait {format_seconds(grace)}"
        if grace
        else f"Message active users in {pool.name} (no grace period: --now)"
    )

    def send(ctx: StepContext, opts: Opts, state: dict[str, Any]) -> str:
        for s in sessions.user_sessions(clients, pool, opts):
            key = f"{s.host}/{s.id}"
            if key in state["sent"] or s.state.lower() != "active":
                continue
            sessions.message_user(clients, pool, s, title, text, opts)
            state["sent"].append(key)
            ctx.save_token(json.dumps(state))
        wait_until(clock, datetime.fromisoformat(state["deadline"]))
        return f"{len(state['sent'])} user(s) messaged; grace period of {format_seconds(grace)} over"

    def change(ctx: StepContext, opts: Opts) -> str:
        state = {"deadline": (clock() + timedelta(seconds=grace)).isoformat(), "sent": []}
        ctx.save_token(json.dumps(state))
        return send(ctx, opts, state)

    def done(opts: Opts) -> bool:
        return not any(s.state.lower() == "active" for s in sessions.user_sessions(clients, pool, opts))

    step = _maybe_gated(
        gate,
        name=name,
        resource_id=pool.id,
        description=description,
        done=done,
        change=change,
        estimate=grace + 2,
        intent={"grace_seconds": grace},
    )

    def resume(ctx: StepContext, token: str) -> str:
        if gate is not None and gate.down:
            return gate.skipped(ctx)
        try:
            call = gate.call if gate is not None else (lambda fn: fn({}))
            return str(call(lambda opts: send(ctx, opts, json.loads(token))))
        except AzureUnavailable:
            if gate is None:
                raise
            return gate.skipped(ctx)

    return Step(
        name=step.name,
        resource_id=step.resource_id,
        description=step.description,
        apply=step.apply,
        check=step.check,
        resume=resume,
        estimate_seconds=step.estimate_seconds,
        intent=dict(step.intent),
    )


def log_off_step(
    clients: AzureClients, pool: HostPoolRef, gate: PrimaryGate | None, *, recheck: bool, name: str
) -> Step:
    """Log off every remaining session; with ``recheck``, sessions that remain stop the job to ask again."""

    def change(ctx: StepContext, opts: Opts) -> str:
        count = sessions.log_off_all(clients, pool, opts)
        left = sessions.user_sessions(clients, pool, opts)
        if left and recheck:
            count += sessions.log_off_all(clients, pool, opts)
            left = sessions.user_sessions(clients, pool, opts)
        if left and recheck:
            users = ", ".join(sorted({s.user for s in left}))
            raise AvdError(
                f"{len(left)} session(s) remain in {pool.name} after sign-out ({users}): press Retry "
                "to sign them out again, or Cancel"
            )
        suffix = f"; {len(left)} session(s) remain" if left else ""
        return f"{count} session(s) logged off{suffix}"

    return _maybe_gated(
        gate,
        name=name,
        resource_id=pool.id,
        description=f"Log off remaining sessions in {pool.name}",
        done=lambda opts: not sessions.user_sessions(clients, pool, opts),
        change=change,
        estimate=5,
        intent={"sessions": 0},
    )


def sessions_gone_step(
    clients: AzureClients, pool: HostPoolRef, *, name: str, tick: float, timeout: float
) -> Step:
    """Wait (bounded) until ``pool`` has no user sessions left; refuse to go on while some remain."""

    def apply(ctx: StepContext) -> str:
        deadline = time.monotonic() + timeout
        while left := sessions.user_sessions(clients, pool):
            if time.monotonic() > deadline:
                raise AvdError(
                    f"{len(left)} session(s) are still open in {pool.name}: sign them out (or wait), "
                    "then press Retry"
                )
            time.sleep(tick)
        return "no sessions left"

    return Step(
        name=name,
        resource_id=pool.id,
        description=f"Wait until no sessions remain in {pool.name}",
        apply=apply,
        check=lambda ctx: not sessions.user_sessions(clients, pool),
        estimate_seconds=5,
        intent={"sessions": 0},
    )


def callback_step(name: str, description: str, fn: Callable[[StepContext], str]) -> Step:
    """A bot-side step (summary, history): no Azure resource, always runs."""
    return Step(name=name, resource_id="", description=description, apply=fn, estimate_seconds=1)
