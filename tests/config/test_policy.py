"""Safe defaults (issue 14): destructive verbs wait for an approver unless the config exempts them by name, and
a config value of the wrong type, an unknown key or an unknown verb is a start-up problem naming the key."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest

from azureops.plan import Plan
from bot.capabilities.doctor import policy_lines
from bot.config.policy import DESTRUCTIVE_VERBS
from bot.config.settings import load_settings
from bot.config.siteconfig import parse_site_config
from bot.engine.approvals import needs_approval
from bot.sandbox import example_config
from commands import ops
from tests.config.test_settings import env_for, run_cli

EXAMPLE = example_config().read_text(encoding="utf-8")

# each destructive command, as the operation and the policy verb of its plan
DESTRUCTIVE = [
    (ops.FailoverStart(), "failover start"),
    (ops.FailoverCancel(), "failover cancel"),
    (ops.FailbackStart(), "failback start"),
    (ops.ReplicasRemove(region="uksouth"), "replicas remove"),
    (ops.Scale(target="EntraDR", count=0), "scale in"),
    (ops.ScalesetCreate(site="dr"), "scaleset create"),
    (ops.IdentityCreate(site="dr"), "identity create"),
    (ops.SnapshotsSync(profile="gold-to-dr"), "snapshots sync"),
]


def example(**policy: Any) -> dict[str, Any]:
    raw = tomllib.loads(EXAMPLE)
    raw["policy"] = {
        k: v for k, v in raw["policy"].items() if k not in ("require_approval", "exempt_from_approval")
    }
    raw["policy"].update(policy)
    return raw


def plan(verb: str) -> Plan:
    return Plan(kind=verb, title=verb, steps=(), verb=verb)


@pytest.mark.parametrize(("op", "verb"), DESTRUCTIVE, ids=[v for _, v in DESTRUCTIVE])
def test_destructive_verbs_need_approval_when_the_config_says_nothing(op: ops.Operation, verb: str) -> None:
    config, problems = parse_site_config(example())
    assert problems == []
    assert needs_approval(config.policy, op, plan(verb))
    assert config.policy.exempted == ()


def test_require_approval_adds_verbs_and_keeps_the_defaults() -> None:
    config, problems = parse_site_config(example(require_approval=["replicas add"]))
    assert problems == []
    assert needs_approval(config.policy, ops.ReplicasAdd(region="uksouth"), plan("replicas add"))
    assert set(DESTRUCTIVE_VERBS) <= set(config.policy.require_approval)


def test_an_exemption_is_explicit_and_named_by_doctor_and_the_start_up_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, problems = parse_site_config(example(exempt_from_approval=["identity create"]))
    assert problems == []
    assert not needs_approval(config.policy, ops.IdentityCreate(site="dr"), plan("identity create"))
    assert needs_approval(config.policy, ops.FailoverStart(), plan("failover start"))
    assert config.policy.exempted == ("identity create",)
    assert any("`identity create` runs without approval" in line for line in policy_lines(config.policy))
    relaxed = EXAMPLE.replace("exempt_from_approval = []", 'exempt_from_approval = ["identity create"]')
    with caplog.at_level(logging.WARNING, logger="bot.config.settings"):
        assert load_settings(env_for(tmp_path, relaxed)).problems() == []
    assert "identity create" in caplog.text and "without a second person" in caplog.text


def test_doctor_says_when_nothing_is_exempt() -> None:
    config, _ = parse_site_config(example())
    assert policy_lines(config.policy) == [":white_check_mark: every destructive verb waits for an approver"]


BAD = [
    (
        "require_approval as a string",
        lambda raw: raw["policy"].update(require_approval="failover start"),
        "[policy] require_approval must be a list of strings",
    ),
    (
        "unknown verb",
        lambda raw: raw["policy"].update(require_approval=["failover strat"]),
        "unknown verb 'failover strat'",
    ),
    (
        "unknown exempt verb",
        lambda raw: raw["policy"].update(exempt_from_approval=["delete everything"]),
        "exempt_from_approval: unknown verb 'delete everything'",
    ),
    (
        "a verb both required and exempt",
        lambda raw: raw["policy"].update(require_approval=["drill"], exempt_from_approval=["drill"]),
        "in both require_approval and exempt_from_approval",
    ),
    (
        "two_person_rule as a string",
        lambda raw: raw["policy"].update(two_person_rule="no"),
        "two_person_rule must be true or false",
    ),
    (
        "ttl as a string",
        lambda raw: raw["policy"].update(approval_ttl_minutes="15"),
        "approval_ttl_minutes must be an integer",
    ),
    (
        "ttl zero",
        lambda raw: raw["policy"].update(approval_ttl_minutes=0),
        "approval_ttl_minutes must be at least 1",
    ),
    (
        "operators as a string",
        lambda raw: raw["policy"].update(operators="U0OPS1"),
        "operators must be a list of strings",
    ),
    (
        "unknown policy key",
        lambda raw: raw["policy"].update(aprovers=["U0LEAD1"]),
        "unknown key 'aprovers': did you mean approvers?",
    ),
    (
        "unknown top-level table",
        lambda raw: raw.update(polcy={}),
        "unknown key 'polcy': did you mean policy?",
    ),
    (
        "unknown site key",
        lambda raw: raw["sites"]["dr"].update(vmsize="x"),
        "[sites.dr] has unknown key 'vmsize': did you mean vm_size?",
    ),
    (
        "capacity as a string",
        lambda raw: raw["sites"]["dr"].update(dr_capacity="2"),
        "[sites.dr] dr_capacity must be an integer",
    ),
    (
        "grace as a boolean",
        lambda raw: raw["failover"].update(user_grace_seconds=True),
        "[failover] user_grace_seconds must be an integer",
    ),
    (
        "unknown failover key",
        lambda raw: raw["failover"].update(grace=30),
        "[failover] has unknown key 'grace'",
    ),
    (
        "sync as a string",
        lambda raw: raw["snapshot_profiles"]["gold-to-dr"].update(sync="yes"),
        "sync must be true or false",
    ),
    (
        "unknown profile key",
        lambda raw: raw["snapshot_profiles"]["gold-to-dr"].update(concurency=2),
        "did you mean concurrency?",
    ),
    ("policy not a table", lambda raw: raw.update(policy=["U0OPS1"]), "[policy] must be a table"),
    ("join_app unknown key", lambda raw: raw["join_app"].update(id="x"), "[join_app] has unknown key 'id'"),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_wrong_value_is_a_problem_naming_the_key(change: Any, expected: str) -> None:
    raw = tomllib.loads(EXAMPLE)
    change(raw)
    _, problems = parse_site_config(raw)
    assert any(expected in p for p in problems), problems


def test_a_string_require_approval_never_switches_approvals_off() -> None:
    raw = tomllib.loads(EXAMPLE)
    raw["policy"]["require_approval"] = "failover start"
    config, problems = parse_site_config(raw)
    assert len(problems) == 1
    assert needs_approval(config.policy, ops.FailoverStart(), plan("failover start"))


def test_check_prints_every_config_problem_one_per_line(tmp_path: Path) -> None:
    bad = (
        EXAMPLE.replace("require_approval = []", 'require_approval = "failover start"')
        .replace("dr_capacity = 2 ", 'dr_capacity = "2" ')
        .replace("exempt_from_approval = []", 'exempt_from_approval = ["nope"]')
    )
    result = run_cli("check", env=env_for(tmp_path, bad))
    assert result.returncode == 2
    lines = [line for line in result.stdout.splitlines() if "avd.toml" in line]
    assert len(lines) == 3, result.stdout
    assert any("require_approval must be a list of strings" in line for line in lines)
    assert any("dr_capacity must be an integer" in line for line in lines)
    assert any("unknown verb 'nope'" in line for line in lines)
