"""The /avd listener over real signed HTTP: ack answers, the handler table, errors, healthz."""

from __future__ import annotations

import json
import urllib.request

import pytest

from bot.capabilities import CAPABILITIES
from bot.engine.registry import build_registry, check_complete
from bot.runtime import Capability
from bot.slack import render
from bot.storage import audit
from commands import ops
from tests.kit import BotHandle, Chat


def test_help_is_answered_in_the_ack(chat: Chat, slack_sim) -> None:
    resp = chat.slash("/avd help")
    assert resp.status == 200 and resp.is_json
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    assert "/avd replicas add REGION" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert slack_sim.calls_to("response_url") == []


def test_help_topic(chat: Chat) -> None:
    body = chat.slash("/avd help replicas").json()
    assert "replicas" in body["text"]


def test_mistyped_region_gets_did_you_mean(chat: Chat) -> None:
    body = chat.slash("/avd replicas add uksuoth").json()
    assert "unknown region 'uksuoth'" in body["text"]
    assert "did you mean uksouth" in body["text"]


@pytest.mark.parametrize("line", ["/avd replicsa", "/avd help nosuchtopic", "/avd scale", "/avd"])
def test_usage_errors_are_ephemeral_answers_with_a_hint(chat: Chat, line: str) -> None:
    resp = chat.slash(line)
    assert resp.status == 200
    body = resp.json()
    assert body["response_type"] == "ephemeral"
    assert body["text"].count("\n") >= 1 or "help" in body["text"]


def test_a_table_without_a_handler_for_every_operation_is_refused_at_start_up() -> None:
    without_status = tuple(c for c in CAPABILITIES if c.name != "status")
    with pytest.raises(AssertionError, match="no capability answers Status"):
        check_complete(build_registry(without_status))
    twice = (*CAPABILITIES, Capability(name="again", handlers={ops.Doctor: lambda runtime, ctx, op: None}))
    with pytest.raises(AssertionError, match="Doctor is answered by both 'doctor' and 'again'"):
        build_registry(twice)
    check_complete(build_registry(CAPABILITIES))  # the product's table is complete


def test_handler_table_routes_operations(chat: Chat, bot_server: BotHandle) -> None:
    seen: list[ops.Operation] = []

    def handler(runtime, ctx, op):
        seen.append(op)
        assert ctx.user_id == "U0OPS2" and ctx.channel_id == "C0INCIDENT"
        return render.Reply(text=f"adding {op.region}", in_channel=True)

    bot_server.runtime.registry.handlers[ops.ReplicasAdd] = handler
    chat.slash("/avd replicas add UK South --dry-run", user="U0OPS2")
    chat.wait_for(lambda: chat.last_message())
    assert seen == [ops.ReplicasAdd(region="uksouth", dry_run=True)]
    assert chat.last_message()["text"] == "adding uksouth"
    rows = audit.recent(bot_server.runtime.store, 1)
    assert rows[0]["action"] == "replicas add" and rows[0]["actor"] == "U0OPS2"


def test_unexpected_error_answers_with_an_incident_id(chat: Chat, bot_server: BotHandle, caplog) -> None:
    def broken(runtime, ctx, op):
        raise RuntimeError("boom")

    bot_server.runtime.registry.handlers[ops.Doctor] = broken
    chat.slash("/avd doctor")
    reply = chat.wait_for_ephemeral("U0OPS1", contains="incident")
    incident = reply["text"].split("incident `")[1].split("`")[0]
    chat.wait_for(lambda: any(incident in r.getMessage() and r.exc_info for r in caplog.records))


def test_user_errors_from_handlers_are_shown_verbatim(chat: Chat, bot_server: BotHandle) -> None:
    from avdcore.errors import AzureConflict

    def locked(runtime, ctx, op):
        raise AzureConflict(
            "replica deletion is locked",
            code="ScopeLocked",
            resource_id="/subscriptions/x",
            next_step="remove the lock first",
        )

    bot_server.runtime.registry.handlers[ops.ReplicasRemove] = locked
    chat.slash("/avd replicas remove uksouth")
    reply = chat.wait_for_ephemeral("U0OPS1", contains="ScopeLocked")
    assert "remove the lock first" in reply["text"]


def test_audit_command_lists_recent_rows(chat: Chat, bot_server: BotHandle) -> None:
    audit.record(bot_server.runtime.store, actor="U0LEAD1", action="approve", target="job 7")
    chat.slash("/avd audit 5")
    reply = chat.wait_for_ephemeral("U0OPS1", contains="Audit")
    assert "approve" in reply["text"] and "U0LEAD1" in reply["text"]


def test_jobs_and_job_read_the_store(chat: Chat, bot_server: BotHandle) -> None:
    chat.slash("/avd jobs")
    assert chat.wait_for_ephemeral("U0OPS1", contains="No jobs yet")
    chat.slash("/avd job 42")
    assert chat.wait_for_ephemeral("U0OPS1", contains="no job #42")


def test_healthz(bot_server: BotHandle) -> None:
    with urllib.request.urlopen(bot_server.url + "/healthz", timeout=5) as resp:
        assert resp.status == 200
        assert json.load(resp) == {
            "ok": True,
            "db": True,
            "scheduler": True,
            "simulated_azure": True,
            "role": "all",
        }


def test_unknown_path_is_404(bot_server: BotHandle) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bot_server.url + "/nope", timeout=5)
    err.value.close()
    assert err.value.code == 404


def test_answer_falls_back_to_ephemeral_when_response_url_refuses(
    chat: Chat, slack_sim, bot_server: BotHandle
) -> None:
    """A response_url that is expired or used up (Slack answers 404) must not swallow the answer."""
    from sim.slack.chat import slash_command_body

    bot_server.runtime.registry.handlers[ops.Jobs] = lambda runtime, ctx, op: render.Reply(
        text="jobs answer via fallback"
    )
    dead_url = slack_sim.root + "/hooks/no-such-hook"
    body = slash_command_body(
        "jobs",
        user="U0OPS1",
        channel="C0INCIDENT",
        response_url=dead_url,
        trigger_id=slack_sim.new_trigger_id(),
    )
    assert chat.send(body).status == 200
    reply = chat.wait_for_ephemeral("U0OPS1", contains="jobs answer via fallback")
    assert reply["source"] == "chat.postEphemeral"
