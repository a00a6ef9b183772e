"""``[policy]``: who may run and approve commands, and which verbs wait for a second person.

Safe by default: every verb that changes or removes capacity, identities or data (``DESTRUCTIVE_VERBS``) waits
for an approver unless ``exempt_from_approval`` names it; ``require_approval`` adds more verbs (e.g.
``"replicas add"``, ``"scale out"``). ``Policy.require_approval`` is the resulting set, the one every check
reads; ``Policy.exempted`` lists the destructive verbs a config let run unapproved (``/avd doctor`` and the
start-up log name them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.config.schema import checked

# Each changes or removes capacity, identities or data. "failover cancel" is the rollback of a failover;
# "scale in" also covers the DR scale-down after a failback; "snapshots sync" is the verb of every
# /avd sync (its plans may delete snapshots and lift locks, refused unless the verb needs approval).
# "drill" is not here: its plan refuses a DR scale set that already runs instances, so it only adds and
# then removes its own capacity (list it in require_approval to ask anyway).
DESTRUCTIVE_VERBS = (
    "failover start",
    "failover cancel",
    "failback start",
    "replicas remove",
    "scale in",
    "scaleset create",
    "identity create",
    "snapshots sync",
)
# Verbs a config may name: the commands that change Azure and the plans' policy verbs.
APPROVABLE_VERBS = (
    *DESTRUCTIVE_VERBS,
    "replicas add",
    "scale",
    "scale out",
    "snapshots copy",
    "drill",
)


@dataclass(frozen=True)
class Policy:
    operators: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    allowed_channels: tuple[str, ...] = ()
    two_person_rule: bool = True
    approval_ttl_minutes: int = 15
    require_approval: tuple[str, ...] = DESTRUCTIVE_VERBS  # the effective set: defaults + extra - exempt
    exempt_from_approval: tuple[str, ...] = ()

    @property
    def exempted(self) -> tuple[str, ...]:
        """The destructive verbs this policy lets run without a second person."""
        return tuple(v for v in DESTRUCTIVE_VERBS if v not in self.require_approval)


def parse_policy(raw: Any, source: str, problems: list[str]) -> Policy:
    """``[policy]`` -> ``Policy``; one problem per wrong type, unknown key or unknown verb."""
    where = f"{source}: [policy]"
    body: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    if not isinstance(raw, Mapping):
        problems.append(
            f"{where} must be a table: write [policy] with operators, approvers, allowed_channels."
        )
    good = checked(where, body, Policy, problems)
    extra = _verbs(where, "require_approval", good.get("require_approval", ()), problems)
    exempt = _verbs(where, "exempt_from_approval", good.get("exempt_from_approval", ()), problems)
    if both := sorted(set(extra) & set(exempt)):
        problems.append(
            f"{where} lists {', '.join(both)} in both require_approval and exempt_from_approval: keep one."
        )
    if "scale in" in exempt and "scale" in extra:
        problems.append(f"{where} requires approval for every scale but exempts scale in: keep one.")
    required = tuple(dict.fromkeys(v for v in (*DESTRUCTIVE_VERBS, *extra) if v not in exempt))
    if good.get("approval_ttl_minutes", 15) <= 0:
        problems.append(f"{where} approval_ttl_minutes must be at least 1, e.g. approval_ttl_minutes = 15.")
    policy = Policy(**{**good, "require_approval": required, "exempt_from_approval": exempt})
    if not policy.operators:
        problems.append(f"{where} operators is empty: nobody could run a command.")
    if not policy.approvers:
        problems.append(f"{where} approvers is empty: destructive commands could never be approved.")
    if not policy.allowed_channels:
        problems.append(f"{where} allowed_channels is empty: name the incident channel id(s).")
    return policy


def _verbs(where: str, key: str, verbs: tuple[str, ...], problems: list[str]) -> tuple[str, ...]:
    known = [v for v in verbs if v in APPROVABLE_VERBS]
    for verb in verbs:
        if verb not in APPROVABLE_VERBS:
            problems.append(
                f"{where} {key}: unknown verb {verb!r}; the verbs are {', '.join(APPROVABLE_VERBS)}."
            )
    return tuple(dict.fromkeys(known))
