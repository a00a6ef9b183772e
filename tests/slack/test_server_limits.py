"""The HTTP server's bounds under bad input: body cap (413 before the body is sent), chunked bodies past the
cap, a connection limit (503 at once), and slow senders cut off. Real sockets on loopback."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from bot.slack.server import MAX_BODY_BYTES, BotServer, Limits
from tests.kit import SIGNING_SECRET, BotHandle, signed_request, slash_command_body

SLOW = Limits(idle_seconds=0.2, body_seconds=0.3)  # low timeouts, so the test waits briefly for the close
FEW = Limits(max_connections=2)  # the default timeouts: held connections keep their slots


def serve(bot: BotHandle, limits: Limits) -> Iterator[BotServer]:
    """The same Bolt app behind a server with other limits."""
    server = BotServer(bot.runtime.app, limits=limits).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slow_server(bot_server: BotHandle) -> Iterator[BotServer]:
    yield from serve(bot_server, SLOW)


@pytest.fixture
def small_server(bot_server: BotHandle) -> Iterator[BotServer]:
    yield from serve(bot_server, FEW)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)  # a safety net, not a timing assert
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset after its answer counts as closed)."""
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not part:
            return data
        data += part


def headers(length: int | None, *, chunked: bool = False) -> bytes:
    lines = [
        "POST /slack/events HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/x-www-form-urlencoded",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_an_oversized_body_is_refused_413_before_it_is_sent(bot_server: BotHandle) -> None:
    with connect(bot_server.server.port) as sock:
        sock.sendall(headers(300 * 1024 * 1024))  # the headers only: not one byte of the 300 MB body
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.0 413 "), answer[:80]


def test_a_chunked_body_past_the_cap_is_refused_while_reading(bot_server: BotHandle) -> None:
    chunk = b"a" * 65536
    with connect(bot_server.server.port) as sock:
        sock.sendall(headers(None, chunked=True))
        sent = 0
        while sent <= MAX_BODY_BYTES:  # just past the cap; the server stops reading there
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.0 413 "), answer[:80]


def test_a_small_chunked_body_reaches_bolt(bot_server: BotHandle) -> None:
    body = slash_command_body(
        "/avd help", user="U0OPS1", channel="C0INCIDENT", response_url="http://127.0.0.1:9/r", trigger_id="t1"
    )
    signed_headers = signed_request(SIGNING_SECRET, body)
    raw = body.encode()
    request = ["POST /slack/events HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    request += [f"{k}: {v}" for k, v in signed_headers.items()]
    with connect(bot_server.server.port) as sock:
        sock.sendall(
            ("\r\n".join(request) + "\r\n\r\n").encode() + b"%x\r\n" % len(raw) + raw + b"\r\n0\r\n\r\n"
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.0 200 "), answer[:200]


def test_a_sender_that_stops_after_the_headers_is_cut_off(slow_server: BotServer) -> None:
    with connect(slow_server.port) as sock:
        sock.sendall(headers(1000) + b"token=")  # then nothing more
        answer = read_until_closed(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.0 408 "), answer[:80]


def test_a_sender_that_trickles_the_body_is_cut_off(slow_server: BotServer) -> None:
    """Each byte comes well within the idle timeout; the body deadline still ends the request."""
    with connect(slow_server.port) as sock:
        sock.sendall(headers(1_000_000))
        closed = False
        while not closed:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                closed = True
                break
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        answer = read_until_closed(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.0 408 "), answer[:80]


def test_connections_past_the_limit_are_answered_503_at_once(small_server: BotServer) -> None:
    """Two idle connections hold the two slots; the third is answered without a thread of its own."""
    held = [connect(small_server.port) for _ in range(FEW.max_connections)]
    try:
        for sock in held:  # each connection is accepted (has its slot) once it answers a first byte
            sock.sendall(b"POST /slack/events HTTP/1.1\r\n")
        with connect(small_server.port) as extra:
            answer = read_until_closed(extra)
        busy = answer.startswith(b"HTTP/1.0 503 ")
    finally:
        for sock in held:
            sock.close()
    assert busy, answer[:80]
