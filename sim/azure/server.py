"""The HTTPS front door: a threaded HTTP/1.1 server over TLS and the request pipeline.

Pipeline per request: parse -> control endpoint (``/_sim``, no auth) | bearer check -> faults (latency,
reset, error) -> region partition -> route -> api-version -> subscription -> throttle -> (under the sim
lock) clock tick, RBAC, resource group, management locks -> provider handler -> journal.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from sim.azure import control
from sim.azure.clock import iso
from sim.azure.ids import normalize_path
from sim.azure.journal import Entry
from sim.azure.providers import locks, rbac
from sim.azure.router import ArmError, Request, Response
from sim.azure.throttle import kind_of

if TYPE_CHECKING:
    from sim.azure.journal import Journal
    from sim.azure.router import Router
    from sim.azure.throttle import Throttle


class Served(control.Controlled, Protocol):
    """What the pipeline needs: the control endpoint's view plus routes, throttle, journal and the clock tick."""

    router: Router
    throttle: Throttle
    journal_log: Journal

    def tick(self) -> None: ...

    def region_of(self, req: Request) -> str | None: ...


DROP = Response(status=0)  # sentinel: close the connection without an answer


def handle(sim: Served, method: str, target: str, headers: dict[str, str], raw: bytes) -> Response:
    """Run one request through the pipeline; the journal gets an entry whatever happens."""
    parts = urlsplit(target)
    path = normalize_path(unquote(parts.path))
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    body: Any = None
    resp: Response
    try:
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid and could not be deserialized: '{exc}'.",
                ) from exc
        resp = _process(sim, Request(method, path, query, headers, body))
    except ArmError as err:
        resp = Response(err.status, err.body(), dict(err.headers))
    except Exception as exc:  # a simulator bug must still look like an ARM 500
        traceback.print_exc(file=sys.stderr)
        resp = Response(500, {"error": {"code": "InternalServerError", "message": f"simulator error: {exc}"}})
    if resp is not DROP:
        resp.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        resp.headers.setdefault(
            "x-ms-correlation-request-id", headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        )
        if "x-ms-client-request-id" in headers:
            resp.headers["x-ms-client-request-id"] = headers["x-ms-client-request-id"]
    at = iso(sim.clock.seconds())
    entry = Entry(method, path, query, body, resp.status, at, agent=headers.get("user-agent", ""))
    sim.journal_log.record(entry, resp.body)
    return resp


def _process(sim: Served, req: Request) -> Response:
    if req.path.lower().startswith("/_sim"):
        return control.handle(sim, req)
    if not req.headers.get("authorization", "").lower().startswith("bearer "):
        raise ArmError(
            401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        )
    slow = sim.faults.take("latency", req.method, req.path)
    if slow is not None:
        time.sleep(slow.seconds)
    if sim.faults.take("reset", req.method, req.path) is not None:
        return DROP
    rule = sim.faults.take("error", req.method, req.path)
    if rule is not None:
        extra = {"Retry-After": str(rule.retry_after)} if rule.retry_after else {}
        raise ArmError(rule.status, rule.code, rule.message, headers=extra)
    cut = sim.faults.partition_for(sim.region_of(req))
    if cut is not None:
        if cut.mode == "503":
            raise ArmError(503, "ServiceUnavailable", f"The service in region '{cut.region}' is unavailable.")
        if not sim.faults.healed.wait(cut.seconds) or sim.faults.partition_for(cut.region) is not None:
            return DROP
    route, params = sim.router.match(req.method, req.path)
    req.params = params
    if route.versions is not None:
        _check_version(req, route.versions)
    sub = params.get("sub", "").lower()
    ratelimit: dict[str, str] = {}
    if sub:
        if sub not in sim.subscriptions:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{params['sub']}' could not be found."
            )
        kind = kind_of(req.method)
        ok, remaining, wait = sim.throttle.take(sub, kind)
        header = f"x-ms-ratelimit-remaining-subscription-{kind}"
        if not ok:
            raise ArmError(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{kind[:-1]}' requests for subscription '{sub}' actor '{_actor(req)}' "
                f"exceeded. Please try again after '{wait}' seconds after the additional tokens are "
                "available. Refer to https://aka.ms/arm-throttling for additional information.",
                headers={"Retry-After": str(wait), header: "0"},
            )
        ratelimit[header] = str(remaining)
    with sim.lock:
        sim.tick()
        rbac.enforce(sim, req)
        if (
            route.needs_rg
            and sim.store.get(f"/subscriptions/{params['sub']}/resourceGroups/{params['rg']}") is None
        ):
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{params['rg']}' could not be found."
            )
        if route.lockable and req.method not in ("GET", "HEAD"):
            locks.enforce(sim, req)
        resp = route.handler(sim, req)
    resp.headers.update(ratelimit)
    return resp


def _actor(req: Request) -> str:
    return "sandbox-principal"


def _check_version(req: Request, versions: frozenset[str]) -> None:
    version = req.api_version
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if "*" not in versions and version not in versions:
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are "
            f"'{','.join(sorted(versions, reverse=True))}'.",
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        resp = handle(self.server.sim, self.command, self.path, headers, raw)
        if resp is DROP:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = b"" if resp.body is None else json.dumps(resp.body).encode("utf-8")
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = do_HEAD = _any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, sim: Served, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.sim = sim
        self.context = context

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) is normal traffic for a server: no traceback on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake in the worker thread, so a slow client never blocks ``accept``."""
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)
            tls.close()


def serve(sim: Served, port: int, context: ssl.SSLContext) -> tuple[_Server, threading.Thread]:
    """Bind 127.0.0.1:``port`` (0 = any free port) and serve in a daemon thread."""
    server = _Server(port, sim, context)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="azure-sim", daemon=True
    )
    thread.start()
    return server, thread
