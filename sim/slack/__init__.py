"""Slack Web API double that the real ``slack_sdk.WebClient`` talks to over loopback.

``SlackSim(...).start()`` returns ``http://127.0.0.1:<port>/api/`` for ``WebClient(base_url=...)``;
``new_response_url()`` gives hooks for Bolt's ``respond()``. ``main()`` runs it standalone.
"""

from sim.slack.cli import main
from sim.slack.journal import Call
from sim.slack.simulator import SlackSim

__all__ = ["Call", "SlackSim", "main"]
