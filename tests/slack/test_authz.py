"""Operators, approvers and channels; Slack user groups resolved through the double and cached."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.config.siteconfig import Policy
from bot.slack.authz import Authz
from sim.slack import SlackSim
from tests.kit import BOT_TOKEN


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(slack_sim: SlackSim) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack_sim.url)


def test_plain_user_ids(client: WebClient) -> None:
    authz = Authz(
        Policy(operators=("U0OPS1",), approvers=("U0LEAD1",), allowed_channels=("C0INCIDENT",)), client
    )
    assert authz.is_operator("U0OPS1") and authz.is_operator("U0LEAD1")  # approvers are operators too
    assert not authz.is_operator("U0GUEST")
    assert authz.is_approver("U0LEAD1") and not authz.is_approver("U0OPS1")
    assert authz.refusal("U0OPS1", "C0INCIDENT") is None
    refusal = authz.refusal("U0OPS1", "C0RANDOM")
    assert refusal is not None and refusal[0] == "channel_not_allowed" and "incident channel" in refusal[1]


def test_groups_are_resolved_and_cached_for_the_ttl(client: WebClient, slack_sim: SlackSim) -> None:
    clock = FakeMonotonic()
    authz = Authz(Policy(operators=("S0OPS",), approvers=("S0LEADS",)), client, ttl=60, monotonic=clock)
    assert authz.is_approver("U0LEAD2")
    assert not authz.is_approver("U0OPS1")
    assert authz.is_operator("U0OPS1")
    assert len(slack_sim.calls_to("usergroups.users.list")) == 2  # one per group
    clock.now += 59
    assert authz.is_approver("U0LEAD1")
    assert len(slack_sim.calls_to("usergroups.users.list")) == 2
    clock.now += 2
    assert authz.is_approver("U0LEAD1")
    assert len(slack_sim.calls_to("usergroups.users.list")) == 3


def test_slack_failure_keeps_last_known_members_or_fails_closed(
    client: WebClient, slack_sim: SlackSim
) -> None:
    clock = FakeMonotonic()
    authz = Authz(Policy(approvers=("S0LEADS",)), client, ttl=60, monotonic=clock)
    slack_sim.fail_next("usergroups.users.list", "plan_upgrade_required")
    assert not authz.is_approver("U0LEAD1")  # nothing known: nobody gets in
    assert authz.is_approver("U0LEAD1")  # the next call succeeds
    clock.now += 120
    slack_sim.fail_next("usergroups.users.list", "ratelimited", status=429)
    assert authz.is_approver("U0LEAD1")  # stale but known


def test_group_members_operate_through_the_bot(chat, slack_sim: SlackSim, bot_server) -> None:
    from dataclasses import replace

    authz = bot_server.runtime.authz
    authz.policy = replace(authz.policy, operators=("S0OPS",))
    slack_sim.workspace.usergroups["S0OPS"].append("U0GUEST")
    assert chat.slash("/avd help", user="U0GUEST").is_json
