"""HTTP mode: a threaded WSGI server with ``POST /slack/events`` (Bolt) and ``GET /healthz``.

Not ``app.start()``: that server is single-threaded and binds 0.0.0.0, while each Bolt dispatch can
hold its request for up to 3 s. This one serves every request on its own daemon thread and binds
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import io
import json
import logging
import socketserver
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.request.payload_utils import to_step

from bot.slack.ackgate import AckGate

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from bot.runtime import Runtime

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default backlog of 5 resets connections under bursts


class QuietHandler(WSGIRequestHandler):
    """Access lines go to the ``bot.slack.server`` logger at debug level instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def health(runtime: Runtime) -> dict[str, Any]:
    db = runtime.store.healthy()
    return {
        "ok": db,
        "db": db,
        "scheduler": bool(runtime.scheduler.running),
        "simulated_azure": runtime.simulated_azure,
    }


def wsgi_app(
    app: App, health_fn: Callable[[], dict[str, Any]] | None = None, gate: AckGate | None = None
) -> Callable[..., Iterable[bytes]]:
    """The WSGI callable: ``/healthz`` here, everything else to Bolt's adapter (404 off ``/slack/events``);
    ``gate`` counts the Slack requests in flight."""
    handler = SlackRequestHandler(app, path=EVENTS_PATH)

    def slack(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if gate is None:
            return handler(environ, start_response)
        with gate.request():
            return handler(environ, start_response)

    def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            health_fn is not None
            and environ.get("PATH_INFO") == "/healthz"
            and environ["REQUEST_METHOD"] == "GET"
        ):
            status = health_fn()
            body = json.dumps(status).encode()
            start_response(
                "200 OK" if status.get("ok") else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        problem = body_problem(environ) if environ.get("REQUEST_METHOD") == "POST" else None
        if problem is not None:
            body = problem.encode()
            start_response(
                "400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return slack(environ, start_response)

    return application


def body_problem(environ: WSGIEnvironment) -> str | None:
    """Read the body once and put it back; say why Bolt could not read it (it would raise, most of it before
    checking the signature: a 500): not UTF-8, a ``payload`` that is not a JSON object, fields of the wrong type."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    problem: str | None = None
    try:
        text = raw.decode("utf-8")
        parsed = parse_body(text, environ.get("CONTENT_TYPE"))
    except UnicodeDecodeError:
        problem = "request body is not UTF-8"
    except ValueError:
        problem = "request payload is not JSON"
    else:
        if not isinstance(parsed, dict):
            problem = "request payload is not a JSON object"
        elif not bolt_can_read(text, environ):
            problem = "request payload is not shaped like a Slack request"
    if problem:
        log.warning("refused a %d-byte request: %s", len(raw), problem)
    return problem


def bolt_can_read(text: str, environ: WSGIEnvironment) -> bool:
    """Whether Bolt builds its request context (and its workflow-step view of it) without raising, as it
    does on fields of the wrong type (``"team": 5``, a view without ``type``)."""
    try:
        request = BoltRequest(
            body=text,
            query=environ.get("QUERY_STRING") or None,
            headers={"content-type": environ.get("CONTENT_TYPE") or ""},
        )
        to_step(request.body)
    except Exception:  # noqa: BLE001 - anything Bolt cannot read is a bad request, not a server error
        return False
    return True


class BotServer:
    """A running server on its own thread; ``url`` is its base URL, ``stop()`` shuts it down."""

    def __init__(
        self,
        app: App,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        health_fn: Callable[[], dict[str, Any]] | None = None,
        gate: AckGate | None = None,
    ) -> None:
        self.httpd = make_server(
            host,
            port,
            wsgi_app(app, health_fn, gate),
            server_class=ThreadingWSGIServer,
            handler_class=QuietHandler,
        )
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> BotServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="avd-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def serve_runtime(runtime: Runtime, *, host: str = "127.0.0.1", port: int = 0) -> BotServer:
    """A (not yet started) server for the runtime's app, with ``/healthz`` reporting on it."""
    return BotServer(runtime.app, host=host, port=port, health_fn=lambda: health(runtime), gate=runtime.gate)
