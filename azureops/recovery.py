"""The steps failover, failback and drill plans are made of: each reads Azure first (``check``), writes only
what differs (``apply``) and re-attaches after a restart (``resume``, from the token it saved before waiting).

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

from azureops import hostpools, scalesets, sessions
from azureops.errors import translated
from azureops.plan import ArmRef, Step, StepContext, follow, format_seconds
from azureops.sessions import HostPoolRef, Opts
from commands.errors import AvdError, AzureError, AzureUnavailable

Clock = Callable[[], datetime]
Skip = "skipped"
SCALE_OPERATIONS: dict[str, str] = {}  # scale set id (lower) -> continuation token of this process's last scale-out


@dataclass(frozen=True)
class ScaleSetRef(ArmRef):
    TYPE = "Microsoft.Compute/virtualMachineScaleSets"


@dataclass
class PrimaryGate:
    """Bounded calls to the primary region; remembers (for this run) that it did not answer."""

    region: str
    timeout: float
    down: str = ""
    opts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.opts = {"timeout": self.timeout, "read_timeout": self.timeout, "connection_timeout": self.timeout}

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


def primary_step(gate: PrimaryGate, *, name: str, resource_id: str, description: str,
                 done: Callable[[Opts], bool], change: Callable[[StepContext, Opts], str],
                 estimate: int, intent: dict[str, Any]) -> Step:
    """A primary-side step: ``done(opts)`` reads, ``change(ctx, opts)`` writes; skipped when the region is down."""

    def apply(ctx: StepContext) -> str:
        try:
            return str(gate.call(lambda opts: change(ctx, opts)))
        except AzureUnavailable:
            return gate.skipped(ctx)

    return Step(name=name, resource_id=resource_id, description=description, apply=apply,
                check=lambda ctx: gate.check(done), estimate_seconds=estimate, intent=intent)


def drain_step(clients: Any, pool: HostPoolRef, gate: PrimaryGate | None, *, drain: bool, name: str,
               estimate: int = 5) -> Step:
    verb = "Drain" if drain else "Undrain"
    what = "no new sessions on" if drain else "allow new sessions on"
    description = f"{verb} {pool.name}: {what} every session host"

    def change(ctx: StepContext, opts: Opts) -> str:
        changed = sessions.set_drain(clients, pool, drain, opts)
        return f"{len(changed)} session host(s) {'drained' if drain else 'undrained'}"

    def done(opts: Opts) -> bool:
        return sessions.is_drained(clients, pool, drain, opts)

    return _maybe_gated(gate, name=name, resource_id=pool.id, description=description, done=done, change=change,
                        estimate=estimate, intent={"allowNewSession": not drain})


def autoscale_step(clients: Any, pool: HostPoolRef, gate: PrimaryGate | None, *, enabled: bool, name: str) -> Step:
    description = (f"Re-enable autoscale on {pool.name} (scaling plans this bot switched off)" if enabled
                   else f"Disable autoscale on {pool.name} if a scaling plan is attached")

    def change(ctx: StepContext, opts: Opts) -> str:
        changed = sessions.set_autoscale(clients, pool, enabled, opts)
        return f"scaling plan(s) {'enabled' if enabled else 'disabled'}: {', '.join(changed) or 'none'}"

    return _maybe_gated(gate, name=name, resource_id=pool.id, description=description,
                        done=lambda opts: sessions.autoscale_settled(clients, pool, enabled, opts), change=change,
                        estimate=3, intent={"scalingPlanEnabled": enabled})


def _maybe_gated(gate: PrimaryGate | None, *, name: str, resource_id: str, description: str,
                 done: Callable[[Opts], bool], change: Callable[[StepContext, Opts], str], estimate: int,
                 intent: dict[str, Any]) -> Step:
    if gate is not None:
        return primary_step(gate, name=name, resource_id=resource_id, description=description, done=done,
                            change=change, estimate=estimate, intent=intent)
    return Step(name=name, resource_id=resource_id, description=description, apply=lambda ctx: change(ctx, {}),
                check=lambda ctx: done({}), estimate_seconds=estimate, intent=intent)


def wait_until(clock: Clock, deadline: datetime, *, tick: float = 0.5) -> None:
    """Sleep until ``clock()`` reaches ``deadline``, never longer than needed."""
    while (left := (deadline - clock()).total_seconds()) > 0:
        time.sleep(min(left, tick))


def notify_step(clients: Any, pool: HostPoolRef, gate: PrimaryGate | None, clock: Clock, *, grace: int,
                title: str, body: str, name: str) -> Step:
    """Message every active user, then wait the grace period; the token keeps the deadline and who was told."""
    text = body.replace("{seconds}", str(grace))
    description = (f"Message active users in {pool.name}, then wait {format_seconds(grace)}" if grace
                   else f"Message active users in {pool.name} (no grace period: --now)")

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

    step = _maybe_gated(gate, name=name, resource_id=pool.id, description=description, done=done, change=change,
                        estimate=grace + 2, intent={"grace_seconds": grace})

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

    return Step(name=step.name, resource_id=step.resource_id, description=step.description, apply=step.apply,
                check=step.check, resume=resume, estimate_seconds=step.estimate_seconds, intent=dict(step.intent))


def log_off_step(clients: Any, pool: HostPoolRef, gate: PrimaryGate | None, *, recheck: bool, name: str) -> Step:
    """Log off every remaining session; with ``recheck``, sessions that remain stop the job to ask again."""

    def change(ctx: StepContext, opts: Opts) -> str:
        count = sessions.log_off_all(clients, pool, opts)
        left = sessions.user_sessions(clients, pool, opts)
        if left and recheck:
            count += sessions.log_off_all(clients, pool, opts)
            left = sessions.user_sessions(clients, pool, opts)
        if left and recheck:
            users = ", ".join(sorted({s.user for s in left}))
            raise AvdError(f"{len(left)} session(s) remain in {pool.name} after sign-out ({users}): press Retry "
                           "to sign them out again, or Cancel")
        suffix = f"; {len(left)} session(s) remain" if left else ""
        return f"{count} session(s) logged off{suffix}"

    return _maybe_gated(gate, name=name, resource_id=pool.id, description=f"Log off remaining sessions in {pool.name}",
                        done=lambda opts: not sessions.user_sessions(clients, pool, opts), change=change, estimate=5,
                        intent={"sessions": 0})


def _vmss(clients: Any, vmss: ScaleSetRef) -> Any:
    with translated(vmss.id):
        return clients.compute(vmss.subscription).virtual_machine_scale_sets.get(vmss.resource_group, vmss.name)


def _scale_patch(clients: Any, vmss: ScaleSetRef, count: int, pool: HostPoolRef | None, clock: Clock | None
                 ) -> dict[str, Any]:
    """``{"sku": {"capacity": N}}``, plus a fresh host-pool registration token in the instances' model when the
    scale set's AVD extension registers with one (an expired token would leave the new hosts unregistered)."""
    patch: dict[str, Any] = {"sku": {"capacity": count}}
    if count == 0 or pool is None or clock is None:
        return patch
    state = scalesets.get_scale_set(clients, vmss.subscription, vmss.resource_group, vmss.name)
    if state is not None and state.registers_with_token and state.join_type != "domain":
        token = hostpools.registration_token(clients, pool.subscription, pool.resource_group, pool.name, clock())
        exts = scalesets.refreshed_extensions(state, token, None)
        patch["properties"] = {"virtualMachineProfile": {"extensionProfile": {"extensions": exts}}}
    return patch


