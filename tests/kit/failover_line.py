"""Overlaid on the product's table in ``bench/failover.py``: the failover as it was before graphs, a line (the DR
preflight and the primary probe, the primary's autoscale off, drain, message and grace period, log-off, then the
ASR plan, the DR scale-out and the wait for its hosts, post-steps, summary), each step after the previous one. The
steps are the product's."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from azureops.plan import Plan
from bot.capabilities import failover
from bot.runtime import Capability, Runtime
from commands import ops

ORDER = (
    "dr-preflight",
    "primary-probe",
    "primary-autoscale-off",
    "primary-drain",
    "notify-users",
    "log-off-users",
    "asr-failover",
    "dr-scale-out",
    "dr-hosts-available",
)


def line(plan: Plan) -> Plan:
    """``plan``'s steps in the sequential order, each after the previous one."""
    rank = {name: n for n, name in enumerate(ORDER)}
    ordered = sorted(
        plan.steps, key=lambda s: rank.get(s.name, len(ORDER))
    )  # stable: the rest keep their order
    return dataclasses.replace(plan, steps=tuple(dataclasses.replace(s, after=None) for s in ordered))


def build(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    return line(failover.build_failover(runtime, op, now))


CAPABILITY = Capability(
    name="failover-line", jobs={ops.FailoverStart: failover.FAILOVER}, plans={failover.FAILOVER: build}
)
