"""Two regions over Socket Mode (``tests/scenarios/test_socket_regions.py``): the Slack side of a user (a slash
command or a button press sent as an envelope through the Socket Mode double, optionally on one chosen link). The
``avd-bot socket --role web|worker`` processes themselves are ``tests.kit.process.Bot``s.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from sim.slack import SlackSim
from sim.slack.chat import Chat
from sim.slack.socket import Link, SocketModeSim


def slash(
    slack: SlackSim, socket: SocketModeSim, line: str, user: str, channel: str, link: Link | None = None
) -> tuple[str, str]:
    """Deliver ``/avd ...`` as a ``slash_commands`` envelope (the form fields as a JSON object); (envelope id,
    its response_url)."""
    fields = dict(parse_qsl(Chat("", slack, "").slash_body(line, user, channel), keep_blank_values=True))
    return socket.deliver("slash_commands", fields, link=link), fields["response_url"]


def press(slack: SlackSim, socket: SocketModeSim, label: str, user: str, channel: str) -> str:
    """Deliver a press of the newest button labelled ``label`` as an ``interactive`` envelope."""
    return socket.deliver("interactive", Chat("", slack, "").press_payload(label, user, channel))


def answers(slack: SlackSim, response_url: str) -> list[dict[str, Any]]:
    """What the bot posted to one response_url."""
    token = response_url.rsplit("/", 1)[-1]
    with slack.lock:
        return [c.args for c in slack.calls if c.method == "response_url" and c.args.get("hook") == token]
