"""Operators, approvers and channels; Slack user groups resolved through the double, cached, refreshed in
the background and refused once too old."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from bot.config.siteconfig import Policy
from bot.slack.authz import GROUP_MAX_AGE_SECONDS, Authz
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


def test_groups_are_resolved_and_refreshed_in_the_background(client: WebClient, slack_sim: SlackSim) -> None:
    clock = FakeMonotonic()
    authz = Authz(Policy(operators=("S0OPS",), approvers=("S0LEADS",)), client, ttl=60, monotonic=clock)
    assert authz.is_approver("U0LEAD2")  # nothing cached: the first check waits for the first fetch
    assert not authz.is_approver("U0OPS1")
    assert authz.is_operator("U0OPS1")
    assert len(slack_sim.calls_to("usergroups.users.list")) == 2  # one per group
    clock.now += 59
    assert authz.is_approver("U0LEAD1")
    authz.flush()
    assert len(slack_sim.calls_to("usergroups.users.list")) == 2
    clock.now += 2
    assert authz.is_approver("U0LEAD1")  # from the cache; a refresh starts behind it
    authz.flush()
    assert len(slack_sim.calls_to("usergroups.users.list")) == 3


def test_slack_failure_keeps_last_known_members_or_fails_closed(
    client: WebClient, slack_sim: SlackSim
) -> None:
    clock = FakeMonotonic()
    authz = Authz(Policy(approvers=("S0LEADS",)), client, ttl=60, monotonic=clock)
    slack_sim.fail_next("usergroups.users.list", "plan_upgrade_required")
    assert not authz.is_approver("U0LEAD1")  # nothing known: nobody gets in
    authz.flush()
    assert authz.is_approver("U0LEAD1")  # the next check fetches again, and Slack answers
    clock.now += 120
    slack_sim.fail_next("usergroups.users.list", "ratelimited", status=429)
    assert authz.is_approver("U0LEAD1")  # stale but known, and younger than the bound
    authz.flush()


def test_members_older_than_the_bound_grant_nothing(client: WebClient, slack_sim: SlackSim) -> None:
    """A removed approver keeps approving no longer than GROUP_MAX_AGE_SECONDS while Slack keeps failing."""
    clock = FakeMonotonic()
    authz = Authz(Policy(approvers=("S0LEADS",)), client, ttl=60, monotonic=clock)
    assert authz.is_approver("U0LEAD1")
    slack_sim.fail_next("usergroups.users.list", "internal_error", status=500, count=100)
    for _ in range(int(GROUP_MAX_AGE_SECONDS // 60)):
        clock.now += 60
        assert authz.is_approver("U0LEAD1")  # stale, still within the bound
        authz.flush()
    clock.now += 1
    assert not authz.is_approver("U0LEAD1")  # past the bound: fail closed
    assert not authz.is_operator("U0LEAD1")
    authz.flush()
    slack_sim.faults.clear()
    authz.refresh("S0LEADS")  # Slack answers again: the group grants again
    assert authz.is_approver("U0LEAD1")


class HeldRetry(RateLimitErrorRetryHandler):
    """Slack's own 429 retry handler, waiting for the test instead of the Retry-After seconds."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=1)
        self.waiting = threading.Event()
        self.release = threading.Event()

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        self.waiting.set()
        self.release.wait()
        kwargs["state"].next_attempt_requested = True
        kwargs["state"].increment_current_attempt()


def test_a_rate_limited_refresh_does_not_hold_permission_checks(slack_sim: SlackSim) -> None:
    """While a refresh waits out a 429, checks (of this group and others) answer at once from the cache."""
    retry = HeldRetry()
    client = WebClient(token=BOT_TOKEN, base_url=slack_sim.url, retry_handlers=[retry])
    clock = FakeMonotonic()
    authz = Authz(Policy(operators=("S0OPS",), approvers=("S0LEADS",)), client, ttl=60, monotonic=clock)
    assert authz.is_approver("U0LEAD1") and authz.is_operator("U0OPS1")
    clock.now += 61
    slack_sim.fail_next("usergroups.users.list", "ratelimited", status=429, retry_after=9)
    answers: list[bool] = []

    def check() -> None:
        answers.extend([authz.is_approver("U0LEAD1"), authz.is_operator("U0OPS1")])

    first = threading.Thread(target=authz.is_approver, args=("U0LEAD1",))  # starts the refresh
    checker = threading.Thread(target=check)
    try:
        first.start()
        assert retry.waiting.wait(30)  # the refresh now waits in the retry handler
        checker.start()
        checker.join(10)  # a safety net: behind a global lock this thread would wait for the refresh
        parked, answered = not retry.release.is_set(), list(answers)
    finally:
        retry.release.set()
        first.join()
        checker.join()
        authz.flush()
    assert parked and answered == [True, True]  # answered while the refresh was still parked
    assert len(slack_sim.calls_to("usergroups.users.list")) >= 4  # 2 first fetches, the 429, its retry


def test_group_members_operate_through_the_bot(chat, slack_sim: SlackSim, bot_server) -> None:
    from dataclasses import replace

    authz = bot_server.runtime.authz
    authz.policy = replace(authz.policy, operators=("S0OPS",))
    slack_sim.workspace.usergroups["S0OPS"].append("U0GUEST")
    assert chat.slash("/avd help", user="U0GUEST").is_json
