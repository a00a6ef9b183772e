"""Two regions over Socket Mode (``tests/scenarios/test_socket_regions.py``): the Slack side of a user (a slash
command or a button press sent as an envelope through the Socket Mode double, optionally on one chosen link). The
``avd-bot socket --role web|worker`` processes themselves are ``tests.kit.process.Bot``s.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from sim.slack import SlackSim
from sim.slack.chat import Chat, block_actions_payload, slash_command_body
from sim.slack.socket import Link, SocketModeSim


def slash(
    slack: SlackSim, socket: SocketModeSim, line: str, user: str, channel: str, link: Link | None = None
) -> tuple[str, str]:
    """Deliver ``/avd ...`` as a ``slash_commands`` envelope; (envelope id, its response_url)."""
    command, _, text = line.strip().partition(" ")
    url = slack.new_response_url(channel, user)
    body = slash_command_body(
        text.strip(),
        user=user,
        channel=channel,
        command=command,
        response_url=url,
        trigger_id=slack.new_trigger_id(),
    )
    fields = dict(parse_qsl(body, keep_blank_values=True))
    return socket.deliver("slash_commands", fields, link=link), url


def press(slack: SlackSim, socket: SocketModeSim, label: str, user: str, channel: str) -> str:
    """Deliver a press of the newest button labelled ``label`` as an ``interactive`` envelope."""
    message, block_id, button, ephemeral = Chat("", slack, "").find_button(label, user, channel)
    payload = block_actions_payload(
        message,
        block_id,
        button,
        user=user,
        channel=channel,
        ephemeral=ephemeral,
        response_url=slack.new_response_url(channel, user, message_ts=message["ts"]),
        trigger_id=slack.new_trigger_id(),
    )
    return socket.deliver("interactive", payload)


def answers(slack: SlackSim, response_url: str) -> list[dict[str, Any]]:
    """What the bot posted to one response_url."""
    token = response_url.rsplit("/", 1)[-1]
    with slack.lock:
        return [c.args for c in slack.calls if c.method == "response_url" and c.args.get("hook") == token]
