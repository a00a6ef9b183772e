"""Job-engine test kit: a small real capability over the ARM simulator, and a bot fixture for it.

The capability ``engine-test`` answers ``/avd scale SCALESET N`` (a scale set in resource group VMSS) with
a three-step plan through the real SDK: tag a gold snapshot (PATCH, an LRO), set the scale set's capacity
(PATCH, an LRO), tag the snapshot again. Each step reads
Azure first, saves its poller's continuation token before waiting and can re-attach to it. Tests pass
``CAPABILITIES`` to ``build_app`` (``start_bot(..., capabilities=...)``, or ``tests.kit.serve`` for an
``avd-bot serve`` subprocess): the product's table with ``Scale`` taken over by this capability.

The engine tests' own plans (steps switched by the test, no Azure) run on a bot from ``table_bot`` (a fixture's
body: the bot with their capability table, ``release`` called before it stops so no step waits past the test),
asked for a job with ``request_job`` and read with ``job_ended`` and ``step_statuses``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from avdcore.errors import AvdError
from azureops.errors import translated
from azureops.plan import Plan, Step, StepContext, follow, run_lro
from bot.capabilities import CAPABILITIES as PRODUCT
from bot.engine.registry import overlay
from bot.runtime import Capability
from bot.sandbox import example_config
from bot.storage import jobs
from commands import ops
from tests.kit.bots import BotHandle, clean_env, start_bot
from tests.kit.waiting import wait_until

KIND = "engine-test"
SUB = "00000000-0000-0000-0000-000000000001"
SNAP_RG, SNAP = "GOLD-VDA", "snap-gold-manual"
MARK = "EngineTest"
TICK = 0.05


def scale_set_id(rg: str, name: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
    )


def snapshot_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/snapshots/{name}"


def compute_client(runtime: Any) -> Any:
    """The runtime's compute client for the seed subscription."""
    return runtime.azure.compute(SUB)


def close_clients(runtime: Any) -> None:
    """Close the SDK connections this kit used (the simulator warns about sockets left open)."""
    runtime.azure.compute(SUB).close()


def tag_step(compute: Any, name: str, value: str, *, step: str) -> Step:
    rid = snapshot_id(SNAP_RG, name)

    def check(ctx: StepContext) -> bool:
        with translated(rid):
            snap = compute.snapshots.get(SNAP_RG, name)
        return bool((snap.tags or {}).get(MARK) == value)

    def apply(ctx: StepContext) -> str:
        with translated(rid):
            tags = dict(compute.snapshots.get(SNAP_RG, name).tags or {})
            run_lro(
                ctx, compute.snapshots.begin_update(SNAP_RG, name, {"tags": {**tags, MARK: value}}), tick=TICK
            )
        return f"tagged {MARK}={value}"

    def resume(ctx: StepContext, token: str) -> str:
        with translated(rid):
            follow(
                ctx, compute.snapshots.begin_update(SNAP_RG, name, {}, continuation_token=token), tick=TICK
            )
        return f"tagged {MARK}={value} (re-attached)"

    return Step(
        name=step,
        resource_id=rid,
        description=f"Tag snapshot {name} {MARK}={value}",
        apply=apply,
        check=check,
        resume=resume,
        estimate_seconds=10,
        intent={"tags": {MARK: value}},
    )


def scale_step(compute: Any, rg: str, name: str, count: int, current: int) -> Step:
    rid = scale_set_id(rg, name)

    def read(ctx: StepContext) -> Any:
        with translated(rid):
            return compute.virtual_machine_scale_sets.get(rg, name)

    def check(ctx: StepContext) -> bool:
        vmss = read(ctx)
        return bool(vmss.sku.capacity == count and vmss.provisioning_state == "Succeeded")

    def apply(ctx: StepContext) -> str:
        vmss = read(ctx)
        if vmss.sku.capacity == count and vmss.provisioning_state == "Updating":
            while (
                state := read(ctx).provisioning_state
            ) == "Updating":  # already under way: wait, don't write
                time.sleep(TICK)
            if state == "Succeeded":
                return f"capacity {count}"
        with translated(rid):
            run_lro(
                ctx,
                compute.virtual_machine_scale_sets.begin_update(rg, name, {"sku": {"capacity": count}}),
                tick=TICK,
            )
        return f"capacity {count}"

    def resume(ctx: StepContext, token: str) -> str:
        with translated(rid):
            follow(
                ctx,
                compute.virtual_machine_scale_sets.begin_update(rg, name, {}, continuation_token=token),
                tick=TICK,
            )
        return f"capacity {count} (re-attached)"

    return Step(
        name="set-capacity",
        resource_id=rid,
        description=f"Set capacity of {name} from {current} to {count}",
        apply=apply,
        check=check,
        resume=resume,
        estimate_seconds=60,
        intent={"capacity": count, "from": current},
    )


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    """Tag the snapshot, scale, tag again: three steps, three Azure writes."""
    assert isinstance(op, ops.Scale)
    rg, name = "VMSS", op.target
    compute = compute_client(runtime)
    with translated(scale_set_id(rg, name)):
        current = compute.virtual_machine_scale_sets.get(rg, name).sku.capacity
    steps = (
        tag_step(compute, SNAP, f"start-{op.count}", step="tag-start"),
        scale_step(compute, rg, name, op.count, current),
        tag_step(compute, SNAP, f"done-{op.count}", step="tag-done"),
    )
    verb = "scale in" if op.count < (current or 0) else "scale"
    return Plan(
        kind=KIND,
        title=f"Scale {name} to {op.count}",
        steps=steps,
        verb=verb,
        summary=f"{name}: {current} -> {op.count}",
    )


