"""Graph test kit: the engine kit's steps (``tests.kit.engine``) wired as a graph of three branches.

``/avd scale SCALESET N`` plans, through the real SDK against the ARM simulator::

    tag os-0522 -> tag data-0522 --+
    tag os-0515 -> tag scratch ----+-> tag manual (the join)
    set capacity of SCALESET ------+

Six steps, six Azure writes to six different resources (each an LRO whose continuation token is saved before
waiting, so a killed bot re-attaches), three of them at once. Served as a process with
``Bot(env, "tests.kit.graph")`` (``tests.kit.serve``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from azureops.errors import translated
from azureops.plan import Plan
from bot.capabilities import CAPABILITIES as PRODUCT
from bot.engine.registry import overlay
from bot.runtime import Capability
from commands import ops
from tests.kit.engine import compute_client, scale_set_id, scale_step, tag_step

KIND = "graph-kit"
BRANCHES = {  # step name -> (snapshot, the steps it waits for)
    "tag-a1": ("snap-gold-os-20260522", ()),
    "tag-a2": ("snap-gold-data-20260522", ("tag-a1",)),
    "tag-b1": ("snap-gold-os-20260515", ()),
    "tag-b2": ("snap-gold-scratch", ("tag-b1",)),
}
JOIN = "snap-gold-manual"


def build_plan(runtime: Any, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.Scale)
    rg, name = "VMSS", op.target
    compute = compute_client(runtime)
    with translated(scale_set_id(rg, name)):
        current = compute.virtual_machine_scale_sets.get(rg, name).sku.capacity
    steps = [
        dataclasses.replace(tag_step(compute, snap, f"graph-{op.count}", step=step), after=after)
        for step, (snap, after) in BRANCHES.items()
    ]
    steps.append(dataclasses.replace(scale_step(compute, rg, name, op.count, current), after=()))
    join = tag_step(compute, JOIN, f"graph-{op.count}", step="tag-join")
    steps.append(dataclasses.replace(join, after=("tag-a2", "tag-b2", "set-capacity")))
    return Plan(kind=KIND, title=f"Graph: scale {name} to {op.count}", steps=tuple(steps), verb="scale")


CAPABILITY = Capability(name=KIND, jobs={ops.Scale: KIND}, plans={KIND: build_plan})
CAPABILITIES = overlay(PRODUCT, CAPABILITY)
