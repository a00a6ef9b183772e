"""``avd-bot sim azure [--port P] [--time-scale X] [--state FILE]``: run the ARM double alone.

Prints one JSON line ``{"url": ..., "ca": ...}`` when ready and serves until SIGTERM/SIGINT; with ``--state``
it loads FILE when it exists and saves to it on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from types import FrameType

from sim.azure.scenarios import SCENARIOS
from sim.azure.simulator import AzureSim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="avd-bot sim azure", description="Run the Azure ARM simulator.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--time-scale", type=float, default=120.0)
    parser.add_argument("--state", default=None, help="load this JSON state if it exists; save to it on exit")
    parser.add_argument("--scenario", default="seed", choices=tuple(SCENARIOS))
    parser.add_argument("--rng-seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.state and os.path.exists(args.state):
        sim = AzureSim.load(args.state, time_scale=args.time_scale, rng_seed=args.rng_seed)
    else:
        sim = AzureSim(scenario=args.scenario, time_scale=args.time_scale, rng_seed=args.rng_seed)
    url = sim.start(port=args.port)
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write(json.dumps({"url": url, "ca": sim.ca_path}) + "\n")
    sys.stdout.flush()
    try:
        while not done.wait(0.5):
            pass
    finally:
        if args.state:
            sim.save(args.state)
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
