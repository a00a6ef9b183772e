"""Start-up time of `avd-bot serve` to its first answered requests, and its memory at rest.

Each trial starts a fresh ``avd-bot serve --port 0`` (new SQLite file, so migrations run) against the Slack
double and the ARM simulator (seed scenario) running in this process, and times from ``Popen`` to the first
``GET /healthz`` answered 200 and then to the first signed ``/avd help`` answered 200. Memory at rest is
``VmRSS`` of the bot process (/proc/PID/status) after those requests and 2 s idle. Medians over the trials.

    .venv/bin/python bench/startup.py [--trials 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    BOT_TOKEN,
    SECRET,
    BotProcess,
    Report,
    add_json_option,
    bot_env,
    figure,
    machine,
    workdir,
)
from sim.azure import AzureSim  # noqa: E402
from sim.slack import SlackSim  # noqa: E402
from sim.slack.chat import post, signed_request, slash_command_body  # noqa: E402


def healthz(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError):
        return False


def trial(slack: SlackSim, azure: AzureSim, n: int) -> tuple[float, float, float]:
    """Seconds to /healthz, seconds to the first /avd help, RSS at rest in MiB."""
    work = workdir("bench-startup-")
    bot = BotProcess(bot_env(work, slack.url, arm=azure.url, ca=azure.ca_path), work)
    try:
        bot.start()  # returns when the process prints its serving line
        while not healthz(bot.url):
            time.sleep(0.002)
        to_health = time.perf_counter() - bot.started_at
        body = slash_command_body(
            "help",
            user="U0OPS1",
            channel="C0INCIDENT",
            trigger_id=f"{n}.1.startup",
            response_url=slack.new_response_url("C0INCIDENT", "U0OPS1"),
        )
        resp = post(bot.url + "/slack/events", body, signed_request(SECRET, body))
        if resp.status != 200 or "help" not in resp.text.lower():
            raise RuntimeError(f"/avd help answered {resp.status}: {resp.text[:200]}")
        to_help = time.perf_counter() - bot.started_at
        time.sleep(2.0)
        return to_health, to_help, bot.rss_kb() / 1024
    finally:
        bot.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    add_json_option(parser)
    args = parser.parse_args(argv)
    slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=True)
    slack.start()
    azure = AzureSim(scenario="seed")
    azure.start()
    print(f"avd-bot serve start-up, {args.trials} trials; {machine()}")
    results = []
    try:
        for n in range(args.trials):
            results.append(trial(slack, azure, n))
            print(
                f"  trial {n + 1}: /healthz {results[-1][0]:.3f} s, /avd help {results[-1][1]:.3f} s, "
                f"RSS at rest {results[-1][2]:.1f} MiB"
            )
    finally:
        slack.stop()
        azure.stop()
    report = Report("start-up and memory at rest (bench/startup.py)")
    health, help_, rss = (statistics.median(col) for col in zip(*results, strict=True))
    report.add(figure("start-up to first GET /healthz 200 (median)", health, "s", at_most=3.0))
    report.add(
        figure(
            "start-up to first /avd help answered (median)",
            help_,
            "s",
            at_most=3.0,
            note=f"max {max(r[1] for r in results):.2f} s",
        )
    )
    report.add(figure("RSS at rest after start-up + 2 s idle (median)", rss, "MiB", at_most=256))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
