"""The HTTP server: Web API argument parsing and the request handler routing to ``SlackSim``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class Endpoint(Protocol):
    """What the handler serves (``SlackSim``): Web API calls and response_url/upload POSTs."""

    def call_api(self, method: str, args: dict[str, Any], token: str | None) -> Answer: ...

    def call_hook(self, token: str, raw: bytes) -> tuple[int, str]: ...


def parse_args(content_type: str, raw: bytes, query: str) -> dict[str, Any] | None:
    """Arguments from a JSON, form-encoded or empty body plus the query string; None if unreadable."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return args
    if kind == "application/json":
        try:
            body = json.loads(text)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        args.update(body)
    else:
        args.update(parse_qsl(text, keep_blank_values=True))
    return args


class Handler(BaseHTTPRequestHandler):
    """Routes ``/api/<method>`` and ``/hooks/<token>``."""

    server_version = "SlackSim/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    def route(self) -> None:
        sim: Endpoint = self.server.sim  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts.path.startswith("/api/"):
            args = parse_args(self.headers.get("Content-Type", ""), raw, parts.query)
            if args is None:
                self.send(200, json.dumps({"ok": False, "error": "invalid_json"}), JSON_TYPE, {})
                return
            auth = self.headers.get("Authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            token = token or args.get("token")
            args.pop("token", None)
            answer = sim.call_api(parts.path[len("/api/") :], args, token)
            self.send(answer.status, json.dumps(answer.body), JSON_TYPE, answer.headers)
        elif parts.path.startswith("/hooks/") and self.command == "POST":
            status, body = sim.call_hook(parts.path[len("/hooks/") :], raw)
            kind = JSON_TYPE if status == 200 else "text/plain; charset=utf-8"
            self.send(status, body, kind, {})
        else:
            self.send(404, "not_found", "text/plain; charset=utf-8", {})

    def send(self, status: int, body: str, content_type: str, headers: dict[str, str]) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    """Threaded loopback server; a deep accept queue so bursts of clients are not delayed by SYN retries."""

    daemon_threads = True
    request_queue_size = 128
