"""Plans: named, ordered, idempotent steps that a capability hands to the job engine.

A ``Step`` says what it changes (``resource_id``, ``description``, ``intent``), whether Azure is already
in the wanted state (``check``), how to get there (``apply``) and how to re-attach to an operation it
started before a restart (``resume``, given the saved continuation token). A step that starts a
long-running operation saves the poller's token through ``ctx.save_token`` *before* waiting; ``run_lro``
does both. The engine records each step like a migration, so a finished step is never applied twice.

Steps form a dependency graph: ``Step.after`` names the steps a step waits for; a plan without ``after`` is a
line, each step after the previous one. The engine runs every step whose needs are done.

``Plan.preview()`` is what the approval card and ``--dry-run`` show; ``Plan.hash()`` binds an approval to
exactly those steps. Nothing here imports ``bot`` or ``slack_*``: the engine passes a ``StepContext``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from azure.core.polling import LROPoller

T = TypeVar("T")


class StepContext(Protocol):
    """What a running step may ask of the engine: nothing else is on the context."""

    @property
    def job_id(self) -> int:
        """The job this step runs in (for a step that reports on the job as a whole, e.g. a summary)."""

    def save_token(self, token: str) -> None:
        """Persist an LRO continuation token now (before waiting on the poller)."""

    def progress(self, percent: float | None, text: str = "") -> None:
        """Report progress; the engine coalesces these into card updates."""

    def note(self, text: str) -> None:
        """Append one line to the step's recorded output."""


CheckFn = Callable[[StepContext], bool]
ApplyFn = Callable[[StepContext], "str | None"]
ResumeFn = Callable[[StepContext, str], "str | None"]


def _not_done(ctx: StepContext) -> bool:
    return False


@dataclass(frozen=True, kw_only=True)
class Step:
    """One idempotent change. ``check`` reads Azure first: True means "already so", the step is skipped.

    ``apply`` returns an optional one-line output. ``resume`` re-attaches to a saved poller; without it
    the engine falls back to ``check`` then ``apply``.
    """

    name: str
    resource_id: str
    description: str
    apply: ApplyFn
    check: CheckFn = _not_done
    resume: ResumeFn | None = None
    estimate_seconds: int = 30
    intent: Mapping[str, Any] = field(default_factory=dict)
    always: bool = False  # runs at any end of the job: done, failed or cancelled (e.g. restore lifted locks)
    # The steps this one needs, by name (each listed earlier in the plan). ``None``: the previous step (a plan
    # of such steps is a line, as before graphs); ``()``: nothing, it may start with the job.
    after: tuple[str, ...] | None = None

    def identity(self) -> dict[str, Any]:
        """What the plan hash covers: name, resource, intended state and, for a graph, the edges."""
        ident = {"name": self.name, "resource": self.resource_id.lower(), "intent": dict(self.intent)}
        if self.after is not None:
            ident["after"] = list(self.after)
        return ident