def scale_step(clients: Any, vmss: ScaleSetRef, count: int, *, name: str, wait: bool, estimate: int = 30,
               pool: HostPoolRef | None = None, clock: Clock | None = None) -> Step:
    """Set the scale set's capacity. Scale-out returns once Azure accepted it (the host wait follows);
    scale-in follows the operation to its end."""
    ops = clients.compute(vmss.subscription).virtual_machine_scale_sets

    def check(ctx: StepContext) -> bool:
        found = _vmss(clients, vmss)
        state = str(found.provisioning_state or "").lower()
        if found.sku.capacity != count or state == "failed":  # a Failed scale set is re-driven by apply
            return False
        return not wait or state == "succeeded"

    def attach(ctx: StepContext, poller: Any) -> str:
        if wait:
            follow(ctx, poller, tick=0.05)
        elif poller.done():
            poller.result()  # raises Azure's error if the scale-out already failed
        return f"capacity {count}"

    def apply(ctx: StepContext) -> str:
        found = _vmss(clients, vmss)
        failed = str(found.provisioning_state or "").lower() == "failed"
        if found.sku.capacity == count and not failed:  # already asked for: follow it without writing again
            return "capacity already set" + (_settle(clients, vmss) if wait else "")
        with translated(vmss.id):
            poller = ops.begin_update(vmss.resource_group, vmss.name, _scale_patch(clients, vmss, count, pool, clock))
            ctx.save_token(poller.continuation_token())
            SCALE_OPERATIONS[vmss.id.lower()] = poller.continuation_token()
            return attach(ctx, poller)

    def resume(ctx: StepContext, token: str) -> str:
        SCALE_OPERATIONS[vmss.id.lower()] = token
        with translated(vmss.id):
            return attach(ctx, ops.begin_update(vmss.resource_group, vmss.name, {}, continuation_token=token)) \
                + " (re-attached)"

    return Step(name=name, resource_id=vmss.id, description=f"Scale {vmss.name} to {count}", apply=apply, check=check,
                resume=resume, estimate_seconds=estimate, intent={"capacity": count})


