"""``parse(text, vocab)``: the whole ``/avd`` command surface, from one table of command specs.

The table (``SPECS``) says, for every command, the words that name it, its usage line, summary,
examples, accepted options and the builder that turns the remaining words into an operation.
``commands.help`` renders the same table, so a command added here is documented there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from avdcore.errors import UsageError
from commands import builders as b
from commands import ops
from commands.flags import FLAGS, Flags, flag_usage, split_flags, suggest_flag
from commands.text import clean, clip, tokenize
from commands.topics import resolve_topic
from commands.values import did_you_mean
from commands.vocab import Vocabulary

_DRY = frozenset({"dry-run"})


@dataclass(frozen=True)
class CommandSpec:
    """One command: ``words`` name it (``("replicas", "add")``); ``default`` marks the action assumed
    when the verb is followed by no known action word."""

    words: tuple[str, ...]
    usage: str
    summary: str
    examples: tuple[str, ...]
    build: b.Builder
    flags: frozenset[str] = frozenset()
    default: bool = False
    topic_word: str = ""

    @property
    def name(self) -> str:
        return " ".join(self.words)

    @property
    def topic(self) -> str:
        return self.topic_word or self.words[0]


def _help(call: b.Call) -> ops.Operation:
    if not call.words:
        return ops.Help()
    call.at_most(2)
    topic = resolve_topic(call.words[0])
    if len(call.words) == 2:
        action = call.words[1].lower()
        action = ACTION_ALIASES.get(action, action)
        if action not in {s.words[-1] for s in SPECS if s.topic == topic and len(s.words) > 1}:
            raise UsageError(f"unexpected '{clip(call.words[1])}'", hint=f"type /avd help {topic}")
    return ops.Help(topic=topic)


_SITE = "[SITE]"
SPECS: tuple[CommandSpec, ...] = (
    CommandSpec(("help",), "help [TOPIC]", "this list, or one topic in detail", ("help", "help failover"), _help),
    CommandSpec(("status",), "status", "DR readiness of every site: replicas, identity, scale sets, host pools",
                ("status",), b.status),
    CommandSpec(("doctor",), "doctor", "check the config and the bot's own Azure permissions", ("doctor",), b.doctor),
    CommandSpec(("replicas", "list"), "replicas [list] [IMAGE[/VERSION]]", "per-region replication state and progress",
                ("replicas", "replicas list Win11MultiS/2026.0522.1719"), b.replicas_list, default=True),
    CommandSpec(("replicas", "add"), "replicas add REGION [IMAGE[/VERSION]] [--count N] [--storage SKU]",
                "replicate an image version to a region",
                ("replicas add uksouth", "replicas add UK South Win11MultiS/2026.0522.1719 --count 2 --storage Standard_ZRS",
                 "replicas add northeurope --dry-run"),
                b.replicas_add, frozenset({"count", "storage", "dry-run"})),
    CommandSpec(("replicas", "remove"), "replicas remove REGION [IMAGE[/VERSION]]",
                "remove the replica in a region (needs approval)", ("replicas remove northeurope",),
                b.replicas_remove, _DRY),
    CommandSpec(("identity", "create"), f"identity create {_SITE}", "managed identity + federated credential",
                ("identity create dr",), b.identity_create, _DRY),
    CommandSpec(("scaleset", "create"), f"scaleset create {_SITE}", "scale set from the gallery image (opens a form)",
                ("scaleset create dr",), b.scaleset_create, _DRY),
    CommandSpec(("scale",), "scale SCALESET|SITE N", "scale out, or in (scale-in needs approval)",
                ("scale EntraDR 2", "scale dr 0 --dry-run"), b.scale, _DRY),
    CommandSpec(("snapshots", "sync"), "snapshots sync PROFILE [--dry-run]",
                "bring the profile's target in line (deletions need approval)", ("snapshots sync gold-to-dr --dry-run",),
                b.snapshots_sync, _DRY),
    CommandSpec(("snapshots", "copy"), "snapshots copy SNAPSHOT PROFILE", "copy one snapshot now",
                ("snapshots copy Win11MultiS-osdisk-20260522 gold-to-dr",), b.snapshots_copy, _DRY),
    CommandSpec(("snapshots", "schedule"), "snapshots schedule PROFILE CRON|off", "when the profile syncs by itself",
                ("snapshots schedule gold-to-dr 0 2 * * *", "snapshots schedule gold-to-dr off"), b.snapshots_schedule),
    CommandSpec(("failover", "plan"), f"failover plan {_SITE}", "preview the failover steps", ("failover plan",),
                b.site_builder(ops.FailoverPlan)),
    CommandSpec(("failover", "start"), f"failover start {_SITE} [--now]",
                "drain, warn, sign out, scale DR, verify, report RTO (needs approval)",
                ("failover start dr", "failover start uksouth --now"), b.site_builder(ops.FailoverStart),
                frozenset({"now", "dry-run"})),
    CommandSpec(("failover", "status"), f"failover status {_SITE}", "progress of the running failover",
                ("failover status",), b.site_builder(ops.FailoverStatus)),
    CommandSpec(("failover", "cancel"), f"failover cancel {_SITE}", "stop the running failover (needs approval)",
                ("failover cancel",), b.site_builder(ops.FailoverCancel)),
    CommandSpec(("failback", "plan"), f"failback plan {_SITE}", "preview the way back to the primary",
                ("failback plan",), b.site_builder(ops.FailbackPlan)),
    CommandSpec(("failback", "start"), f"failback start {_SITE}", "move users back to the primary (needs approval)",
                ("failback start primary",), b.site_builder(ops.FailbackStart), _DRY),
    CommandSpec(("drill",), f"drill {_SITE}", "rehearse: bring up DR capacity, verify, tear down, report RTO",
                ("drill", "drill dr --dry-run"), b.site_builder(ops.Drill), _DRY),
    CommandSpec(("jobs",), "jobs", "recent and running jobs", ("jobs",), b.jobs),
    CommandSpec(("job",), "job ID [retry|cancel]", "one job's steps; retry from the failed step, or cancel",
                ("job 42", "job 42 retry"), b.job, topic_word="jobs"),
    CommandSpec(("audit",), "audit [N]", "the last N audit entries (default 20)", ("audit", "audit 50"), b.audit),
)  # fmt: skip

VERB_ALIASES: dict[str, str] = {
    "replica": "replicas", "snapshot": "snapshots", "scalesets": "scaleset", "scale-set": "scaleset",
    "identities": "identity", "?": "help",
}  # fmt: skip
ACTION_ALIASES: dict[str, str] = {"ls": "list", "rm": "remove", "delete": "remove", "new": "create"}
BY_VERB: dict[str, tuple[CommandSpec, ...]] = {
    verb: tuple(s for s in SPECS if s.words[0] == verb) for verb in dict.fromkeys(s.words[0] for s in SPECS)
}
EXAMPLES: tuple[str, ...] = tuple(example for spec in SPECS for example in spec.examples)


NO_VOCABULARY = Vocabulary()


def parse(text: str, vocab: Vocabulary | None = None) -> ops.Operation:
    """The operation the text after ``/avd`` asks for; ``UsageError`` (always with a hint) otherwise. The same
    text with the same vocabulary is parsed once (operations are frozen; the ack path parses every command)."""
    vocab = vocab if vocab is not None else NO_VOCABULARY
    if not isinstance(text, str):  # not hashable, maybe: ``clean`` refuses it with a hint
        return _parse.__wrapped__(text, vocab)
    return _parse(text, vocab)


@functools.lru_cache(maxsize=256)
def _parse(text: str, vocab: Vocabulary) -> ops.Operation:
    words = tokenize(clean(text))
    positional, flags = split_flags(words)
    if not positional:
        if not words or "help" in flags:
            return ops.Help()
        raise UsageError(
            "options need a command",
            hint="e.g. /avd replicas add uksouth --dry-run; /avd help lists the commands.",
        )
    specs = _verb(positional[0])
    if "help" in flags:
        return ops.Help(topic=specs[0].topic)
    spec, rest, defaulted = _action(specs, positional)
    _check_flags(spec, flags)
    return spec.build(b.Call(spec.usage, rest, flags, vocab, defaulted))


def _verb(word: str) -> tuple[CommandSpec, ...]:
    key = word.lower()
    specs = BY_VERB.get(VERB_ALIASES.get(key, key))
    if specs is None:
        guess = did_you_mean(key, [*BY_VERB, *VERB_ALIASES])
        hint = f"did you mean {VERB_ALIASES.get(guess, guess)}? " if guess else ""
        raise UsageError(f"unknown command '{clip(word)}'", hint=f"{hint}Type /avd help for the list.")
    return specs


def _action(specs: tuple[CommandSpec, ...], positional: list[str]) -> tuple[CommandSpec, list[str], bool]:
    """The spec the words name, the words after its name, and whether the action was assumed."""
    if len(specs[0].words) == 1:
        return specs[0], positional[1:], False
    verb = specs[0].words[0]
    actions = [s.words[1] for s in specs]
    if len(positional) > 1:
        key = positional[1].lower()
        key = ACTION_ALIASES.get(key, key)
        for spec in specs:
            if spec.words[1] == key:
                return spec, positional[2:], False
    for spec in specs:
        if spec.default:
            return spec, positional[1:], True
    usage = f"usage: /avd {verb} {'|'.join(actions)} ..., e.g. /avd {specs[0].examples[0]}"
    if len(positional) == 1:
        raise UsageError(f"{verb} needs an action: {', '.join(actions)}", hint=usage)
    guess = did_you_mean(positional[1], [*actions, *ACTION_ALIASES])
    hint = f"did you mean {verb} {ACTION_ALIASES.get(guess, guess)}? " if guess else ""
    raise UsageError(f"unknown {verb} action '{clip(positional[1])}'", hint=hint + usage)


def _accepted(spec: CommandSpec) -> str:
    flags = [flag_usage(f) for f in FLAGS if f in spec.flags]
    listed = f"{spec.name} accepts {', '.join(flags)}" if flags else f"{spec.name} takes no options"
    return f"{listed}; usage: /avd {spec.usage}"


def _check_flags(spec: CommandSpec, flags: Flags) -> None:
    if flags.unknown:
        typed = flags.unknown[0]
        guess = suggest_flag(typed, [f for f in FLAGS if f in spec.flags or f == "help"])
        hint = f"did you mean --{guess}? " if guess else ""
        raise UsageError(f"unknown option '{typed}'", hint=hint + _accepted(spec))
    for flag in flags.values:
        if flag in spec.flags or flag == "help":
            continue
        if flag == "dry-run":
            raise UsageError(
                f"--dry-run is not accepted by {spec.name}",
                hint=f"{spec.name} changes nothing in Azure, so there is nothing to preview: run it without --dry-run.",
            )
        raise UsageError(f"--{flag} is not accepted by {spec.name}", hint=_accepted(spec))
    if flags.problems:
        raise flags.problems[0]
