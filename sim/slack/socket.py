"""Socket Mode double: ``apps.connections.open`` and the WebSocket that delivers envelopes to the app.

``SocketModeSim(slack_sim, app_token="xapp-...").start()`` serves a WebSocket endpoint on loopback and
attaches itself to the ``SlackSim``, whose ``apps.connections.open`` then answers the app-level token with
``ws://127.0.0.1:PORT/link/?ticket=...&app_id=...`` (Slack answers ``wss://wss-....slack.com/link/?...``).
A connection is greeted with ``hello``; ``deliver()`` sends an envelope to the newest connection and
``acked()`` waits for the app's ``{"envelope_id", "payload"?}``; ``disconnect()`` sends
``{"type": "disconnect", "reason": "refresh_requested"}`` so the app reconnects. Every envelope sent and
every ack received is kept (``envelopes``, ``acks``). Served by the ``websockets`` library (sync server).
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sim.slack.state import APP_ID

if TYPE_CHECKING:
    from websockets.http11 import Request, Response
    from websockets.sync.server import Server, ServerConnection

log = logging.getLogger(__name__)
APP_TOKEN = "xapp-1-A0AVDOPS-1-sandbox"
HOST_NAME = "applink-sim-1"  # Slack names the serving host in debug_info
# Which envelopes Slack lets the app answer in its ack (a slash command's message, a modal's response_action).
ACCEPTS_RESPONSE_PAYLOAD = {"slash_commands": True, "interactive": False, "events_api": False}


class WebApi(Protocol):
    """The Web API double a ``SocketModeSim`` attaches to (``SlackSim``): its ``apps.connections.open`` answers
    from ``socket_mode``."""

    socket_mode: SocketModeSim | None


@dataclass(frozen=True)
class Ack:
    """One acknowledgement the app sent: ``{"envelope_id", "payload"?}``."""

    envelope_id: str
    payload: dict[str, Any] | None
    at: float

    @property
    def text(self) -> str:
        """The acked message's text ('' when the ack carries none)."""
        return str((self.payload or {}).get("text") or "")


@dataclass
class Link:
    """One WebSocket connection from the app, opened with a ticket from apps.connections.open."""

    ticket: str
    connection: ServerConnection
    opened: float
    closed: float | None = None
    retiring: bool = False  # told to disconnect: closed as soon as the app opens its next link
    received: list[dict[str, Any]] = field(default_factory=list)


def connections_open(socket_mode: SocketModeSim | None, token: str | None) -> dict[str, Any]:
    """The ``apps.connections.open`` answer: a one-use WebSocket URL for the app-level token, or Slack's error."""
    if not token:
        return {"ok": False, "error": "not_authed"}
    if not token.startswith("xapp-"):  # a bot (xoxb) or user (xoxp) token
        return {"ok": False, "error": "not_allowed_token_type"}
    if socket_mode is None or token != socket_mode.app_token:
        return {"ok": False, "error": "invalid_auth"}
    return {"ok": True, "url": socket_mode.issue_url()}