@dataclass(frozen=True)
class Plan:
    """A capability's ordered steps. ``verb`` is the policy verb (``"scale in"``); it defaults to ``kind``."""

    kind: str
    title: str
    steps: tuple[Step, ...]
    verb: str = ""
    summary: str = ""
    # At most this many steps of a graph at once (0: the engine's default; the engine also keeps it under the
    # ARM budget). Not part of the hash: it changes how fast, not what.
    concurrency: int = 0

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"plan {self.kind!r}: step {step.name!r} appears twice")
            for name in step.after or ():
                if name not in seen:
                    raise ValueError(
                        f"plan {self.kind!r}: step {step.name!r} is after {name!r}, which is not an earlier step"
                    )
            seen.add(step.name)

    def needs(self, name: str) -> tuple[str, ...]:
        """The names of the steps ``name`` waits for (resolved: ``after=None`` is the previous step)."""
        for n, step in enumerate(self.steps):
            if step.name == name:
                if step.after is not None:
                    return step.after
                return (self.steps[n - 1].name,) if n else ()
        raise KeyError(name)

    @property
    def is_line(self) -> bool:
        """True when every step waits for the one before it (no ``after`` anywhere)."""
        return all(step.after is None for step in self.steps)

    @property
    def policy_verb(self) -> str:
        return self.verb or self.kind

    @property
    def locks(self) -> tuple[str, ...]:
        """Lower-cased ids of every resource the plan changes, in first-use order."""
        seen: dict[str, None] = {}
        for step in self.steps:
            if step.resource_id:
                seen.setdefault(step.resource_id.lower(), None)
        return tuple(seen)

    @property
    def estimate_seconds(self) -> int:
        """The longest chain of steps that wait for each other (the sum of all steps for a line)."""
        finish: dict[str, int] = {}
        for step in self.steps:
            start = max((finish[name] for name in self.needs(step.name)), default=0)
            finish[step.name] = start + step.estimate_seconds
        return max(finish.values(), default=0)

    def preview(self) -> list[str]:
        """One line per step: what changes, on which resource, roughly how long; in a graph, also which
        numbered steps it waits for ("after 2, 3"; "at once" for a step that waits for none)."""
        number = {step.name: n for n, step in enumerate(self.steps, 1)}
        line = self.is_line
        lines = []
        for n, step in enumerate(self.steps, 1):
            where = f" on `{resource_label(step.resource_id)}`" if step.resource_id else ""
            when = ""
            if not line:
                needs = self.needs(step.name)
                when = f" · after {', '.join(str(number[x]) for x in needs)}" if needs else " · at once"
            lines.append(f"{n}. {step.description}{where} (~{format_seconds(step.estimate_seconds)}){when}")
        return lines

    def hash(self) -> str:
        """SHA-256 over kind and every step's name, resource and intent; stable across processes."""
        body = {"kind": self.kind, "steps": [s.identity() for s in self.steps]}
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(raw.encode()).hexdigest()

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class ArmRef:
    """A resource in a resource group; subclasses name their ARM type in ``TYPE``."""

    TYPE: ClassVar[str] = ""
    subscription: str
    resource_group: str
    name: str

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
            f"{self.TYPE}/{self.name}"
        )


def resource_label(resource_id: str) -> str:
    """``.../virtualMachineScaleSets/EntraDR`` -> ``virtualMachineScaleSets/EntraDR``; RG-relative for children."""
    parts = [p for p in resource_id.split("/") if p]
    if len(parts) <= 2:
        return resource_id
    try:
        rg = [p.lower() for p in parts].index("resourcegroups")
    except ValueError:
        return "/".join(parts[-2:])
    tail = parts[rg + 1 :]
    if len(tail) >= 5:  # RG/providers/NS/type/name[/child...]: keep RG, then type/name pairs
        return f"{tail[0]}/" + "/".join(tail[3:])
    return "/".join(tail)


def format_seconds(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def poller_percent(poller: LROPoller[Any]) -> float | None:
    """Azure's ``percentComplete`` from the poller's latest status response, when it reports one."""
    try:
        method: Any = poller.polling_method()
        body = method._pipeline_response.http_response.json()
    except Exception:  # noqa: BLE001 - progress is best effort
        return None
    if not isinstance(body, dict):
        return None
    for source in (body, body.get("properties") or {}):
        value = source.get("percentComplete", source.get("completionPercent"))
        if isinstance(value, (int, float)):
            return float(value)
    return None


def follow(ctx: StepContext, poller: LROPoller[T], *, tick: float = 0.5) -> T:
    """Wait on ``poller`` reporting progress; returns its result (raises Azure's error on failure)."""
    last: tuple[float | None, str] | None = None
    while not poller.done():
        poller.wait(timeout=tick)
        current = (poller_percent(poller), poller.status())
        if current != last:
            ctx.progress(*current)
            last = current
    return poller.result()


def run_lro(ctx: StepContext, poller: LROPoller[T], *, tick: float = 0.5) -> T:
    """Save ``poller``'s continuation token first, then follow it to the end."""
    ctx.save_token(poller.continuation_token())
    return follow(ctx, poller, tick=tick)
