"""Two regions over Socket Mode (``tests/scenarios/test_socket_regions.py``): ``avd-bot socket --role web|worker``
as real processes with their logs kept, and the Slack side of a user (a slash command or a button press sent as
an envelope through the Socket Mode double, optionally on one chosen link).

A worker runs in a PID namespace of its own (``tests.kit.region.own_host``), so two regions' workers are two hosts
to each other and a standby waits for a dead leader's lease to expire; a web process runs as a plain child, so a
test can freeze it (SIGSTOP) to hold an envelope unacked on its link.
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from sim.slack import SlackSim
from sim.slack.chat import Chat, block_actions_payload, slash_command_body
from sim.slack.socket import Link, SocketModeSim
from tests.kit.process import ROOT, serve_command
from tests.kit.region import own_host


class SocketProc:
    """One ``avd-bot socket --role ROLE`` process; ``start()`` waits for its first stdout line."""

    def __init__(self, env: dict[str, str], role: str, log_path: Path) -> None:
        self.env = env
        self.role = role
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.name = ""  # a worker's inbox claim name

    def start(self) -> SocketProc:
        prefix = own_host() if self.role == "worker" else []
        with self.log_path.open("w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                [*prefix, *serve_command("", "socket", "--role", self.role)],
                cwd=ROOT,
                env=self.env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if self.role == "worker":
            assert line.startswith("avd-bot worker ") and line.rstrip().endswith(" running"), (
                line + self.log()
            )
            self.name = line.split()[2]
        else:
            assert line.startswith("avd-bot connected over Socket Mode"), line + self.log()
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def owner(self) -> str:
        """The leader-lease owner id of this process once its log says it leads (else "")."""
        found = re.findall(r"leader: (\S+) leads", self.log())
        return str(found[-1]) if found else ""

    def freeze(self) -> None:
        """SIGSTOP (a web process: a plain child): its link stays open and nothing on it is acked."""
        assert self.proc is not None and self.role != "worker"
        self.proc.send_signal(signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL (a worker's ``unshare`` takes its child with it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=15)
            if self.proc.stdout is not None:
                self.proc.stdout.close()


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
