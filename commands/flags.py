"""Options (``--dry-run``, ``--count N``, ``--count=N``): found anywhere in the words and set apart.

Which command accepts which option is the grammar's business; here an option is only recognised,
given its value, and any problem is kept for the grammar to report once it knows the command.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from avdcore.errors import UsageError
from commands.text import clip

# name -> metavar ("" when the option takes no value), in the order help lists them
FLAGS: dict[str, str] = {"dry-run": "", "count": "N", "storage": "SKU", "now": "", "help": ""}
FLAG_SUMMARY: dict[str, str] = {
    "dry-run": "show the plan, change nothing (commands that change Azure)",
    "count": "replicas per region, 1-10 (replicas add)",
    "storage": "Standard_LRS, Standard_ZRS, Premium_LRS or PremiumV2_LRS (replicas add)",
    "now": "skip the users' grace period (failover start)",
    "help": "help for the command instead of running it",
}
_ALIASES: dict[str, str] = {"h": "help", "dryrun": "dry-run", "whatif": "dry-run"}
_FLAG_LIKE = re.compile(r"^-(-|[^\W\d])")


def flag_key(name: str) -> str:
    """The option a typed name means (``--Dry_Run`` -> ``dry-run``), or ``""`` when unknown."""
    key = name.lower().replace("_", "").replace("-", "")
    for flag in FLAGS:
        if flag.replace("-", "") == key:
            return flag
    return _ALIASES.get(key, "")


def suggest_flag(name: str, allowed: list[str]) -> str | None:
    """The allowed option closest to a mistyped one."""
    key = name.lower().lstrip("-")
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def flag_usage(flag: str) -> str:
    metavar = FLAGS[flag]
    return f"--{flag} {metavar}" if metavar else f"--{flag}"


@dataclass
class Flags:
    """Options as given: ``values`` (``""`` for a switch), unknown names as typed, deferred problems."""

    values: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    problems: list[UsageError] = field(default_factory=list)

    def __contains__(self, flag: str) -> bool:
        return flag in self.values


def is_flag(word: str) -> bool:
    return bool(_FLAG_LIKE.match(word))


def split_flags(words: list[str]) -> tuple[list[str], Flags]:
    """``words`` -> (the positional words in order, the options)."""
    positional: list[str] = []
    flags = Flags()
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not is_flag(word):
            positional.append(word)
            continue
        name, has_value, value = word.lstrip("-").partition("=")
        flag = flag_key(name)
        if not flag:
            flags.unknown.append(clip(word.partition("=")[0], 30))
            continue
        if not FLAGS[flag]:
            if has_value:
                flags.problems.append(
                    UsageError(
                        f"--{flag} takes no value", hint=f"write just --{flag}, without '={clip(value, 20)}'."
                    )
                )
            flags.values[flag] = ""
            continue
        if not has_value and index < len(words) and not is_flag(words[index]):
            value = words[index]
            index += 1
        elif not has_value or not value:
            flags.problems.append(
                UsageError(
                    f"--{flag} needs a value", hint=f"write {flag_usage(flag)}, e.g. {_EXAMPLE[flag]}."
                )
            )
            continue
        previous = flags.values.get(flag)
        if previous is not None and previous != value:
            flags.problems.append(
                UsageError(
                    f"--{flag} is given twice",
                    hint=f"keep one: --{flag} {clip(previous, 20)} or --{flag} {clip(value, 20)}.",
                )
            )
        flags.values[flag] = value
    return positional, flags


_EXAMPLE: dict[str, str] = {"count": "--count 2", "storage": "--storage Standard_ZRS"}