def engine_config(
    *, approve: tuple[str, ...] = ("scale",), channels: tuple[str, ...] = ("C0INCIDENT",)
) -> str:
    """avd.example.toml with more verbs needing approval and other allowed channels."""
    text = Path(example_config()).read_text(encoding="utf-8")
    extra = ", ".join(f'"{verb}"' for verb in approve)
    assert "require_approval = []" in text
    text = text.replace("require_approval = []", f"require_approval = [{extra}]")
    allowed = ", ".join(f'"{c}"' for c in channels)
    return text.replace('allowed_channels = ["C0INCIDENT"]', f"allowed_channels = [{allowed}]")


CAPABILITY = Capability(name=KIND, jobs={ops.Scale: KIND}, plans={KIND: build_plan})
CAPABILITIES = overlay(PRODUCT, CAPABILITY)  # the product's table with /avd scale taken over


# ---- the engine tests' own plan tables ---------------------------------------------------------------


class StepWorld:
    """What a test plan's steps do, switched by the test: step ``a`` waits for ``release_a`` (set from the start
    unless ``held``), ``b`` raises while ``fail_b``; with ``note`` each step writes its row (``ctx.note``, a write
    the job lease fences) before it counts as run. ``ran`` lists the steps that ran, in order."""

    def __init__(self, group: str, *, held: bool = False, fail_b: bool = False, note: bool = False) -> None:
        self.group, self.fail_b, self.note = group, fail_b, note
        self.ran: list[str] = []
        self.release_a = threading.Event()
        if not held:
            self.release_a.set()
        self.lock = threading.Lock()

    def step(self, name: str, *, always: bool = False) -> Step:
        def apply(ctx: StepContext) -> str:
            if name == "a":
                assert self.release_a.wait(30), "the test never released step a"
            if self.note:
                ctx.note(f"{name} applying")
            with self.lock:
                self.ran.append(name)
            if name == "b" and self.fail_b:
                raise AvdError("b failed on purpose")
            return f"{name} ok"

        rid = f"/subscriptions/s/resourceGroups/{self.group}/providers/Test.Steps/items/{name}"
        return Step(name=name, resource_id=rid, description=f"Step {name}", apply=apply, always=always)

    def plan(self, kind: str, title: str, names: Sequence[str]) -> Plan:
        """Steps ``names`` in a line, then ``restore``, which runs at any end of the job (``always``)."""
        steps = (*(self.step(name) for name in names), self.step("restore", always=True))
        return Plan(kind=kind, title=title, steps=steps)


def table_bot(
    tmp_path: Path,
    slack_url: str,
    monkeypatch: Any,
    capabilities: Sequence[Capability],
    release: Callable[[], None] = lambda: None,
) -> Iterator[BotHandle]:
    """A fixture's body (``yield from``): a bot with ``capabilities``; ``release`` lets held steps go before it
    stops."""
    clean_env(monkeypatch)
    handle = start_bot(tmp_path, slack_url, capabilities=capabilities)
    try:
        yield handle
    finally:
        release()
        handle.stop()


def request_job(bot: BotHandle, kind: str, target: str) -> int:
    """Ask for a job of plan ``kind`` (an ``/avd scale TARGET 1`` routed to it), without approval."""
    said: list[str] = []
    job_id = bot.runtime.engine.request(
        ops.Scale(target=target, count=1), "U0OPS1", "C0INCIDENT", said.append, kind=kind, approval=False
    )
    assert job_id is not None, said
    return job_id


def job_ended(bot: BotHandle, job_id: int, status: str, timeout: float = 30.0) -> dict[str, Any]:
    """The job's row once it has ``status``."""

    def done() -> dict[str, Any] | None:
        job = jobs.get_job(bot.runtime.store, job_id)
        return job if job is not None and job["status"] == status else None

    job: dict[str, Any] = wait_until(done, timeout=timeout, what=f"job {job_id} {status}")
    return job


def step_statuses(bot: BotHandle, job_id: int) -> dict[str, str]:
    return {s["name"]: s["status"] for s in jobs.get_steps(bot.runtime.store, job_id)}
