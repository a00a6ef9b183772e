"""/avd help: generated from the grammar's table; every example parses with the seed vocabulary."""

from __future__ import annotations

import pytest

from commands import UsageError, Vocabulary, ops, parse
from commands.grammar import SPECS
from commands.help import EXAMPLES, help_text, topics
from commands.regions import REGIONS

SEED = Vocabulary(
    sites={"primary": "westeurope", "dr": "uksouth"},
    profiles=("gold-to-dr",),
    scale_sets=("Entra", "EntraDR"),
)
SLACK_SECTION_LIMIT = 3000


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_parses_with_the_seed_vocabulary(example: str) -> None:
    op = parse(example, SEED)
    assert isinstance(op, ops.Operation)
    assert not example.startswith("/avd")


def test_examples_cover_every_command() -> None:
    assert len(EXAMPLES) == sum(len(spec.examples) for spec in SPECS)
    for spec in SPECS:
        assert spec.examples, spec.name
        assert {parse(example, SEED).verb.split()[0] for example in spec.examples} == {spec.words[0]}


@pytest.mark.parametrize("topic", [None, "", *topics()])
def test_every_topic_fits_a_slack_section(topic: str | None) -> None:
    text = help_text(topic)
    assert 100 < len(text) < SLACK_SECTION_LIMIT
    assert "<" not in text and ">" not in text and "&" not in text  # nothing Slack would need escaped
    assert text.count("`") % 2 == 0


def test_overview_lists_every_command_and_topic() -> None:
    text = help_text(None)
    for spec in SPECS:
        assert f"`/avd {spec.usage}`" in text
    for topic in topics():
        assert topic in text
    for flag in ("--dry-run", "--count N", "--storage SKU", "--now", "--help"):
        assert flag in text


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_each_topic_shows_its_commands_and_examples(spec: object) -> None:
    from commands.grammar import CommandSpec

    assert isinstance(spec, CommandSpec)
    text = help_text(spec.topic)
    assert f"`/avd {spec.usage}`" in text
    for example in spec.examples:
        assert example == spec.name or f"`/avd {example}`" in text
    # `/avd <command> --help` asks for the same topic
    assert parse(f"{spec.examples[0]} --help", SEED) == ops.Help(topic=spec.topic)


@pytest.mark.parametrize(
    ("alias", "topic"), [("job", "jobs"), ("REPLICAS", "replicas"), (" failover ", "failover")]
)
def test_topic_aliases(alias: str, topic: str) -> None:
    assert help_text(alias) == help_text(topic)


def test_regions_topic_lists_every_region() -> None:
    text = help_text("regions")
    for name, display in REGIONS.items():
        assert f"`{name}` {display}" in text


@pytest.mark.parametrize(
    ("topic", "hint"),
    [("bogus", "Topics: help, status"), ("falover", "did you mean failover?"), ("snapshot-sync", "Topics:")],
)
def test_unknown_topic(topic: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        help_text(topic)
    assert caught.value.message == f"no help topic '{topic}'"
    assert hint in caught.value.hint


def test_help_topics_from_parse_render() -> None:
    for topic in topics():
        op = parse(f"help {topic}", SEED)
        assert isinstance(op, ops.Help)
        assert help_text(op.topic)
