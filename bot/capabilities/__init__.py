"""Capabilities: the glue between a parsed operation, the config and an ``azureops`` plan, one module each.

Each module exports one value, ``CAPABILITY`` (a ``bot.runtime.Capability``: handlers, job routes, plan
builders, buttons); ``CAPABILITIES`` lists them all. ``bot.app.build_app`` takes this table (tests pass their
own) and checks that every operation has exactly one handler. Capabilities import ``bot.runtime``,
``bot.config``, ``bot.storage``, the pure text of ``bot.slack`` (render, cards, modals, chart), ``azureops``
and ``commands``; never ``slack_bolt`` or ``bot.app``.
"""

from __future__ import annotations

from bot.capabilities import (
    doctor,
    drill,
    failover,
    identity,
    jobs,
    replicas,
    scale,
    scaleset,
    snapshots,
    status,
)
from bot.runtime import Capability

CAPABILITIES: tuple[Capability, ...] = (
    jobs.CAPABILITY,
    status.CAPABILITY,
    doctor.CAPABILITY,
    replicas.CAPABILITY,
    identity.CAPABILITY,
    scaleset.CAPABILITY,
    scale.CAPABILITY,
    snapshots.CAPABILITY,
    failover.CAPABILITY,
    drill.CAPABILITY,
)
