"""Property tests: whatever is typed, parse returns a well-formed operation or a UsageError with a hint."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands import UsageError, Vocabulary, ops, parse
from commands.cron import validate_cron
from commands.grammar import ACTION_ALIASES, EXAMPLES, SPECS, VERB_ALIASES
from commands.regions import REGIONS
from commands.values import STORAGE_SKUS

SEED = Vocabulary(
    sites={"primary": "westeurope", "dr": "uksouth"},
    profiles=("gold-to-dr",),
    scale_sets=("Entra", "EntraDR"),
)
VOCABS = st.sampled_from(
    [SEED, Vocabulary(), Vocabulary(sites={"a": "eastus", "b": "eastus"}, profiles=("p",))]
)

WORDS = sorted(
    {word for spec in SPECS for word in spec.words}
    | set(VERB_ALIASES)
    | set(ACTION_ALIASES)
    | {"retry", "cancel", "off", "OFF", "list", "add", "create", "@daily"}
)
VALUES = [
    "uksouth", "UK", "South", "UK South", "westeurope", "West", "Europe", "Australia", "Central", "2", "uksuoth",
    "primary", "dr", "DR", "gold-to-dr", "Entra", "EntraDR", "Win11MultiS", "Win11MultiS/2026.0522.1719",
    "2026.0522.1719", "Win11/1.2", "/", "a/b/c", "0", "1", "10", "11", "200", "201", "1000", "-1", "#5",
    "99999999999999999999999", "*", "*/5", "1-5", "mon-fri", "jan", "5/10", "1,2,3", "?", "", "snap-1",
]  # fmt: skip
FLAGS = [
    "--dry-run", "--count", "--count=2", "--count=x", "--storage", "--storage=standard_zrs", "--storage=hdd", "--now",
    "--help", "-h", "--", "-", "--dryrun=1", "--force", "\u2014now", "\u2013dry-run", "-x", "--count=",
]  # fmt: skip
JUNK = [
    "<@U123>", "<#C1|x>", "<!here>", "&lt;", "&amp;", "&gt;", '"', "'", "\u201c", "\u201d", "\u2018", "`", "```",
    "\u00a0", "\u200b", "\x00", "\ufeff", "\\", "\U0001f680", "\u0130", "\u017f", "ǅ", "١٢", "²",
]  # fmt: skip
SEPARATORS = st.sampled_from([" ", "  ", "\u00a0", "\t", "\n", ""])
TOKEN = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(str.upper),
    st.sampled_from(VALUES),
    st.sampled_from(FLAGS),
    st.sampled_from(JUNK),
    st.sampled_from(sorted(REGIONS)),
    st.sampled_from(sorted(REGIONS.values())),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=12),
)


def check(text: str, vocab: Vocabulary) -> None:
    """The property: an operation whose fields are valid, or a UsageError with a hint; nothing else."""
    try:
        op = parse(text, vocab)
    except UsageError as error:
        assert error.message.strip()
        assert error.hint.strip()
        assert len(str(error)) < 600
        return
    assert isinstance(op, ops.Operation)
    assert op.verb
    hash(op)
    well_formed(op, vocab)


def well_formed(op: ops.Operation, vocab: Vocabulary) -> None:
    if isinstance(op, ops.ReplicasAdd | ops.ReplicasRemove):
        assert op.region in REGIONS
    if isinstance(op, ops.ReplicasAdd):
        assert op.count is None or 1 <= op.count <= 10
        assert op.storage is None or op.storage in STORAGE_SKUS
    if isinstance(op, ops.Scale):
        assert 0 <= op.count <= 1000
        assert op.target
    site = getattr(op, "site", None)
    if site is not None and vocab.sites:
        assert site in vocab.sites
    profile = getattr(op, "profile", None)
    if profile is not None:
        assert profile in vocab.profiles
    if isinstance(op, ops.SnapshotsSchedule) and op.cron is not None:
        assert validate_cron(op.cron) == op.cron
    if isinstance(op, ops.JobShow | ops.JobRetry | ops.JobCancel):
        assert op.job_id >= 1
    if isinstance(op, ops.Audit):
        assert 1 <= op.count <= 200
    if getattr(op, "dry_run", False):
        assert op.changes_azure
    if isinstance(op, ops.Help) and op.topic is not None:
        from commands.help import help_text

        assert help_text(op.topic)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(max_size=200), vocab=VOCABS)
def test_random_text(text: str, vocab: Vocabulary) -> None:
    check(text, vocab)


@settings(max_examples=2000, deadline=None)
@given(
    tokens=st.lists(TOKEN, max_size=10),
    separators=st.lists(SEPARATORS, min_size=10, max_size=10),
    vocab=VOCABS,
)
def test_random_token_sequences(tokens: list[str], separators: list[str], vocab: Vocabulary) -> None:
    text = "".join(token + separator for token, separator in zip(tokens, separators, strict=False))
    check(text, vocab)


@settings(max_examples=2000, deadline=None)
@given(
    spec=st.sampled_from(SPECS), tail=st.lists(TOKEN, max_size=6), lead=st.sampled_from(["", " ", "\u00a0"])
)
def test_each_command_with_random_arguments(spec: object, tail: list[str], lead: str) -> None:
    from commands.grammar import CommandSpec

    assert isinstance(spec, CommandSpec)
    check(lead + " ".join([*spec.words, *tail]), SEED)


@settings(max_examples=2000, deadline=None)
@given(
    region=st.sampled_from(sorted(REGIONS)),
    style=st.sampled_from([str, str.upper, str.title]),
    display=st.booleans(),
    separator=st.sampled_from([" ", "-", "_", "", "\u00a0"]),
    count=st.integers(min_value=1, max_value=10),
    flags_first=st.booleans(),
)
def test_replicas_add_accepts_any_region_spelling(
    region: str, style: object, display: bool, separator: str, count: int, flags_first: bool
) -> None:
    assert callable(style)
    spelled = style(REGIONS[region].replace(" ", separator) if display else region)
    text = (
        f"replicas add --count {count} {spelled}"
        if flags_first
        else f"replicas add {spelled} --count={count}"
    )
    assert parse(text, SEED) == ops.ReplicasAdd(region=region, count=count)


@settings(max_examples=2000, deadline=None)
@given(
    example=st.sampled_from(EXAMPLES),
    data=st.data(),
    separator=st.sampled_from([" ", "  ", "\u00a0", "\t", " \u200b"]),
    upper_verb=st.booleans(),
)
def test_examples_survive_reordered_options_and_spacing(
    example: str, data: st.DataObject, separator: str, upper_verb: bool
) -> None:
    expected = parse(example, SEED)
    verb, *words = example.split()
    positional: list[str] = []
    options: list[str] = []  # an option and its value stay together
    while words:
        word = words.pop(0)
        if word in ("--count", "--storage"):
            options.append(f"{word} {words.pop(0)}")
        elif word.startswith("--"):
            options.append(word)
        else:
            positional.append(word)
    rest = list(positional)
    for option in options:  # options move anywhere after the verb
        rest.insert(data.draw(st.integers(min_value=0, max_value=len(rest))), option)
    text = separator.join([verb.upper() if upper_verb else verb, *rest])
    assert parse(f"  {text}  ", SEED) == expected


@pytest.mark.parametrize("size", [1999, 2000, 2001, 10_000])
def test_long_text(size: str) -> None:
    check("status " + "a" * (int(size) - 7), SEED)
    check("x" * int(size), SEED)
