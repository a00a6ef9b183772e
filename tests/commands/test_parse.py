"""parse(): every verb, option and error of the command surface, as case tables."""

from __future__ import annotations

import pytest

from commands import UsageError, Vocabulary, ops, parse
from commands.cron import MIN_INTERVAL_MINUTES, shortest_gap, trigger_fields, validate_cron
from commands.grammar import SPECS

VOCAB = Vocabulary(
    sites={"primary": "westeurope", "dr": "uksouth"},
    profiles=("gold-to-dr",),
    scale_sets=("Entra", "EntraDR"),
)
IMG = "Win11MultiS"
VER = "2026.0522.1719"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ops.Help()),
        ("   ", ops.Help()),
        ("help", ops.Help()),
        ("help failover", ops.Help(topic="failover")),
        ("HELP Replicas", ops.Help(topic="replicas")),
        ("help failover start", ops.Help(topic="failover")),
        ("help job", ops.Help(topic="jobs")),
        ("help regions", ops.Help(topic="regions")),
        ("--help", ops.Help()),
        ("status", ops.Status()),
        ("Status", ops.Status()),
        ("doctor", ops.Doctor()),
        ("replicas", ops.ReplicasList()),
        ("replicas list", ops.ReplicasList()),
        ("replicas ls", ops.ReplicasList()),
        (f"replicas {IMG}", ops.ReplicasList(image=IMG)),
        (f"replicas {IMG}/{VER}", ops.ReplicasList(image=IMG, version=VER)),
        (f"replicas list {IMG}/{VER}", ops.ReplicasList(image=IMG, version=VER)),
        (f"replicas list {VER}", ops.ReplicasList(version=VER)),
        ("replicas add uksouth", ops.ReplicasAdd(region="uksouth")),
        ("replicas add UK South", ops.ReplicasAdd(region="uksouth")),
        ("replicas add UKSouth", ops.ReplicasAdd(region="uksouth")),
        ("replicas add uk-south", ops.ReplicasAdd(region="uksouth")),
        ('replicas add "UK South"', ops.ReplicasAdd(region="uksouth")),
        ("replicas add Australia Central 2", ops.ReplicasAdd(region="australiacentral2")),
        (f"replicas add UK South {IMG}/{VER}", ops.ReplicasAdd(region="uksouth", image=IMG, version=VER)),
        (f"replicas add uksouth {VER}", ops.ReplicasAdd(region="uksouth", version=VER)),
        ("replicas add uksouth --count 3", ops.ReplicasAdd(region="uksouth", count=3)),
        ("replicas add uksouth --count=10", ops.ReplicasAdd(region="uksouth", count=10)),
        ("replicas add --count 1 uksouth", ops.ReplicasAdd(region="uksouth", count=1)),
        ("replicas add uksouth --storage standard_zrs", ops.ReplicasAdd(region="uksouth", storage="Standard_ZRS")),
        ("replicas add uksouth --storage=PREMIUMV2_LRS", ops.ReplicasAdd(region="uksouth", storage="PremiumV2_LRS")),
        ("replicas add uksouth --storage premium_lrs", ops.ReplicasAdd(region="uksouth", storage="Premium_LRS")),
        ("replicas add uksouth --storage Standard_LRS", ops.ReplicasAdd(region="uksouth", storage="Standard_LRS")),
        ("replicas add uksouth --dry-run", ops.ReplicasAdd(region="uksouth", dry_run=True)),
        ("replicas --dry-run add uksouth", ops.ReplicasAdd(region="uksouth", dry_run=True)),
        ("replicas add uksouth --DRY_RUN", ops.ReplicasAdd(region="uksouth", dry_run=True)),
        ("replicas remove northeurope", ops.ReplicasRemove(region="northeurope")),
        ("replicas rm northeurope", ops.ReplicasRemove(region="northeurope")),
        (f"replicas remove West Europe {IMG}/{VER} --dry-run",
         ops.ReplicasRemove(region="westeurope", image=IMG, version=VER, dry_run=True)),
        ("identity create", ops.IdentityCreate()),
        ("identity create dr", ops.IdentityCreate(site="dr")),
        ("identity create uksouth", ops.IdentityCreate(site="dr")),
        ("identity create UK South --dry-run", ops.IdentityCreate(site="dr", dry_run=True)),
        ("identity create PRIMARY", ops.IdentityCreate(site="primary")),
        ("scaleset create", ops.ScalesetCreate()),
        ("scaleset create West Europe", ops.ScalesetCreate(site="primary")),
        ("scaleset create dr --dry-run", ops.ScalesetCreate(site="dr", dry_run=True)),
        ("scale EntraDR 2", ops.Scale(target="EntraDR", count=2)),
        ("scale entradr 0", ops.Scale(target="EntraDR", count=0)),
        ("scale DR 1000", ops.Scale(target="dr", count=1000)),
        ("scale UK South 3", ops.Scale(target="dr", count=3)),
        ("scale Entra 4 --dry-run", ops.Scale(target="Entra", count=4, dry_run=True)),
        ("snapshots sync gold-to-dr", ops.SnapshotsSync(profile="gold-to-dr")),
        ("snapshots sync GOLD-TO-DR --dry-run", ops.SnapshotsSync(profile="gold-to-dr", dry_run=True)),
        ("snapshot sync gold-to-dr", ops.SnapshotsSync(profile="gold-to-dr")),
        ("replica add uksouth", ops.ReplicasAdd(region="uksouth")),
        ("snapshots copy snap-os-1 gold-to-dr", ops.SnapshotsCopy(snapshot="snap-os-1", profile="gold-to-dr")),
        ("snapshots copy snap_1.a gold-to-dr --dry-run",
         ops.SnapshotsCopy(snapshot="snap_1.a", profile="gold-to-dr", dry_run=True)),
        ("snapshots schedule gold-to-dr 0 2 * * *", ops.SnapshotsSchedule(profile="gold-to-dr", cron="0 2 * * *")),
        ("snapshots schedule gold-to-dr off", ops.SnapshotsSchedule(profile="gold-to-dr", cron=None)),
        ("snapshots schedule gold-to-dr OFF", ops.SnapshotsSchedule(profile="gold-to-dr", cron=None)),
        ('snapshots schedule gold-to-dr "*/15 * * * 1-5"',
         ops.SnapshotsSchedule(profile="gold-to-dr", cron="*/15 * * * 1-5")),
        ("snapshots schedule gold-to-dr 0 0,12 1-15/2 JAN-jun mon,WED",
         ops.SnapshotsSchedule(profile="gold-to-dr", cron="0 0,12 1-15/2 jan-jun mon,wed")),
        ("snapshots schedule gold-to-dr @daily", ops.SnapshotsSchedule(profile="gold-to-dr", cron="0 0 * * *")),
        ("failover plan", ops.FailoverPlan()),
        ("failover plan dr", ops.FailoverPlan(site="dr")),
        ("failover start", ops.FailoverStart()),
        ("failover start dr", ops.FailoverStart(site="dr")),
        ("failover start uksouth --now", ops.FailoverStart(site="dr", now=True)),
        ("failover start --now --dry-run", ops.FailoverStart(now=True, dry_run=True)),
        ("failover status", ops.FailoverStatus()),
        ("failover status dr", ops.FailoverStatus(site="dr")),
        ("failover cancel", ops.FailoverCancel()),
        ("failover cancel UK South", ops.FailoverCancel(site="dr")),
        ("failback plan", ops.FailbackPlan()),
        ("failback plan primary", ops.FailbackPlan(site="primary")),
        ("failback start", ops.FailbackStart()),
        ("failback start westeurope --dry-run", ops.FailbackStart(site="primary", dry_run=True)),
        ("drill", ops.Drill()),
        ("drill dr", ops.Drill(site="dr")),
        ("drill --dry-run", ops.Drill(dry_run=True)),
        ("jobs", ops.Jobs()),
        ("job 42", ops.JobShow(42)),
        ("job #42", ops.JobShow(42)),
        ("job 42 retry", ops.JobRetry(42)),
        ("job 42 cancel", ops.JobCancel(42)),
        ("job retry 7", ops.JobRetry(7)),
        ("job 7 CANCEL", ops.JobCancel(7)),
        ("audit", ops.Audit()),
        ("audit 1", ops.Audit(1)),
        ("audit 200", ops.Audit(200)),
    ],
)  # fmt: skip
def test_parses(text: str, expected: ops.Operation) -> None:
    assert parse(text, VOCAB) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  \u00a0failover\u00a0start\u00a0dr  ", ops.FailoverStart(site="dr")),
        ("failover start \u201cUK South\u201d \u2014now", ops.FailoverStart(site="dr", now=True)),
        ("replicas add \u2018uksouth\u2019 \u2013dry-run", ops.ReplicasAdd(region="uksouth", dry_run=True)),
        ("`replicas add uksouth`", ops.ReplicasAdd(region="uksouth")),
        ("failover\u200b start\tdr\n", ops.FailoverStart(site="dr")),
        ("failover start dr &amp;", None),
        ('replicas add "uksouth', ops.ReplicasAdd(region="uksouth")),
    ],
)
def test_tolerates_slack_decoration(text: str, expected: ops.Operation | None) -> None:
    if expected is None:
        with pytest.raises(UsageError):
            parse(text, VOCAB)
    else:
        assert parse(text, VOCAB) == expected


