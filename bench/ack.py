"""Ack latency of `/avd help` through the real bot vs a bare Bolt app that only acks.

Both run on the same threaded WSGI server class (bot.server.BotServer), on loopback, in one child process,
measured in interleaved rounds of the same run, at 1 and 20 concurrent requests. Prints p50/p99 of each
and the ratio bot/bare (goal: <= 1.1 at p99).

    .venv/bin/python bench/ack.py [--requests 400] [--rounds 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slack_bolt import Ack, App  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.app import LISTENER_THREADS, build_app  # noqa: E402
from bot.chat import signed_request, slash_command_body  # noqa: E402
from bot.sandbox import example_config  # noqa: E402
from bot.server import BotServer, serve_runtime  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from sim.slack import SlackSim  # noqa: E402

SECRET = "bench-signing-secret-0123456789"
TOKEN = "xoxb-sandbox-token"


def bare_app(slack_url: str) -> App:
    app = App(name="bare", client=WebClient(token=TOKEN, base_url=slack_url), signing_secret=SECRET,
              listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS))  # the same pool as the bot

    @app.command("/avd")
    def only_ack(ack: Ack) -> None:
        ack()

    return app


def one_request(url: str, body: str) -> float:
    parsed = urlparse(url)
    headers = signed_request(SECRET, body)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
    try:
        conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
    finally:
        conn.close()
    return time.perf_counter() - start


def measure(url: str, bodies: list[str], concurrency: int) -> list[float]:
    if concurrency == 1:
        return [one_request(url, b) for b in bodies]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda b: one_request(url, b), bodies))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def serve() -> int:
    """Child process: the Slack double, the bot and the bare app; prints their URLs, serves until stdin closes."""
    for name in [n for n in os.environ if n.startswith("SLACK_")]:
        del os.environ[name]
    workdir = Path(tempfile.mkdtemp(prefix="avd-bench-"))
    slack = SlackSim(bot_token=TOKEN, rate_limits=False)
    slack_url = slack.start()
    shutil.copyfile(example_config(), workdir / "avd.toml")
    settings = load_settings({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack_url,
                              "AVD_CONFIG": str(workdir / "avd.toml"), "AVD_DB": str(workdir / "avd.db"),
                              "AZURE_ARM_ENDPOINT": "https://127.0.0.1:9"})
    runtime = build_app(settings)
    runtime.start()
    servers = {"bot": serve_runtime(runtime).start(), "bare": BotServer(bare_app(slack_url)).start()}
    try:
        print(json.dumps({"bot": servers["bot"].url, "bare": servers["bare"].url,
                          "response_url": slack.new_response_url("C0INCIDENT", "U0OPS1")}), flush=True)
        sys.stdin.read()
    finally:
        for server in servers.values():
            server.stop()
        runtime.stop()
        slack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per server per concurrency per round")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (bot, bare, bot, bare ...)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    # The servers run in a child process so the 20 client threads here do not share their GIL.
    child = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        urls = json.loads(child.stdout.readline())
        body = slash_command_body("help", user="U0OPS1", channel="C0INCIDENT", trigger_id="1.1.bench",
                                  response_url=urls["response_url"])
        for name in ("bot", "bare"):  # warm up both
            measure(urls[name], [body] * 50, 5)
        print(f"/avd help ack latency, {args.requests} requests x {args.rounds} rounds per cell "
              f"(nproc {os.cpu_count()}, Python {platform.python_version()}, {platform.machine()})")
        print(f"{'concurrency':>11} {'server':>6} {'p50 ms':>8} {'p99 ms':>8}")
        for concurrency in (1, 20):
            samples: dict[str, list[float]] = {"bot": [], "bare": []}
            for _ in range(args.rounds):
                for name in ("bot", "bare"):
                    samples[name] += measure(urls[name], [body] * args.requests, concurrency)
            for name in ("bot", "bare"):
                print(f"{concurrency:>11} {name:>6} {pct(samples[name], 0.5):>8.2f} {pct(samples[name], 0.99):>8.2f}")
            r50 = pct(samples["bot"], 0.5) / pct(samples["bare"], 0.5)
            r99 = pct(samples["bot"], 0.99) / pct(samples["bare"], 0.99)
            mean = statistics.mean(samples["bot"]) / statistics.mean(samples["bare"])
            print(f"{concurrency:>11} {'ratio':>6} {r50:>8.3f} {r99:>8.3f}   (mean {mean:.3f}; goal p99 <= 1.1)")
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
