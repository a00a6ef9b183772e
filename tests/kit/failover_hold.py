"""Overlaid on the product's table (``python -m tests.kit.serve tests.kit.failover_hold serve``) in the failover crash test: the failover's bot-side
``summary`` step waits while the file named by ``AVD_TEST_HOLD`` exists, so the test can SIGKILL the bot inside
that step (its Azure steps are held open by simulator latency instead). The plan is otherwise the product's."""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import datetime

from azureops.plan import Plan, Step, StepContext
from bot.capabilities import failover
from bot.runtime import Capability, Runtime
from commands import ops


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


CAPABILITY = Capability(
    name="failover-hold", jobs={ops.FailoverStart: failover.FAILOVER}, plans={failover.FAILOVER: build}
)
