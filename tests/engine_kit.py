"""Job-engine test kit: a small real capability over the ARM simulator, and a bot fixture for it.

The capability ``engine-test`` answers ``/avd scale SCALESET N`` (a scale set in resource group VMSS) with
a three-step plan through the real SDK: tag a gold snapshot (PATCH, an LRO), set the scale set's capacity
(PATCH, an LRO), tag the snapshot again. Each step reads
Azure first, saves its poller's continuation token before waiting and can re-attach to it. Tests import
``register_capabilities`` through ``AVD_CAPABILITIES=tests.engine_kit`` (also in an ``avd-bot serve``
subprocess), so it replaces any product capability for ``Scale`` while they run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.mgmt.compute import ComputeManagementClient

from azureops.errors import translated
from azureops.plan import Plan, Step, StepContext, follow, run_lro
from bot import runner
from bot.runner import register_capability
from bot.sandbox import example_config
from commands import ops

KIND = "engine-test"
SUB = "00000000-0000-0000-0000-000000000001"
SNAP_RG, SNAP = "GOLD-VDA", "snap-gold-manual"
MARK = "EngineTest"
TICK = 0.05


def scale_set_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"


def snapshot_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/snapshots/{name}"


class StaticCredential:
    """A bearer token for the loopback simulator (used only while azureops.clients is missing)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("sim-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo("sim-token", int(time.time()) + 3600)

    def close(self) -> None:
        return None


def compute_client(runtime: Any) -> Any:
    """The runtime's compute client when azureops.clients provides one, else a real SDK client built here."""
    azure = runtime.azure
    if azure is not None and callable(getattr(azure, "compute", None)):
        return azure.compute(SUB)
    cached = runtime.extensions.get("engine-test-compute")
    if cached is None:
        settings = runtime.settings
        cached = ComputeManagementClient(StaticCredential(), SUB,
                                         base_url=settings.arm_endpoint,
                                         connection_verify=settings.ca_bundle or True, retry_total=2)
        runtime.extensions["engine-test-compute"] = cached
    return cached


def close_clients(runtime: Any) -> None:
    """Close the SDK connections this kit used (the simulator warns about sockets left open)."""
    client = runtime.extensions.pop("engine-test-compute", None)
    if client is None and runtime.azure is not None and callable(getattr(runtime.azure, "compute", None)):
        client = runtime.azure.compute(SUB)
    if client is not None:
        client.close()


def tag_step(compute: Any, name: str, value: str, *, step: str) -> Step:
    rid = snapshot_id(SNAP_RG, name)

    def check(ctx: StepContext) -> bool:
        with translated(rid):
            snap = compute.snapshots.get(SNAP_RG, name)
        return bool((snap.tags or {}).get(MARK) == value)

    def apply(ctx: StepContext) -> str:
        with translated(rid):
            tags = dict(compute.snapshots.get(SNAP_RG, name).tags or {})
            run_lro(ctx, compute.snapshots.begin_update(SNAP_RG, name, {"tags": {**tags, MARK: value}}), tick=TICK)
        return f"tagged {MARK}={value}"

    def resume(ctx: StepContext, token: str) -> str:
        with translated(rid):
            follow(ctx, compute.snapshots.begin_update(SNAP_RG, name, {}, continuation_token=token), tick=TICK)
        return f"tagged {MARK}={value} (re-attached)"

    return Step(name=step, resource_id=rid, description=f"Tag snapshot {name} {MARK}={value}", apply=apply,
                check=check, resume=resume, estimate_seconds=10, intent={"tags": {MARK: value}})


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
            while (state := read(ctx).provisioning_state) == "Updating":  # already under way: wait, don't write
                time.sleep(TICK)
            if state == "Succeeded":
                return f"capacity {count}"
        with translated(rid):
            run_lro(ctx, compute.virtual_machine_scale_sets.begin_update(rg, name, {"sku": {"capacity": count}}),
                    tick=TICK)
        return f"capacity {count}"

    def resume(ctx: StepContext, token: str) -> str:
        with translated(rid):
            follow(ctx, compute.virtual_machine_scale_sets.begin_update(rg, name, {}, continuation_token=token),
                   tick=TICK)
        return f"capacity {count} (re-attached)"

    return Step(name="set-capacity", resource_id=rid, description=f"Set capacity of {name} from {current} to {count}",
                apply=apply, check=check, resume=resume, estimate_seconds=60,
                intent={"capacity": count, "from": current})


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    """Tag the snapshot, scale, tag again: three steps, three Azure writes."""
    assert isinstance(op, ops.Scale)
    rg, name = "VMSS", op.target
    compute = compute_client(runtime)
    with translated(scale_set_id(rg, name)):
        current = compute.virtual_machine_scale_sets.get(rg, name).sku.capacity
    steps = (tag_step(compute, SNAP, f"start-{op.count}", step="tag-start"),
             scale_step(compute, rg, name, op.count, current),
             tag_step(compute, SNAP, f"done-{op.count}", step="tag-done"))
    verb = "scale in" if op.count < (current or 0) else "scale"
    return Plan(kind=KIND, title=f"Scale {name} to {op.count}", steps=steps, verb=verb,
                summary=f"{name}: {current} -> {op.count}")


@contextlib.contextmanager
def capabilities_restored() -> Iterator[None]:
    """Undo every ``register_capability`` made inside (the registry is process-wide)."""
    saved = dict(runner.CAPABILITIES), dict(runner.OP_KINDS)
    try:
        yield
    finally:
        runner.CAPABILITIES.clear()
        runner.CAPABILITIES.update(saved[0])
        runner.OP_KINDS.clear()
        runner.OP_KINDS.update(saved[1])


def engine_config(*, approve: tuple[str, ...] = ("scale",), channels: tuple[str, ...] = ("C0INCIDENT",)) -> str:
    """avd.example.toml with more verbs needing approval and other allowed channels."""
    text = Path(example_config()).read_text(encoding="utf-8")
    extra = "".join(f'"{verb}", ' for verb in approve)
    text = text.replace('require_approval = [\n  "replicas remove",', f'require_approval = [\n  {extra}"replicas remove",')
    allowed = ", ".join(f'"{c}"' for c in channels)
    return text.replace('allowed_channels = ["C0INCIDENT"]', f"allowed_channels = [{allowed}]")


def register_capabilities() -> None:
    register_capability(KIND, build_plan, op_type=ops.Scale)


register_capabilities()