def _settle(clients: Any, vmss: ScaleSetRef, tick: float = 0.05) -> str:
    while (state := str(_vmss(clients, vmss).provisioning_state or "").lower()) in ("updating", "creating"):
        time.sleep(tick)
    if state == "failed":
        raise AzureError(f"scale set {vmss.name} ended in provisioning state Failed", resource_id=vmss.id,
                         next_step="read the scale set's activity log, fix the cause, then Retry")
    return ""


def hosts_step(clients: Any, pool: HostPoolRef, vmss: ScaleSetRef, count: int, *, name: str, tick: float,
               timeout: float = 3600.0) -> Step:
    """Wait until ``count`` session hosts are Available in ``pool`` (reads only); a Failed scale set is reported
    with Azure's own code when this process started the scale-out."""

    def check(ctx: StepContext) -> bool:
        return sessions.available_hosts(clients, pool) >= count

    def apply(ctx: StepContext) -> str:
        deadline, polls = time.monotonic() + timeout, 0
        while (ready := sessions.available_hosts(clients, pool)) < count:
            polls += 1
            if polls % 20 == 0 and str(_vmss(clients, vmss).provisioning_state or "").lower() == "failed":
                _raise_scale_error(clients, vmss)
                raise AzureError(f"scale set {vmss.name} failed while adding instances", resource_id=vmss.id,
                                 next_step="read the scale set's activity log (replica missing? quota?), then Retry")
            if time.monotonic() > deadline:
                raise AzureUnavailable(f"only {ready} of {count} session hosts Available in {pool.name} after "
                                       f"{format_seconds(timeout)}", resource_id=pool.id)
            ctx.progress(100.0 * ready / count, f"{ready}/{count} Available")
            time.sleep(tick)
        return f"{ready} session host(s) Available"

    return Step(name=name, resource_id=pool.id, description=f"Wait for {count} session hosts Available in {pool.name}",
                apply=apply, check=check, resume=lambda ctx, token: apply(ctx), estimate_seconds=360,
                intent={"available": count})


def _raise_scale_error(clients: Any, vmss: ScaleSetRef) -> None:
    """Raise Azure's own error (code, message) of this process's scale-out of ``vmss``, when it is known."""
    token = SCALE_OPERATIONS.get(vmss.id.lower())
    if token:
        with translated(vmss.id, "fix what Azure names (quota? capacity? replica?), then Retry"):
            clients.compute(vmss.subscription).virtual_machine_scale_sets.begin_update(
                vmss.resource_group, vmss.name, {}, continuation_token=token).result()


def sessions_gone_step(clients: Any, pool: HostPoolRef, *, name: str, tick: float, timeout: float) -> Step:
    """Wait (bounded) until ``pool`` has no user sessions left; refuse to go on while some remain."""

    def apply(ctx: StepContext) -> str:
        deadline = time.monotonic() + timeout
        while left := sessions.user_sessions(clients, pool):
            if time.monotonic() > deadline:
                raise AvdError(f"{len(left)} session(s) are still open in {pool.name}: sign them out (or wait), "
                               "then press Retry")
            time.sleep(tick)
        return "no sessions left"

    return Step(name=name, resource_id=pool.id, description=f"Wait until no sessions remain in {pool.name}",
                apply=apply, check=lambda ctx: not sessions.user_sessions(clients, pool), estimate_seconds=5,
                intent={"sessions": 0})


def callback_step(name: str, description: str, fn: Callable[[StepContext], str]) -> Step:
    """A bot-side step (summary, history): no Azure resource, always runs."""
    return Step(name=name, resource_id="", description=description, apply=fn, estimate_seconds=1)
