"""``avd-bot sim slack [--port P] [--app-token xapp-...]``: run the Slack double alone until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from sim.slack.simulator import SlackSim
from sim.slack.socket import SocketModeSim


def main(argv: list[str] | None = None) -> int:
    """Start the double, print ``{"url": ...}`` as one JSON line, serve until told to stop."""
    parser = argparse.ArgumentParser(prog="avd-bot sim slack", description="Slack Web API double on loopback")
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--no-rate-limits", action="store_true", help="never answer 429")
    parser.add_argument(
        "--app-token",
        default=None,
        help="also serve Socket Mode: apps.connections.open accepts this xapp- token",
    )
    options = parser.parse_args(argv)
    stop = threading.Event()

    def finish(signum: int, frame: Any) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGTERM, signal.SIGINT)}
    sim = SlackSim(port=options.port, rate_limits=not options.no_rate_limits)
    socket_mode = SocketModeSim(sim, app_token=options.app_token) if options.app_token else None
    try:
        url = sim.start()
        ready = {"url": url, **({"socket": socket_mode.start()} if socket_mode else {})}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        if socket_mode is not None:
            socket_mode.stop()
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
