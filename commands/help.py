"""``/avd help [topic]``: Slack mrkdwn text rendered from the grammar's command table."""

from __future__ import annotations

from commands.flags import FLAG_SUMMARY, FLAGS, flag_usage
from commands.grammar import EXAMPLES, SPECS, CommandSpec
from commands.regions import REGIONS
from commands.topics import TOPICS, resolve_topic

__all__ = ["EXAMPLES", "help_text", "topics"]


def topics() -> tuple[str, ...]:
    """Every topic ``help_text`` explains."""
    return tuple(TOPICS)


def help_text(topic: str | None = None) -> str:
    """The overview (``None``) or one topic in detail; ``UsageError`` with did-you-mean for an unknown topic."""
    if topic is None or not topic.strip():
        return _overview()
    name = resolve_topic(topic.strip())
    if name == "regions":
        return _regions()
    specs = [spec for spec in SPECS if spec.topic == name]
    lines = [f"*{name}*: {TOPICS[name]}", ""]
    for spec in specs:
        lines.append(_line(spec))
        lines.extend(f"    e.g. `/avd {example}`" for example in spec.examples if example != spec.name)
    flags = [flag for flag in FLAGS if any(flag in spec.flags for spec in specs)]
    if flags:
        lines.append("")
        lines.append("Options: " + "; ".join(f"`{flag_usage(flag)}` {FLAG_SUMMARY[flag]}" for flag in flags))
    lines.append("Add `--help` to any command to see this.")
    return "\n".join(lines)


def _line(spec: CommandSpec) -> str:
    return f"`/avd {spec.usage}`: {spec.summary}"


def _overview() -> str:
    lines = ["*avd-ops*: Azure Virtual Desktop disaster recovery from this channel.", ""]
    lines.extend(_line(spec) for spec in SPECS)
    lines.append("")
    lines.append("Options: " + "; ".join(f"`{flag_usage(flag)}` {FLAG_SUMMARY[flag]}" for flag in FLAGS))
    lines.append(f"More: `/avd help TOPIC`, TOPIC one of {', '.join(TOPICS)}.")
    return "\n".join(lines)


def _regions() -> str:
    names = ", ".join(f"`{name}` {display}" for name, display in sorted(REGIONS.items()))
    return f"*regions*: {TOPICS['regions']}\n\n{names}"
