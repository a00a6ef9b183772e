"""SlackSim: a loopback Slack Web API double for the real ``slack_sdk.WebClient``.

Requests go through, in order: token check, injected failures (``fail_next``), rate limits, scope
check, then the method. Every request, including rejected ones, is kept in ``calls``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from sim.slack import files
from sim.slack.faults import Failure, Faults
from sim.slack.hooks import handle_hook
from sim.slack.journal import Call
from sim.slack.methods import METHODS, ApiError, Method
from sim.slack.server import Answer, Handler, Server
from sim.slack.socket import SocketModeSim, connections_open
from sim.slack.state import (
    BOT_ID,
    BOT_USER,
    DEFAULT_CHANNELS,
    DEFAULT_SCOPES,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    Workspace,
    journal_view,
)
from sim.slack.throttle import DEFAULT_LIMITS, Limit, RateLimiter


class SlackSim:
    """A Slack workspace behind a loopback HTTP server (see the package docstring for the API)."""

    def __init__(
        self,
        team_id: str = "T0AVDOPS",
        bot_token: str = "xoxb-sandbox-token",
        users: dict[str, dict[str, Any]] | None = None,
        usergroups: dict[str, list[str]] | None = None,
        channels: dict[str, dict[str, Any]] | None = None,
        rate_limits: bool = True,
        clock: Callable[[], float] = time.monotonic,
        limits: dict[str, Limit] | None = None,
        scopes: tuple[str, ...] | list[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.bot_token = bot_token
        self.clock = clock
        self.rate_limits = rate_limits
        self.workspace = Workspace(
            team_id=team_id,
            users=copy.deepcopy(DEFAULT_USERS if users is None else users),
            usergroups=copy.deepcopy(DEFAULT_USERGROUPS if usergroups is None else usergroups),
            channels=copy.deepcopy(DEFAULT_CHANNELS if channels is None else channels),
            scopes=tuple(DEFAULT_SCOPES if scopes is None else scopes),
        )
        # The Web API table, owned here: chat/views/users/... (``methods``) and the file upload methods (``files``).
        self.methods: dict[str, tuple[Method, str | None]] = {**METHODS, **files.FILE_METHODS}
        self.limiter = RateLimiter({**DEFAULT_LIMITS, **(limits or {})}, clock)
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.faults = Faults()
        self.rate_limited_count = 0
        self.address = (host, port)
        self.server: Server | None = None
        self.serving: threading.Thread | None = None
        self.socket_mode: SocketModeSim | None = None  # attached by SocketModeSim.start()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a daemon thread; returns the Web API base URL (ending with '/')."""
        server = Server(self.address, Handler)
        server.sim = self  # type: ignore[attr-defined]
        self.server = server
        files.shelf(self.workspace).upload_root = f"{self.root}/hooks/{files.UPLOAD_PREFIX}"
        self.serving = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="slack-sim", daemon=True
        )
        self.serving.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.serving is not None:
            self.serving.join(timeout=5)
            self.serving = None

    def __enter__(self) -> SlackSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self.server is None:
            raise RuntimeError("SlackSim is not started")
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``."""
        return self.root + "/api/"

    # -- request handling ------------------------------------------------------------------------

    def call_api(self, method: str, args: dict[str, Any], token: str | None) -> Answer:
        """Serve one Web API call and journal it."""
        with self.lock:
            answer = self.answer(method, args, token)
            if answer.status == 429:
                self.rate_limited_count += 1
            self.calls.append(Call(method, args, answer.status, copy.deepcopy(answer.body), self.clock()))
            return answer

    def answer(self, method: str, args: dict[str, Any], token: str | None) -> Answer:
        """Decide the answer to one call (lock held)."""
        scopes = ",".join(self.workspace.scopes)
        headers = {"x-oauth-scopes": scopes}
        if method == "apps.connections.open":  # answers to the app-level token, not the bot token
            return Answer(200, connections_open(self.socket_mode, token), headers)
        entry = self.methods.get(method)
        if entry is None:
            return Answer(200, {"ok": False, "error": "unknown_method", "req_method": method}, headers)
        handler, scope = entry
        headers["x-accepted-oauth-scopes"] = scope or ""
        if not token:
            return Answer(200, {"ok": False, "error": "not_authed"}, headers)
        if token != self.bot_token:
            return Answer(200, {"ok": False, "error": "invalid_auth"}, headers)
        failure = self.faults.take(method)
        if failure is not None:
            if failure.status == 429:
                return Answer(
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {**headers, "Retry-After": str(failure.retry_after)},
                )
            return Answer(failure.status, {"ok": False, "error": failure.error}, headers)
        if self.rate_limits:
            channel = args.get("channel")
            wait = self.limiter.take(method, str(channel) if channel else None)
            if wait:
                return Answer(
                    429, {"ok": False, "error": "ratelimited"}, {**headers, "Retry-After": str(wait)}
                )
        if scope is not None and scope not in self.workspace.scopes:
            return Answer(
                200, {"ok": False, "error": "missing_scope", "needed": scope, "provided": scopes}, headers
            )
        try:
            body = {"ok": True, **handler(self.workspace, args, self.clock())}
        except ApiError as exc:
            body = exc.body()
        return Answer(200, body, headers)

    def call_hook(self, token: str, raw: bytes) -> tuple[int, str]:
        """Serve one response_url POST and journal it."""
        if token.startswith(files.UPLOAD_PREFIX):
            return self.call_upload(token.removeprefix(files.UPLOAD_PREFIX), raw)
        with self.lock:
            reply = handle_hook(self.workspace, token, raw, self.clock())
            args = {"hook": token, **reply.payload}
            self.calls.append(Call("response_url", args, reply.status, reply.journal(), self.clock()))
            return reply.status, reply.body

    def call_upload(self, ticket: str, raw: bytes) -> tuple[int, str]:
        """Serve one POST of file bytes to an upload URL (``fail_next("upload", status=...)`` fails it)."""
        with self.lock:
            failure = self.faults.take(files.UPLOAD)
            status, body = (
                (failure.status, failure.error) if failure else files.receive(self.workspace, ticket, raw)
            )
            self.calls.append(
                Call(
                    files.UPLOAD, {"ticket": ticket, "length": len(raw)}, status, {"body": body}, self.clock()
                )
            )
            return status, body

    # -- test controls ---------------------------------------------------------------------------

    def fail_next(
        self, method: str, error: str | None = None, count: int = 1, status: int = 200, retry_after: int = 1
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an error (``status`` 429 or 5xx for HTTP errors)."""
        if error is None:
            error = {429: "ratelimited"}.get(
                status, "channel_not_found" if status == 200 else "internal_error"
            )
        with self.lock:
            self.faults.add(method, Failure(error, status, retry_after, count))

    def new_trigger_id(self) -> str:
        """A trigger id for views.open: valid 3 s by the clock, usable once."""
        with self.lock:
            return self.workspace.new_trigger(self.clock())

    def new_response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        """A response_url for ``respond()``; ``message_ts`` is the message replace/delete_original acts on."""
        with self.lock:
            token = self.workspace.new_hook(channel, user, message_ts, self.clock())
        return f"{self.root}/hooks/{token}"

    def add_message(self, channel: str, text: str, user: str = "U0OPS1", thread_ts: str | None = None) -> str:
        """Seed a message written by a person (which the bot cannot edit); returns its ts."""
        with self.lock:
            ws = self.workspace
            message: dict[str, Any] = {
                "type": "message",
                "text": text,
                "user": user,
                "ts": ws.next_ts(),
                "team": ws.team_id,
                "blocks": [],
                "history": [],
            }
            if thread_ts:
                message["thread_ts"] = thread_ts
            ws.store(channel, message)
            return str(message["ts"])

    def reset(self) -> None:
        """Clear the journal, messages, ephemerals, views, hooks, queued failures and rate-limit buckets."""
        with self.lock:
            self.calls.clear()
            self.workspace.clear()
            files.shelf(self.workspace).clear()
            self.faults.clear()
            self.limiter.reset()
            self.rate_limited_count = 0

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll until ``predicate()`` is truthy and return its value; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(0.01)

    # -- queries -----------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Journal entries for one method."""
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every live message in a channel (thread replies included), oldest first, with ``edits``."""
        with self.lock:
            return [journal_view(m) for m in self.workspace.messages.get(channel, {}).values()]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message's latest version, or None."""
        with self.lock:
            found = self.workspace.messages.get(channel, {}).get(ts)
            return journal_view(found) if found is not None else None

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Replies in the thread under ``ts`` (not the parent)."""
        return [m for m in self.messages(channel) if m.get("thread_ts") == ts and m["ts"] != ts]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages from chat.postEphemeral and response_url, optionally filtered."""
        with self.lock:
            return [
                copy.deepcopy(e)
                for e in self.workspace.ephemerals
                if (channel is None or e["channel"] == channel) and (user is None or e["user"] == user)
            ]

    @property
    def views(self) -> list[dict[str, Any]]:
        """Opened views: ``{"id", "trigger_id", "view", "updates"}``, in opening order."""
        with self.lock:
            return [copy.deepcopy(v) for v in self.workspace.views.values()]

    @property
    def uploads(self) -> list[files.Upload]:
        """Files from files.getUploadURLExternal on: bytes, filename, title, channel, thread_ts, completed."""
        with self.lock:
            return files.recorded(self.workspace)

    @property
    def bot_user_id(self) -> str:
        """The bot's user id (auth.test ``user_id``)."""
        return BOT_USER

    @property
    def bot_id(self) -> str:
        """The bot's bot id (auth.test ``bot_id``)."""
        return BOT_ID