@pytest.mark.parametrize(
    "text",
    [
        "status --help", "replicas add --help", "replicas add bogus --help", "failover --help", "failover start -h",
        "job --help", "scale --help", "audit 9999 --help",
    ],
)  # fmt: skip
def test_help_flag_shows_the_topic(text: str) -> None:
    op = parse(text, VOCAB)
    assert isinstance(op, ops.Help)
    assert op.topic == {"job": "jobs"}.get(text.split()[0], text.split()[0])


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("bogus", "unknown command 'bogus'", "Type /avd help for the list."),
        ("failovr start", "unknown command 'failovr'", "did you mean failover?"),
        ("stauts", "unknown command 'stauts'", "did you mean status?"),
        ("replicas add uksuoth", "unknown region 'uksuoth'", "did you mean uksouth?"),
        ("replicas add UK Sout", "unknown region 'UK Sout'", "did you mean uksouth?"),
        ("replicas add nowhere", "unknown region 'nowhere'", "/avd help regions"),
        ("replicas add", "missing REGION", "usage: /avd replicas add"),
        ("replicas remove", "missing REGION", "usage: /avd replicas remove"),
        ("replicas ad uksouth", "unknown replicas action 'ad'", "did you mean add?"),
        ("replicas lst", "unknown replicas action 'lst'", "did you mean list?"),
        ("replicas uksouth", "'uksouth' is a region, not an image", "/avd replicas add uksouth"),
        ("replicas list a b", "unexpected 'b'", "usage: /avd replicas"),
        (f"replicas add {IMG}/{VER} uksouth", f"'{IMG}/{VER}' is not a region", "put the region first"),
        ("replicas add uksouth a b", "unexpected 'b'", "usage: /avd replicas add"),
        ("replicas add uksouth Win11/1.2", "'1.2' is not an image version", "MAJOR.MINOR.PATCH"),
        ("replicas add uksouth Win11/1.2.x", "'1.2.x' is not an image version", "MAJOR.MINOR.PATCH"),
        ("replicas add uksouth Win11/1.2.99999999999", None, "MAJOR.MINOR.PATCH"),
        ("replicas add uksouth -bad-", None, None),
        ("replicas add uksouth 2", "'2' is not an image definition name", "--count N"),
        ("replicas remove uksouth ukwest", "'ukwest' is a region, not an image", "once per region"),
        ("replicas add uksouth bad!name", "'bad!name' is not an image definition name", "IMAGE/VERSION"),
        ("replicas add uksouth --count 0", "--count must be between 1 and 10, not 0", "1 to 10"),
        ("replicas add uksouth --count 11", "--count must be between 1 and 10, not 11", "1 to 10"),
        ("replicas add uksouth --count two", "--count must be a whole number, not 'two'", "1 to 10"),
        ("replicas add uksouth --count", "--count needs a value", "--count N"),
        ("replicas add uksouth --count=", "--count needs a value", "--count N"),
        ("replicas add uksouth --count --dry-run", "--count needs a value", "--count N"),
        ("replicas add uksouth --count 1 --count 2", "--count is given twice", "keep one"),
        ("replicas add uksouth --storage hdd", "unknown storage SKU 'hdd'", "Standard_LRS"),
        ("replicas add uksouth --storage standard_zr", "unknown storage SKU", "did you mean Standard_ZRS?"),
        ("replicas add uksouth --dry-run=yes", "--dry-run takes no value", "write just --dry-run"),
        ("replicas add uksouth --dryrun --force", "unknown option '--force'", "replicas add accepts"),
        ("replicas add uksouth --cont 2", "unknown option '--cont'", "did you mean --count?"),
        ("replicas add uksouth --now", "--now is not accepted by replicas add", "usage: /avd replicas add"),
        ("replicas list --dry-run", "--dry-run is not accepted by replicas list", "nothing to preview"),
        ("replicas --count 2", "--count is not accepted by replicas list", "takes no options"),
        ("status --dry-run", "--dry-run is not accepted by status", "without --dry-run"),
        ("status now", "unexpected 'now'", "usage: /avd status"),
        ("doctor --now", "--now is not accepted by doctor", "doctor takes no options"),
        ("failover plan --dry-run", "--dry-run is not accepted by failover plan", "nothing to preview"),
        ("failover status --now", "--now is not accepted by failover status", "usage"),
        ("failback start --now", "--now is not accepted by failback start", "failback start accepts --dry-run"),
        ("failover", "failover needs an action: plan, start, status, cancel", "/avd failover plan"),
        ("failover begin", "unknown failover action 'begin'", "usage: /avd failover"),
        ("failover strat", "unknown failover action 'strat'", "did you mean failover start?"),
        ("failback", "failback needs an action: plan, start", "usage"),
        ("identity", "identity needs an action: create", "identity create"),
        ("identity dr", "unknown identity action 'dr'", "identity create"),
        ("scaleset make dr", "unknown scaleset action 'make'", "scaleset create"),
        ("failover start drr", "unknown site 'drr'", "did you mean dr?"),
        ("failover start francecentral", "no site is in francecentral", "primary (westeurope), dr (uksouth)"),
        ("failover start dr extra", "unexpected 'extra'", "usage: /avd failover start"),
        ("failover start UK South extra", "unexpected 'extra'", "usage: /avd failover start"),
        ("drill mars", "unknown site 'mars'", "The sites are"),
        ("drill uksouht", "unknown site 'uksouht'", "did you mean uksouth?"),
        ("identity create --count 2", "--count is not accepted by identity create", "accepts --dry-run"),
        ("scale", "missing SCALESET|SITE and N", "usage: /avd scale"),
        ("scale Entra", "missing N", "usage: /avd scale"),
        ("scale 2", "missing SCALESET|SITE", "usage: /avd scale"),
        ("scale UK South", "missing N", "usage: /avd scale"),
        ("scale Entra two", "N must be a whole number, not 'two'", "0 to 1000"),
        ("scale 2 Entra", "'Entra' is not a number", "/avd scale Entra 2"),
        ("scale Entra -1", "N must be a whole number, not '-1'", "0 to 1000"),
        ("scale Entra 1001", "N must be between 0 and 1000, not 1001", "0 to 1000"),
        ("scale Entra 2.5", "N must be a whole number", "0 to 1000"),
        ("scale Entar 2", "unknown scale set or site 'Entar'", "did you mean Entra?"),
        ("scale Nope 2", "unknown scale set or site 'Nope'", "Scale sets: Entra, EntraDR"),
        ("scale francecentral 2", "no site is in francecentral", "The sites are"),
        ("snapshots", "snapshots needs an action: sync, copy, schedule", "usage"),
        ("snapshots sync", "missing PROFILE", "usage: /avd snapshots sync"),
        ("snapshots sync gold-to-rd", "unknown snapshot profile 'gold-to-rd'", "did you mean gold-to-dr?"),
        ("snapshots sync gold-to-dr extra", "unexpected 'extra'", "usage"),
        ("snapshots copy", "missing SNAPSHOT and PROFILE", "usage: /avd snapshots copy"),
        ("snapshots copy snap1", "missing PROFILE", "usage"),
        ("snapshots copy gold-to-dr snap1", "'snap1' is not a snapshot profile", "/avd snapshots copy snap1 gold-to-dr"),
        ("snapshots copy -x- gold-to-dr", None, None),
        ("snapshots copy snap! gold-to-dr", "'snap!' is not a valid snapshot name", "Azure names"),
        ("snapshots schedule", "missing PROFILE and CRON|off", "usage"),
        ("snapshots schedule gold-to-dr", "missing CRON|off", "usage"),
        ("snapshots schedule gold-to-dr --now", "--now is not accepted by snapshots schedule", "takes no options"),
        ("snapshots schedule gold-to-dr --dry-run", "--dry-run is not accepted by snapshots schedule", "nothing"),
        ("snapshots schedule nope off", "unknown snapshot profile 'nope'", "Profiles: gold-to-dr"),
        ("snapshots schedule gold-to-dr 0 2 * *", "a schedule needs 5 fields, not 4", "minute hour day month"),
        ("snapshots schedule gold-to-dr 0 2 * * * *", "a schedule needs 5 fields, not 6", "minute hour day month"),
        ("snapshots schedule gold-to-dr 60 2 * * *", "bad minute '60' in the schedule", "the minute is 0-59"),
        ("snapshots schedule gold-to-dr 0 24 * * *", "bad hour '24' in the schedule", "the hour is 0-23"),
        ("snapshots schedule gold-to-dr 0 2 0 * *", "bad day '0' in the schedule", "the day is 1-31"),
        ("snapshots schedule gold-to-dr 0 2 32 * *", "bad day '32' in the schedule", "the day is 1-31"),
        ("snapshots schedule gold-to-dr 0 2 * 13 *", "bad month '13' in the schedule", "jan-dec"),
        ("snapshots schedule gold-to-dr 0 2 * foo *", "bad month 'foo' in the schedule", "jan-dec"),
        ("snapshots schedule gold-to-dr 0 2 * * 8", "bad weekday '8' in the schedule", "0-7 or sun-sat"),
        ("snapshots schedule gold-to-dr 0 2 * * 5-1", "bad weekday '5-1' in the schedule", "low to high"),
        ("snapshots schedule gold-to-dr */0 2 * * *", "bad minute '*/0' in the schedule", "step"),
        ("snapshots schedule gold-to-dr 5/10 2 * * *", "bad minute '5/10' in the schedule", "step needs a range"),
        ("snapshots schedule gold-to-dr 0 2 ? * *", "bad day '?' in the schedule", "*/N"),
        ("snapshots schedule gold-to-dr 1,,2 2 * * *", "bad minute '' in the schedule", "*/N"),
        ("snapshots schedule gold-to-dr * * * * *", "runs every minute; the most often", "*/15 * * * *"),
        ("snapshots schedule gold-to-dr */5 * * * *", "runs 5 minutes apart", "0 * * * * (hourly)"),
        ("snapshots schedule gold-to-dr 0,10 2 * * *", "runs 10 minutes apart", "*/15"),
        ("snapshots schedule gold-to-dr 55,5 0,23 * * *", "runs 10 minutes apart", "*/15"),
        ("jobs 3", "unexpected '3'", "usage: /avd jobs"),
        ("jobs --dry-run", "--dry-run is not accepted by jobs", "nothing to preview"),
        ("job", "missing ID", "usage: /avd job"),
        ("job 0", "job ID must be between 1", "/avd jobs shows"),
        ("job abc", "job ID must be a whole number, not 'abc'", "/avd jobs shows"),
        ("job 99999999999999999999", "job ID must be a whole number", "/avd jobs shows"),
        ("job 5 retyr", "unknown job action 'retyr'", "did you mean retry?"),
        ("job 5 retry now", "unexpected 'now'", "usage: /avd job"),
        ("job 5 6", "unexpected '6'", "usage"),
        ("job 5 --dry-run", "--dry-run is not accepted by job", "nothing to preview"),
        ("audit 0", "N must be between 1 and 200, not 0", "1 to 200"),
        ("audit 201", "N must be between 1 and 200, not 201", "1 to 200"),
        ("audit all", "N must be a whole number, not 'all'", "1 to 200"),
        ("audit 5 6", "unexpected '6'", "usage: /avd audit"),
        ("help bogus", "no help topic 'bogus'", "Topics: help, status"),
        ("help falover", "no help topic 'falover'", "did you mean failover?"),
        ("help failover bogus", "unexpected 'bogus'", "/avd help failover"),
        ("help a b c", "unexpected 'c'", "usage: /avd help"),
        ("--dry-run", "options need a command", "/avd help"),
        ("--", "options need a command", None),
        ("-- status", "unknown option '--'", "status takes no options"),
        ("failover start <@U123ABC>", "Slack mentions, channels and links are not accepted here ('<@U123ABC>')",
         "plain names"),
        ("failover start <#C123|incident>", "Slack mentions, channels and links are not accepted here", "plain names"),
        ("drill <!here>", "Slack mentions", "plain names"),
        ("replicas add <https://example.com|uksouth>", "Slack mentions", "plain names"),
        ("drill &lt;@U1&gt;", "Slack mentions", "plain names"),
        ("status " + "x" * 2000, "the command is too long (2007 characters)", "under 2000"),
    ],
)  # fmt: skip
def test_usage_errors(text: str, message: str | None, hint: str | None) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text, VOCAB)
    error = caught.value
    assert error.hint.strip()
    if message is not None:
        assert message in error.message
    if hint is not None:
        assert hint in error.hint