class SocketModeSim:
    """The app's Socket Mode endpoint (see the module docstring for the API)."""

    def __init__(
        self,
        slack: WebApi,
        app_token: str = APP_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slack = slack
        self.app_token = app_token
        self.address = (host, port)
        self.clock = clock
        self.lock = threading.Condition()
        self.tickets: set[str] = set()
        self.links: list[Link] = []
        self.envelopes: list[dict[str, Any]] = []
        self.acks: list[Ack] = []
        self.server: Server | None = None
        self.serving: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a thread and answer the Slack double's apps.connections.open; returns the ws:// root."""
        from websockets.sync.server import serve

        self.server = serve(
            self.serve_link,
            self.address[0],
            self.address[1],
            process_request=self.check_ticket,
            compression=None,
            close_timeout=1,
            logger=log,
        )
        self.serving = threading.Thread(
            target=self.server.serve_forever, name="slack-socket-sim", daemon=True
        )
        self.serving.start()
        self.slack.socket_mode = self
        return self.root

    def stop(self) -> None:
        """Detach from the Slack double, close every connection and the listening socket."""
        if getattr(self.slack, "socket_mode", None) is self:
            self.slack.socket_mode = None
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        if self.serving is not None:
            self.serving.join(timeout=5)
            self.serving = None

    def __enter__(self) -> SocketModeSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        """``ws://127.0.0.1:<port>`` of the running server."""
        if self.server is None:
            raise RuntimeError("SocketModeSim is not started")
        host, port = self.server.socket.getsockname()[:2]
        return f"ws://{host!s}:{port}"

    def issue_url(self) -> str:
        """A new one-use link URL (what apps.connections.open returns)."""
        ticket = secrets.token_hex(8)
        with self.lock:
            self.tickets.add(ticket)
        return f"{self.root}/link/?ticket={ticket}&app_id={APP_ID}"

    # -- the WebSocket side ----------------------------------------------------------------------

    def check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse the handshake without a ticket from apps.connections.open (each works once)."""
        path, _, query = request.path.partition("?")
        ticket = dict(p.partition("=")[::2] for p in query.split("&")).get("ticket", "")
        with self.lock:
            if path.rstrip("/") == "/link" and ticket in self.tickets:
                self.tickets.discard(ticket)
                return None
        return connection.respond(401, "invalid or used ticket: call apps.connections.open\n")

    def serve_link(self, connection: ServerConnection) -> None:
        """One connection: say hello, then record what the app sends until it goes away."""
        from websockets.exceptions import ConnectionClosed

        query = connection.request.path.partition("?")[2] if connection.request else ""
        link = Link(
            ticket=dict(p.partition("=")[::2] for p in query.split("&")).get("ticket", ""),
            connection=connection,
            opened=self.clock(),
        )
        with self.lock:
            retired = [old for old in self.open_links() if old.retiring]
            self.links.append(link)
            count = len(self.open_links()) - len(retired)
            self.lock.notify_all()
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": count,
                    "debug_info": {
                        "host": HOST_NAME,
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        for old in retired:  # on its own thread: the close handshake waits for the app's answer
            threading.Thread(target=old.connection.close, args=(1001, "refreshed"), daemon=True).start()
        try:
            for raw in connection:
                self.receive(link, raw)
        except ConnectionClosed:
            pass  # the app dropped the socket without a closing handshake (the builtin client does)
        finally:
            with self.lock:
                link.closed = self.clock()
                self.lock.notify_all()

    def receive(self, link: Link, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("Socket Mode double: the app sent non-JSON %r", raw[:80])
            return
        if not isinstance(message, dict):
            return
        with self.lock:
            link.received.append(message)
            if "envelope_id" in message:
                payload = message.get("payload")
                self.acks.append(
                    Ack(
                        str(message["envelope_id"]),
                        payload if isinstance(payload, dict) else None,
                        self.clock(),
                    )
                )
            self.lock.notify_all()

    def open_links(self) -> list[Link]:
        """Connections still open, oldest first (lock held by the caller or not needed)."""
        return [link for link in self.links if link.closed is None]

    # -- test controls ---------------------------------------------------------------------------

    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> Link:
        """Wait until ``count`` connections were opened in all and one is open and not told to disconnect;
        returns the newest such link (where envelopes go)."""

        def usable() -> list[Link]:
            return [link for link in self.open_links() if not link.retiring]

        with self.lock:
            if not self.lock.wait_for(lambda: len(self.links) >= count and usable(), timeout):
                raise TimeoutError(f"the app did not open connection #{count} within {timeout} s")
            return usable()[-1]

    def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
    ) -> str:
        """Send an envelope (``slash_commands``, ``interactive``, ``events_api``) on the newest open connection."""
        accepts = (
            ACCEPTS_RESPONSE_PAYLOAD.get(kind, False)
            if accepts_response_payload is None
            else accepts_response_payload
        )
        envelope = {
            "envelope_id": envelope_id or str(uuid.uuid4()),
            "payload": copy.deepcopy(payload),
            "type": kind,
            "accepts_response_payload": accepts,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        return self.send_envelope(envelope)

    def redeliver(self, envelope_id: str) -> str:
        """Send an envelope again, unchanged (Slack redelivers one that was not acked in time)."""
        with self.lock:
            sent = [e for e in self.envelopes if e["envelope_id"] == envelope_id]
        if not sent:
            raise KeyError(f"no envelope {envelope_id} was delivered")
        return self.send_envelope(copy.deepcopy(sent[0]))

    def send_envelope(self, envelope: dict[str, Any]) -> str:
        link = self.wait_connected()
        with self.lock:
            self.envelopes.append(copy.deepcopy(envelope))
        link.connection.send(json.dumps(envelope))
        return str(envelope["envelope_id"])

    def acked(self, envelope_id: str, timeout: float = 20.0, nth: int = 1) -> Ack:
        """The ``nth`` ack of an envelope, waiting for it (TimeoutError if the app never acks)."""
        with self.lock:
            if not self.lock.wait_for(lambda: len(self.acks_of(envelope_id)) >= nth, timeout):
                raise TimeoutError(f"envelope {envelope_id} was not acked within {timeout} s")
            return self.acks_of(envelope_id)[nth - 1]

    def acks_of(self, envelope_id: str) -> list[Ack]:
        return [ack for ack in self.acks if ack.envelope_id == envelope_id]

    def request(self, kind: str, payload: dict[str, Any], timeout: float = 20.0) -> Ack:
        """Deliver an envelope and wait for its ack."""
        return self.acked(self.deliver(kind, payload), timeout)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does every few hours (``refresh_requested``) or before
        maintenance (``warning``, ``link_disabled``); the link is closed once the app has opened its next one."""
        link = self.wait_connected()
        with self.lock:
            link.retiring = True
        link.connection.send(
            json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": HOST_NAME}})
        )

    def drop(self) -> None:
        """Close every open connection from the server side (an outage), without a disconnect message.

        Waits for the app's connection first: the client may return from connecting before the server side
        has registered the link, and dropping nothing would leave the app connected (a test that then waits
        for a reconnection would wait for ever)."""
        self.wait_connected()
        with self.lock:
            links = self.open_links()
        for link in links:
            link.connection.close(1001, "going away")
