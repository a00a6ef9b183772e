"""Loaded by ``avd-bot serve`` through ``AVD_CAPABILITIES`` in the failover crash test: the failover's bot-side
``summary`` step waits while the file named by ``AVD_TEST_HOLD`` exists, so the test can SIGKILL the bot inside
that step (its Azure steps are held open by simulator latency instead). The plan is otherwise the product's."""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import datetime
from typing import TYPE_CHECKING

from azureops.plan import Plan, Step, StepContext
from bot.capabilities import failover
from bot.runner import register_capability
from commands import ops

if TYPE_CHECKING:
    from bot.app import Runtime


def held(step: Step) -> Step:
    def apply(ctx: StepContext) -> str | None:
        hold = os.environ.get("AVD_TEST_HOLD", "")
        while hold and os.path.exists(hold):
            time.sleep(0.02)
        return step.apply(ctx)

    return dataclasses.replace(step, apply=apply)


def build(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    plan = failover.build_failover(runtime, op, now)
    return dataclasses.replace(plan, steps=tuple(held(s) if s.name == "summary" else s for s in plan.steps))


def register_capabilities() -> None:
    register_capability(failover.FAILOVER, build, op_type=ops.FailoverStart)