@pytest.mark.parametrize("value", [None, 42, b"status", ["status"]])
def test_non_text_is_a_usage_error(value: object) -> None:
    with pytest.raises(UsageError) as caught:
        parse(value, VOCAB)  # type: ignore[arg-type]
    assert caught.value.hint


@pytest.mark.parametrize(
    ("text", "vocab", "expected"),
    [
        ("failover start anywhere", Vocabulary(), ops.FailoverStart(site="anywhere")),
        ("drill UK South", Vocabulary(), ops.Drill(site="uksouth")),
        ("scale Whatever 3", Vocabulary(), ops.Scale(target="Whatever", count=3)),
        ("identity create dr", Vocabulary(sites={"dr": "UK South"}), ops.IdentityCreate(site="dr")),
        ("identity create uk-south", Vocabulary(sites={"dr": "UK South"}), ops.IdentityCreate(site="dr")),
        ("replicas add uksouth", None, ops.ReplicasAdd(region="uksouth")),
    ],
)
def test_other_vocabularies(text: str, vocab: Vocabulary | None, expected: ops.Operation) -> None:
    assert parse(text, vocab) == expected


@pytest.mark.parametrize(
    ("text", "vocab", "message"),
    [
        ("snapshots sync gold", Vocabulary(), "none is configured"),
        ("drill a b", Vocabulary(), "unexpected 'b'"),
        (
            "drill uksouth",
            Vocabulary(sites={"a": "uksouth", "b": "uksouth"}),
            "more than one site is in uksouth",
        ),
        ("scale x! 2", Vocabulary(), "is not a valid SCALESET"),
    ],
)
def test_other_vocabulary_errors(text: str, vocab: Vocabulary, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text, vocab)
    assert message in caught.value.message
    assert caught.value.hint


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_dry_run_is_accepted_exactly_where_azure_changes(spec: object) -> None:
    from commands.grammar import CommandSpec

    assert isinstance(spec, CommandSpec)
    example = parse(spec.examples[0], VOCAB)
    assert ("dry-run" in spec.flags) == example.changes_azure
    if example.changes_azure:
        dry = parse(spec.examples[0] + " --dry-run", VOCAB)
        assert dry == type(dry)(**{**vars(example), "dry_run": True})
    else:
        with pytest.raises(UsageError, match="--dry-run is not accepted"):
            parse(spec.examples[0] + " --dry-run", VOCAB)


