"""Socket Mode double: ``apps.connections.open`` and the WebSocket that delivers envelopes to the app.

``SocketModeSim(slack_sim, app_token="xapp-...").start()`` serves a WebSocket endpoint on loopback and
attaches itself to the ``SlackSim``, whose ``apps.connections.open`` then answers the app-level token with
``ws://127.0.0.1:PORT/link/?ticket=...&app_id=...`` (Slack answers ``wss://wss-....slack.com/link/?...``).
A connection is greeted with ``hello``; ``deliver()`` sends an envelope to one of the app's open connections
(picked at random, as Slack does: "each payload may be sent to any of the connections", api.slack.com
socket-implement#connections) and ``acked()`` waits for the app's ``{"envelope_id", "payload"?}``;
``disconnect()`` sends ``{"type": "disconnect", "reason": "refresh_requested"}`` so the app reconnects. An
``events_api`` envelope not acked within ``ack_timeout`` is sent again (``retry_attempt`` + 1, ``retry_reason``
``timeout``) on an open connection, at most ``len(retry_delays)`` times; slash commands and interactions are
never redelivered (Slack retries only Events API deliveries). Every envelope sent, the link it went to, and every
ack received is kept (``envelopes``, ``deliveries``, ``acks``). Served by the ``websockets`` library (sync
server).
"""

from __future__ import annotations

import copy
import json
import logging
import random
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
ACK_TIMEOUT = 3.0  # seconds Slack waits for an envelope's ack
# Events API retries after a missed ack: three, "nearly immediately", after 1 minute, after 5 minutes (the
# schedule as the Events API page describes HTTP retries; Socket Mode's own schedule is not published)
RETRY_DELAYS = (0.0, 60.0, 300.0)


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
        seed: int | None = 0,
        ack_timeout: float = ACK_TIMEOUT,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
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
        self.deliveries: list[tuple[str, Link]] = []  # (envelope_id, the link it was sent on), each send
        self.random = random.Random(seed)  # which open link gets an envelope (seeded: runs repeat)
        self.ack_timeout = ack_timeout
        self.retry_delays = retry_delays
        self.timers: list[threading.Timer] = []
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
        with self.lock:
            timers, self.timers = self.timers, []
        for timer in timers:
            timer.cancel()
            if timer.is_alive():
                timer.join(timeout=5)
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
        link: Link | None = None,
    ) -> str:
        """Send an envelope (``slash_commands``, ``interactive``, ``events_api``) on one of the open connections
        not told to disconnect, chosen at random (or on ``link``)."""
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
        return self.send_envelope(envelope, link)

    def redeliver(self, envelope_id: str) -> str:
        """Send an envelope again, unchanged, on an open connection (a duplicate, as a test's own choice: Slack
        redelivers only Events API envelopes, and by itself, see ``retry``)."""
        with self.lock:
            sent = [e for e in self.envelopes if e["envelope_id"] == envelope_id]
        if not sent:
            raise KeyError(f"no envelope {envelope_id} was delivered")
        return self.send_envelope(copy.deepcopy(sent[0]))

    def pick_link(self) -> Link:
        """One of the open links not told to disconnect, at random (waits for one)."""
        self.wait_connected()
        with self.lock:
            usable = [link for link in self.open_links() if not link.retiring]
            return self.random.choice(usable) if usable else self.wait_connected()

    def send_envelope(self, envelope: dict[str, Any], link: Link | None = None) -> str:
        """Send on ``link`` (default: ``pick_link()``); an envelope sent on a link that has just closed is lost
        with it (an Events API one is retried, like one not acked)."""
        from websockets.exceptions import ConnectionClosed

        link = link or self.pick_link()
        envelope_id = str(envelope["envelope_id"])
        with self.lock:
            self.envelopes.append(copy.deepcopy(envelope))
            self.deliveries.append((envelope_id, link))
        try:
            link.connection.send(json.dumps(envelope))
        except ConnectionClosed:
            log.info("Socket Mode double: envelope %s lost with its closed link", envelope_id)
        if envelope["type"] == "events_api":
            self.arm_retry(envelope)
        return envelope_id

    def arm_retry(self, envelope: dict[str, Any]) -> None:
        """Retry an Events API envelope not acked within ``ack_timeout`` (with ``retry_attempt`` + 1 and
        ``retry_reason`` ``timeout``), up to ``len(retry_delays)`` times."""
        attempt = int(envelope.get("retry_attempt") or 0)
        if attempt >= len(self.retry_delays):
            return
        timer = threading.Timer(self.ack_timeout + self.retry_delays[attempt], self.retry, args=(envelope,))
        timer.daemon = True
        with self.lock:
            self.timers = [t for t in self.timers if t.is_alive()] + [timer]
        timer.start()

    def retry(self, envelope: dict[str, Any]) -> None:
        with self.lock:
            if self.server is None or self.acks_of(str(envelope["envelope_id"])):
                return
            usable = [link for link in self.open_links() if not link.retiring]
        if not usable:  # no connection to retry on: count the attempt and wait for the next
            log.info("Socket Mode double: no open link to retry %s on", envelope["envelope_id"])
        again = {
            **copy.deepcopy(envelope),
            "retry_attempt": int(envelope.get("retry_attempt") or 0) + 1,
            "retry_reason": "timeout",
        }
        if usable:
            with self.lock:
                link = self.random.choice(usable)
            self.send_envelope(again, link)
        else:
            self.arm_retry(again)

    def delivered_on(self, envelope_id: str) -> list[Link]:
        """The links an envelope was sent on, in order (one per send: a retry or ``redeliver`` adds one)."""
        with self.lock:
            return [link for sent, link in self.deliveries if sent == envelope_id]

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
