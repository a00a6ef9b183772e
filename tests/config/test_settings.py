"""Start-up validation: one clear message per problem; avd-bot refuses to start while any remain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config.settings import load_settings
from bot.sandbox import example_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = example_config().read_text(encoding="utf-8")


def env_for(tmp_path: Path, config: str = EXAMPLE, **extra: str) -> dict[str, str]:
    path = tmp_path / "avd.toml"
    path.write_text(config, encoding="utf-8")
    return {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s3cret",
        "AVD_CONFIG": str(path),
        "AVD_DB": str(tmp_path / "avd.db"),
        **extra,
    }


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    settings = load_settings(env_for(tmp_path))
    assert settings.problems() == []
    assert set(settings.config.sites) == {"primary", "dr"}


CASES = [
    ("empty signing secret", {"SLACK_SIGNING_SECRET": ""}, None, "SLACK_SIGNING_SECRET is empty"),
    (
        "unknown region",
        {},
        EXAMPLE.replace('location = "uksouth"', 'location = "uksuoth"'),
        "did you mean uksouth",
    ),
    (
        "missing site",
        {},
        EXAMPLE.split("[sites.dr]")[0] + "[policy]" + EXAMPLE.split("[policy]")[1],
        'no site has role = "secondary"',
    ),
    (
        "loopback ARM in production",
        {"AZURE_ARM_ENDPOINT": "https://127.0.0.1:8443", "AVD_ENV": "production"},
        None,
        "AVD_ENV=production",
    ),
    ("SLACK_CLIENT_ID set", {"SLACK_CLIENT_ID": "123.456"}, None, "SLACK_CLIENT_ID is set"),
    ("SLACK_CLIENT_SECRET set", {"SLACK_CLIENT_SECRET": "abc"}, None, "SLACK_CLIENT_SECRET is set"),
    ("retention not a number", {"AVD_RETENTION_DAYS": "a year"}, None, "AVD_RETENTION_DAYS='a year' is not"),
    ("retention zero", {"AVD_RETENTION_DAYS": "0"}, None, "AVD_RETENTION_DAYS='0' is not a whole number"),
    ("burst negative", {"AVD_COMMAND_BURST": "-1"}, None, "AVD_COMMAND_BURST='-1'"),
    ("rate not a number", {"AVD_COMMANDS_PER_MINUTE": "lots"}, None, "AVD_COMMANDS_PER_MINUTE='lots'"),
    ("lease zero", {"AVD_LEADER_LEASE_SECONDS": "0"}, None, "AVD_LEADER_LEASE_SECONDS='0' is not a whole"),
    ("job lease zero", {"AVD_JOB_LEASE_SECONDS": "0"}, None, "AVD_JOB_LEASE_SECONDS='0' is not a whole"),
]


def test_the_limits_default_and_can_be_set(tmp_path: Path) -> None:
    settings = load_settings(env_for(tmp_path))
    assert (settings.command_burst, settings.commands_per_minute, settings.retention_days) == (10, 20, 365)
    env = env_for(tmp_path, AVD_COMMAND_BURST="3", AVD_COMMANDS_PER_MINUTE="6", AVD_RETENTION_DAYS="90")
    settings = load_settings(env)
    assert (settings.command_burst, settings.commands_per_minute, settings.retention_days) == (3, 6, 90)
    assert load_settings(env_for(tmp_path, AVD_LEADER_LEASE_SECONDS="30")).leader_lease_seconds == 30
    assert settings.job_lease_seconds == 10 and load_settings(env_for(tmp_path)).job_lease_seconds == 10
    assert load_settings(env_for(tmp_path, AVD_JOB_LEASE_SECONDS="9")).job_lease_seconds == 9


@pytest.mark.parametrize(("extra", "config", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_gets_one_message(
    tmp_path: Path, extra: dict[str, str], config: str | None, expected: str
) -> None:
    problems = load_settings(env_for(tmp_path, config or EXAMPLE, **extra)).problems()
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_several_problems_are_all_listed(tmp_path: Path) -> None:
    env = env_for(
        tmp_path,
        SLACK_SIGNING_SECRET="",
        SLACK_CLIENT_ID="1",
        AVD_ENV="production",
        AZURE_ARM_ENDPOINT="https://localhost:1",
    )
    assert len(load_settings(env).problems()) == 3


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_", "AZURE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_and_serve_exit_2_listing_every_problem(tmp_path: Path) -> None:
    env = env_for(tmp_path, SLACK_SIGNING_SECRET="", SLACK_CLIENT_ID="1")
    check = run_cli("check", env=env)
    assert check.returncode == 2
    assert "SLACK_SIGNING_SECRET is empty" in check.stdout and "SLACK_CLIENT_ID is set" in check.stdout
    serve = run_cli("serve", "--port", "0", env=env)
    assert serve.returncode == 2
    assert "SLACK_SIGNING_SECRET is empty" in serve.stderr and "SLACK_CLIENT_ID is set" in serve.stderr


def test_check_passes_on_the_example(tmp_path: Path) -> None:
    result = run_cli("check", env=env_for(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "settings OK" in result.stdout


def test_bolt_never_sees_slack_client_id(tmp_path: Path, slack_sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with SLACK_CLIENT_ID/SECRET in the process environment, build_app keeps the bot token."""
    from tests.kit import start_bot

    monkeypatch.setenv("SLACK_CLIENT_ID", "123.456")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "shh")
    handle = start_bot(tmp_path, slack_sim.url)
    try:
        assert handle.runtime.app.oauth_flow is None
        assert os.environ["SLACK_CLIENT_ID"] == "123.456"  # restored afterwards
    finally:
        handle.stop()
