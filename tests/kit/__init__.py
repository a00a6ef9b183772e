"""Test kit: signed Slack requests over real HTTP, and a chat-log scenario API.

    resp = chat.slash("/avd replicas add uksouth", user="U0OPS1", channel="C0INCIDENT")
    chat.click("Approve", user="U0LEAD1")
    chat.last_message(); chat.ephemerals("U0OPS1"); chat.wait_for(lambda: ...)

The builders live in ``sim.slack.chat`` (the sandbox console uses them too); this package re-exports them
and adds the pieces the fixtures in ``tests/conftest.py`` are made of.
"""

from sim.slack.chat import (
    Chat,
    HttpResponse,
    block_actions_payload,
    buttons,
    interactivity_body,
    post,
    signed_request,
    slash_command_body,
    view_submission_payload,
)
from tests.kit.bots import BOT_TOKEN, SIGNING_SECRET, BotHandle, clean_env, start_bot
from tests.kit.waiting import wait_until

__all__ = [
    "BOT_TOKEN",
    "SIGNING_SECRET",
    "BotHandle",
    "Chat",
    "HttpResponse",
    "block_actions_payload",
    "buttons",
    "clean_env",
    "interactivity_body",
    "post",
    "signed_request",
    "slash_command_body",
    "start_bot",
    "view_submission_payload",
    "wait_until",
]