def test_every_operation_type_is_reachable() -> None:
    seen: set[type[ops.Operation]] = set()
    for text in ["job 1", "job 1 retry", "job 1 cancel", *(e for s in SPECS for e in s.examples)]:
        seen.add(type(parse(text, VOCAB)))
    assert seen == set(ops._VERBS)


def test_operations_are_frozen_and_hashable() -> None:
    op = parse("replicas add uksouth --count 2", VOCAB)
    assert op.verb == "replicas add"
    assert hash(op) == hash(parse("replicas add UK South --count=2", VOCAB))
    with pytest.raises(AttributeError):
        op.region = "ukwest"  # type: ignore[attr-defined]


def test_vocabulary_is_normalised() -> None:
    vocab = Vocabulary(sites={"dr": "UK South"}, profiles=["p"], scale_sets="One")  # type: ignore[arg-type]
    assert vocab.sites == {"dr": "uksouth"}
    assert vocab.profiles == ("p",)
    assert vocab.scale_sets == ("One",)
    assert hash(vocab) == hash(Vocabulary(sites={"x": "westeurope"}, profiles=("p",), scale_sets=("One",)))


@pytest.mark.parametrize(
    ("cron", "fields"),
    [
        ("0 2 * * *", {"minute": "0", "hour": "2", "day": "*", "month": "*", "day_of_week": "*"}),
        ("30 1 * * 0", {"minute": "30", "hour": "1", "day": "*", "month": "*", "day_of_week": "sun"}),
        ("0 0 * * 7", {"minute": "0", "hour": "0", "day": "*", "month": "*", "day_of_week": "sun"}),
        (
            "0 0 * * 1-5",
            {"minute": "0", "hour": "0", "day": "*", "month": "*", "day_of_week": "mon,tue,wed,thu,fri"},
        ),
        (
            "0 0 * * 0-3",
            {"minute": "0", "hour": "0", "day": "*", "month": "*", "day_of_week": "sun,mon,tue,wed"},
        ),
        (
            "0 0 * * */2",
            {"minute": "0", "hour": "0", "day": "*", "month": "*", "day_of_week": "sun,tue,thu,sat"},
        ),
        (
            "*/15 9-17 1,15 jan *",
            {"minute": "*/15", "hour": "9-17", "day": "1,15", "month": "jan", "day_of_week": "*"},
        ),
        ("@weekly", {"minute": "0", "hour": "0", "day": "*", "month": "*", "day_of_week": "sun"}),
    ],
)
def test_cron_trigger_fields_keep_sunday(cron: str, fields: dict[str, str]) -> None:
    assert trigger_fields(cron) == fields


