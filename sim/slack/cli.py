"""``avd-bot sim slack [--port P]``: run the Slack double alone until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from sim.slack.server import SlackSim


def main(argv: list[str] | None = None) -> int:
    """Start the double, print ``{"url": ...}`` as one JSON line, serve until told to stop."""
    parser = argparse.ArgumentParser(prog="avd-bot sim slack", description="Slack Web API double on loopback")
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--no-rate-limits", action="store_true", help="never answer 429")
    options = parser.parse_args(argv)
    stop = threading.Event()

    def finish(signum: int, frame: Any) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGTERM, signal.SIGINT)}
    sim = SlackSim(port=options.port, rate_limits=not options.no_rate_limits)
    try:
        url = sim.start()
        sys.stdout.write(json.dumps({"url": url}) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
