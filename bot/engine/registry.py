"""The capability registry: the capabilities' tables merged into the runtime's ``Registry``, checked once.

``build_registry(capabilities)`` is called by the composition root. Every ``ops.Operation`` must end up with
exactly one handler: a capability's own, or a route to a plan kind (``Capability.jobs``: the Slack side
requests it as a job, ``bot.slack.requests.run_as_job``). Two capabilities claiming one operation, an operation nobody answers, or a route to a
plan kind nobody builds is a start-up error, not a convention.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bot.runtime import Capability, Registry
from commands import ops
from commands.ops import Operation


def operation_types() -> tuple[type[Operation], ...]:
    """Every concrete operation the parser can produce."""
    return tuple(
        cls
        for cls in vars(ops).values()
        if isinstance(cls, type) and issubclass(cls, Operation) and cls is not Operation
    )


def build_registry(capabilities: Iterable[Capability]) -> Registry:
    registry = Registry()
    owner: dict[type[Operation], str] = {}
    for cap in capabilities:
        for op_type in [*cap.handlers, *cap.jobs]:
            if op_type in owner:
                raise AssertionError(
                    f"{op_type.__name__} is answered by both {owner[op_type]!r} and {cap.name!r}"
                )
            owner[op_type] = cap.name
        for kind in cap.plans:
            if kind in registry.plans:
                raise AssertionError(f"plan kind {kind!r} is built by two capabilities (one is {cap.name!r})")
        registry.handlers.update(cap.handlers)
        registry.jobs.update(cap.jobs)
        registry.plans.update(cap.plans)
        registry.ack_answers.update(cap.ack_answers)
        for action_id in cap.buttons:
            if action_id in registry.buttons:
                raise AssertionError(
                    f"button {action_id!r} is answered by two capabilities (one is {cap.name!r})"
                )
        registry.buttons.update(cap.buttons)
        registry.timers.update(cap.timers)
        if cap.form is not None:
            registry.forms.append(cap.form)
        if cap.on_start is not None:
            registry.on_start.append(cap.on_start)
    return registry


def check_complete(registry: Registry, operations: Iterable[type[Operation]] | None = None) -> None:
    """Every operation has a handler and every job route a plan builder (the start-up assertion)."""
    missing = [
        t.__name__
        for t in (operation_types() if operations is None else operations)
        if t not in registry.handlers and t not in registry.jobs
    ]
    if missing:
        raise AssertionError(f"no capability answers {', '.join(sorted(missing))}")
    unbuilt = sorted({kind for kind in registry.jobs.values() if kind not in registry.plans})
    if unbuilt:
        raise AssertionError(f"operations are routed to plan kinds nobody builds: {', '.join(unbuilt)}")


def overlay(capabilities: Iterable[Capability], *extra: Capability) -> tuple[Capability, ...]:
    """``capabilities`` with ``extra`` taking over whatever operations, plan kinds and buttons they claim (a
    test or benchmark capability that replaces part of the product's table)."""
    ops_taken = {t for cap in extra for t in [*cap.handlers, *cap.jobs]}
    kinds_taken = {k for cap in extra for k in cap.plans}
    buttons_taken = {b for cap in extra for b in cap.buttons}
    kept = tuple(
        replace(
            cap,
            handlers={t: h for t, h in cap.handlers.items() if t not in ops_taken},
            jobs={t: k for t, k in cap.jobs.items() if t not in ops_taken},
            plans={k: b for k, b in cap.plans.items() if k not in kinds_taken},
            buttons={a: b for a, b in cap.buttons.items() if a not in buttons_taken},
        )
        for cap in capabilities
    )
    return (*kept, *extra)