@pytest.mark.parametrize(
    ("cron", "gap"),
    [("*/15 * * * *", 15), ("0 * * * *", 60), ("0 2 * * *", 1440), ("50 23 * * *", 1440), ("0,30 9-17 * * 1-5", 30),
     ("55 23,0 * * *", 60), ("0,20 * * * *", 20), ("@daily", 1440)],
)  # fmt: skip
def test_schedules_at_or_past_the_minimum_interval_are_accepted(cron: str, gap: int) -> None:
    assert shortest_gap(validate_cron(cron)) == gap >= MIN_INTERVAL_MINUTES


def test_a_stored_schedule_more_frequent_than_the_minimum_still_gives_trigger_fields() -> None:
    assert trigger_fields("*/5 * * * *")["minute"] == "*/5"


def test_cron_trigger_fields_work_with_apscheduler() -> None:
    from datetime import UTC, datetime

    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger(**trigger_fields(validate_cron("30 1 * * 0")), timezone=UTC)
    fire = trigger.get_next_fire_time(None, datetime(2026, 5, 20, tzinfo=UTC))  # a Wednesday
    assert fire == datetime(2026, 5, 24, 1, 30, tzinfo=UTC)  # the next Sunday


def test_the_same_text_is_parsed_once_per_vocabulary_and_errors_are_not_remembered() -> None:
    first = parse("failover start dr --now", VOCAB)
    assert parse("failover start dr --now", VOCAB) is first  # frozen: the one parse is shared
    other = Vocabulary(sites={"dr": "westeurope", "primary": "northeurope"})
    assert parse("failover start dr --now", other) == first  # same words, parsed against that vocabulary
    assert parse("replicas add uksouth", other) == ops.ReplicasAdd(region="uksouth")
    for _ in range(2):
        with pytest.raises(UsageError):
            parse("failover start nowhere", VOCAB)
    with pytest.raises(UsageError, match="not text"):
        parse(["status"], VOCAB)  # type: ignore[arg-type]
