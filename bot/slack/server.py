"""HTTP mode: a threaded WSGI server with ``POST /slack/events`` (Bolt) and ``GET /healthz``.

Not ``app.start()``: that server is single-threaded and binds 0.0.0.0, while each Bolt dispatch can
hold its request for up to 3 s. This one serves every request on its own daemon thread and binds
127.0.0.1 unless told otherwise.

Bounded before the signature is checked, since anyone can send a request:

* the body: at most ``MAX_BODY_BYTES`` (1 MiB; Slack's largest payloads, a ``view_submission`` with its
  view, are tens of KiB). A larger ``Content-Length`` is answered 413 before a byte of the body is read; a
  chunked body is read only up to the cap, then refused with 413;
* connections: at most ``MAX_CONNECTIONS`` at once (a thread each); one more is answered 503 and closed
  on the accepting thread, so threads never grow past the bound;
* slow senders: every read waits at most ``IDLE_SECONDS``, and the whole body must arrive within
  ``BODY_SECONDS`` of the request's headers, else the request is answered 408 and the connection closed.
"""

from __future__ import annotations

import io
import json
import logging
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


MAX_BODY_BYTES = 1024 * 1024
MAX_CONNECTIONS = 64  # Bolt answers within 3 s; 64 at once is far past Slack's rate to one app
IDLE_SECONDS = 10.0  # one read (request line, a header, a piece of the body) waits at most this long
BODY_SECONDS = 10.0  # the whole body, after the headers
BUSY = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nbusy\n"


@dataclass(frozen=True)
class Limits:
    """What one request may cost the server (the module docstring gives the reasons for the defaults)."""

    max_body: int = MAX_BODY_BYTES
    max_connections: int = MAX_CONNECTIONS
    idle_seconds: float = IDLE_SECONDS
    body_seconds: float = BODY_SECONDS


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per connection, at most ``limits.max_connections`` of them; the rest get 503 at once."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's default backlog of 5 resets connections under bursts
    limits = Limits()

    def server_activate(self) -> None:
        super().server_activate()
        self.slots = threading.BoundedSemaphore(self.limits.max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            log.warning(
                "refused a connection from %s: %d in use", client_address, self.limits.max_connections
            )
            try:
                request.settimeout(1.0)
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class QuietHandler(WSGIRequestHandler):
    """Access lines go to the ``bot.slack.server`` logger at debug level instead of stderr; every read of
    the connection waits at most the server's ``idle_seconds``."""

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(getattr(self.server, "limits", Limits()).idle_seconds)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Refused(Exception):
    """A request refused before Bolt sees it: an HTTP status line and a short text."""

    def __init__(self, status: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def read_body(environ: WSGIEnvironment, limits: Limits) -> bytes:
    """The request body, read within the limits (``Refused`` 413 / 408 / 400 otherwise): the declared
    length is checked before reading; a chunked body is decoded only up to the cap."""
    deadline = time.monotonic() + limits.body_seconds
    stream = environ["wsgi.input"]
    chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING") or "").lower()
    try:
        if chunked:
            return _read_chunked(stream, limits.max_body, deadline)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise Refused("400 Bad Request", "bad Content-Length") from None
        if length > limits.max_body:
            raise Refused("413 Content Too Large", f"request body over {limits.max_body} bytes")
        return _read_exactly(stream, max(length, 0), deadline)
    except TimeoutError:
        raise Refused("408 Request Timeout", "request body too slow") from None


def _read_exactly(stream: Any, length: int, deadline: float) -> bytes:
    parts: list[bytes] = []
    left = length
    while left > 0:
        if time.monotonic() > deadline:
            raise Refused("408 Request Timeout", "request body too slow")
        part = stream.read1(min(left, 65536)) if hasattr(stream, "read1") else stream.read(min(left, 65536))
        if not part:
            raise Refused("400 Bad Request", "request body shorter than its Content-Length")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _read_chunked(stream: Any, cap: int, deadline: float) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise Refused("408 Request Timeout", "request body too slow")
        line = stream.readline(256)
        try:
            size = int(line.split(b";")[0].strip() or b"x", 16)
        except ValueError:
            raise Refused("400 Bad Request", "bad chunked body") from None
        if size == 0:
            while stream.readline(256).strip():  # trailers
                if time.monotonic() > deadline:
                    raise Refused("408 Request Timeout", "request body too slow")
            return b"".join(parts)
        total += size
        if total > cap:
            raise Refused("413 Content Too Large", f"request body over {cap} bytes")
        parts.append(_read_exactly(stream, size, deadline))
        stream.readline(4)  # the chunk's CRLF


def health(runtime: Runtime) -> dict[str, Any]:
    db = runtime.store.healthy()
    return {
        "ok": db,
        "db": db,
        "scheduler": bool(runtime.scheduler.running),
        "simulated_azure": runtime.simulated_azure,
        "role": runtime.role,
    }


def wsgi_app(
    app: App,
    health_fn: Callable[[], dict[str, Any]] | None = None,
    gate: AckGate | None = None,
    limits: Limits | None = None,
) -> Callable[..., Iterable[bytes]]:
    """The WSGI callable: ``/healthz`` here, everything else to Bolt's adapter (404 off ``/slack/events``);
    ``gate`` counts the Slack requests in flight; a POST body is read within ``limits`` first."""
    limits = limits or Limits()
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
        problem: Refused | None = None
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                raw = read_body(environ, limits)
            except Refused as refused:
                log.warning("refused a request: %s", refused.text)
                problem = refused
            else:
                text = body_problem(environ, raw)
                problem = Refused("400 Bad Request", text) if text else None
        if problem is not None:
            body = problem.text.encode()
            start_response(
                problem.status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return slack(environ, start_response)

    return application


def body_problem(environ: WSGIEnvironment, raw: bytes) -> str | None:
    """Put the body read by ``read_body`` back for Bolt; say why Bolt could not read it (it would raise, most
    of it before checking the signature: a 500): not UTF-8, a ``payload`` that is not a JSON object, fields of
    the wrong type."""
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
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
        elif not bolt_can_read(parsed, environ):
            problem = "request payload is not shaped like a Slack request"
    if problem:
        log.warning("refused a %d-byte request: %s", len(raw), problem)
    return problem


def bolt_can_read(parsed: dict[str, Any], environ: WSGIEnvironment) -> bool:
    """Whether Bolt builds its request context (and its workflow-step view of it) without raising, as it
    does on fields of the wrong type (``"team": 5``, a view without ``type``). ``parsed`` is the body as
    ``parse_body`` read it: handed over as a dict (Bolt's socket-mode form), so it is not decoded twice."""
    try:
        request = BoltRequest(
            body=parsed,
            query=environ.get("QUERY_STRING") or None,
            headers={"content-type": environ.get("CONTENT_TYPE") or ""},
            mode="socket_mode",
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
        limits: Limits | None = None,
    ) -> None:
        limits = limits or Limits()
        server_class = type("BoundedWSGIServer", (ThreadingWSGIServer,), {"limits": limits})
        self.httpd: WSGIServer = make_server(
            host,
            port,
            wsgi_app(app, health_fn, gate, limits),
            server_class=server_class,
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
